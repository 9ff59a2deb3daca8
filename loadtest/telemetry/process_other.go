//go:build !linux

package telemetry

import (
	"errors"
	"fmt"
	"runtime"
)

// readProcess is supported on Linux only.
func readProcess(int) (cpu, rss float64, err error) {
	return 0, 0, fmt.Errorf("reading a process's telemetry on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}
