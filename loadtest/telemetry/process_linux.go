package telemetry

import "github.com/prometheus/procfs"

// readProcess returns a process's CPU seconds and resident bytes.
func readProcess(pid int) (cpu, rss float64, err error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return 0, 0, err
	}
	st, err := p.Stat()
	if err != nil {
		return 0, 0, err
	}
	return st.CPUTime(), float64(st.ResidentMemory()), nil
}
