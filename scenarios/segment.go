package scenarios

import (
	"container/heap"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strings"
)

// ErrInvalidSegment is wrapped by every error from parsing or combining
// execution segments and sequences.
var ErrInvalidSegment = errors.New("invalid execution segment")

// MaxSegmentLCD bounds the least common denominator of the segment lengths of
// a sequence. Striping allocates and walks LCD indices, so a sequence such as
// "0,1/9999999991,1" is rejected rather than allowed to eat memory.
const MaxSegmentLCD = 1_000_000

// maxRatChars bounds the text of one rational in a segment string, so that
// big.Rat never parses a huge one; maxDenominator bounds its value's
// precision. The text of any value within maxDenominator (a/b, at most 41
// digits each) fits maxRatChars, so a segment's printed form always parses
// again: a decimal of 33 digits used to print as a fraction too long to read.
const maxRatChars = 128

var maxDenominator = new(big.Int).Exp(big.NewInt(10), big.NewInt(40), nil)

// ExecutionSegment is the share (From, To] of a test that one instance runs,
// with 0 <= From < To <= 1 as exact rationals. A nil *ExecutionSegment, like
// the zero value, means the whole test, 0:1; all methods accept nil. Segments are immutable and safe
// for concurrent use.
type ExecutionSegment struct {
	from, to *big.Rat
}

// one returns a new 1.
func one() *big.Rat { return big.NewRat(1, 1) }

// NewExecutionSegment returns the segment (from, to]. It fails unless
// 0 <= from < to <= 1. The arguments are copied.
func NewExecutionSegment(from, to *big.Rat) (*ExecutionSegment, error) {
	if from.Sign() < 0 {
		return nil, fmt.Errorf("%w: start %s is below 0", ErrInvalidSegment, from.RatString())
	}
	if to.Cmp(one()) > 0 {
		return nil, fmt.Errorf("%w: end %s is above 1", ErrInvalidSegment, to.RatString())
	}
	if from.Cmp(to) >= 0 {
		return nil, fmt.Errorf("%w: start %s is not below end %s", ErrInvalidSegment, from.RatString(), to.RatString())
	}
	return &ExecutionSegment{from: new(big.Rat).Set(from), to: new(big.Rat).Set(to)}, nil
}

// ParseExecutionSegment parses k6's --execution-segment syntax: "from:to" or
// just "to" (meaning "0:to"), each value a percentage ("10%"), a decimal
// ("0.25") or a fraction ("1/3"). The empty string means the whole test, 0:1.
// Exponents, signs and hexadecimal forms are rejected.
func ParseExecutionSegment(s string) (*ExecutionSegment, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return &ExecutionSegment{from: new(big.Rat), to: one()}, nil
	}
	fromS, toS, found := strings.Cut(s, ":")
	if !found {
		fromS, toS = "0", s
	}
	from, err := parseRat(fromS)
	if err != nil {
		return nil, err
	}
	to, err := parseRat(toS)
	if err != nil {
		return nil, err
	}
	return NewExecutionSegment(from, to)
}

// parseRat reads one value of a segment string: a decimal, a fraction a/b,
// or either followed by '%'.
func parseRat(s string) (*big.Rat, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("%w: empty value", ErrInvalidSegment)
	}
	if len(s) > maxRatChars {
		return nil, fmt.Errorf("%w: value %.20q… is longer than %d characters", ErrInvalidSegment, s, maxRatChars)
	}
	body, percent := strings.CutSuffix(s, "%")
	num, den, isFraction := strings.Cut(body, "/")
	if !validDecimal(num) || (isFraction && !validDigits(den)) {
		return nil, fmt.Errorf("%w: %q is not a percentage, decimal or fraction", ErrInvalidSegment, s)
	}
	r, ok := new(big.Rat).SetString(body)
	if !ok {
		return nil, fmt.Errorf("%w: %q is not a percentage, decimal or fraction", ErrInvalidSegment, s)
	}
	if percent {
		r.Quo(r, big.NewRat(100, 1))
	}
	if r.Denom().Cmp(maxDenominator) > 0 {
		return nil, fmt.Errorf("%w: %q is too precise: at most 40 decimal places, or a fraction whose denominator has at most 40 digits", ErrInvalidSegment, s)
	}
	return r, nil
}

// validDigits reports whether s is a non-empty run of ASCII digits.
func validDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validDecimal reports whether s is digits with at most one '.', and at least
// one digit ("1", "0.5", ".5", "5.").
func validDecimal(s string) bool {
	intPart, frac, _ := strings.Cut(s, ".")
	if intPart == "" && frac == "" {
		return false
	}
	return (intPart == "" || validDigits(intPart)) && (frac == "" || validDigits(frac))
}

func (es *ExecutionSegment) bounds() (from, to *big.Rat) {
	if es == nil || es.from == nil || es.to == nil {
		return new(big.Rat), one()
	}
	return es.from, es.to
}

// From returns a copy of the segment's start.
func (es *ExecutionSegment) From() *big.Rat { f, _ := es.bounds(); return new(big.Rat).Set(f) }

// To returns a copy of the segment's end.
func (es *ExecutionSegment) To() *big.Rat { _, t := es.bounds(); return new(big.Rat).Set(t) }

// Length returns To - From.
func (es *ExecutionSegment) Length() *big.Rat {
	f, t := es.bounds()
	return new(big.Rat).Sub(t, f)
}

// Equal reports whether both segments cover the same share.
func (es *ExecutionSegment) Equal(o *ExecutionSegment) bool {
	f1, t1 := es.bounds()
	f2, t2 := o.bounds()
	return f1.Cmp(f2) == 0 && t1.Cmp(t2) == 0
}

// String formats the segment as "from:to" with exact fractions ("1/3:2/3");
// ParseExecutionSegment reads it back.
func (es *ExecutionSegment) String() string {
	f, t := es.bounds()
	return f.RatString() + ":" + t.RatString()
}

// MarshalText implements encoding.TextMarshaler.
func (es *ExecutionSegment) MarshalText() ([]byte, error) { return []byte(es.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (es *ExecutionSegment) UnmarshalText(b []byte) error {
	p, err := ParseExecutionSegment(string(b))
	if err != nil {
		return err
	}
	*es = *p
	return nil
}

// Scale returns this segment's share of v computed on its own, as
// round(v·To) − round(v·From) with halves rounded up. Shares computed this way
// need not add up across segments; executors use [ExecutionTuple.ScaleInt64],
// which does.
func (es *ExecutionSegment) Scale(v int64) int64 {
	f, t := es.bounds()
	return roundHalfUp(new(big.Rat).Mul(t, big.NewRat(v, 1))) - roundHalfUp(new(big.Rat).Mul(f, big.NewRat(v, 1)))
}

func roundHalfUp(r *big.Rat) int64 {
	x := new(big.Rat).Add(r, big.NewRat(1, 2))
	q := new(big.Int).Div(x.Num(), x.Denom()) // Euclidean: floor for positive denominators
	return q.Int64()
}

// ExecutionSegmentSequence is an ordered list of adjacent segments, the split
// of a test between instances ("0,1/3,2/3,1"). It need not start at 0 or end
// at 1: [NewExecutionTuple] fills the gaps.
type ExecutionSegmentSequence []*ExecutionSegment

// NewExecutionSegmentSequence checks that the segments are adjacent (each
// starts where the previous one ends) and returns them as a sequence.
func NewExecutionSegmentSequence(segments ...*ExecutionSegment) (ExecutionSegmentSequence, error) {
	for i := 1; i < len(segments); i++ {
		_, prevTo := segments[i-1].bounds()
		from, _ := segments[i].bounds()
		if prevTo.Cmp(from) != 0 {
			return nil, fmt.Errorf("%w: segment #%d starts at %s, not where segment #%d ends (%s)",
				ErrInvalidSegment, i, from.RatString(), i-1, prevTo.RatString())
		}
	}
	return ExecutionSegmentSequence(slices.Clone(segments)), nil
}

// ParseExecutionSegmentSequence parses k6's --execution-segment-sequence: at
// least two comma-separated, strictly increasing values in [0, 1], each as in
// [ParseExecutionSegment] ("0,1/3,2/3,1", "0,25%,50%,1"). The empty string
// gives an empty sequence.
func ParseExecutionSegmentSequence(s string) (ExecutionSegmentSequence, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) < 2 {
		return nil, fmt.Errorf("%w: sequence %q needs at least two values", ErrInvalidSegment, s)
	}
	points := make([]*big.Rat, len(parts))
	for i, p := range parts {
		r, err := parseRat(p)
		if err != nil {
			return nil, err
		}
		points[i] = r
	}
	seq := make(ExecutionSegmentSequence, 0, len(points)-1)
	for i := 1; i < len(points); i++ {
		seg, err := NewExecutionSegment(points[i-1], points[i])
		if err != nil {
			return nil, fmt.Errorf("sequence value #%d: %w", i, err)
		}
		seq = append(seq, seg)
	}
	return seq, nil
}

// EqualSegments returns the sequence that splits a test into n equal
// segments, one per instance. n must be at least 1.
func EqualSegments(n int) ExecutionSegmentSequence {
	n = max(n, 1)
	seq := make(ExecutionSegmentSequence, n)
	for i := range n {
		seq[i] = &ExecutionSegment{from: big.NewRat(int64(i), int64(n)), to: big.NewRat(int64(i+1), int64(n))}
	}
	return seq
}

// String formats the sequence as its comma-separated boundaries
// ("0,1/3,2/3,1"); an empty sequence formats as "".
func (q ExecutionSegmentSequence) String() string {
	if len(q) == 0 {
		return ""
	}
	var b strings.Builder
	from, _ := q[0].bounds()
	b.WriteString(from.RatString())
	for _, s := range q {
		_, to := s.bounds()
		b.WriteByte(',')
		b.WriteString(to.RatString())
	}
	return b.String()
}

// MarshalText implements encoding.TextMarshaler.
func (q ExecutionSegmentSequence) MarshalText() ([]byte, error) { return []byte(q.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (q *ExecutionSegmentSequence) UnmarshalText(b []byte) error {
	p, err := ParseExecutionSegmentSequence(string(b))
	if err != nil {
		return err
	}
	*q = p
	return nil
}

// LCD returns the least common denominator of the segment lengths, the
// length of one striping cycle. It returns 0 for an empty sequence and -1
// when the LCD is above [MaxSegmentLCD].
func (q ExecutionSegmentSequence) LCD() int64 {
	if len(q) == 0 {
		return 0
	}
	lcd, err := q.lcd()
	if err != nil {
		return -1
	}
	return lcd
}

func (q ExecutionSegmentSequence) lcd() (int64, error) {
	l := big.NewInt(1)
	limit := big.NewInt(MaxSegmentLCD)
	var g big.Int
	for _, s := range q {
		d := s.Length().Denom()
		g.GCD(nil, nil, l, d)
		l.Mul(l, new(big.Int).Quo(d, &g))
		if l.Cmp(limit) > 0 {
			return 0, fmt.Errorf("%w: sequence %s needs a cycle longer than %d; use coarser fractions",
				ErrInvalidSegment, q, MaxSegmentLCD)
		}
	}
	return l.Int64(), nil
}

// filled returns the sequence extended to start at 0 and end at 1; an empty
// sequence becomes the segment itself with the gaps around it.
func (q ExecutionSegmentSequence) filled(seg *ExecutionSegment) ExecutionSegmentSequence {
	if len(q) == 0 {
		q = ExecutionSegmentSequence{seg}
	}
	out := make(ExecutionSegmentSequence, 0, len(q)+2)
	if first, _ := q[0].bounds(); first.Sign() > 0 {
		out = append(out, &ExecutionSegment{from: new(big.Rat), to: first})
	}
	for _, s := range q {
		f, t := s.bounds()
		out = append(out, &ExecutionSegment{from: f, to: t})
	}
	if _, last := q[len(q)-1].bounds(); last.Cmp(one()) < 0 {
		out = append(out, &ExecutionSegment{from: last, to: one()})
	}
	return out
}

// stripes is k6's even interleaving of the integers 0..lcd-1 between the
// segments of a sequence: segment k owns len(owned[k]) = lcd·length_k of them
// per cycle, spread as evenly as possible.
type stripes struct {
	lcd   int64
	owned [][]int64 // per segment, in sequence order: its indices in [0, lcd), ascending
}

func newStripes(q ExecutionSegmentSequence) (*stripes, error) {
	lcd, err := q.lcd()
	if err != nil {
		return nil, err
	}
	// Each segment's share of one cycle, and the order in which segments
	// are considered: longest first, ties in sequence order.
	norm := make([]int64, len(q))
	for i, s := range q {
		l := s.Length()
		norm[i] = new(big.Int).Quo(new(big.Int).Mul(l.Num(), big.NewInt(lcd)), l.Denom()).Int64()
	}
	order := make([]int, len(q))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return norm[order[a]] > norm[order[b]] })

	// Index i goes to the first segment in that order whose
	// chosen·lcd/norm <= i: the segment becomes eligible at
	// ceil(chosen·lcd/norm). Two heaps keep this O(lcd·log n).
	st := &stripes{lcd: lcd, owned: make([][]int64, len(q))}
	chosen := make([]int64, len(q))
	pending := &thresholdHeap{}
	eligible := &intHeap{}
	for pos := range order {
		heap.Push(eligible, pos)
		st.owned[order[pos]] = make([]int64, 0, norm[order[pos]])
	}
	for i := int64(0); i < lcd; i++ {
		for pending.Len() > 0 && (*pending)[0].at <= i {
			heap.Push(eligible, heap.Pop(pending).(threshold).pos)
		}
		pos := heap.Pop(eligible).(int) // never empty: see the package tests
		k := order[pos]
		st.owned[k] = append(st.owned[k], i)
		chosen[k]++
		if chosen[k] < norm[k] {
			at := (chosen[k]*lcd + norm[k] - 1) / norm[k]
			heap.Push(pending, threshold{at: at, pos: pos})
		}
	}
	return st, nil
}

// scale returns segment k's share of v: whole cycles times its share per
// cycle, plus its indices below the remainder. Shares of all segments add up
// to v exactly. Negative values scale to 0.
func (st *stripes) scale(k int, v int64) int64 {
	if v <= 0 {
		return 0
	}
	owned := st.owned[k]
	rem := v % st.lcd
	n, _ := slices.BinarySearch(owned, rem)
	return (v/st.lcd)*int64(len(owned)) + int64(n)
}

type threshold struct {
	at  int64
	pos int
}

type thresholdHeap []threshold

func (h thresholdHeap) Len() int { return len(h) }
func (h thresholdHeap) Less(i, j int) bool {
	return h[i].at < h[j].at || (h[i].at == h[j].at && h[i].pos < h[j].pos)
}
func (h thresholdHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *thresholdHeap) Push(x any)   { *h = append(*h, x.(threshold)) }
func (h *thresholdHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// ExecutionTuple is one instance's segment within the full sequence of
// segments, with the striping that splits integers (VUs, iterations) and
// iteration indices between the instances so that they add up exactly. A
// nil *ExecutionTuple means a single instance running the whole test; all
// methods accept nil. A tuple is immutable and safe for concurrent use.
type ExecutionTuple struct {
	Segment      *ExecutionSegment
	Sequence     ExecutionSegmentSequence // filled: starts at 0, ends at 1
	SegmentIndex int                      // position of Segment in Sequence
	stripes      *stripes
}

// NewExecutionTuple places seg (nil = 0:1) in seq. An empty seq becomes seg
// with the gaps around it ("1/3:2/3" → "0,1/3,2/3,1"); a sequence that does
// not start at 0 or end at 1 is extended. seg must be one of the segments of
// the filled sequence.
func NewExecutionTuple(seg *ExecutionSegment, seq ExecutionSegmentSequence) (*ExecutionTuple, error) {
	if seg == nil {
		seg = &ExecutionSegment{from: new(big.Rat), to: one()}
	}
	full := seq.filled(seg)
	idx := slices.IndexFunc(full, seg.Equal)
	if idx < 0 {
		return nil, fmt.Errorf("%w: segment %s is not part of sequence %s", ErrInvalidSegment, seg, full)
	}
	st, err := newStripes(full)
	if err != nil {
		return nil, err
	}
	return &ExecutionTuple{Segment: full[idx], Sequence: full, SegmentIndex: idx, stripes: st}, nil
}

// String formats the tuple as "segment in sequence".
func (et *ExecutionTuple) String() string {
	if et == nil {
		return "0:1 in 0,1"
	}
	return et.Segment.String() + " in " + et.Sequence.String()
}

// ScaleInt64 returns this instance's share of v: the number of striped
// indices below v that belong to its segment. The shares of all segments of
// the sequence add up to v exactly and each grows monotonically with v. All
// executors split VUs, preAllocatedVUs and maxVUs this way. v <= 0 gives 0.
func (et *ExecutionTuple) ScaleInt64(v int64) int64 {
	if et == nil {
		return max(v, 0)
	}
	return et.stripes.scale(et.SegmentIndex, v)
}

// ScaleInt64At is [ExecutionTuple.ScaleInt64] for the segment at position i of
// the tuple's sequence.
func (et *ExecutionTuple) ScaleInt64At(i int, v int64) int64 {
	if et == nil {
		return max(v, 0)
	}
	return et.stripes.scale(i, v)
}

// Stripe returns the first index this instance owns in each striping cycle
// and the distances to its following ones (cyclic: they add up to the cycle
// length). For "1/3:2/3" in "0,1/3,2/3,1" it returns 1, [3].
func (et *ExecutionTuple) Stripe() (start int64, offsets []int64) {
	if et == nil {
		return 0, []int64{1}
	}
	owned := et.stripes.owned[et.SegmentIndex]
	offsets = make([]int64, len(owned))
	for i := range owned {
		next := et.stripes.lcd + owned[0]
		if i+1 < len(owned) {
			next = owned[i+1]
		}
		offsets[i] = next - owned[i]
	}
	return owned[0], offsets
}

// GlobalIndex maps this instance's local index (its n-th iteration, 0-based)
// to the index in the whole test. Across the segments of a sequence the
// global indices are disjoint and, for the first ScaleInt64(v) local indices
// of every segment, together they are exactly 0 … v-1.
func (et *ExecutionTuple) GlobalIndex(local int64) int64 {
	if et == nil {
		return local
	}
	owned := et.stripes.owned[et.SegmentIndex]
	n := int64(len(owned))
	return (local/n)*et.stripes.lcd + owned[local%n]
}

// NewFromValue re-splits the test in proportion to how v is scaled between
// the segments (k6's GetNewExecutionTupleFromValue): segment k of the new
// sequence has length ScaleInt64_k(v)/v, and segments with no share are
// dropped. Shared iterations are split with the tuple of their VUs, and
// arrival rates with the tuple of their maxVUs, so that work follows VUs.
// It fails when v <= 0 or this instance's share of v is 0.
func (et *ExecutionTuple) NewFromValue(v int64) (*ExecutionTuple, error) {
	if v <= 0 {
		return nil, fmt.Errorf("%w: cannot split %d", ErrInvalidSegment, v)
	}
	if et == nil {
		return nil, nil
	}
	var (
		seq    ExecutionSegmentSequence
		newIdx = -1
		prev   int64
	)
	for i := range et.Sequence {
		n := et.stripes.scale(i, v)
		if n == 0 {
			continue
		}
		if i == et.SegmentIndex {
			newIdx = len(seq)
		}
		seq = append(seq, &ExecutionSegment{from: big.NewRat(prev, v), to: big.NewRat(prev+n, v)})
		prev += n
	}
	if newIdx < 0 {
		return nil, fmt.Errorf("%w: segment %s has no share of %d", ErrInvalidSegment, et.Segment, v)
	}
	st, err := newStripes(seq)
	if err != nil {
		return nil, err
	}
	return &ExecutionTuple{Segment: seq[newIdx], Sequence: seq, SegmentIndex: newIdx, stripes: st}, nil
}

// isWhole reports whether the tuple is the whole test, in one instance.
func (et *ExecutionTuple) isWhole() bool { return et == nil || len(et.Sequence) == 1 }
