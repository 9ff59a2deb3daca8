package gemini

import (
	"container/list"
	"slices"
	"sync"

	"github.com/loadlens/loadlens/anomaly"
)

// Cache keeps analyses by key (a hash of model, prompt version,
// temperature and evidence), so that re-analysing the same run costs
// nothing. Only available analyses are stored. Implementations must be safe
// for concurrent use; a store may implement it to keep analyses across
// processes.
type Cache interface {
	// Get returns the analysis stored under key.
	Get(key string) (anomaly.AIAnalysis, bool)
	// Add stores a under key.
	Add(key string, a anomaly.AIAnalysis)
}

var (
	_ Cache = (*MemoryCache)(nil)
	_ Cache = NoCache{}
)

// NoCache is a Cache that keeps nothing: every analysis calls the model.
type NoCache struct{}

// Get never finds anything.
func (NoCache) Get(string) (anomaly.AIAnalysis, bool) { return anomaly.AIAnalysis{}, false }

// Add does nothing.
func (NoCache) Add(string, anomaly.AIAnalysis) {}

// MemoryCache is an in-memory Cache that keeps the most recently used
// analyses. It is safe for concurrent use; values are copied in and out.
type MemoryCache struct {
	mu    sync.Mutex
	size  int
	order *list.List // of *cacheEntry, most recent first
	byKey map[string]*list.Element
}

type cacheEntry struct {
	key string
	a   anomaly.AIAnalysis
}

// NewMemoryCache returns a MemoryCache of at most size analyses (at least
// 1).
func NewMemoryCache(size int) *MemoryCache {
	return &MemoryCache{size: max(size, 1), order: list.New(), byKey: map[string]*list.Element{}}
}

// Get returns a copy of the analysis stored under key.
func (c *MemoryCache) Get(key string) (anomaly.AIAnalysis, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[key]
	if !ok {
		return anomaly.AIAnalysis{}, false
	}
	c.order.MoveToFront(e)
	return cloneAnalysis(e.Value.(*cacheEntry).a), true
}

// Add stores a copy of a under key, evicting the least recently used
// analysis when full.
func (c *MemoryCache) Add(key string, a anomaly.AIAnalysis) {
	a = cloneAnalysis(a)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[key]; ok {
		e.Value.(*cacheEntry).a = a
		c.order.MoveToFront(e)
		return
	}
	c.byKey[key] = c.order.PushFront(&cacheEntry{key: key, a: a})
	for c.order.Len() > c.size {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byKey, last.Value.(*cacheEntry).key)
	}
}

// Len returns the number of analyses stored.
func (c *MemoryCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// cloneAnalysis returns a deep copy of a.
func cloneAnalysis(a anomaly.AIAnalysis) anomaly.AIAnalysis {
	a.RootCauses = slices.Clone(a.RootCauses)
	for i := range a.RootCauses {
		h := &a.RootCauses[i]
		h.Supporting = slices.Clone(h.Supporting)
		h.Contradicting = slices.Clone(h.Contradicting)
	}
	a.Insights = slices.Clone(a.Insights)
	for i := range a.Insights {
		a.Insights[i].Evidence = slices.Clone(a.Insights[i].Evidence)
	}
	a.Recommendations = slices.Clone(a.Recommendations)
	for i := range a.Recommendations {
		a.Recommendations[i].Evidence = slices.Clone(a.Recommendations[i].Evidence)
	}
	a.Limitations = slices.Clone(a.Limitations)
	a.Grounding = slices.Clone(a.Grounding)
	return a
}
