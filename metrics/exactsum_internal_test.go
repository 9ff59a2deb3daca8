package metrics

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
)

// bigSum is the reference: the exact sum in arbitrary precision, rounded
// once at the end.
func bigSum(vs []float64) float64 {
	acc := new(big.Float).SetPrec(4000)
	for _, v := range vs {
		acc.Add(acc, new(big.Float).SetFloat64(v))
	}
	r, _ := acc.Float64()
	return r
}

func TestExactSum(t *testing.T) {
	t.Parallel()
	cases := map[string][]float64{
		"empty":            nil,
		"cancellation":     {1e308, 1, -1e308},
		"naive loses it":   {1, 1e-16, 1e-16, 1e-16, 1e-16},
		"subnormals":       {math.SmallestNonzeroFloat64, math.SmallestNonzeroFloat64, -3 * math.SmallestNonzeroFloat64},
		"largest":          {math.MaxFloat64, -math.MaxFloat64, math.MaxFloat64},
		"beyond the range": {math.MaxFloat64, math.MaxFloat64},
		"negative":         {-0.1, -0.2, -0.3},
		"latencies":        {12.5, 0.031, 1234.75, 7e-4},
	}
	for name, vs := range cases {
		var s exactSum
		for _, v := range vs {
			s.add(v)
		}
		assert.Equal(t, bigSum(vs), s.float64(), name)
	}
}

// Any split into shards and any order of additions give the same bits.
func TestExactSumMergeIsExact(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 50 {
		vs := make([]float64, 500)
		for i := range vs {
			// Signs, magnitudes from 1e-300 to 1e300, and some subnormals.
			vs[i] = math.Ldexp(rng.Float64(), rng.IntN(2000)-1000)
			if rng.IntN(2) == 0 {
				vs[i] = -vs[i]
			}
			if rng.IntN(50) == 0 {
				vs[i] = math.SmallestNonzeroFloat64 * float64(rng.IntN(1000))
			}
		}
		var whole exactSum
		for _, v := range vs {
			whole.add(v)
		}
		shards := make([]exactSum, 1+rng.IntN(7))
		for _, i := range rng.Perm(len(vs)) {
			shards[rng.IntN(len(shards))].add(vs[i])
		}
		var merged exactSum
		for i := range shards {
			merged.merge(&shards[i])
		}
		assert.Equal(t, whole, merged, "trial %d", trial)
		assert.Equal(t, bigSum(vs), merged.float64(), "trial %d", trial)
	}
}
