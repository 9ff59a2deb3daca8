package metrics

import (
	"math"
	"slices"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/store"
)

// TrendAccuracy is the relative error bound of trend percentiles: a reported
// p(N) is within 0.5 % of a value whose rank is N % of the samples.
const TrendAccuracy = 0.005

// trendMaxBins bounds each histogram store (positive and negative values).
// 4096 bins at 0.5 % cover a ratio of 6e17 between the smallest and largest
// value (1 µs … 1 h needs about 2 200); past that the lowest bins collapse.
const trendMaxBins = 4096

// TrendExactLimit is how many values a trend keeps exactly: up to it, med
// and p(N) are exact (k6's to the digit: med=5.5 p(90)=9.1 for 1..10);
// past it the trend moves its values into its sketch, so memory stays
// bounded however long the run.
const TrendExactLimit = 4096

// TrendSink keeps a distribution: its values themselves while there are
// at most [TrendExactLimit], then a mergeable log-bucketed histogram
// (DDSketch) whose memory is bounded by the range of values, not their
// number. Min, max, count and the sum behind avg are always exact; med and
// p(N) are exact while the values are kept, then within [TrendAccuracy]
// of the exact percentile. Unlike an integer HDR histogram it takes any
// float, including zero and negative values, as k6 custom trends do. Use
// [NewTrendSink]; the zero value is not usable. It is not safe for
// concurrent use, reads included (a read may sort the kept values).
type TrendSink struct {
	exact    []float64 // the values, while sketch is nil
	sorted   bool      // exact is sorted
	sketch   *ddsketch.DDSketch
	min, max float64
	count    int64
	sum      exactSum
}

// NewTrendSink returns an empty trend sink that keeps up to
// [TrendExactLimit] values exactly.
func NewTrendSink() *TrendSink { return &TrendSink{} }

// NewSketchTrendSink returns an empty trend sink that keeps no values,
// only the sketch: for the many small per-interval trends of a time
// series, where exact percentiles are not worth their memory.
func NewSketchTrendSink() *TrendSink { return &TrendSink{sketch: newSketch()} }

func newSketch() *ddsketch.DDSketch {
	m, err := mapping.NewCubicallyInterpolatedMapping(TrendAccuracy)
	if err != nil {
		panic(err) // TrendAccuracy is a valid constant
	}
	return ddsketch.NewDDSketch(m,
		store.NewCollapsingLowestDenseStore(trendMaxBins),
		store.NewCollapsingLowestDenseStore(trendMaxBins))
}

// Add implements Sink. NaN and infinite values are ignored.
func (t *TrendSink) Add(v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	if t.sketch == nil {
		if len(t.exact) < TrendExactLimit {
			t.exact = append(t.exact, v)
			t.sorted = false
		} else {
			t.toSketch()
			_ = t.sketch.Add(v) // only fails for values the mapping cannot index, ruled out above
		}
	} else {
		_ = t.sketch.Add(v)
	}
	if t.count == 0 || v < t.min {
		t.min = v
	}
	if t.count == 0 || v > t.max {
		t.max = v
	}
	t.count++
	t.sum.add(v)
}

// Sketch moves the values the sink keeps into its sketch, as it does by
// itself past [TrendExactLimit]: med and p(N) are within [TrendAccuracy]
// from then on; count, min, max and avg stay exact. A generator of a
// distributed run sketches the trends of a partial whose run totals are
// past the limit: the coordinator's are sketches by then, and the values
// would only travel to be added to it one by one.
func (t *TrendSink) Sketch() {
	if t.sketch == nil {
		t.toSketch()
	}
}

// toSketch moves the kept values into a new sketch.
func (t *TrendSink) toSketch() {
	t.sketch = newSketch()
	for _, x := range t.exact {
		_ = t.sketch.Add(x)
	}
	t.exact, t.sorted = nil, false
}

// Merge implements Sink. Count, min, max and sum merge exactly, and so do
// the values: the merged sink keeps them while their total is within
// [TrendExactLimit], else both sides' go into one sketch, whose bins merge
// exactly. Merging per-shard sinks gives the same percentiles and avg as
// one sink of all values, bit for bit.
func (t *TrendSink) Merge(o Sink) error {
	ot, ok := o.(*TrendSink)
	if !ok {
		return mergeTypeError(t, o)
	}
	if ot.count == 0 {
		return nil
	}
	switch {
	case t.sketch == nil && ot.sketch == nil && len(t.exact)+len(ot.exact) <= TrendExactLimit:
		t.exact = append(t.exact, ot.exact...)
		t.sorted = false
	default:
		if t.sketch == nil {
			t.toSketch()
		}
		if ot.sketch != nil {
			if err := t.sketch.MergeWith(ot.sketch); err != nil {
				return err
			}
		}
		for _, x := range ot.exact {
			_ = t.sketch.Add(x)
		}
	}
	if t.count == 0 || ot.min < t.min {
		t.min = ot.min
	}
	if t.count == 0 || ot.max > t.max {
		t.max = ot.max
	}
	t.count += ot.count
	t.sum.merge(&ot.sum)
	return nil
}

// Empty implements Sink.
func (t *TrendSink) Empty() bool { return t.count == 0 }

// Count returns the number of values added.
func (t *TrendSink) Count() int64 { return t.count }

// Quantile returns the value at quantile q in [0, 1] as k6 computes it:
// linear interpolation between the order statistics around rank q·(n−1).
// Order statistics are exact while the values are kept; from the
// histogram (within [TrendAccuracy]) after, except the first and last,
// which are the exact min and max. It returns 0 for an empty sink.
func (t *TrendSink) Quantile(q float64) float64 {
	if t.count == 0 {
		return 0
	}
	if t.sketch == nil && !t.sorted {
		slices.Sort(t.exact)
		t.sorted = true
	}
	rank := math.Max(0, math.Min(1, q)) * float64(t.count-1)
	i := math.Floor(rank)
	lo := t.atRank(int64(i))
	frac := rank - i
	if frac == 0 {
		return lo
	}
	hi := t.atRank(int64(i) + 1)
	return lo + frac*(hi-lo)
}

// atRank returns the r-th smallest value (0-based): a kept value, or from
// the histogram's bins for inner ranks and exactly for the extremes.
func (t *TrendSink) atRank(r int64) float64 {
	if r <= 0 {
		return t.min
	}
	if r >= t.count-1 {
		return t.max
	}
	if t.sketch == nil {
		return t.exact[r]
	}
	rank := float64(r)
	neg := t.sketch.GetNegativeValueStore()
	negCount, zeroCount := neg.TotalCount(), t.sketch.GetZeroCount()
	var v float64
	switch {
	case rank < negCount:
		v = -t.sketch.Value(neg.KeyAtRank(negCount - 1 - rank))
	case rank < negCount+zeroCount:
		v = 0
	default:
		v = t.sketch.Value(t.sketch.GetPositiveValueStore().KeyAtRank(rank - negCount - zeroCount))
	}
	return math.Min(math.Max(v, t.min), t.max)
}

// Value implements Sink.
func (t *TrendSink) Value(a Aggregation, _ time.Duration) (float64, bool) {
	if t.count == 0 {
		return 0, false
	}
	switch a.Name {
	case "avg":
		return t.sum.float64() / float64(t.count), true
	case "min":
		return t.min, true
	case "max":
		return t.max, true
	case "med":
		return t.Quantile(0.5), true
	case "count":
		return float64(t.count), true
	case "p":
		return t.Quantile(a.P / 100), true
	}
	return 0, false
}
