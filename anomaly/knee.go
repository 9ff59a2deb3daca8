package anomaly

import (
	"fmt"
	"math"
	"slices"

	"github.com/loadlens/loadlens/loadtest"
)

// knee finds the throughput limit of a stress or breakpoint test: while
// the VUs rise, completed requests per second stop rising with them. The
// VU range up to the peak is binned; Kneedle (Satopää et al., 2011) on the
// binned throughput curve finds the knee; a continuous two-segment fit
// around it says whether throughput really went flat after it (slope
// after ≤ KneeFlatness × slope before).
func (a *analysis) knee() {
	vus, rps := a.series(loadtest.SeriesVUs), a.series(loadtest.SeriesRequests)
	if vus == nil || rps == nil {
		return
	}
	// The rising part: up to the first time the VUs peak.
	peakAt, peak := -1, 0.0
	for i, v := range vus {
		if v > peak {
			peak, peakAt = v, i
		}
	}
	if peakAt < 0 {
		return
	}
	var xs, ys []float64
	var at []int
	lo := math.Inf(1)
	for i := 0; i <= peakAt; i++ {
		if v, r := vus[i], rps[i]; v > 0 && r >= 0 && !math.IsNaN(r) {
			xs, ys, at = append(xs, v), append(ys, r), append(at, i)
			lo = min(lo, v)
		}
	}
	if len(xs) < a.points(a.o.MinSteady) || peak < a.o.KneeMinSpan*lo {
		return
	}
	bx, by := binCurve(xs, ys, lo, peak, 30)
	if len(bx) < 8 {
		return
	}
	k := kneedle(bx, by)
	if k <= 0 || k >= len(bx)-2 {
		return
	}
	b1, b2, kx, sse := hingeFit(bx, by, bx[k])
	after := 0
	for _, x := range bx {
		if x > kx {
			after++
		}
	}
	// A knee needs throughput flat after it over a fifth of the VU range or
	// more, and the bend must explain the curve far better than one line.
	if !(b1 > 0) || b2 > a.o.KneeFlatness*b1 || kx > 0.8*peak || after < 4 || lineSSE(bx, by) < 4*sse {
		return
	}
	first := at[len(at)-1]
	for j, v := range xs {
		if v >= kx {
			first = at[j]
			break
		}
	}
	plateau := median(by[k:])
	a.add(Finding{Kind: KindThroughputLimit, Severity: SeverityMedium, Target: BlameTarget, Metric: loadtest.SeriesRequests,
		Method: "kneedle",
		Evidence: map[string]float64{"knee_vus": kx, "kneedle_vus": bx[k], "plateau_rps": plateau, "max_vus": peak,
			"slope_before": b1, "slope_after": b2},
		Message: fmt.Sprintf("Throughput stopped growing at about %.0f VUs (%.0f req/s) while the VUs rose to %.0f: the target reached its limit (the knee).",
			kx, plateau, peak)}, first, at[len(at)-1]+1)
}

// binCurve groups (x, y) into nb equal-width bins of x over [lo, hi] and
// returns each non-empty bin's mean x and median y.
func binCurve(xs, ys []float64, lo, hi float64, nb int) (bx, by []float64) {
	if hi <= lo {
		return nil, nil
	}
	w := (hi - lo) / float64(nb)
	groups := make([][]float64, nb)
	sums := make([]float64, nb)
	for i, x := range xs {
		b := min(int((x-lo)/w), nb-1)
		groups[b] = append(groups[b], ys[i])
		sums[b] += x
	}
	for b, g := range groups {
		if len(g) == 0 {
			continue
		}
		bx = append(bx, sums[b]/float64(len(g)))
		by = append(by, median(g))
	}
	return bx, by
}

// kneedle returns the index of the knee of a concave increasing curve:
// after normalising both axes to [0, 1] and smoothing y with a 3-point
// moving average, the point where y − x is largest.
func kneedle(xs, ys []float64) int {
	n := len(xs)
	sm := make([]float64, n)
	for i := range ys {
		lo, hi := max(0, i-1), min(n, i+2)
		sm[i] = mean(ys[lo:hi])
	}
	x0, x1 := xs[0], xs[n-1]
	y0, y1 := slices.Min(sm), slices.Max(sm)
	if x1 <= x0 || y1 <= y0 {
		return -1
	}
	best, at := math.Inf(-1), -1
	for i := range xs {
		d := (sm[i]-y0)/(y1-y0) - (xs[i]-x0)/(x1-x0)
		if d > best {
			best, at = d, i
		}
	}
	return at
}

// hingeFit fits y = c + b1·min(x, k) + b2·max(0, x − k) by least squares
// over breakpoints k near guess and returns the slopes and the best k.
func hingeFit(xs, ys []float64, guess float64) (b1, b2, k, bestSSE float64) {
	bestSSE = math.Inf(1)
	span := xs[len(xs)-1] - xs[0]
	for s := -40; s <= 40; s++ {
		kk := guess + float64(s)*span/200
		if kk <= xs[1] || kk >= xs[len(xs)-2] {
			continue
		}
		c1, c2, sse := fit2(xs, ys, kk)
		if sse < bestSSE {
			bestSSE, b1, b2, k = sse, c1, c2, kk
		}
	}
	return b1, b2, k, bestSSE
}

// lineSSE returns the residual sum of squares of the least-squares line
// through (xs, ys).
func lineSSE(xs, ys []float64) float64 {
	mx, vx := meanVar(xs)
	my, vy := meanVar(ys)
	var cov float64
	for i := range xs {
		cov += (xs[i] - mx) * (ys[i] - my)
	}
	n := float64(len(xs))
	cov /= n
	if vx == 0 {
		return vy * n
	}
	return max(0, (vy-cov*cov/vx)*n)
}

// fit2 is the least-squares fit of hingeFit's model at breakpoint k.
func fit2(xs, ys []float64, k float64) (b1, b2, sse float64) {
	// Normal equations for [1, u, v] with u = min(x, k), v = max(0, x−k).
	var s [3][3]float64
	var r [3]float64
	for i, x := range xs {
		f := [3]float64{1, min(x, k), max(0, x-k)}
		for p := range 3 {
			for q := range 3 {
				s[p][q] += f[p] * f[q]
			}
			r[p] += f[p] * ys[i]
		}
	}
	c, ok := solve3(s, r)
	if !ok {
		return 0, 0, math.Inf(1)
	}
	for i, x := range xs {
		e := ys[i] - c[0] - c[1]*min(x, k) - c[2]*max(0, x-k)
		sse += e * e
	}
	return c[1], c[2], sse
}

// solve3 solves a 3×3 linear system by Gaussian elimination with partial
// pivoting.
func solve3(m [3][3]float64, r [3]float64) ([3]float64, bool) {
	for col := range 3 {
		p := col
		for i := col + 1; i < 3; i++ {
			if math.Abs(m[i][col]) > math.Abs(m[p][col]) {
				p = i
			}
		}
		if math.Abs(m[p][col]) < 1e-12 {
			return [3]float64{}, false
		}
		m[col], m[p] = m[p], m[col]
		r[col], r[p] = r[p], r[col]
		for i := col + 1; i < 3; i++ {
			f := m[i][col] / m[col][col]
			for j := col; j < 3; j++ {
				m[i][j] -= f * m[col][j]
			}
			r[i] -= f * r[col]
		}
	}
	var x [3]float64
	for i := 2; i >= 0; i-- {
		s := r[i]
		for j := i + 1; j < 3; j++ {
			s -= m[i][j] * x[j]
		}
		x[i] = s / m[i][i]
	}
	return x, true
}
