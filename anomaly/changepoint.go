package anomaly

import (
	"math"
	"slices"

	"github.com/loadlens/loadlens/internal/stats"
)

// ChangePointOptions configure [ChangePoints]. The zero value means Apache
// Otava's defaults: a window of 50 points, p ≤ 0.001 and no minimum
// magnitude.
type ChangePointOptions struct {
	// Window is the length of the sliding windows the split step runs
	// E-divisive on; consecutive windows overlap by half. Default 50,
	// minimum 2.
	Window int `json:"window,omitempty"`
	// MaxPValue is the p-value a change point's two-sided Student's t-test
	// between its neighbouring segments must stay under. Default 0.001.
	MaxPValue float64 `json:"max_pvalue,omitempty"`
	// MinMagnitude is the relative change (max of |after/before − 1| and
	// |before/after − 1|) a change point must exceed when its p-value is
	// acceptable. Default 0: every significant change point is kept.
	MinMagnitude float64 `json:"min_magnitude,omitempty"`
}

func (o ChangePointOptions) withDefaults() ChangePointOptions {
	if o.Window == 0 {
		o.Window = 50
	}
	o.Window = max(o.Window, 2)
	if o.MaxPValue == 0 {
		o.MaxPValue = 0.001
	}
	return o
}

// ChangePoint is a point of a series where its mean shifts: Index is the
// first point of the new regime; the statistics compare the segment before
// it (back to the previous change point) with the segment after it (up to
// the next).
type ChangePoint struct {
	Index      int     `json:"index"`
	MeanBefore float64 `json:"mean_before"`
	MeanAfter  float64 `json:"mean_after"`
	// StdBefore and StdAfter are population standard deviations.
	StdBefore float64 `json:"std_before"`
	StdAfter  float64 `json:"std_after"`
	// PValue is the two-sided Student's t-test p-value between the
	// segments. Otava keeps a point on the statistics it had when a
	// neighbour was merged away, so a point's p-value between its final
	// segments may exceed MaxPValue: callers that need significance check
	// it.
	PValue float64 `json:"pvalue"`
	// Magnitude is max(|after/before − 1|, |before/after − 1|).
	Magnitude float64 `json:"magnitude"`
}

// Change returns the relative change of the mean, after/before − 1 (0 when
// the mean before is 0).
func (c ChangePoint) Change() float64 {
	if c.MeanBefore == 0 {
		return 0
	}
	return c.MeanAfter/c.MeanBefore - 1
}

// ChangePoints finds the points where the mean of series shifts, in the
// manner of Apache Otava (Fleming et al., "Hunter: Using Change Point
// Detection to Hunt for Performance Regressions", ICPE 2023):
//
//  1. Split: E-divisive means (Matteson and James) runs on sliding windows
//     of o.Window points overlapping by half; inside a window it keeps
//     splitting at the point that maximises the energy statistic Q̂ while a
//     Student's t-test between the two sides has p ≤ a relaxed first-pass
//     threshold (10 × MaxPValue below 0.05, 2 × below 0.5). The union of
//     the windows' points are the weak change points.
//  2. Merge: the weakest point (largest p-value, or, when all p-values are
//     acceptable, the smallest magnitude ≤ MinMagnitude) is removed and its
//     neighbours' statistics recomputed, until every point has p <
//     MaxPValue and magnitude > MinMagnitude.
//
// It reproduces Otava's own expected outputs on its TigerBeetle fixture,
// including Otava's choice to recompute only the right-hand neighbours
// after a removal while merging; the statistics it returns are those of
// each point's final neighbouring segments. NaN values are not allowed in series; the result is
// sorted by index and deterministic.
func ChangePoints(series []float64, o ChangePointOptions) []ChangePoint {
	o = o.withDefaults()
	first := o.MaxPValue
	switch {
	case first < 0.05:
		first *= 10
	case first < 0.5:
		first *= 2
	}
	weak := splitChangePoints(series, o.Window, first)
	cps := mergeChangePoints(weak, series, o.MaxPValue, o.MinMagnitude)
	// The merge leaves a removed point's left neighbour with the
	// statistics of its old, shorter segment: every point's are those of
	// its final neighbours.
	final := make([]ChangePoint, len(cps))
	for i := range cps {
		final[i] = neighbourStats(cps, i, series)
	}
	return final
}

// sidesStats computes a change point's statistics from its two sides.
func sidesStats(index int, left, right []float64) ChangePoint {
	m1, v1 := stats.MeanVar(left)
	m2, v2 := stats.MeanVar(right)
	s1, s2 := math.Sqrt(v1), math.Sqrt(v2)
	if len(left) < 2 {
		s1 = 0
	}
	if len(right) < 2 {
		s2 = 0
	}
	p, _ := stats.StudentT(m1, s1, len(left), m2, s2, len(right))
	cp := ChangePoint{Index: index, MeanBefore: m1, MeanAfter: m2, StdBefore: s1, StdAfter: s2, PValue: p}
	var fwd, back float64
	if m1 != 0 {
		fwd = m2/m1 - 1
	}
	if m2 != 0 {
		back = m1/m2 - 1
	}
	cp.Magnitude = max(math.Abs(fwd), math.Abs(back))
	return cp
}

// neighbourStats recomputes the statistics of the change point at position
// i of sorted cps from the segments between its neighbours.
func neighbourStats(cps []ChangePoint, i int, series []float64) ChangePoint {
	lo, hi := 0, len(series)
	if i > 0 {
		lo = cps[i-1].Index
	}
	if i+1 < len(cps) {
		hi = cps[i+1].Index
	}
	c := cps[i].Index
	return sidesStats(c, series[lo:c], series[c:hi])
}

func splitChangePoints(series []float64, window int, maxP float64) []ChangePoint {
	step := window / 2
	var found []int
	for start := 0; start < len(series); {
		end := min(start+window, len(series))
		local := eDivisive(series[start:end], maxP)
		last := 0
		for _, idx := range local {
			g := idx + start
			last = g
			if !slices.Contains(found, g) {
				found = append(found, g)
			}
		}
		start = max(last, start+step)
	}
	slices.Sort(found)
	cps := make([]ChangePoint, len(found))
	for i, idx := range found {
		cps[i] = ChangePoint{Index: idx}
	}
	for i := range cps {
		cps[i] = neighbourStats(cps, i, series)
	}
	return cps
}

func mergeChangePoints(cps []ChangePoint, series []float64, maxP, minMag float64) []ChangePoint {
	for len(cps) > 0 {
		weakest := 0
		for i := range cps {
			if cps[i].PValue > cps[weakest].PValue {
				weakest = i
			}
		}
		if cps[weakest].PValue < maxP {
			for i := range cps {
				if cps[i].Magnitude < cps[weakest].Magnitude {
					weakest = i
				}
			}
			if cps[weakest].Magnitude > minMag {
				return cps
			}
		}
		cps = slices.Delete(cps, weakest, weakest+1)
		// Otava recomputes the point that took the removed one's place
		// and the one after it (not the left neighbour); so do we, for
		// parity with its choices. The statistics reported are computed
		// afresh at the end.
		for _, j := range []int{weakest, weakest + 1} {
			if j < len(cps) {
				cps[j] = neighbourStats(cps, j, series)
			}
		}
	}
	return cps
}

// eDivisive runs E-divisive means with a t-test significance check on xs
// and returns the change points' indexes (sorted, each the first point of a
// new regime). It stops at the first candidate whose t-test p-value is
// above maxP.
func eDivisive(xs []float64, maxP float64) []int {
	n := len(xs)
	if n < 2 {
		return nil
	}
	d := newDistances(xs)
	var cps []int
	for {
		bounds := append(append([]int{0}, cps...), n)
		bestIdx, bestQ, lo, hi := -1, 0.0, 0, 0
		for i := 0; i+1 < len(bounds); i++ {
			a, b := bounds[i], bounds[i+1]
			if b-a < 2 {
				continue
			}
			idx, q := d.candidate(a, b)
			if bestIdx < 0 || q > bestQ {
				bestIdx, bestQ, lo, hi = idx, q, a, b
			}
		}
		if bestIdx < 0 {
			return cps
		}
		cp := sidesStats(bestIdx, xs[lo:bestIdx], xs[bestIdx:hi])
		if !(cp.PValue <= maxP) {
			return cps
		}
		cps = append(cps, bestIdx)
		slices.Sort(cps)
	}
}

// distances holds |xi − xj| for a short series and column prefix sums
// col[j][i] = Σ_{k<i} |xk − xj|.
type distances struct {
	n   int
	col [][]float64
}

func newDistances(xs []float64) distances {
	n := len(xs)
	col := make([][]float64, n)
	buf := make([]float64, n*(n+1))
	for j := range n {
		col[j] = buf[j*(n+1) : (j+1)*(n+1)]
		for i := range n {
			col[j][i+1] = col[j][i] + math.Abs(xs[i]-xs[j])
		}
	}
	return distances{n: n, col: col}
}

// sum returns Σ_{i∈[a,b)} |xi − xj|.
func (d distances) sum(a, b, j int) float64 { return d.col[j][b] - d.col[j][a] }

// candidate returns the split τ of [a, b) that maximises the E-divisive
// statistic Q̂(X, Y) over X = [a, τ) and Y = [τ, κ) for every a < τ < κ ≤ b,
// and the maximum. Ties go to the smallest τ, then the smallest κ.
func (d distances) candidate(a, b int) (int, float64) {
	bestTau, bestQ := -1, math.Inf(-1)
	var withinX float64 // Σ_{a≤i<k<τ} |xi − xk|
	for tau := a + 1; tau < b; tau++ {
		withinX += d.sum(a, tau-1, tau-1)
		n := float64(tau - a)
		var cross, withinY float64
		for kappa := tau + 1; kappa <= b; kappa++ {
			j := kappa - 1 // the point Y gains
			cross += d.sum(a, tau, j)
			withinY += d.sum(tau, j, j)
			m := float64(kappa - tau)
			q := 2 / (m + n) * cross
			if n > 1 {
				q -= 2 * m / (m + n) / (n - 1) * withinX
			}
			if m > 1 {
				q -= 2 * n / (m + n) / (m - 1) * withinY
			}
			if q > bestQ {
				bestTau, bestQ = tau, q
			}
		}
	}
	return bestTau, bestQ
}
