//go:build !linux

package loadtest

import (
	"errors"
	"runtime"
	"time"
)

// processCPUTime is not measured outside Linux.
func processCPUTime() (time.Duration, error) {
	return 0, errors.New("process CPU time is measured on Linux only")
}

// hostCPUTimes is not measured outside Linux.
func hostCPUTimes() (busy, total float64, err error) {
	return 0, 0, errors.New("host CPU is measured on Linux only")
}

// processRSS approximates resident memory with the Go runtime's view.
func processRSS() (float64, error) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.Sys - ms.HeapReleased), nil
}
