package metrics

import (
	"encoding/json"
	"iter"
	"slices"
	"strings"
)

// Tag is one key/value pair of a [Tags] set.
type Tag struct {
	Key   string
	Value string
}

// Tags is an immutable set of tags, sorted by key, with a precomputed hash so
// that sets are cheap to compare and to use as map keys (see [Tags.Hash]).
// The zero value is the empty set. Methods that change a set return a new one.
// Tags is safe for concurrent use.
type Tags struct {
	set *tagSet
}

type tagSet struct {
	pairs []Tag
	hash  uint64
}

// TagsFromMap returns the set holding the pairs of m.
func TagsFromMap(m map[string]string) Tags {
	if len(m) == 0 {
		return Tags{}
	}
	pairs := make([]Tag, 0, len(m))
	for k, v := range m {
		pairs = append(pairs, Tag{k, v})
	}
	slices.SortFunc(pairs, func(a, b Tag) int { return strings.Compare(a.Key, b.Key) })
	return newTags(pairs)
}

// NewTags returns the set holding the given key/value pairs; kv alternates
// keys and values. A later pair replaces an earlier one with the same key.
// It panics if kv has an odd length.
func NewTags(kv ...string) Tags {
	if len(kv)%2 != 0 {
		panic("metrics.NewTags: odd number of arguments")
	}
	var t Tags
	for i := 0; i < len(kv); i += 2 {
		t = t.With(kv[i], kv[i+1])
	}
	return t
}

func newTags(sorted []Tag) Tags {
	if len(sorted) == 0 {
		return Tags{}
	}
	return Tags{&tagSet{pairs: sorted, hash: hashPairs(sorted)}}
}

// FNV-1a over the pairs, with separators that cannot be confused with text.
func hashPairs(pairs []Tag) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for _, p := range pairs {
		for i := 0; i < len(p.Key); i++ {
			h = (h ^ uint64(p.Key[i])) * prime
		}
		h = (h ^ 0xff) * prime
		for i := 0; i < len(p.Value); i++ {
			h = (h ^ uint64(p.Value[i])) * prime
		}
		h = (h ^ 0xfe) * prime
	}
	return h
}

func (t Tags) pairs() []Tag {
	if t.set == nil {
		return nil
	}
	return t.set.pairs
}

// Len returns the number of tags.
func (t Tags) Len() int { return len(t.pairs()) }

// Hash returns a hash of the set: equal sets have equal hashes.
func (t Tags) Hash() uint64 {
	if t.set == nil {
		return 0
	}
	return t.set.hash
}

func (t Tags) index(key string) (int, bool) {
	return slices.BinarySearchFunc(t.pairs(), key, func(p Tag, k string) int { return strings.Compare(p.Key, k) })
}

// Get returns the value of key and whether it is set.
func (t Tags) Get(key string) (string, bool) {
	i, ok := t.index(key)
	if !ok {
		return "", false
	}
	return t.set.pairs[i].Value, true
}

// With returns the set with key set to value.
func (t Tags) With(key, value string) Tags {
	i, ok := t.index(key)
	if ok && t.set.pairs[i].Value == value {
		return t
	}
	old := t.pairs()
	pairs := make([]Tag, 0, len(old)+1)
	pairs = append(pairs, old[:i]...)
	pairs = append(pairs, Tag{key, value})
	if ok {
		i++
	}
	pairs = append(pairs, old[i:]...)
	return newTags(pairs)
}

// Without returns the set without key.
func (t Tags) Without(key string) Tags {
	i, ok := t.index(key)
	if !ok {
		return t
	}
	old := t.pairs()
	pairs := make([]Tag, 0, len(old)-1)
	pairs = append(pairs, old[:i]...)
	pairs = append(pairs, old[i+1:]...)
	return newTags(pairs)
}

// Merge returns the union of t and o; o's values win on shared keys.
func (t Tags) Merge(o Tags) Tags {
	if o.Len() == 0 {
		return t
	}
	if t.Len() == 0 {
		return o
	}
	a, b := t.pairs(), o.pairs()
	pairs := make([]Tag, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		switch c := strings.Compare(a[0].Key, b[0].Key); {
		case c < 0:
			pairs, a = append(pairs, a[0]), a[1:]
		case c > 0:
			pairs, b = append(pairs, b[0]), b[1:]
		default:
			pairs, a, b = append(pairs, b[0]), a[1:], b[1:]
		}
	}
	pairs = append(append(pairs, a...), b...)
	return newTags(pairs)
}

// Equal reports whether t and o hold the same pairs.
func (t Tags) Equal(o Tags) bool {
	if t.set == o.set {
		return true
	}
	return t.Hash() == o.Hash() && slices.Equal(t.pairs(), o.pairs())
}

// Contains reports whether every pair of sub is also in t. Both sets are
// sorted and small, so one merge walk beats a search per pair.
func (t Tags) Contains(sub Tags) bool {
	a, i := t.pairs(), 0
	for _, p := range sub.pairs() {
		for i < len(a) && a[i].Key < p.Key {
			i++
		}
		if i == len(a) || a[i].Key != p.Key || a[i].Value != p.Value {
			return false
		}
		i++
	}
	return true
}

// All iterates over the pairs in key order.
func (t Tags) All() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for _, p := range t.pairs() {
			if !yield(p.Key, p.Value) {
				return
			}
		}
	}
}

// Map returns a new map holding the pairs.
func (t Tags) Map() map[string]string {
	m := make(map[string]string, t.Len())
	for k, v := range t.All() {
		m[k] = v
	}
	return m
}

// String formats the set as k6 writes sub-metric selectors: {k1:v1,k2:v2}.
func (t Tags) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, p := range t.pairs() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.Key)
		b.WriteByte(':')
		b.WriteString(p.Value)
	}
	b.WriteByte('}')
	return b.String()
}

// MarshalJSON writes the set as a JSON object with keys in sorted order.
func (t Tags) MarshalJSON() ([]byte, error) { return json.Marshal(t.Map()) }

// UnmarshalJSON reads a JSON object of strings.
func (t *Tags) UnmarshalJSON(b []byte) error {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*t = TagsFromMap(m)
	return nil
}
