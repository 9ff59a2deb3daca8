package loadtest

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/metrics"
)

// k6CSVHeader is the header k6 writes with its default system tags.
const k6CSVHeader = "metric_name,timestamp,metric_value,check,error,error_code,expected_response,group,method,name," +
	"proto,scenario,service,status,subproto,tls_version,url,extra_tags,metadata"

func TestCSVOutput(t *testing.T) {
	t.Parallel()
	reg := metrics.NewRegistry()
	at := time.Unix(1669309480, 250_000_000)
	samples := []metrics.Sample{
		{Metric: reg.Get(metrics.HTTPReqs), Time: at, Value: 1, Tags: metrics.NewTags(
			"expected_response", "true", "group", "", "method", "POST", "name", "https://x.test/post", "proto", "HTTP/1.1",
			"scenario", "default", "status", "200", "tls_version", "tls1.3", "url", "https://x.test/post")},
		{Metric: reg.Get(metrics.Checks), Time: at.Add(time.Second), Value: 0, Tags: metrics.NewTags(
			"check", "status is 200, really", "scenario", "default", "team", "a", "env", "prod"),
			Metadata: map[string]string{"vu": "3", "iter": "7"}},
	}
	for _, compress := range []bool{false, true} {
		var buf bytes.Buffer
		o := NewCSVOutput(&buf, compress)
		require.NoError(t, o.Start(RunInfo{}))
		o.AddSamples(samples)
		require.NoError(t, o.Stop(Result{}))
		var r io.Reader = &buf
		if compress {
			zr, err := gzip.NewReader(&buf)
			require.NoError(t, err)
			r = zr
		}
		text, err := io.ReadAll(r)
		require.NoError(t, err)
		lines := strings.Split(strings.TrimSuffix(string(text), "\n"), "\n")
		require.Len(t, lines, 3)
		assert.Equal(t, k6CSVHeader, lines[0])
		// As in k6's own file: every system tag in its column, the rest empty.
		assert.Equal(t, "http_reqs,1669309480,1.000000,,,,true,,POST,https://x.test/post,HTTP/1.1,default,,200,,tls1.3,https://x.test/post,,", lines[1])
		rows, err := csv.NewReader(strings.NewReader(string(text))).ReadAll()
		require.NoError(t, err)
		check := rows[2]
		assert.Equal(t, []string{"checks", "1669309481", "0.000000", "status is 200, really"}, check[:4], "a comma is quoted")
		assert.Equal(t, "env=prod&team=a", check[len(check)-2], "extra_tags")
		assert.Equal(t, "iter=7&vu=3", check[len(check)-1], "metadata")
	}
}

// Only the enabled system tags get columns; vu and iter never do.
func TestCSVOutputSystemTags(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	o := NewCSVOutput(&buf, false)
	require.NoError(t, o.Start(RunInfo{Plan: PlanEcho{Options: Options{SystemTags: []string{"url", "vu", "status", "iter"}}}}))
	reg := metrics.NewRegistry()
	o.AddSamples([]metrics.Sample{{Metric: reg.Get(metrics.HTTPReqs), Time: time.Unix(5, 0), Value: 1,
		Tags: metrics.NewTags("status", "404", "url", "http://127.0.0.1/", "method", "GET")}})
	require.NoError(t, o.Stop(Result{}))
	assert.Equal(t, "metric_name,timestamp,metric_value,status,url,extra_tags,metadata\n"+
		"http_reqs,5,1.000000,404,http://127.0.0.1/,method=GET,\n", buf.String())
}
