package anomaly_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/anomaly"
)

// readColumn reads one numeric column of a CSV file with a header row.
func readColumn(t testing.TB, path, column string) []float64 {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	r := csv.NewReader(f)
	rows, err := r.ReadAll()
	require.NoError(t, err)
	require.NotEmpty(t, rows)
	col := -1
	for i, name := range rows[0] {
		if name == column {
			col = i
		}
	}
	require.GreaterOrEqual(t, col, 0, "column %q in %s", column, path)
	out := make([]float64, 0, len(rows)-1)
	for _, row := range rows[1:] {
		v, err := strconv.ParseFloat(row[col], 64)
		require.NoError(t, err)
		out = append(out, v)
	}
	return out
}

// TestChangePointsOtavaParity reproduces every setting of Apache Otava's
// TigerBeetle test: the same change point indexes, in the same order; the
// statistics are those of the final segments.
func TestChangePointsOtavaParity(t *testing.T) {
	t.Parallel()
	series := readColumn(t, "testdata/otava/tigerbeetle_series.csv", "value")
	require.Len(t, series, 365)
	b, err := os.ReadFile("testdata/otava/tigerbeetle_expected_change_points.json")
	require.NoError(t, err)
	var fixture struct {
		N     int `json:"n"`
		Cases []struct {
			Window       int     `json:"window_len"`
			MaxPValue    float64 `json:"max_pvalue"`
			MinMagnitude float64 `json:"min_magnitude"`
			Expected     []int   `json:"expected_change_point_indexes"`
		} `json:"cases"`
	}
	require.NoError(t, json.Unmarshal(b, &fixture))
	require.Len(t, fixture.Cases, 10)
	for _, c := range fixture.Cases {
		t.Run(fmt.Sprintf("w%d_p%g_m%g", c.Window, c.MaxPValue, c.MinMagnitude), func(t *testing.T) {
			t.Parallel()
			cps := anomaly.ChangePoints(series, anomaly.ChangePointOptions{
				Window: c.Window, MaxPValue: c.MaxPValue, MinMagnitude: c.MinMagnitude})
			got := make([]int, len(cps))
			for i, cp := range cps {
				got[i] = cp.Index
			}
			assert.Equal(t, c.Expected, got)
			assertSegmentStats(t, series, cps)
		})
	}
}

func TestChangePoints(t *testing.T) {
	t.Parallel()
	step := make([]float64, 60)
	for i := range step {
		step[i] = 100 + float64(i%3)
		if i >= 40 {
			step[i] += 30
		}
	}
	flat := make([]float64, 60)
	for i := range flat {
		flat[i] = 100 + float64(i%5)
	}
	cases := []struct {
		name   string
		series []float64
		opts   anomaly.ChangePointOptions
		want   []int
		change float64 // relative change at the first point, when any
	}{
		{name: "otava sample metric2 drops 12.9% at aaa6", series: readColumn(t, "testdata/otava/sample.csv", "metric2"), want: []int{6}, change: -0.129},
		{name: "otava sample metric1 is noise", series: readColumn(t, "testdata/otava/sample.csv", "metric1"), want: []int{}},
		{name: "step of 30% at 40", series: step, want: []int{40}, change: 0.3},
		{name: "step below the minimum magnitude", series: step, opts: anomaly.ChangePointOptions{MinMagnitude: 0.5}, want: []int{}},
		{name: "periodic noise", series: flat, want: []int{}},
		{name: "empty", series: nil, want: []int{}},
		{name: "one point", series: []float64{1}, want: []int{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cps := anomaly.ChangePoints(c.series, c.opts)
			got := []int{}
			for _, cp := range cps {
				got = append(got, cp.Index)
			}
			require.Equal(t, c.want, got)
			assertSegmentStats(t, c.series, cps)
			if len(cps) > 0 {
				assert.InDelta(t, c.change, cps[0].Change(), 0.01)
			}
		})
	}
}

// assertSegmentStats checks what ChangePoint's doc promises: each point's
// means are those of the segments between its neighbours, as they are in
// the result (not as they were before a neighbour was merged away).
func assertSegmentStats(t *testing.T, series []float64, cps []anomaly.ChangePoint) {
	t.Helper()
	mean := func(xs []float64) float64 {
		s := 0.0
		for _, x := range xs {
			s += x
		}
		return s / float64(len(xs))
	}
	for i, cp := range cps {
		lo, hi := 0, len(series)
		if i > 0 {
			lo = cps[i-1].Index
		}
		if i+1 < len(cps) {
			hi = cps[i+1].Index
		}
		assert.InDelta(t, mean(series[lo:cp.Index]), cp.MeanBefore, 1e-9, "mean before index %d", cp.Index)
		assert.InDelta(t, mean(series[cp.Index:hi]), cp.MeanAfter, 1e-9, "mean after index %d", cp.Index)
	}
}
