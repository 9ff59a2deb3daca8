package report

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/loadtest"
)

// Target telemetry series carry the source they were scraped from; the
// target charts draw them whatever it is, one line per source.
func TestTargetChartsTakeAnySource(t *testing.T) {
	t.Parallel()
	series := func(name, source string, v ...float64) loadtest.Series {
		return loadtest.Series{Name: name, Tags: map[string]string{"source": source}, Values: v}
	}
	res := loadtest.Result{Duration: 3 * time.Second, Timeline: loadtest.Timeline{Step: time.Second, Series: []loadtest.Series{
		series(loadtest.SeriesTargetRSS, "http://127.0.0.1:9100/metrics", 1, 2, 3),
		series(loadtest.SeriesTargetRSS, "pid:42", 4, 5, 6),
		series(loadtest.SeriesTargetCPU, "http://127.0.0.1:9100/metrics", 10, 20, 30),
	}}}
	d := newChartData(res, nil, maxChartPoints)
	labels := map[string][]string{}
	for _, c := range d.Charts {
		for _, s := range c.Series {
			labels[c.ID] = append(labels[c.ID], s.Label)
		}
	}
	require.Contains(t, labels, "target-memory")
	assert.Equal(t, []string{"target RSS (http://127.0.0.1:9100/metrics)", "target RSS (pid:42)"}, labels["target-memory"])
	assert.Equal(t, []string{"target CPU"}, labels["target-cpu"], "one source: no source in the label")
	assert.NotContains(t, labels, "target-goroutines", "no data, no chart")
}
