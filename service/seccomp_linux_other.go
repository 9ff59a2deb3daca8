//go:build linux && !amd64

package service

// forkCalls are the calls that start a process other than clone: none
// but amd64 has fork and vfork.
var forkCalls []uintptr
