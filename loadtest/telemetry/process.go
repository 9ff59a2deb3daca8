package telemetry

import (
	"context"
	"fmt"
	"strconv"
)

// Process is a source that reads a process on this machine: its resident
// memory (MetricRSS) and CPU time (MetricCPU), from /proc/<pid>/stat on
// Linux. On other systems Read fails with an error wrapping
// errors.ErrUnsupported. It is safe for concurrent use.
type Process struct {
	PID int
}

var _ Source = Process{}

// Name returns "pid:<PID>".
func (p Process) Name() string { return "pid:" + strconv.Itoa(p.PID) }

// Read reads the process once.
func (p Process) Read(ctx context.Context) (Reading, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cpu, rss, err := readProcess(p.PID)
	if err != nil {
		return nil, fmt.Errorf("pid %d: %w", p.PID, err)
	}
	return Reading{
		MetricCPU: {Type: TypeCounter, Value: cpu},
		MetricRSS: {Type: TypeGauge, Value: rss},
	}, nil
}

// Metrics returns the metrics Read returns: MetricRSS and MetricCPU.
func (p Process) Metrics() []string { return []string{MetricRSS, MetricCPU} }
