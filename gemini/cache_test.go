package gemini_test

import (
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/gemini"
)

func TestMemoryCache(t *testing.T) {
	t.Parallel()
	c := gemini.NewMemoryCache(2)
	a := anomaly.AIAnalysis{Available: true, Summary: "a", RootCauses: []anomaly.Hypothesis{{Title: "t", Supporting: []string{"run"}}}}
	c.Add("a", a)
	c.Add("b", anomaly.AIAnalysis{Summary: "b"})
	// Copies in and out: changing either side changes nothing stored.
	a.RootCauses[0].Supporting[0] = "changed"
	got, ok := c.Get("a") // a is now the most recent
	assert.True(t, ok)
	assert.Equal(t, "run", got.RootCauses[0].Supporting[0])
	got.RootCauses[0].Title = "changed"
	again, _ := c.Get("a")
	assert.Equal(t, "t", again.RootCauses[0].Title)

	c.Add("c", anomaly.AIAnalysis{Summary: "c"}) // evicts b, the least recently used
	_, ok = c.Get("b")
	assert.False(t, ok)
	_, ok = c.Get("a")
	assert.True(t, ok)
	assert.Equal(t, 2, c.Len())

	_, ok = gemini.NoCache{}.Get("a")
	assert.False(t, ok)
}

func TestMemoryCacheConcurrent(t *testing.T) {
	t.Parallel()
	c := gemini.NewMemoryCache(8)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				k := strconv.Itoa((g * i) % 13)
				c.Add(k, anomaly.AIAnalysis{Summary: k})
				if got, ok := c.Get(k); ok {
					assert.Equal(t, k, got.Summary)
				}
			}
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, c.Len(), 8)
}
