package service

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// dieWithParent makes the kernel kill the child when the agent dies, even
// by kill -9: no tenant's test outlives the agent that ran it.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// applyLimits sets the child's own niceness and descriptor limit, before
// it runs any of the tenant's code.
func applyLimits(job *sandboxJob) error {
	if err := syscall.Setpriority(syscall.PRIO_PROCESS, 0, job.Nice); err != nil {
		return err
	}
	lim := syscall.Rlimit{Cur: job.OpenFiles, Max: job.OpenFiles}
	var cur syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &cur); err == nil && cur.Max < lim.Max {
		lim = syscall.Rlimit{Cur: cur.Max, Max: cur.Max} // never above what the agent may give
	}
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}

// residentBytes reads a process's resident memory from /proc.
func residentBytes(pid int) (int64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * int64(os.Getpagesize()), true
}
