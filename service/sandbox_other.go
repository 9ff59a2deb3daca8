//go:build !linux

package service

import (
	"errors"
	"os/exec"
)

func dieWithParent(*exec.Cmd) {}

// applyLimits refuses to run: the sandbox's limits are Linux's.
func applyLimits(*sandboxJob) error {
	return errors.New("the script sandbox needs Linux (setpriority, RLIMIT_NOFILE, /proc)")
}

func residentBytes(int) (int64, bool) { return 0, false }
