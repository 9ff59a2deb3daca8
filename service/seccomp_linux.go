package service

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

const (
	allowCall = unix.SECCOMP_RET_ALLOW
	denyCall  = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	// seccomp_data's offsets: the call's number, its architecture, and
	// the low half of its first argument (little-endian).
	callNumber, callArch, callArg0 = 0, 4, 16
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
	prog, ok := filterPrologue()
	if !ok {
		return nil
	}
	for _, call := range []uintptr{unix.SYS_SETPRIORITY, unix.SYS_IOPRIO_SET, unix.SYS_SCHED_SETAFFINITY,
		unix.SYS_SCHED_SETSCHEDULER, unix.SYS_SCHED_SETPARAM, unix.SYS_SCHED_SETATTR, unix.SYS_IO_URING_SETUP} {
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(call), SkipFalse: 1}, bpf.RetConstant{Val: denyCall})
	}
	// prlimit64 on itself (pid 0) only; socket of any family but AF_UNIX.
	for _, c := range []struct {
		call              uintptr
		arg0              uint32
		ifArg0, ifNotArg0 uint32
	}{{unix.SYS_PRLIMIT64, 0, allowCall, denyCall}, {unix.SYS_SOCKET, unix.AF_UNIX, denyCall, allowCall}} {
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(c.call), SkipFalse: 4},
			bpf.LoadAbsolute{Off: callArg0, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: c.arg0, SkipFalse: 1},
			bpf.RetConstant{Val: c.ifArg0},
			bpf.RetConstant{Val: c.ifNotArg0})
	}
	return installFilter(append(prog, bpf.RetConstant{Val: allowCall}), 0)
}

// forbidNewProcesses installs, on every thread of the confined child, a
// seccomp filter that refuses it to start a process: no execve, no fork,
// no clone but of a thread (clone3, whose flags a filter cannot read,
// answers ENOSYS, so that the runtime and libc fall back to clone). A
// script that escaped the JavaScript runtime could otherwise leave
// processes behind that outlive its run and the agent, out of reach of
// the agent's kill and memory watch, which know the child alone.
func forbidNewProcesses() error {
	prog, ok := filterPrologue()
	if !ok {
		return nil
	}
	for _, call := range append([]uintptr{unix.SYS_EXECVE, unix.SYS_EXECVEAT}, forkCalls...) {
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(call), SkipFalse: 1}, bpf.RetConstant{Val: denyCall})
	}
	prog = append(prog,
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SYS_CLONE3, SkipFalse: 1},
		bpf.RetConstant{Val: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SYS_CLONE, SkipFalse: 4},
		bpf.LoadAbsolute{Off: callArg0, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: unix.CLONE_THREAD, SkipFalse: 1},
		bpf.RetConstant{Val: allowCall},
		bpf.RetConstant{Val: denyCall},
		bpf.RetConstant{Val: allowCall})
	return installFilter(prog, unix.SECCOMP_FILTER_FLAG_TSYNC)
}

// filterPrologue starts a filter: a call of another architecture (or
// amd64's x32 calls, numbered apart) is refused, and the call's number
// is loaded. ok is false on an architecture without filters here.
func filterPrologue() (prog []bpf.Instruction, ok bool) {
	arch, ok := map[string]uint32{"amd64": unix.AUDIT_ARCH_X86_64, "arm64": unix.AUDIT_ARCH_AARCH64}[runtime.GOARCH]
	if !ok {
		return nil, false
	}
	const x32Bit = 0x40000000
	return []bpf.Instruction{
		bpf.LoadAbsolute{Off: callArch, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: arch, SkipTrue: 1},
		bpf.RetConstant{Val: denyCall},
		bpf.LoadAbsolute{Off: callNumber, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: x32Bit, SkipFalse: 1},
		bpf.RetConstant{Val: denyCall},
	}, true
}

// installFilter assembles prog and installs it; flags as seccomp(2)'s
// (TSYNC: on every thread of the process). It needs no_new_privs, which
// confine set.
func installFilter(prog []bpf.Instruction, flags uintptr) error {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return fmt.Errorf("seccomp filter: %w", err)
	}
	filter := make([]unix.SockFilter, len(raw))
	for i, in := range raw {
		filter[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if _, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&fprog))); errno != 0 {
		return fmt.Errorf("seccomp filter: %w", errno)
	}
	return nil
}
