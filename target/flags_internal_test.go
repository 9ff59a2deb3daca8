package target

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseBytes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int64
		out  string
		err  bool
	}{
		{in: "0", want: 0, out: "0"},
		{in: "4096", want: 4096, out: "4KiB"},
		{in: "4KiB", want: 4096, out: "4KiB"},
		{in: "4 kib", want: 4096, out: "4KiB"},
		{in: "1500B", want: 1500, out: "1500"},
		{in: "256MiB", want: 256 << 20, out: "256MiB"},
		{in: "2GiB", want: 2 << 30, out: "2GiB"},
		{in: "1536KiB", want: 1536 << 10, out: "1536KiB"},
		{in: "", err: true},
		{in: "KiB", err: true},
		{in: "-1", err: true},
		{in: "+1", err: true},
		{in: "1.5MiB", err: true},
		{in: "4KB", err: true},
		{in: "9223372036854775807GiB", err: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := parseBytes(tc.in)
			if tc.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.out, formatBytes(got))
		})
	}
}

func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"0", "4096", "4KiB", "4 kib", "256MiB", "2GiB", "-1", "KiB", "9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseBytes(s)
		if err != nil {
			return
		}
		require.GreaterOrEqual(t, n, int64(0))
		again, err := parseBytes(formatBytes(n))
		require.NoError(t, err)
		require.Equal(t, n, again)
	})
}

func TestFailsAtSpreadsEvenly(t *testing.T) {
	t.Parallel()
	// Any window of N consecutive requests holds ⌊N·r⌋ or ⌈N·r⌉ failures.
	const p, window = 70_000, 100 // 7 %
	phi := splitmix64(99) % ppm
	fails := make([]int, 5000)
	for n := range fails {
		if failsAt(uint64(n), p, phi) {
			fails[n] = 1
		}
	}
	for start := 0; start+window <= len(fails); start += 37 {
		c := 0
		for _, f := range fails[start : start+window] {
			c += f
		}
		assert.Equal(t, 7, c, "window at %d", start)
	}
}
