//go:build !unix

package pgtest

import (
	"os/exec"
	"os/user"
)

func setUser(*exec.Cmd, *user.User) {}

func chown(string, *user.User) error { return nil }
