package loadtest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/metrics"
)

// k6OutRun rebuilds, from k6's own `--out json` file, what the engine would
// hand the output: the run's thresholds and sub-metrics (from the "Metric"
// lines) and its samples (from the "Point" lines), in file order.
func k6OutRun(t *testing.T, golden []byte) (RunInfo, []metrics.Sample) {
	t.Helper()
	reg := metrics.NewRegistry()
	info := RunInfo{Registry: reg, Thresholds: metrics.Thresholds{}}
	var samples []metrics.Sample
	sc := bufio.NewScanner(bytes.NewReader(golden))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line struct {
			Type   string `json:"type"`
			Metric string `json:"metric"`
			Data   struct {
				Name       string             `json:"name"`
				Type       metrics.MetricType `json:"type"`
				Contains   metrics.ValueType  `json:"contains"`
				Thresholds []string           `json:"thresholds"`
				Submetrics []struct {
					Name string `json:"name"`
				} `json:"submetrics"`
				Time  time.Time         `json:"time"`
				Value float64           `json:"value"`
				Tags  map[string]string `json:"tags"`
			} `json:"data"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &line), sc.Text())
		switch line.Type {
		case "Metric":
			if reg.Get(line.Data.Name) == nil {
				reg.MustRegister(line.Data.Name, line.Data.Type, line.Data.Contains)
			}
			for _, expr := range line.Data.Thresholds {
				th, err := metrics.ParseThreshold(expr)
				require.NoError(t, err)
				info.Thresholds[line.Data.Name] = append(info.Thresholds[line.Data.Name], th)
			}
			for _, sm := range line.Data.Submetrics {
				parsed, err := metrics.ParseMetricKey(sm.Name)
				require.NoError(t, err)
				info.Submetrics = append(info.Submetrics, parsed)
			}
		case "Point":
			m := reg.Get(line.Metric)
			require.NotNil(t, m, "a Point before its Metric line: %s", sc.Text())
			samples = append(samples, metrics.Sample{Metric: m, Time: line.Data.Time, Value: line.Data.Value,
				Tags: metrics.TagsFromMap(line.Data.Tags)})
		default:
			t.Fatalf("unknown line type %q", line.Type)
		}
	}
	require.NoError(t, sc.Err())
	return info, samples
}

// The NDJSON output reproduces k6's `--out json` file line for line, byte
// for byte (ground truth k6-out.head.ndjson), plain and gzip-compressed.
func TestJSONOutputMatchesK6(t *testing.T) {
	t.Parallel()
	golden := readGolden(t, "k6-out.head.ndjson")
	for _, tt := range []struct {
		name     string
		compress bool
		batch    int // samples per AddSamples call
	}{
		{name: "plain", batch: 1},
		{name: "plain batched", batch: 64},
		{name: "gzip", compress: true, batch: 7},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			info, samples := k6OutRun(t, golden)
			require.NotEmpty(t, samples)
			var buf bytes.Buffer
			o := NewJSONOutput(&buf, tt.compress)
			require.NoError(t, o.Start(info))
			for len(samples) > 0 {
				n := min(tt.batch, len(samples))
				o.AddSamples(samples[:n])
				samples = samples[n:]
			}
			require.NoError(t, o.Stop(Result{}))

			var got []byte
			if tt.compress {
				zr, err := gzip.NewReader(&buf)
				require.NoError(t, err, "a gzip stream")
				got, err = io.ReadAll(zr)
				require.NoError(t, err, "a complete gzip stream")
			} else {
				got = buf.Bytes()
			}
			wantLines := strings.Split(strings.TrimSuffix(string(golden), "\n"), "\n")
			gotLines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
			require.Len(t, gotLines, len(wantLines))
			for i := range wantLines {
				require.Equal(t, wantLines[i], gotLines[i], "line %d", i+1)
			}
		})
	}
}
