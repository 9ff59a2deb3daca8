package metrics

import (
	"math"
	"math/big"
	"math/bits"
)

// exactSum is the exact sum of finite float64 values: a two's-complement
// fixed-point integer in units of 2^-1074, the smallest subnormal, so that
// every finite float64 is an integer in it. 2098 bits hold the largest
// float64; the rest leave room for 2^63 additions and the sign. Adding is
// a shift and a carry, so the order of the additions, and how they were
// split into sums that are merged later, cannot change the result.
type exactSum [exactWords]uint64 // little-endian

const exactWords = 35 // 2240 bits ≥ 2098 + 63 + 1

// add adds a finite v; the caller rules out NaN and infinities.
func (s *exactSum) add(v float64) {
	b := math.Float64bits(v)
	exp := int(b>>52) & 0x7ff
	mant := b & (1<<52 - 1)
	if exp == 0 {
		exp = 1 // subnormal: mant × 2^-1074
	} else {
		mant |= 1 << 52 // normal: mant × 2^(exp-1075)
	}
	if mant == 0 {
		return
	}
	shift := uint(exp - 1) // v = mant × 2^shift units
	w, off := shift/64, shift%64
	lo, hi := mant<<off, mant>>(64-off) // mant>>64 is 0: Go's shifts saturate
	if b>>63 == 0 {
		var c uint64
		s[w], c = bits.Add64(s[w], lo, 0)
		s[w+1], c = bits.Add64(s[w+1], hi, c)
		for i := w + 2; c != 0 && i < exactWords; i++ {
			s[i], c = bits.Add64(s[i], 0, c)
		}
		return
	}
	var c uint64
	s[w], c = bits.Sub64(s[w], lo, 0)
	s[w+1], c = bits.Sub64(s[w+1], hi, c)
	for i := w + 2; c != 0 && i < exactWords; i++ {
		s[i], c = bits.Sub64(s[i], 0, c)
	}
}

// merge adds o to s.
func (s *exactSum) merge(o *exactSum) {
	var c uint64
	for i := range s {
		s[i], c = bits.Add64(s[i], o[i], c)
	}
}

// float64 returns the sum rounded to the nearest float64 (ties to even),
// ±Inf when it is beyond the float64 range.
func (s *exactSum) float64() float64 {
	mag := *s
	neg := mag[exactWords-1]>>63 == 1
	if neg { // two's complement: invert and add one
		var c uint64 = 1
		for i := range mag {
			mag[i], c = bits.Add64(^mag[i], 0, c)
		}
	}
	words := make([]big.Word, 0, exactWords*64/bits.UintSize)
	for _, w := range mag {
		for k := 0; k < 64; k += bits.UintSize {
			words = append(words, big.Word(w>>k))
		}
	}
	var f big.Float
	f.SetInt(new(big.Int).SetBits(words)) // exact: the precision fits the integer
	f.SetMantExp(&f, -1074)
	r, _ := f.Float64()
	if neg {
		return -r
	}
	return r
}
