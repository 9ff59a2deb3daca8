package metrics

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTags(t *testing.T) {
	t.Parallel()
	a := NewTags("method", "GET", "status", "200")
	b := TagsFromMap(map[string]string{"status": "200", "method": "GET"})
	assert.True(t, a.Equal(b))
	assert.Equal(t, a.Hash(), b.Hash())
	assert.Equal(t, "{method:GET,status:200}", a.String())

	c := a.With("status", "500")
	assert.False(t, a.Equal(c), "With must not change the receiver")
	v, ok := c.Get("status")
	assert.True(t, ok)
	assert.Equal(t, "500", v)
	v, _ = a.Get("status")
	assert.Equal(t, "200", v)
	assert.Same(t, a.set, a.With("method", "GET").set, "setting an equal value keeps the set")

	assert.Equal(t, 1, a.Without("method").Len())
	assert.True(t, a.Without("nope").Equal(a))
	assert.Equal(t, 0, Tags{}.Len())
	assert.True(t, Tags{}.Equal(NewTags()))

	assert.True(t, a.Contains(NewTags("status", "200")))
	assert.True(t, a.Contains(Tags{}))
	assert.False(t, a.Contains(NewTags("status", "500")))
	assert.False(t, a.Contains(NewTags("name", "x")))
	assert.False(t, NewTags("a", "1").Contains(NewTags("a", "1", "b", "2")))

	m := a.Merge(NewTags("status", "404", "url", "/x"))
	assert.Equal(t, map[string]string{"method": "GET", "status": "404", "url": "/x"}, m.Map())
	assert.True(t, Tags{}.Merge(a).Equal(a))

	keys := []string{}
	for k := range m.All() {
		keys = append(keys, k)
	}
	assert.Equal(t, []string{"method", "status", "url"}, keys)
}

func TestTagsHashSeparatesPairs(t *testing.T) {
	t.Parallel()
	// The same bytes split differently must not collide.
	a := NewTags("ab", "c")
	b := NewTags("a", "bc")
	assert.NotEqual(t, a.Hash(), b.Hash())
	assert.False(t, a.Equal(b))
}

func TestTagsJSON(t *testing.T) {
	t.Parallel()
	a := NewTags("b", "2", "a", "1")
	out, err := json.Marshal(a)
	require.NoError(t, err)
	assert.Equal(t, `{"a":"1","b":"2"}`, string(out))
	var back Tags
	require.NoError(t, json.Unmarshal(out, &back))
	assert.True(t, a.Equal(back))
}

func TestNewTagsOddPanics(t *testing.T) {
	t.Parallel()
	odd := strings.Fields("a")
	assert.Panics(t, func() { NewTags(odd...) })
}
