package stats_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/loadlens/loadlens/internal/stats"
)

// tDensityTail integrates Student's t density from |t| to a far bound with
// Simpson's rule: an independent check of TwoSidedT.
func tDensityTail(t, df float64) float64 {
	lg1, _ := math.Lgamma((df + 1) / 2)
	lg2, _ := math.Lgamma(df / 2)
	c := math.Exp(lg1-lg2) / math.Sqrt(df*math.Pi)
	f := func(x float64) float64 { return c * math.Pow(1+x*x/df, -(df+1)/2) }
	a, b, n := math.Abs(t), math.Abs(t)+200, 200000
	h := (b - a) / float64(n)
	s := f(a) + f(b)
	for i := 1; i < n; i++ {
		w := 2.0
		if i%2 == 1 {
			w = 4
		}
		s += w * f(a+float64(i)*h)
	}
	return 2 * s * h / 3
}

func TestTests(t *testing.T) {
	t.Parallel()
	p := func(p, _ float64) float64 { return p }
	tt := func(_, t float64) float64 { return t }
	cases := []struct {
		name           string
		got, want, tol float64
	}{
		{"student t=-2.236 df=18", p(stats.StudentT(0, 1, 10, 1, 1, 10)), tDensityTail(2.2360679775, 18), 1e-7},
		{"student t statistic", tt(stats.StudentT(0, 1, 10, 1, 1, 10)), -2.2360679775, 1e-9},
		{"student no degrees of freedom", p(stats.StudentT(0, 0, 1, 1, 0, 1)), 1, 0},
		{"student constant sides differ", p(stats.StudentT(1, 0, 3, 2, 0, 3)), 0, 0},
		{"welch df 5.88", p(stats.Welch([]float64{1, 2, 3, 4, 5}, []float64{2, 4, 6, 8, 10})), tDensityTail(1.8973665961, 5.8823529412), 1e-6},
		{"welch t statistic", tt(stats.Welch([]float64{1, 2, 3, 4, 5}, []float64{2, 4, 6, 8, 10})), 1.8973665961, 1e-9},
		{"welch too short", p(stats.Welch([]float64{1}, []float64{2, 3})), 1, 0},
		{"welch constants equal", p(stats.Welch([]float64{3, 3}, []float64{3, 3, 3})), 1, 0},
		{"welch constants differ", p(stats.Welch([]float64{3, 3}, []float64{4, 4, 4})), 0, 0},
		{"mean", stats.Mean([]float64{1, 2, 3, 6}), 3, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			assert.InDelta(t, c.want, c.got, c.tol)
		})
	}
	assert.True(t, math.IsNaN(stats.Mean(nil)))
}

func TestBlockMeans(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		xs   []float64
		n    int
		want []float64
	}{
		{"whole blocks", []float64{1, 3, 5, 7}, 2, []float64{2, 6}},
		{"half a block kept", []float64{1, 3, 5, 7, 9, 11}, 4, []float64{4, 10}},
		{"less than half dropped", []float64{1, 3, 5, 7, 100}, 4, []float64{4}},
		{"empty", nil, 10, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, c.want, stats.BlockMeans(c.xs, c.n))
		})
	}
}
