package telemetry_test

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/internal/redact"
	"github.com/loadlens/loadlens/loadtest/telemetry"
)

// configCases are telemetry configs as JSON, with the problems Validate
// finds in them; the fuzz test starts from them.
var configCases = []struct {
	name, json string
	want       telemetry.Config
	wantErrs   []string
}{
	{
		name: "prometheus", json: `{"prometheus": "http://127.0.0.1:9100/metrics", "interval": "1s"}`,
		want: telemetry.Config{Prometheus: "http://127.0.0.1:9100/metrics", Interval: time.Second},
	},
	{
		name: "everything", json: `{"prometheus": "https://svc.local/metrics", "pid": 42, "interval": "5s", "timeout": 2500, "metrics": ["http_requests_total", "queue_depth"], "cpus": 2}`,
		want: telemetry.Config{Prometheus: "https://svc.local/metrics", PID: 42, Interval: 5 * time.Second,
			Timeout: 2500 * time.Millisecond, Metrics: []string{"http_requests_total", "queue_depth"}, CPUs: 2},
	},
	{name: "pid only", json: `{"pid": 7}`, want: telemetry.Config{PID: 7}},
	{name: "no source", json: `{"interval": "1s"}`, want: telemetry.Config{Interval: time.Second},
		wantErrs: []string{"telemetry: name a source"}},
	{
		name: "every field wrong",
		json: `{"prometheus": "ftp://x/metrics", "pid": -1, "interval": "10ms", "timeout": "-1s", "metrics": ["ok", "9bad", "ok"], "cpus": -0.5}`,
		want: telemetry.Config{Prometheus: "ftp://x/metrics", PID: -1, Interval: 10 * time.Millisecond, Timeout: -time.Second,
			Metrics: []string{"ok", "9bad", "ok"}, CPUs: -0.5},
		wantErrs: []string{
			`telemetry.prometheus: want an http:// or https:// URL with a host, got "ftp://x/metrics"`,
			"telemetry.pid: must be > 0, got -1",
			"telemetry.interval: must be >= 100ms, got 10ms",
			"telemetry.timeout: must be > 0, got -1s",
			"telemetry.cpus: must be >= 0, got -0.5",
			`telemetry.metrics[2]: "ok" is listed twice`,
		},
	},
	{name: "timeout not below interval", json: `{"prometheus": "http://127.0.0.1/m", "timeout": "1s"}`,
		want:     telemetry.Config{Prometheus: "http://127.0.0.1/m", Timeout: time.Second},
		wantErrs: []string{"telemetry.timeout: must be shorter than the interval (1s), got 1s"}},
	{name: "metrics without prometheus", json: `{"pid": 3, "metrics": ["x"]}`,
		want:     telemetry.Config{PID: 3, Metrics: []string{"x"}},
		wantErrs: []string{"telemetry.metrics: extra metrics are read from a prometheus source"}},
	{name: "bad URL keeps its password", json: `{"prometheus": "http://u:hunter2@[::1/"}`,
		want:     telemetry.Config{Prometheus: "http://u:hunter2@[::1/"},
		wantErrs: []string{"telemetry.prometheus: not a valid URL"}},
}

func TestConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range configCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var c telemetry.Config
			require.NoError(t, json.Unmarshal([]byte(tc.json), &c))
			assert.Equal(t, tc.want, c)
			err := c.Validate()
			if len(tc.wantErrs) == 0 {
				require.NoError(t, err)
				s, err := c.Scraper(nil)
				require.NoError(t, err)
				assert.Positive(t, s.Interval)
				assert.Less(t, s.Timeout, s.Interval)
				return
			}
			require.Error(t, err)
			assert.NotContains(t, err.Error(), "hunter2")
			for _, want := range tc.wantErrs {
				assert.Contains(t, err.Error(), want)
			}
			_, err = c.Scraper(nil)
			require.Error(t, err)
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg                   telemetry.Config
		interval, wantTimeout time.Duration
	}{
		{telemetry.Config{PID: 1}, time.Second, 800 * time.Millisecond},
		{telemetry.Config{PID: 1, Interval: time.Minute}, time.Minute, telemetry.MaxDefaultTimeout},
		{telemetry.Config{PID: 1, Interval: 2 * time.Second, Timeout: 100 * time.Millisecond}, 2 * time.Second, 100 * time.Millisecond},
	} {
		s, err := tc.cfg.Scraper(nil)
		require.NoError(t, err)
		assert.Equal(t, tc.interval, s.Interval)
		assert.Equal(t, tc.wantTimeout, s.Timeout)
		require.Len(t, s.Sources, 1)
		assert.Equal(t, "pid:1", s.Sources[0].Name())
	}
}

func TestConfigRedacted(t *testing.T) {
	t.Parallel()
	c := telemetry.Config{Prometheus: "http://admin:s3cret@127.0.0.1:9100/metrics", PID: 3}
	r := c.Redacted()
	assert.Equal(t, "http://admin:%5BREDACTED%5D@127.0.0.1:9100/metrics", r.Prometheus)
	assert.Equal(t, 3, r.PID)
	assert.Equal(t, "http://admin:s3cret@127.0.0.1:9100/metrics", c.Prometheus, "the original is untouched")
}

// FuzzConfigJSON: decoding never panics; a decoded config written back
// decodes to itself, and Validate never panics.
func FuzzConfigJSON(f *testing.F) {
	for _, tc := range configCases {
		f.Add(tc.json)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var c telemetry.Config
		if err := json.Unmarshal([]byte(s), &c); err != nil {
			return
		}
		_ = c.Validate()
		b, err := json.Marshal(c)
		require.NoError(t, err)
		var again telemetry.Config
		require.NoError(t, json.Unmarshal(b, &again), "%s", b)
		if len(c.Metrics) == 0 {
			c.Metrics = nil // [] and null both mean none
		}
		assert.Equal(t, c, again, "%s", b)
		if u, err := url.Parse(c.Prometheus); err == nil && u.User != nil {
			if _, has := u.User.Password(); has {
				r, err := url.Parse(c.Redacted().Prometheus)
				require.NoError(t, err)
				pw, _ := r.User.Password()
				assert.Equal(t, redact.Placeholder, pw)
			}
		}
	})
}
