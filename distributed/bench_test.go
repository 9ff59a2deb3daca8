package distributed

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/loadtest/k6http"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/scenarios"
)

// recorder keeps the partials of a run in their wire form.
type recorder struct {
	mu       sync.Mutex
	partials [][]byte
}

func (r *recorder) Start(loadtest.RunInfo) error { return nil }
func (r *recorder) AddSamples([]metrics.Sample)  {}
func (r *recorder) Stop(loadtest.Result) error   { return nil }
func (r *recorder) Partial(p *loadtest.Partial) {
	b, err := p.MarshalBinary()
	if err != nil {
		panic(err)
	}
	r.mu.Lock()
	r.partials = append(r.partials, b)
	r.mu.Unlock()
}

// recordedPartial is one second of a busy runner: 20 VUs against a
// loopback target, 8 endpoints, checks, the default summary's trends.
func recordedPartial(b *testing.B) []byte {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	rec := &recorder{}
	_, err := loadtest.Run(context.Background(), loadtest.Plan{
		Scenarios: scenarios.Scenarios{"s": scenarios.ConstantVUs{VUs: 20, Duration: 3500 * time.Millisecond}},
		Program: loadtest.Funcs{"default": func(ctx context.Context, vu *loadtest.VU) error {
			n := vu.Iteration().IterationInTest
			resp, err := vu.HTTP().Do(ctx, &k6http.Request{URL: srv.URL + "/api/" + strconv.FormatUint(n%8, 10)})
			if err != nil {
				return err
			}
			vu.Check("200", resp.Status == 200)
			return vu.Sleep(ctx, 5*time.Millisecond)
		}},
	}, rec)
	require.NoError(b, err)
	require.Greater(b, len(rec.partials), 2)
	return rec.partials[1] // a whole second in the middle of the run
}

// BenchmarkCoordinatorMergePartial is the coordinator's work for one
// runner's one-second partial alone: decompress, decode, merge (its
// runners/core leaves out NATS, heartbeats and thresholds, which
// BenchmarkCoordinatorRunners counts).
func BenchmarkCoordinatorMergePartial(b *testing.B) {
	raw := recordedPartial(b)
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	wire := enc.EncodeAll(raw, nil)
	_ = enc.Close()
	dec, _ := zstd.NewReader(nil)
	defer dec.Close()
	remote := mergeOnly{wire: wire, dec: dec, b: b}
	_, err := loadtest.Run(context.Background(), loadtest.Plan{
		Scenarios: scenarios.Scenarios{"s": scenarios.ConstantVUs{VUs: 20, Duration: 3500 * time.Millisecond}},
		Program:   loadtest.Funcs{"default": func(context.Context, *loadtest.VU) error { return nil }},
		Remote:    &remote,
	})
	require.NoError(b, err)
	b.ReportMetric(float64(len(raw)), "raw-bytes/partial")
	b.ReportMetric(float64(len(wire)), "wire-bytes/partial")
	// CPU, not wall time: the machine is shared.
	b.ReportMetric(float64(remote.cpu.Nanoseconds())/float64(remote.n), "cpu-ns/partial")
	b.ReportMetric(float64(time.Second)/(float64(remote.cpu.Nanoseconds())/float64(remote.n)), "runners/core")
}

// mergeOnly is a Remote whose generators are the benchmark's loop.
type mergeOnly struct {
	wire []byte
	dec  *zstd.Decoder
	b    *testing.B
	cpu  time.Duration
	n    int
}

func (m *mergeOnly) Execute(_ context.Context, rr *loadtest.RemoteRun, _ json.RawMessage) error {
	m.b.ReportAllocs()
	i := 0
	start := processCPU()
	defer func() { m.cpu, m.n = processCPU()-start, i }()
	for m.b.Loop() {
		raw, err := m.dec.DecodeAll(m.wire, nil)
		if err != nil {
			return err
		}
		var p loadtest.Partial
		if err := p.UnmarshalBinary(raw); err != nil {
			return err
		}
		if err := rr.Merge(strconv.Itoa(i%100), &p); err != nil {
			return err
		}
		i++
	}
	return nil
}
