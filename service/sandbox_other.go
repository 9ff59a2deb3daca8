//go:build !linux

package service

import (
	"errors"
	"os/exec"
)

func dieWithParent(*exec.Cmd) {}

func startSandboxed(cmd *exec.Cmd, _ int) (wait func() error, err error) {
	return cmd.Wait, cmd.Start()
}

func renice(int, int) error { return nil }

func landlockABI() (int, error) { return 0, errors.New("Landlock is Linux's") }

func confineSelf() error { return nil }

// applyLimits refuses to run: the sandbox's limits are Linux's.
func applyLimits(*sandboxJob) error {
	return errors.New("the script sandbox needs Linux (per-thread niceness, RLIMIT_NOFILE, /proc)")
}

func residentBytes(int) (int64, bool) { return 0, false }
