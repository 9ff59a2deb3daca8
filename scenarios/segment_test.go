package scenarios

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustTuple(t testing.TB, seg, seq string) *ExecutionTuple {
	t.Helper()
	s, err := ParseExecutionSegment(seg)
	require.NoError(t, err)
	q, err := ParseExecutionSegmentSequence(seq)
	require.NoError(t, err)
	et, err := NewExecutionTuple(s, q)
	require.NoError(t, err)
	return et
}

// TestStripingReference reproduces the observed values of REFERENCE.md §2.
func TestStripingReference(t *testing.T) {
	t.Parallel()
	tests := []struct {
		seq, seg    string
		lcd         int64
		start       int64
		offsets     []int64
		scale1to10  []int64 // ScaleInt64(1..10); nil = not observed
		globalIters []int64 // GlobalIndex(0..3); nil = not observed
	}{
		{"0,1/3,2/3,1", "0:1/3", 3, 0, []int64{3}, []int64{1, 1, 1, 2, 2, 2, 3, 3, 3, 4}, []int64{0, 3, 6, 9}},
		{"0,1/3,2/3,1", "1/3:2/3", 3, 1, []int64{3}, []int64{0, 1, 1, 1, 2, 2, 2, 3, 3, 3}, []int64{1, 4, 7, 10}},
		{"0,1/3,2/3,1", "2/3:1", 3, 2, []int64{3}, []int64{0, 0, 1, 1, 1, 2, 2, 2, 3, 3}, []int64{2, 5, 8, 11}},
		{"0,1/2,3/4,1", "0:1/2", 4, 0, []int64{2, 2}, []int64{1, 1, 2, 2, 3, 3, 4, 4, 5, 5}, nil},
		{"0,1/2,3/4,1", "1/2:3/4", 4, 1, []int64{4}, []int64{0, 1, 1, 1, 1, 2, 2, 2, 2, 3}, nil},
		{"0,1/2,3/4,1", "3/4:1", 4, 3, []int64{4}, []int64{0, 0, 0, 1, 1, 1, 1, 2, 2, 2}, nil},
		{"0,0.3,0.5,0.6,1", "0:3/10", 10, 1, []int64{3, 3, 4}, nil, nil},
		{"0,0.3,0.5,0.6,1", "1/2:3/5", 10, 9, []int64{10}, nil, nil},
		{"0,0.3,0.5,0.6,1", "3/5:1", 10, 0, []int64{3, 2, 3, 2}, nil, nil},
		{"", "", 1, 0, []int64{1}, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, []int64{0, 1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.seq+"/"+tt.seg, func(t *testing.T) {
			t.Parallel()
			et := mustTuple(t, tt.seg, tt.seq)
			assert.Equal(t, tt.lcd, et.Sequence.LCD())
			start, offsets := et.Stripe()
			assert.Equal(t, tt.start, start)
			assert.Equal(t, tt.offsets, offsets)
			if tt.scale1to10 != nil {
				got := make([]int64, 10)
				for v := range got {
					got[v] = et.ScaleInt64(int64(v + 1))
				}
				assert.Equal(t, tt.scale1to10, got)
			}
			if tt.globalIters != nil {
				got := make([]int64, len(tt.globalIters))
				for i := range got {
					got[i] = et.GlobalIndex(int64(i))
				}
				assert.Equal(t, tt.globalIters, got)
			}
		})
	}
}

func TestSegmentScaleDiffersFromTuple(t *testing.T) {
	t.Parallel()
	et := mustTuple(t, "1/3:2/3", "")
	assert.Equal(t, int64(4), et.Segment.Scale(10), "standalone round-half-up")
	assert.Equal(t, int64(3), et.ScaleInt64(10), "striped")
}

func TestParseExecutionSegment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string // String() of the result; "" = error
	}{
		{"", "0:1"},
		{"0:1", "0:1"},
		{"1/3", "0:1/3"},
		{"10%", "0:1/10"},
		{"33.5%", "0:67/200"},
		{"0.2:2/3", "1/5:2/3"},
		{"50%:100%", "1/2:1"},
		{" 1/4 : 3/4 ", "1/4:3/4"},
		{".5:1", "1/2:1"},
		{"1/2:1/2", ""},
		{"2/3:1/3", ""},
		{"0:1.5", ""},
		{"-0.1:0.5", ""},
		{"0:1e0", ""},
		{"0x1", ""},
		{"1/0", ""},
		{"abc", ""},
		{"0:", ""},
		{":1", ""},
		{"1/3:2/3:1", ""},
		{"%", ""},
		{"1/2%", "0:1/200"},
		{"0:" + string(make([]byte, 70)), ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseExecutionSegment(tt.in)
			if tt.want == "" {
				require.ErrorIs(t, err, ErrInvalidSegment)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got.String())
		})
	}
}

func TestParseExecutionSegmentSequence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string
		err  bool
	}{
		{in: "", want: ""},
		{in: "0,1/3,2/3,1", want: "0,1/3,2/3,1"},
		{in: "0,25%,50%,1", want: "0,1/4,1/2,1"},
		{in: "0.5,1", want: "1/2,1"},
		{in: "0,0.3,0.5,0.6,1", want: "0,3/10,1/2,3/5,1"},
		{in: "1", err: true},
		{in: "0,1/2,1/2,1", err: true},
		{in: "0,2/3,1/3,1", err: true},
		{in: "0,1,2", err: true},
		{in: "0,x", err: true},
		{in: "0,1/1000001,1", err: true}, // cycle too long
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseExecutionSegmentSequence(tt.in)
			if !tt.err && tt.in != "" {
				// Parsing succeeds; the LCD limit shows up when striping.
				require.NoError(t, err)
				assert.Equal(t, tt.want, got.String())
				_, err = NewExecutionTuple(got[0], got)
				require.NoError(t, err)
				return
			}
			if tt.err {
				if err == nil {
					_, err = NewExecutionTuple(got[0], got)
				}
				require.ErrorIs(t, err, ErrInvalidSegment)
				return
			}
			require.NoError(t, err)
			assert.Empty(t, got)
		})
	}
}

func TestNewExecutionTupleFills(t *testing.T) {
	t.Parallel()
	tests := []struct {
		seg, seq, want string
		err            bool
	}{
		{seg: "1/3:2/3", want: "1/3:2/3 in 0,1/3,2/3,1"},
		{seg: "0:1/3", want: "0:1/3 in 0,1/3,1"},
		{seg: "", want: "0:1 in 0,1"},
		{seg: "1/2:1", seq: "1/4,1/2,1", want: "1/2:1 in 0,1/4,1/2,1"},
		{seg: "0:1/3", seq: "0,1/3,2/3,1", want: "0:1/3 in 0,1/3,2/3,1"},
		{seg: "0:1/4", seq: "0,1/3,2/3,1", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.seg+" in "+tt.seq, func(t *testing.T) {
			t.Parallel()
			s, err := ParseExecutionSegment(tt.seg)
			require.NoError(t, err)
			q, err := ParseExecutionSegmentSequence(tt.seq)
			require.NoError(t, err)
			et, err := NewExecutionTuple(s, q)
			if tt.err {
				require.ErrorIs(t, err, ErrInvalidSegment)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, et.String())
		})
	}
	var zero ExecutionSegment
	assert.Equal(t, "0:1", zero.String())
	var nilSeg *ExecutionSegment
	assert.True(t, nilSeg.Equal(&zero))
	assert.Equal(t, int64(5), zero.Scale(5))
	var nilTuple *ExecutionTuple
	assert.Equal(t, int64(7), nilTuple.ScaleInt64(7))
	assert.Equal(t, int64(7), nilTuple.GlobalIndex(7))
}

func TestNewFromValue(t *testing.T) {
	t.Parallel()
	// 2 VUs over three thirds: the first two instances get one each, the
	// third none; work is then split in halves.
	seq, err := ParseExecutionSegmentSequence("0,1/3,2/3,1")
	require.NoError(t, err)
	want := []string{"0:1/2 in 0,1/2,1", "1/2:1 in 0,1/2,1", ""}
	for i, seg := range seq {
		et, err := NewExecutionTuple(seg, seq)
		require.NoError(t, err)
		nt, err := et.NewFromValue(2)
		if want[i] == "" {
			require.ErrorIs(t, err, ErrInvalidSegment)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, want[i], nt.String())
		assert.Equal(t, int64(5), nt.ScaleInt64(10))
	}
	_, err = mustTuple(t, "", "").NewFromValue(0)
	require.Error(t, err)
}

// splits returns the sequences the property tests run on: 2-, 3-, 4- and
// 100-way splits, equal and uneven, including seeded random ones.
func splits(t testing.TB) []ExecutionSegmentSequence {
	t.Helper()
	var out []ExecutionSegmentSequence
	for _, s := range []string{"0,1/2,1", "0,1/3,2/3,1", "0,1/4,1/2,3/4,1", "0,1/10,1", "0,0.3,0.5,0.6,1", "0,1/7,3/5,1"} {
		q, err := ParseExecutionSegmentSequence(s)
		require.NoError(t, err)
		out = append(out, q)
	}
	out = append(out, EqualSegments(2), EqualSegments(3), EqualSegments(4), EqualSegments(100))
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{2, 3, 4, 100} {
		// Random cut points on a grid of 1/1000.
		cuts := map[int64]bool{}
		for len(cuts) < n-1 {
			cuts[1+rng.Int64N(999)] = true
		}
		points := []int64{0, 1000}
		for c := range cuts {
			points = append(points, c)
		}
		slices.Sort(points)
		q := make(ExecutionSegmentSequence, 0, n)
		for i := 1; i < len(points); i++ {
			seg, err := NewExecutionSegment(big.NewRat(points[i-1], 1000), big.NewRat(points[i], 1000))
			require.NoError(t, err)
			q = append(q, seg)
		}
		out = append(out, q)
	}
	return out
}

// splitTuples returns splits and the tuples of each: a test that loops
// over them builds them once, as the tuples of the 100-way splits are most
// of what such a test costs.
func splitTuples(t testing.TB) ([]ExecutionSegmentSequence, [][]*ExecutionTuple) {
	t.Helper()
	qs := splits(t)
	ets := make([][]*ExecutionTuple, len(qs))
	for i, q := range qs {
		ets[i] = tuples(t, q)
	}
	return qs, ets
}

func tuples(t testing.TB, q ExecutionSegmentSequence) []*ExecutionTuple {
	t.Helper()
	ets := make([]*ExecutionTuple, len(q))
	for i, seg := range q {
		et, err := NewExecutionTuple(seg, q)
		require.NoError(t, err)
		ets[i] = et
	}
	return ets
}

// TestScaleAddsUp: per-segment shares add up to the whole, are monotonic,
// and the first share-many global indices of every segment partition 0…v-1.
func TestScaleAddsUp(t *testing.T) {
	t.Parallel()
	for _, q := range splits(t) {
		t.Run(fmt.Sprintf("%d-way/%s", len(q), q.String()[:min(30, len(q.String()))]), func(t *testing.T) {
			t.Parallel()
			ets := tuples(t, q)
			prev := make([]int64, len(ets))
			for v := int64(0); v <= 1200; v++ {
				var sum int64
				for i, et := range ets {
					n := et.ScaleInt64(v)
					if n < prev[i] || n != ets[0].ScaleInt64At(i, v) {
						t.Fatalf("segment %d: ScaleInt64(%d)=%d, previous %d, At %d", i, v, n, prev[i], ets[0].ScaleInt64At(i, v))
					}
					prev[i] = n
					sum += n
				}
				if sum != v {
					t.Fatalf("shares of %d add up to %d", v, sum)
				}
			}
			for _, v := range []int64{0, 1, 2, 3, 7, 99, 100, 101, 999, 1000, 1001} {
				seen := make([]bool, v)
				for _, et := range ets {
					for local := range et.ScaleInt64(v) {
						g := et.GlobalIndex(local)
						if g >= v || seen[g] {
							t.Fatalf("v=%d: global index %d out of range or seen twice", v, g)
						}
						seen[g] = true
					}
				}
				assert.NotContains(t, seen, false, "v=%d: every global index is some segment's", v)
			}
		})
	}
}

// TestResegmentedSharesAddUp: iterations split with the tuple derived from
// the VUs still add up exactly, and each instance's share follows its VUs.
func TestResegmentedSharesAddUp(t *testing.T) {
	t.Parallel()
	for _, q := range splits(t) {
		ets := tuples(t, q)
		for _, vus := range []int64{1, 2, 3, 7, 10, 100, 101} {
			var sumVUs int64
			var resplit []*ExecutionTuple // per instance with VUs
			var share []int64
			for _, et := range ets {
				v := et.ScaleInt64(vus)
				sumVUs += v
				if v == 0 {
					continue
				}
				nt, err := et.NewFromValue(vus)
				require.NoError(t, err)
				resplit = append(resplit, nt)
				share = append(share, v)
			}
			require.Equal(t, vus, sumVUs)
			for _, iters := range []int64{vus, vus * 3, vus*5 + 1, 1000} {
				var sumIters int64
				for i, nt := range resplit {
					n := nt.ScaleInt64(iters)
					if n > (iters*share[i]+vus-1)/vus+1 {
						t.Fatalf("%s vus=%d iters=%d: %d iterations for %d VUs", q, vus, iters, n, share[i])
					}
					sumIters += n
				}
				if sumIters != iters {
					t.Fatalf("%s vus=%d iters=%d: shares add up to %d", q, vus, iters, sumIters)
				}
			}
		}
	}
}

func FuzzParseExecutionSegment(f *testing.F) {
	for _, s := range []string{"", "0:1", "1/3", "10%", "33.5%", "0.2:2/3", "50%:100%", ".5:1", "1/2:1/2", "0x1", "1e5", "1/0",
		"0.01000000000000000000000000000001"} { // parsed, but its printed form did not
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		seg, err := ParseExecutionSegment(s)
		if err != nil {
			return
		}
		again, err := ParseExecutionSegment(seg.String())
		require.NoError(t, err)
		require.True(t, seg.Equal(again), "%q → %s → %s", s, seg, again)
		require.Equal(t, seg.String(), again.String())
	})
}

func FuzzParseExecutionSegmentSequence(f *testing.F) {
	for _, s := range []string{"", "0,1/3,2/3,1", "0,25%,50%,1", "0.5,1", "0,0.3,0.5,0.6,1", "1", "0,1/2,1/2,1", "0,1/1000001,1"} {
		f.Add(s, uint8(0), int64(10))
	}
	f.Fuzz(func(t *testing.T, s string, pick uint8, v int64) {
		q, err := ParseExecutionSegmentSequence(s)
		if err != nil {
			return
		}
		again, err := ParseExecutionSegmentSequence(q.String())
		require.NoError(t, err)
		require.Equal(t, q.String(), again.String())
		require.Len(t, again, len(q))
		if len(q) == 0 {
			return
		}
		et, err := NewExecutionTuple(q[int(pick)%len(q)], q)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidSegment) // only the LCD limit
			return
		}
		v = max(v%100_000, 0)
		var sum int64
		for i := range et.Sequence {
			sum += et.ScaleInt64At(i, v)
		}
		require.Equal(t, v, sum)
	})
}
