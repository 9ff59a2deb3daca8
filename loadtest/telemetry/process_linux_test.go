package telemetry_test

import (
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/loadtest/telemetry"
)

func TestProcessReadsItself(t *testing.T) {
	t.Parallel()
	p := telemetry.Process{PID: os.Getpid()}
	assert.Equal(t, "pid:"+strconv.Itoa(os.Getpid()), p.Name())
	rd, err := p.Read(t.Context())
	require.NoError(t, err)
	assert.Equal(t, telemetry.TypeCounter, rd[telemetry.MetricCPU].Type)
	assert.GreaterOrEqual(t, rd[telemetry.MetricCPU].Value, 0.0)
	assert.Equal(t, telemetry.TypeGauge, rd[telemetry.MetricRSS].Type)
	assert.Greater(t, rd[telemetry.MetricRSS].Value, float64(1<<20), "a Go test binary holds more than a MiB")
}

func TestProcessGone(t *testing.T) {
	t.Parallel()
	_, err := telemetry.Process{PID: 1 << 30}.Read(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pid 1073741824")
}
