package service

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// restrictSystemCalls installs, on the calling thread and what it
// executes, a seccomp filter that refuses (EPERM) what Landlock leaves
// open to a sandbox child and no script needs: changing another
// process's resource limits (prlimit64 on the agent's RLIMIT_CPU gets it
// killed by the kernel), niceness, scheduling or I/O priority; Unix
// sockets (Landlock before ABI 9 does not guard connecting to one by
// path: a database's socket with peer authentication, a container
// runtime's); and io_uring, whose operations bypass seccomp. On an
// architecture without a filter here, Landlock alone confines the child.
func restrictSystemCalls() error {
	arch, ok := map[string]uint32{"amd64": unix.AUDIT_ARCH_X86_64, "arm64": unix.AUDIT_ARCH_AARCH64}[runtime.GOARCH]
	if !ok {
		return nil
	}
	const (
		allow = unix.SECCOMP_RET_ALLOW
		deny  = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
		// seccomp_data's offsets: the call's number, its architecture,
		// and the low half of its first argument (little-endian).
		nr, archOff, arg0 = 0, 4, 16
		x32Bit            = 0x40000000 // amd64's x32 calls, numbered apart
	)
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: archOff, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: arch, SkipTrue: 1},
		bpf.RetConstant{Val: deny},
		bpf.LoadAbsolute{Off: nr, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: x32Bit, SkipFalse: 1},
		bpf.RetConstant{Val: deny},
	}
	for _, call := range []uintptr{unix.SYS_SETPRIORITY, unix.SYS_IOPRIO_SET, unix.SYS_SCHED_SETAFFINITY,
		unix.SYS_SCHED_SETSCHEDULER, unix.SYS_SCHED_SETPARAM, unix.SYS_SCHED_SETATTR, unix.SYS_IO_URING_SETUP} {
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(call), SkipFalse: 1}, bpf.RetConstant{Val: deny})
	}
	// prlimit64 on itself (pid 0) only; socket of any family but AF_UNIX.
	for _, c := range []struct {
		call              uintptr
		arg0              uint32
		ifArg0, ifNotArg0 uint32
	}{{unix.SYS_PRLIMIT64, 0, allow, deny}, {unix.SYS_SOCKET, unix.AF_UNIX, deny, allow}} {
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(c.call), SkipFalse: 4},
			bpf.LoadAbsolute{Off: arg0, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: c.arg0, SkipFalse: 1},
			bpf.RetConstant{Val: c.ifArg0},
			bpf.RetConstant{Val: c.ifNotArg0})
	}
	prog = append(prog, bpf.RetConstant{Val: allow})
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return fmt.Errorf("seccomp filter: %w", err)
	}
	filter := make([]unix.SockFilter, len(raw))
	for i, in := range raw {
		filter[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	// Needs no_new_privs, which confine set.
	if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&fprog)), 0, 0); err != nil {
		return fmt.Errorf("seccomp filter: %w", err)
	}
	return nil
}
