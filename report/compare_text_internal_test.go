package report

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// Sizes read the same in a comparison as in the summary and the report:
// k6's SI units (kB, MB), never KiB.
func TestFormatValueBytesAsTheSummary(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		v    float64
		want string
	}{
		{512, "512 B"},
		{2048, "2.0 kB"},
		{1_536_000, "1.5 MB"},
		{-20_000, "-20 kB"},
	} {
		assert.Equal(t, tt.want, formatValue(tt.v, "bytes"))
	}
}
