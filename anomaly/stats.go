package anomaly

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/mathext"
	"gonum.org/v1/gonum/stat/distuv"
)

// This file holds the statistics the detectors share. The special functions
// (regularised incomplete beta, normal tail) come from gonum; everything here
// is pure and allocates only what it returns.

// finite returns the values of xs that are neither NaN nor ±Inf.
func finite(xs []float64) []float64 {
	out := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			out = append(out, x)
		}
	}
	return out
}

// quantile returns the q-quantile (0 … 1) of xs with linear interpolation
// between order statistics (numpy's default), NaN when xs is empty. It
// sorts a copy.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return sortedQuantile(s, q)
}

func sortedQuantile(s []float64, q float64) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(s)-1)
	return s[lo] + (pos-float64(lo))*(s[hi]-s[lo])
}

// median returns the median of xs, NaN when empty. Short inputs (the
// screens' windows) are sorted on the stack.
func median(xs []float64) float64 {
	n := len(xs)
	if n == 0 || n > 16 {
		return quantile(xs, 0.5)
	}
	var buf [16]float64
	s := buf[:n]
	copy(s, xs)
	for i := 1; i < n; i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return sortedQuantile(s, 0.5)
}

// mad returns the median absolute deviation of xs scaled to estimate a
// normal standard deviation (× 1.4826), NaN when xs is empty.
func mad(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	m := median(xs)
	dev := make([]float64, len(xs))
	for i, x := range xs {
		dev[i] = math.Abs(x - m)
	}
	return 1.4826 * median(dev)
}

// normalTwoSided returns P(|Z| ≥ |z|) for a standard normal Z.
func normalTwoSided(z float64) float64 {
	return 2 * distuv.UnitNormal.Survival(math.Abs(z))
}

// binomialUpper returns P(X ≥ k) for X ~ Binomial(n, p): the one-sided
// p-value of k or more failures among n requests when each fails with
// probability p.
func binomialUpper(k, n, p float64) float64 {
	switch {
	case k <= 0:
		return 1
	case k > n:
		return 0
	case p <= 0:
		return 0
	case p >= 1:
		return 1
	}
	// P(X ≥ k) = I_p(k, n−k+1), the regularised incomplete beta function.
	return mathext.RegIncBeta(k, n-k+1, p)
}

// kolmogorovSurvival returns P(sup|B(t)| > x) for a Brownian bridge B: the
// asymptotic p-value of a CUSUM statistic max|S_k|/(σ√n).
func kolmogorovSurvival(x float64) float64 {
	if x <= 0 {
		return 1
	}
	if x < 0.3 {
		return 1
	}
	var s float64
	for k := 1; k <= 100; k++ {
		term := math.Exp(-2 * float64(k*k) * x * x)
		if k%2 == 1 {
			s += term
		} else {
			s -= term
		}
		if term < 1e-17 {
			break
		}
	}
	return min(1, max(0, 2*s))
}

// mannKendall returns the Mann–Kendall trend test on xs (in order): the S
// statistic, its normal-approximation Z with the tie correction and
// continuity correction, and the two-sided p-value. It needs at least 3
// values; with fewer it returns p = 1.
func mannKendall(xs []float64) (s, z, p float64) {
	n := len(xs)
	if n < 3 {
		return 0, 0, 1
	}
	for i := 0; i < n-1; i++ {
		for j := i + 1; j < n; j++ {
			switch d := xs[j] - xs[i]; {
			case d > 0:
				s++
			case d < 0:
				s--
			}
		}
	}
	// Variance with ties: n(n−1)(2n+5) − Σ t(t−1)(2t+5), over 18.
	sorted := slices.Clone(xs)
	slices.Sort(sorted)
	nf := float64(n)
	v := nf * (nf - 1) * (2*nf + 5)
	for i := 0; i < n; {
		j := i
		for j < n && sorted[j] == sorted[i] {
			j++
		}
		if t := float64(j - i); t > 1 {
			v -= t * (t - 1) * (2*t + 5)
		}
		i = j
	}
	v /= 18
	if v <= 0 {
		return s, 0, 1
	}
	switch {
	case s > 0:
		z = (s - 1) / math.Sqrt(v)
	case s < 0:
		z = (s + 1) / math.Sqrt(v)
	}
	return s, z, normalTwoSided(z)
}

// senSlope returns the Theil–Sen slope of ys against xs: the median of the
// pairwise slopes (yj−yi)/(xj−xi) over pairs with xj ≠ xi, NaN when there
// are none.
func senSlope(xs, ys []float64) float64 {
	n := len(xs)
	slopes := make([]float64, 0, n*(n-1)/2)
	for i := 0; i < n-1; i++ {
		for j := i + 1; j < n; j++ {
			if dx := xs[j] - xs[i]; dx != 0 {
				slopes = append(slopes, (ys[j]-ys[i])/dx)
			}
		}
	}
	return median(slopes)
}

// prefix holds prefix sums of a series y over positions t (0 … n−1, or
// given ones) that make least-squares fits of step and hinge models O(1)
// per candidate.
type prefix struct {
	n                int
	pos              []float64 // the positions, nil for 0 … n−1
	y, yy, t, tt, ty []float64 // sums over [0, i)
}

func newPrefix(ys []float64) prefix { return newPrefixAt(nil, ys) }

// newPrefixAt is newPrefix at positions ts (nil: 0 … n−1), which must not
// decrease: a hinge then bends at a position, such as a count of requests
// served, rather than at a time.
func newPrefixAt(ts, ys []float64) prefix {
	n := len(ys)
	p := prefix{n: n, pos: ts, y: make([]float64, n+1), yy: make([]float64, n+1), t: make([]float64, n+1),
		tt: make([]float64, n+1), ty: make([]float64, n+1)}
	for i, y := range ys {
		t := p.at(i)
		p.y[i+1] = p.y[i] + y
		p.yy[i+1] = p.yy[i] + y*y
		p.t[i+1] = p.t[i] + t
		p.tt[i+1] = p.tt[i] + t*t
		p.ty[i+1] = p.ty[i] + t*y
	}
	return p
}

// at returns the position of point i.
func (p prefix) at(i int) float64 {
	if p.pos == nil {
		return float64(i)
	}
	return p.pos[i]
}

// sse returns the residual sum of squares of [a, b) around its mean.
func (p prefix) sse(a, b int) float64 {
	n := float64(b - a)
	if n <= 0 {
		return 0
	}
	s := p.y[b] - p.y[a]
	return max(0, p.yy[b]-p.yy[a]-s*s/n)
}

// meanOf returns the mean of [a, b).
func (p prefix) meanOf(a, b int) float64 { return (p.y[b] - p.y[a]) / float64(b-a) }

// bestStep fits a one-step model (two means) to [a, b) and returns the
// first index of the second regime and the model's residual sum of squares.
// Each side keeps at least minSide points.
func (p prefix) bestStep(a, b, minSide int) (tau int, sse float64) {
	tau, sse = -1, math.Inf(1)
	for k := a + minSide; k <= b-minSide; k++ {
		if s := p.sse(a, k) + p.sse(k, b); s < sse {
			tau, sse = k, s
		}
	}
	return tau, sse
}

// hingeSSE returns the residual sum of squares of the least-squares fit of
// y = α + β·max(0, t − t0) over [a, b), and β.
func (p prefix) hingeSSE(a, b, t0 int) (sse, slope float64) {
	n := float64(b - a)
	sy := p.y[b] - p.y[a]
	syy := p.yy[b] - p.yy[a]
	// h = t − t0 on [t0, b), 0 before.
	c := float64(b - t0)
	st := p.t[b] - p.t[t0]
	stt := p.tt[b] - p.tt[t0]
	sty := p.ty[b] - p.ty[t0]
	sy0 := p.y[b] - p.y[t0]
	f0 := p.at(min(t0, p.n-1))
	sh := st - f0*c
	shh := stt - 2*f0*st + f0*f0*c
	shy := sty - f0*sy0
	// Simple regression of y on h.
	vh := shh - sh*sh/n
	if vh <= 0 {
		return max(0, syy-sy*sy/n), 0
	}
	cov := shy - sh*sy/n
	slope = cov / vh
	return max(0, syy-sy*sy/n-cov*cov/vh), slope
}

// bestHinge fits the hinge model to [a, b) and returns the onset t0 (the
// last point of the flat part, at least minFlat points in) and its fit.
func (p prefix) bestHinge(a, b, minFlat int) (t0 int, sse, slope float64) {
	t0, sse = -1, math.Inf(1)
	for k := a + minFlat; k <= b-minFlat; k++ {
		if s, sl := p.hingeSSE(a, b, k); s < sse {
			t0, sse, slope = k, s, sl
		}
	}
	return t0, sse, slope
}
