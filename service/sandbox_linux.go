package service

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// dieWithParent makes the kernel kill the child when the agent dies, even
// by kill -9: no tenant's test outlives the agent that ran it.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// applyLimits sets the child's own descriptor limit, before it runs any
// of the tenant's code.
func applyLimits(job *sandboxJob) error {
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

// startSandboxed starts cmd with every one of its threads at nice, and
// returns the wait for its end. (The child confines itself: see
// confineSelf.) Linux keeps a niceness per thread and a new thread
// inherits its maker's, so the thread that forks takes the niceness first:
// set in the child after its start, it would miss the threads the Go
// runtime had already made. That thread cannot lower its niceness again
// without privilege, so it stays locked to its goroutine, which waits for
// the child: the thread must outlive the child anyway, since the parent
// death signal (dieWithParent) fires when the thread that forked ends.
func startSandboxed(cmd *exec.Cmd, nice int) (wait func() error, err error) {
	started, exited := make(chan error, 1), make(chan error, 1)
	go func() { // owned: wait's caller receives its last send
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), nice); err != nil {
			started <- err
			return
		}
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return func() error { return <-exited }, nil
}

// renice sets every thread of process pid to nice. A thread made meanwhile
// inherits its maker's niceness, so renice goes over the threads again
// until they all have it. Lowering a niceness needs CAP_SYS_NICE; without
// it renice fails and the threads keep theirs.
func renice(pid, nice int) error {
	for range 5 {
		tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
		if err != nil {
			return err
		}
		settled := true
		for _, task := range tasks {
			tid, err := strconv.Atoi(task.Name())
			if err != nil {
				continue
			}
			prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
			if err != nil || 20-prio == nice { // the raw system call answers 20 − nice
				continue // the thread ended, or has it already
			}
			settled = false
			if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice); err != nil && !errors.Is(err, syscall.ESRCH) {
				return err
			}
		}
		if settled {
			return nil
		}
	}
	return nil
}
