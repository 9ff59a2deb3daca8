package distributed_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/distributed"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/scenarios"
)

// sampleCounter is an output that counts samples per metric and tag set
// and sums their values per metric.
type sampleCounter struct {
	mu     sync.Mutex
	series map[string]int
	sums   map[string]float64
	times  []time.Time
}

func (c *sampleCounter) Start(loadtest.RunInfo) error {
	c.series, c.sums = map[string]int{}, map[string]float64{}
	return nil
}

func (c *sampleCounter) AddSamples(batch []metrics.Sample) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range batch {
		c.series[s.Metric.Name+s.Tags.String()]++
		c.sums[s.Metric.Name] += s.Value
		c.times = append(c.times, s.Time)
	}
}

func (c *sampleCounter) Stop(loadtest.Result) error { return nil }

// without returns the counts of every series but those of the named
// metrics.
func (c *sampleCounter) without(names ...string) map[string]int {
	out := map[string]int{}
outer:
	for k, v := range c.series {
		for _, n := range names {
			if strings.HasPrefix(k, n+"{") {
				continue outer
			}
		}
		out[k] = v
	}
	return out
}

// The coordinator's outputs get every sample its runners measured, as one
// process's outputs get its own: for a shared-iterations test, the same
// samples per metric and tag set and the same sums; vus and vus_max once
// per second, summed over the runners.
func TestOutputsGetEverySampleOfEveryRunner(t *testing.T) {
	c := newCluster(t)
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(target.Close)
	s := spec{URL: target.URL, Scenarios: scenarios.Scenarios{
		"shared": scenarios.SharedIterations{VUs: 6, Iterations: 600},
		"per_vu": scenarios.PerVUIterations{VUs: 3, Iterations: 20},
	}}
	var one, merged sampleCounter
	single(t, t.Context(), s, &seen{}, &one)
	res, runners, err := c.run(t, t.Context(), s, 3, &seen{}, func(c *distributed.Coordinator) { c.ForwardSamples = true }, &merged)
	require.NoError(t, err)
	assert.Empty(t, res.Warnings)
	for i := range 3 {
		require.NoError(t, runners.errs[i], "runner %d", i)
	}

	perSecond := []string{metrics.VUs, metrics.VUsMax}
	assert.Equal(t, one.without(perSecond...), merged.without(perSecond...))
	assert.Equal(t, 660, merged.series["iterations{group:,scenario:per_vu}"]+merged.series["iterations{group:,scenario:shared}"],
		"%v", merged.series)
	for _, m := range []string{"iteration_value", metrics.Iterations, metrics.HTTPReqs, metrics.DataSent} {
		assert.Equal(t, one.sums[m], merged.sums[m], m)
	}
	for _, tm := range merged.times {
		assert.WithinRange(t, tm, res.Start.Add(-time.Minute), res.End.Add(time.Minute), "a sample's time is its runner's")
	}
}

// Without ForwardSamples, runners send no samples: outputs of the
// coordinator get its own vus and vus_max only.
func TestRunnersForwardNoSamplesUnlessAsked(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	s := spec{Scenarios: scenarios.Scenarios{"shared": scenarios.SharedIterations{VUs: 3, Iterations: 90}}}
	var merged sampleCounter
	_, _, err := c.run(t, t.Context(), s, 2, &seen{}, nil, &merged)
	require.NoError(t, err)
	assert.Empty(t, merged.without(metrics.VUs, metrics.VUsMax))
}
