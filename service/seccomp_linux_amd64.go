package service

import "golang.org/x/sys/unix"

// forkCalls are the calls that start a process other than clone.
var forkCalls = []uintptr{unix.SYS_FORK, unix.SYS_VFORK}
