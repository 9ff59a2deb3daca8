package duration

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{in: "30s", want: 30 * time.Second},
		{in: "1m30s", want: 90 * time.Second},
		{in: "500ms", want: 500 * time.Millisecond},
		{in: "1d", want: 24 * time.Hour},
		{in: "1d2h", want: 26 * time.Hour},
		{in: "-1d2h", want: -26 * time.Hour},
		{in: "1500", want: 1500 * time.Millisecond},
		{in: "0.5", want: 500 * time.Microsecond},
		{in: " 2s ", want: 2 * time.Second},
		{in: "", err: true},
		{in: "abc", err: true},
		{in: "1x", err: true},
		{in: "d", err: true},
		{in: "1d-2h", err: true},
		{in: "1e30", err: true},
		{in: "NaN", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tt.in)
			if tt.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "10m", Format(10*time.Minute))
	assert.Equal(t, "1m30s", Format(90*time.Second))
	assert.Equal(t, "2h", Format(2*time.Hour))
	assert.Equal(t, "1h0m5s", Format(time.Hour+5*time.Second))
	assert.Equal(t, "500ms", Format(500*time.Millisecond))
}

func TestDurationJSON(t *testing.T) {
	t.Parallel()
	var v struct{ A, B Duration }
	require.NoError(t, json.Unmarshal([]byte(`{"A":"1m","B":250}`), &v))
	assert.Equal(t, Duration(time.Minute), v.A)
	assert.Equal(t, Duration(250*time.Millisecond), v.B)
	out, err := json.Marshal(v)
	require.NoError(t, err)
	assert.JSONEq(t, `{"A":"1m","B":"250ms"}`, string(out))
	require.Error(t, json.Unmarshal([]byte(`{"A":true}`), &v))
	require.Error(t, json.Unmarshal([]byte(`{"A":"soon"}`), &v))
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"30s", "1m30s", "500ms", "1d2h", "1500", "-3h", "0.25", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err != nil {
			return
		}
		back, err := Parse(Format(d))
		require.NoError(t, err, "Format(%v) = %q", d, Format(d))
		require.Equal(t, d, back)
	})
}
