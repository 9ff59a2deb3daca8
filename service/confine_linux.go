package service

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// errNoLandlock is landlockABI's answer on a kernel without Landlock (before
// Linux 5.13, or with it left out of the security modules): the child
// then runs unconfined, and the agent says so when it starts.
var errNoLandlock = errors.New("the kernel has no Landlock")

// landlockABI is the kernel's Landlock version, or errNoLandlock.
var landlockABI = sync.OnceValues(func() (int, error) {
	v, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if errno != 0 {
		return 0, fmt.Errorf("%w (%v)", errNoLandlock, errno)
	}
	return int(v), nil
})

// What a child may reach of the file system: what starts it (its binary
// and, when it is linked dynamically, the loader and libc), time zones,
// the system's certificate authorities (Go reads a bundle, then every
// file of the certificate folders, some linked from /usr/local/share),
// what the Go runtime reads to size itself, and of /etc only the files
// that resolve names, verify certificates and load libraries: the rest
// of /etc (shadow, private keys, the agent's own configuration and
// environment files) stays closed. A rule for a file follows its
// symbolic link, so a resolv.conf that systemd-resolved keeps under /run
// still resolves. Nothing is writable. /proc stays closed too; the Go
// runtime, race detector included, does without.
var (
	childReadDirs = []string{"/usr/share/zoneinfo", "/usr/share/ca-certificates", "/usr/local/share/ca-certificates",
		"/etc/ssl/certs", "/etc/pki/tls/certs", "/etc/pki/ca-trust/extracted",
		"/sys/fs/cgroup", "/sys/kernel/mm/transparent_hugepage", "/sys/devices/system/cpu"}
	childEtcFiles = []string{"/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf",
		"/etc/services", "/etc/protocols", "/etc/localtime", "/etc/mime.types",
		"/etc/ssl/cert.pem", "/etc/ssl/ca-bundle.pem", "/etc/pki/tls/cacert.pem", "/etc/pki/tls/cert.pem",
		"/etc/ld.so.cache", "/etc/ld.so.preload"}
	childLibraryDirs = []string{"/lib", "/lib64", "/usr/lib", "/usr/lib64"}
)

// confinedEnv marks the process confineSelf executed: it is confined.
const confinedEnv = "LOADLENS_SANDBOX_CONFINED"

// confineSelf confines a sandbox child before it reads its job. On a
// thread of its own it restricts itself (confine, restrictSystemCalls), gives up every
// capability (a root agent's child would otherwise keep them all:
// reboot, network administration, loading kernel modules, …), marks
// every descriptor beyond the standard streams close-on-exec (the agent
// may hold some its own launcher left open, which its children inherit),
// then executes the program again from that thread: the new process, its
// one thread confined, is wholly in the domain, and nothing else is. Run
// again, confineSelf forbids the process to start others
// (forbidNewProcesses).
//
// The agent's thread that forks the child must stay outside the domain:
// Landlock lets a process ptrace and signal whatever is in its own domain,
// so a child could read and write the agent's memory through that thread,
// take its descriptors (pidfd_getfd) or kill it (tgkill).
func confineSelf() error {
	if os.Getenv(confinedEnv) != "" {
		return forbidNewProcesses()
	}
	if _, err := landlockABI(); err != nil {
		return nil // the child runs unconfined; the agent warned at its start
	}
	binary, err := os.Executable()
	if err != nil {
		return err
	}
	// The certificate authorities an operator names in the child's
	// environment (Sandbox.Env, never a tenant's) are the child's to read.
	var certs []string
	if file := os.Getenv("SSL_CERT_FILE"); file != "" {
		certs = append(certs, file)
	}
	certs = append(certs, filepath.SplitList(os.Getenv("SSL_CERT_DIR"))...)
	runtime.LockOSThread() // never unlocked: the process is replaced, or ends with the error
	if err := confine(binary, certs); err != nil {
		return err
	}
	if err := restrictSystemCalls(); err != nil {
		return err
	}
	if err := dropCapabilities(); err != nil {
		return err
	}
	if err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("close-on-exec: %w", err)
	}
	return syscall.Exec(binary, os.Args, append(os.Environ(), confinedEnv+"=1"))
}

// dropCapabilities empties the calling thread's capabilities and, when it
// may (root, with CAP_SETPCAP), its bounding set: a root process executed
// from it gets none back.
func dropCapabilities() error {
	for c := 0; ; c++ {
		if _, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0); err != nil {
			break // past the kernel's last capability
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("bounding capability %d: %w", c, err)
		}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var none [2]unix.CapUserData
	if err := unix.Capset(&hdr, &none[0]); err != nil {
		return fmt.Errorf("capabilities: %w", err)
	}
	return nil
}

// confine shuts the calling thread, and what it executes, out of
// everything on the file system but what a sandbox child needs (above),
// and, on Linux 6.12 or later, from signalling processes outside its own
// domain (the agent, another tenant's child) or reaching their abstract
// sockets: should a script escape the JavaScript runtime, the agent's
// database, its keys and every other tenant's files stay out of its reach.
// Landlock keeps the restriction through fork and exec, and never lifts
// it. Besides what every child needs, it may read the paths in read.
func confine(binary string, read []string) error {
	abi, err := landlockABI()
	if err != nil {
		return err
	}
	attr := unix.LandlockRulesetAttr{Handled_access_fs: fileSystemRights(abi)}
	attrSize := unsafe.Offsetof(attr.Scoped) // the fields this kernel knows
	if abi >= 6 {
		attr.Scoped = unix.LANDLOCK_SCOPE_SIGNAL | unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
		attrSize = unsafe.Offsetof(attr.Quiet_access_fs)
	}
	fd, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), attrSize, 0)
	if errno != 0 {
		return fmt.Errorf("landlock ruleset: %w", errno)
	}
	ruleset := int(fd)
	defer unix.Close(ruleset)

	const (
		readAccess = unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_READ_DIR
		execute    = unix.LANDLOCK_ACCESS_FS_EXECUTE
	)
	if err := allowBeneath(ruleset, binary, unix.LANDLOCK_ACCESS_FS_READ_FILE|execute, true); err != nil {
		return err
	}
	for _, dir := range childLibraryDirs {
		if err := allowBeneath(ruleset, dir, readAccess|execute, false); err != nil {
			return err
		}
	}
	for _, path := range slices.Concat(childReadDirs, childEtcFiles, read) {
		if err := allowBeneath(ruleset, path, readAccess, false); err != nil {
			return err
		}
	}
	// Landlock asks for no_new_privs (or CAP_SYS_ADMIN); like the
	// restriction, it holds for this thread and what it starts.
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if _, _, errno := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, uintptr(ruleset), 0, 0); errno != 0 {
		return fmt.Errorf("landlock restrict: %w", errno)
	}
	return nil
}

// fileSystemRights are all the file-system rights a kernel of Landlock
// version abi knows: handling them all denies each one no rule grants.
func fileSystemRights(abi int) uint64 {
	rights := uint64(unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_READ_FILE |
		unix.LANDLOCK_ACCESS_FS_READ_DIR | unix.LANDLOCK_ACCESS_FS_REMOVE_DIR | unix.LANDLOCK_ACCESS_FS_REMOVE_FILE |
		unix.LANDLOCK_ACCESS_FS_MAKE_CHAR | unix.LANDLOCK_ACCESS_FS_MAKE_DIR | unix.LANDLOCK_ACCESS_FS_MAKE_REG |
		unix.LANDLOCK_ACCESS_FS_MAKE_SOCK | unix.LANDLOCK_ACCESS_FS_MAKE_FIFO | unix.LANDLOCK_ACCESS_FS_MAKE_BLOCK |
		unix.LANDLOCK_ACCESS_FS_MAKE_SYM)
	if abi >= 2 {
		rights |= unix.LANDLOCK_ACCESS_FS_REFER
	}
	if abi >= 3 {
		rights |= unix.LANDLOCK_ACCESS_FS_TRUNCATE
	}
	if abi >= 5 {
		rights |= unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
	}
	return rights
}

// allowBeneath grants rights on path (what its symbolic link leads to)
// and, for a directory, everything beneath it; a file gets only those of
// the rights that apply to files. A path this system lacks is left out;
// the binary must be there.
func allowBeneath(ruleset int, path string, rights uint64, required bool) error {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if errors.Is(err, os.ErrNotExist) && !required {
		return nil
	}
	if err != nil {
		return fmt.Errorf("landlock rule for %s: %w", path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("landlock rule for %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		rights &= unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_READ_FILE |
			unix.LANDLOCK_ACCESS_FS_TRUNCATE | unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
	}
	rule := unix.LandlockPathBeneathAttr{Allowed_access: rights, Parent_fd: int32(fd)}
	if _, _, errno := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, uintptr(ruleset), unix.LANDLOCK_RULE_PATH_BENEATH,
		uintptr(unsafe.Pointer(&rule)), 0, 0, 0); errno != 0 {
		return fmt.Errorf("landlock rule for %s: %w", path, errno)
	}
	return nil
}
