package anomaly

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/loadlens/loadlens/internal/stats"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/scenarios"
)

// knee finds the throughput limit of a stress, breakpoint or spike test:
// while the VUs rise, completed requests per second stop rising with
// them. Two detectors look at the rising part of the run (up to the first
// time the VUs peak) and report one finding per episode:
//
//   - the knee: the VU range is binned; Kneedle (Satopää et al., 2011) on
//     the binned throughput curve finds the bend, and a continuous
//     two-segment fit around it says whether throughput really went flat
//     after it (slope after ≤ KneeFlatness × slope before) and explains
//     the curve far better than a line (an F-test at PValue for short
//     ramps). The corner of a line that rises then stays flat (a
//     capacity), fitted with Poisson weights, places the knee.
//   - k6 Cloud's throughput-limit insight: from some point on, the VUs
//     rose PlateauSpan times or more while req/s stayed flat (see
//     PlateauTolerance). It needs no bend, so it also sees a test that
//     started at the limit, a spike, or a stepped stress test.
//
// Arrival-rate schedules are left out of the insight: there, VUs follow
// latency and throughput follows the plan.
func (a *analysis) knee() {
	vus, rps := a.series(loadtest.SeriesVUs), a.series(loadtest.SeriesRequests)
	if vus == nil || rps == nil {
		return
	}
	c := risingCurve(vus, rps)
	if len(c.x) == 0 {
		return
	}
	k, kneeOK := a.kneedleKnee(c)
	p, plateauOK := a.plateau(c)
	if a.arrivalRate() {
		plateauOK = false
	}
	if !kneeOK && !plateauOK {
		return
	}
	ev := map[string]float64{"max_vus": c.peak}
	var method string
	var kneeVUs, plateauRPS float64
	var first int // timeline point where the VUs reach the knee
	switch {
	case kneeOK:
		method, kneeVUs, plateauRPS, first = "kneedle", k.vus, k.plateau, k.first
		ev["kneedle_vus"], ev["slope_before"], ev["slope_after"], ev["f_p_value"] = k.kneedle, k.b1, k.b2, k.fP
		if plateauOK {
			method = "kneedle+plateau"
		}
	default:
		// The insight alone: the knee is at or below the VUs where the
		// plateau starts.
		method, kneeVUs, plateauRPS, first = "plateau", p.vus, p.rps, c.at[p.from]
	}
	if plateauOK {
		ev["plateau_from_vus"], ev["vus_growth"], ev["rps_growth"], ev["rps_growth_upper"] = p.vus, p.span, p.growth, p.upper
	}
	ev["knee_vus"], ev["plateau_rps"] = kneeVUs, plateauRPS
	last := c.at[len(c.at)-1] + 1

	// Latency past the knee: p95 before the knee against p95 at the top
	// of the ramp. Tripled latency with flat throughput is saturation.
	var latency string
	if p95 := a.series(loadtest.SeriesLatencyP95); p95 != nil {
		before := median(finite(p95[c.at[0]:max(first, c.at[0]+1)]))
		tail := max(3, (last-first)/4)
		after := median(finite(p95[max(first, last-tail):last]))
		if before > 0 && after > 0 {
			ev["p95_before_ms"], ev["p95_after_ms"] = before, after
			if after >= 1.5*before {
				latency = fmt.Sprintf(" and p95 rose from %s to %s: the target is saturated", fmtMs(before), fmtMs(after))
			} else {
				latency = fmt.Sprintf("; p95 did not rise with them (%s → %s), so the limit may lie in the test or the generator (think time, VU or connection limits) rather than the target",
					fmtMs(before), fmtMs(after))
			}
		}
	}
	if latency == "" {
		latency = ": the target reached its limit"
	}
	at := "at"
	if method == "plateau" {
		at = "by"
	}
	cpu, level, cpus := a.targetCPUPegged(first, last)
	if cpu != "" {
		ev["target_cpu_pct"], ev["target_cpus"] = level, cpus
	}
	a.add(Finding{Kind: KindThroughputLimit, Severity: SeverityMedium, Target: BlameTarget, Metric: loadtest.SeriesRequests,
		Method: method, Evidence: ev,
		Message: fmt.Sprintf("Throughput stopped growing %s ≈%.0f VUs (~%.0f req/s) while the VUs rose to %.0f%s.%s",
			at, kneeVUs, plateauRPS, c.peak, latency, cpu)}, first, last)
}

// curve is the rising part of a run: VUs (x) against req/s (y) at
// timeline points at, up to the first time the VUs peak.
type curve struct {
	x, y     []float64
	at       []int
	lo, peak float64
}

func risingCurve(vus, rps []float64) curve {
	peakAt, peak := -1, 0.0
	for i, v := range vus {
		if v > peak {
			peak, peakAt = v, i
		}
	}
	c := curve{lo: math.Inf(1), peak: peak}
	for i := 0; i <= peakAt; i++ {
		if v, r := vus[i], rps[i]; v > 0 && r >= 0 && !math.IsNaN(r) {
			c.x, c.y, c.at = append(c.x, v), append(c.y, r), append(c.at, i)
			c.lo = min(c.lo, v)
		}
	}
	return c
}

// minKneePoints is the fewest points of a rising ramp the knee is looked
// for in, whatever the timeline's step: a 30 s ramp has 30.
const minKneePoints = 10

// knee is a bend found by kneedleKnee.
type knee struct {
	vus, kneedle, plateau, b1, b2, fP float64
	first                             int // timeline point where the VUs reach the knee
}

// kneedleKnee finds the knee of c with Kneedle and checks it with a
// two-segment fit.
func (a *analysis) kneedleKnee(c curve) (knee, bool) {
	xs, ys := c.x, c.y
	if len(xs) < minKneePoints || c.peak < a.o.KneeMinSpan*c.lo {
		return knee{}, false
	}
	bx, by := binCurve(xs, ys, c.lo, c.peak, 30)
	if len(bx) < 8 {
		return knee{}, false
	}
	// Where the knee is: the corner of a line that rises, then stays flat
	// (a capacity), fitted by least squares over every breakpoint; Kneedle
	// (Satopää et al.) on the smoothed curve is kept as evidence. A free
	// slope after the corner says whether throughput really went flat.
	k := kneedle(bx, by)
	kx, ok := flatHinge(bx, by, bx[0], bx[len(bx)-1])
	if !ok || k < 0 {
		return knee{}, false
	}
	b1, b2, sse := fit2(bx, by, kx)
	after := 0
	for _, x := range bx {
		if x > kx {
			after++
		}
	}
	// A knee needs throughput flat after it over four bins or more, and the
	// bend must explain the curve far better than one line: four times
	// better over 30 bins; over the fewer points of a short ramp, twice and
	// significantly (an F-test at PValue: the bent line has two more
	// parameters, the breakpoint and the second slope).
	line := lineSSE(bx, by)
	if !(b1 > 0) || b2 > a.o.KneeFlatness*b1 || kx > 0.9*c.peak || after < 4 || line < 2*sse {
		return knee{}, false
	}
	fP := 0.0
	if df := float64(len(bx) - 4); sse > 0 {
		f := (line - sse) / 2 / (sse / df)
		fP = distuv.F{D1: 2, D2: df}.Survival(f)
	}
	if len(bx) < 30 && fP > a.o.PValue || len(bx) >= 30 && line < 4*sse {
		return knee{}, false
	}
	plateau := by[len(by)-after:]
	first := c.at[len(c.at)-1]
	for j, v := range xs {
		if v >= kx {
			first = c.at[j]
			break
		}
	}
	return knee{vus: kx, kneedle: bx[k], plateau: median(plateau), b1: b1, b2: b2, fP: fP, first: first}, true
}

// plateauFit is a stretch of flat throughput found by plateau.
type plateauFit struct {
	from          int     // index into the curve where it starts
	vus, rps      float64 // VUs at its start, its median req/s
	span          float64 // VUs at the peak / VUs at its start
	growth, upper float64 // fitted req/s growth over it, and its upper bound
}

// plateau is k6 Cloud's throughput-limit insight: the earliest point of
// the rising curve from which the VUs grow PlateauSpan times or more to
// their peak while req/s stay flat. Flat means that a line fitted to req/s
// against VUs over that stretch rises by no more than PlateauTolerance of
// the mean req/s, at the upper 99 % confidence bound of its slope.
// Without a limit, req/s would grow about as much as the VUs.
func (a *analysis) plateau(c curve) (plateauFit, bool) {
	const minPoints = 6
	m := len(c.x)
	if m < minPoints {
		return plateauFit{}, false
	}
	// Suffix sums for the line over [s, m).
	var sx, sy, sxx, sxy, syy float64
	type sums struct{ x, y, xx, xy, yy float64 }
	suf := make([]sums, m+1)
	for i := m - 1; i >= 0; i-- {
		x, y := c.x[i], c.y[i]
		sx, sy, sxx, sxy, syy = sx+x, sy+y, sxx+x*x, sxy+x*y, syy+y*y
		suf[i] = sums{sx, sy, sxx, sxy, syy}
	}
	top := c.x[m-1]
	for s := 0; s+minPoints <= m; s++ {
		if top < a.o.PlateauSpan*c.x[s] {
			break // later starts grow even less
		}
		n := float64(m - s)
		u := suf[s]
		vx := u.xx - u.x*u.x/n
		if vx <= 0 || u.y < float64(a.o.EarlyRequests) {
			continue
		}
		b := (u.xy - u.x*u.y/n) / vx
		level, rangeX := u.y/n, top-c.x[s]
		growth := b * rangeX / level
		if growth > a.o.PlateauTolerance {
			continue // the bound is higher still
		}
		sse := max(0, u.yy-u.y*u.y/n-b*b*vx)
		se := math.Sqrt(sse / (n - 2) / vx)
		tq := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: n - 2}.Quantile(0.99)
		if upper := (b + tq*se) * rangeX / level; upper <= a.o.PlateauTolerance {
			return plateauFit{from: s, vus: c.x[s], rps: median(c.y[s:]), span: top / c.x[s], growth: growth, upper: upper}, true
		}
	}
	return plateauFit{}, false
}

// arrivalRate reports whether the plan has an arrival-rate scenario.
func (a *analysis) arrivalRate() bool {
	for _, cfg := range a.r.Config.Scenarios {
		switch cfg.(type) {
		case scenarios.ConstantArrivalRate, *scenarios.ConstantArrivalRate,
			scenarios.RampingArrivalRate, *scenarios.RampingArrivalRate:
			return true
		}
	}
	return false
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
		sm[i] = stats.Mean(ys[lo:hi])
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

// flatHinge fits y = c + b·min(x, k) by least squares over 200
// breakpoints k in [lo, hi] and returns the best k, or false when no k
// gives a rising line.
func flatHinge(xs, ys []float64, lo, hi float64) (float64, bool) {
	best, at := math.Inf(1), 0.0
	u := make([]float64, len(xs))
	for s := 0; s <= 200; s++ {
		k := lo + float64(s)*(hi-lo)/200
		if k <= xs[1] || k >= xs[len(xs)-2] {
			continue
		}
		for i, x := range xs {
			u[i] = min(x, k)
		}
		// Weighted by 1/y: request counts are Poisson.
		var sw, su, sy float64
		for i := range u {
			w := 1 / max(ys[i], 1)
			sw, su, sy = sw+w, su+w*u[i], sy+w*ys[i]
		}
		mu, my := su/sw, sy/sw
		var vu, vy, cov float64
		for i := range u {
			w := 1 / max(ys[i], 1)
			vu += w * (u[i] - mu) * (u[i] - mu)
			vy += w * (ys[i] - my) * (ys[i] - my)
			cov += w * (u[i] - mu) * (ys[i] - my)
		}
		if vu <= 0 || cov <= 0 {
			continue
		}
		if sse := vy - cov*cov/vu; sse < best {
			best, at = sse, k
		}
	}
	return at, !math.IsInf(best, 1)
}

// lineSSE returns the residual sum of squares of the least-squares line
// through (xs, ys).
func lineSSE(xs, ys []float64) float64 {
	mx, vx := stats.MeanVar(xs)
	my, vy := stats.MeanVar(ys)
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

// fit2 fits y = c + b1·min(x, k) + b2·max(0, x − k) by least squares at
// breakpoint k and returns the slopes and the residual sum of squares.
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
