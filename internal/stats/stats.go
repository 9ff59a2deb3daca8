// Package stats holds the significance tests that anomaly and report share.
//
// Both packages judge per-second series of a run, whose neighbouring values
// are correlated: they test means of blocks of values ([BlockMeans]) rather
// than the values. The special functions come from gonum. Everything here is
// pure and allocates only what it returns.
package stats

import (
	"math"

	"gonum.org/v1/gonum/mathext"
)

// MeanVar returns the mean and the population variance (ddof 0) of xs, and
// NaN for both when xs is empty.
func MeanVar(xs []float64) (mean, variance float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		d := x - mean
		variance += d * d
	}
	return mean, variance / float64(len(xs))
}

// Mean returns the arithmetic mean of xs, NaN when empty.
func Mean(xs []float64) float64 {
	m, _ := MeanVar(xs)
	return m
}

// Blocks returns f of each consecutive block of n values of xs; a last
// partial block is kept when it has at least n/2 values, else dropped.
func Blocks(xs []float64, n int, f func([]float64) float64) []float64 {
	var out []float64
	for i := 0; i < len(xs); i += n {
		j := min(i+n, len(xs))
		if j-i < max(1, n/2) {
			break
		}
		out = append(out, f(xs[i:j]))
	}
	return out
}

// BlockMeans returns the means of consecutive blocks of n values of xs, as
// [Blocks] cuts them.
func BlockMeans(xs []float64, n int) []float64 { return Blocks(xs, n, Mean) }

// StudentT returns the two-sided p-value and t statistic of Student's
// two-sample t-test with pooled variance, from each side's mean, standard
// deviation (as given) and size. It returns p = 1 when there are no degrees
// of freedom, p = 0 when both sides have no spread but different means, and
// p = NaN when they are identical constants (as scipy's
// ttest_ind_from_stats).
func StudentT(m1, s1 float64, n1 int, m2, s2 float64, n2 int) (p, t float64) {
	df := float64(n1 + n2 - 2)
	if df <= 0 {
		return 1, 0
	}
	pooled := ((float64(n1)-1)*s1*s1 + (float64(n2)-1)*s2*s2) / df
	denom := math.Sqrt(pooled * (1/float64(n1) + 1/float64(n2)))
	t = (m1 - m2) / denom
	return TwoSidedT(t, df), t
}

// Welch returns the two-sided p-value and t statistic (b's mean minus a's)
// of Welch's unequal-variances t-test between two samples, with sample
// (ddof 1) variances. It returns p = 1 when either side has fewer than two
// values; when neither side varies, p is 1 for equal means and 0 otherwise.
func Welch(a, b []float64) (p, t float64) {
	if len(a) < 2 || len(b) < 2 {
		return 1, 0
	}
	ma, va := MeanVar(a)
	mb, vb := MeanVar(b)
	na, nb := float64(len(a)), float64(len(b))
	va, vb = va*na/(na-1), vb*nb/(nb-1)
	sa, sb := va/na, vb/nb
	if sa+sb == 0 {
		if ma == mb {
			return 1, 0
		}
		return 0, math.Copysign(math.Inf(1), mb-ma)
	}
	t = (mb - ma) / math.Sqrt(sa+sb)
	df := (sa + sb) * (sa + sb) / (sa*sa/(na-1) + sb*sb/(nb-1))
	return TwoSidedT(t, df), t
}

// TwoSidedT returns P(|T| ≥ |t|) for Student's t with df degrees of
// freedom.
func TwoSidedT(t, df float64) float64 {
	switch {
	case math.IsNaN(t):
		return math.NaN()
	case math.IsInf(t, 0):
		return 0
	}
	return mathext.RegIncBeta(df/2, 0.5, df/(df+t*t))
}
