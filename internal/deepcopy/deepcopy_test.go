package deepcopy_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/loadlens/loadlens/internal/deepcopy"
)

type config interface{ kind() string }

type stage struct {
	Target int64
	Tags   map[string]string
}

type ramp struct{ Stages []stage }

func (ramp) kind() string { return "ramp" }

type doc struct {
	Name    string
	At      time.Time
	Values  []float64
	ByName  map[string][]stage
	Ptr     *stage
	Config  config
	Configs map[string]config
	Raw     json.RawMessage
	Pair    [2]*stage
	Nil     map[string]int
	hidden  int
}

func TestOf(t *testing.T) {
	t.Parallel()
	orig := doc{
		Name: "a", At: time.Unix(1, 0), Values: []float64{1, 2},
		ByName:  map[string][]stage{"x": {{Target: 1, Tags: map[string]string{"k": "v"}}}},
		Ptr:     &stage{Target: 2},
		Config:  ramp{Stages: []stage{{Target: 3}}},
		Configs: map[string]config{"r": ramp{Stages: []stage{{Target: 4}}}},
		Raw:     json.RawMessage(`{"a":1}`),
		Pair:    [2]*stage{{Target: 5}, nil},
		hidden:  7,
	}
	want := deepcopy.Of(orig) // a second copy to compare with after the changes
	c := deepcopy.Of(orig)
	assert.Equal(t, orig, c)
	assert.Equal(t, 7, c.hidden, "unexported fields are copied as they are")

	c.Values[0] = 9
	c.ByName["x"][0].Tags["k"] = "changed"
	c.ByName["y"] = nil
	c.Ptr.Target = 9
	c.Config.(ramp).Stages[0].Target = 9
	c.Configs["r"].(ramp).Stages[0].Target = 9
	c.Raw[2] = 'b'
	c.Pair[0].Target = 9
	assert.Equal(t, want, orig, "changing the copy changed the original")
	assert.Nil(t, c.Nil, "nil stays nil")
}

func BenchmarkOf(b *testing.B) {
	d := doc{Values: make([]float64, 100_000), ByName: map[string][]stage{}}
	for i := range 1000 {
		d.ByName[string(rune('a'+i%26))+string(rune(i))] = []stage{{Target: int64(i), Tags: map[string]string{"a": "b"}}}
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = deepcopy.Of(d)
	}
}
