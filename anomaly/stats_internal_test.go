package anomaly

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/loadlens/loadlens/internal/stats"
)

// binomialTail sums the binomial pmf with log-gamma: an independent check
// of binomialUpper.
func binomialTail(k, n int, p float64) float64 {
	var s float64
	for x := k; x <= n; x++ {
		l1, _ := math.Lgamma(float64(n + 1))
		l2, _ := math.Lgamma(float64(x + 1))
		l3, _ := math.Lgamma(float64(n - x + 1))
		s += math.Exp(l1 - l2 - l3 + float64(x)*math.Log(p) + float64(n-x)*math.Log1p(-p))
	}
	return s
}

func TestStatTests(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		got  float64
		want float64
		tol  float64
	}{
		{"binomial 12 of 100 at 5%", binomialUpper(12, 100, 0.05), binomialTail(12, 100, 0.05), 1e-10},
		{"binomial 30 of 1000 at 1%", binomialUpper(30, 1000, 0.01), binomialTail(30, 1000, 0.01), 1e-14},
		{"binomial k=0", binomialUpper(0, 10, 0.1), 1, 0},
		{"binomial k>n", binomialUpper(11, 10, 0.1), 0, 0},
		{"kolmogorov 5% point", kolmogorovSurvival(1.3581), 0.05, 1e-4},
		{"kolmogorov 1% point", kolmogorovSurvival(1.6276), 0.01, 1e-4},
		{"normal two-sided 1.96", normalTwoSided(1.959964), 0.05, 1e-6},
		{"mann-kendall increasing n=10 S", first3(mannKendall([]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})), 45, 0},
		{"mann-kendall increasing n=10 p", third(mannKendall([]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})), normalTwoSided(44 / math.Sqrt(125)), 1e-12},
		{"mann-kendall ties", second3(mannKendall([]float64{1, 1, 2, 2, 3, 3})), 11 / math.Sqrt((6*5*17-3*2*1*9)/18.0), 1e-12},
		{"mann-kendall short", third(mannKendall([]float64{2, 1})), 1, 0},
		{"sen slope", senSlope([]float64{0, 1, 2, 3, 4}, []float64{0, 2, 4, 100, 8}), 2, 1e-12},
		{"median even", median([]float64{4, 1, 3, 2}), 2.5, 0},
		{"quantile 0.9", quantile([]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 0.9), 10, 1e-12},
		{"mad", mad([]float64{1, 2, 3, 4, 100}), 1.4826, 1e-12},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			assert.InDelta(t, c.want, c.got, c.tol)
		})
	}
	assert.True(t, math.IsNaN(median(nil)))
	assert.Equal(t, []float64{1, 3}, finite([]float64{1, math.NaN(), math.Inf(1), 3}))
}

func first3(a, _, _ float64) float64  { return a }
func second3(_, b, _ float64) float64 { return b }
func third(_, _, c float64) float64   { return c }

func TestPrefixFits(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		ys        []float64
		wantStep  int
		wantHinge int
		slope     float64
	}{
		{name: "step at 30", ys: stepSeries(60, 30, 1, 2), wantStep: 30, wantHinge: -1},
		{name: "ramp from 20", ys: hingeSeries(60, 20, 0.5), wantStep: -1, wantHinge: 20, slope: 0.5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := newPrefix(c.ys)
			tau, sseStep := p.bestStep(0, len(c.ys), 3)
			t0, sseHinge, slope := p.bestHinge(0, len(c.ys), 3)
			if c.wantStep >= 0 {
				assert.Equal(t, c.wantStep, tau)
				assert.InDelta(t, 0, sseStep, 1e-9)
				assert.Greater(t, sseHinge, sseStep)
			}
			if c.wantHinge >= 0 {
				assert.Equal(t, c.wantHinge, t0)
				assert.InDelta(t, 0, sseHinge, 1e-6)
				assert.InDelta(t, c.slope, slope, 1e-9)
				assert.Greater(t, sseStep, sseHinge)
			}
			assert.InDelta(t, stats.Mean(c.ys[:10]), p.meanOf(0, 10), 1e-12)
		})
	}
}

func stepSeries(n, at int, lo, hi float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = lo
		if i >= at {
			out[i] = hi
		}
	}
	return out
}

func hingeSeries(n, at int, slope float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = 5 + slope*math.Max(0, float64(i-at))
	}
	return out
}
