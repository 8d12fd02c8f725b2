package spe

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Profile is what a sandboxed partition process may still do besides
// running Go code: the system calls of its seccomp allow list.
type Profile int

const (
	// WithFiles may open, create, rename and remove files (the storage
	// partitions, crypto's key store, the audit log, application
	// partitions' own directories).
	WithFiles Profile = iota
	// NoFiles may not open a file at all: a process that read what it
	// needs before it was sandboxed (the root key partition).
	NoFiles
)

// runtimeSyscalls are what any partition process makes once it serves: the
// Go runtime and glibc's threads (memory, threads, signals, time,
// scheduling, the poller on its inherited link) and reads and writes on
// descriptors it already has. Measured with `strace -f -ff` on the
// partition processes under the spe/platform service tests (see
// docs/spe-isolation.md), plus the calls the runtime makes on paths those
// tests do not take (thread exit, memory returned to the kernel).
var runtimeSyscalls = []uintptr{
	// memory
	unix.SYS_MMAP, unix.SYS_MUNMAP, unix.SYS_MPROTECT, unix.SYS_MADVISE, unix.SYS_BRK, unix.SYS_MREMAP,
	// threads (clone is checked apart: threads only) and scheduling
	unix.SYS_FUTEX, unix.SYS_SET_ROBUST_LIST, unix.SYS_RSEQ, unix.SYS_SET_TID_ADDRESS,
	unix.SYS_SCHED_YIELD, unix.SYS_SCHED_GETAFFINITY, unix.SYS_GETCPU, unix.SYS_NANOSLEEP, unix.SYS_CLOCK_NANOSLEEP,
	unix.SYS_CLOCK_GETTIME, unix.SYS_GETTIMEOFDAY, unix.SYS_EXIT, unix.SYS_EXIT_GROUP, unix.SYS_RESTART_SYSCALL,
	unix.SYS_GETPID, unix.SYS_GETTID, unix.SYS_GETUID, unix.SYS_GETEUID, unix.SYS_GETGID, unix.SYS_GETEGID,
	unix.SYS_PRLIMIT64, unix.SYS_GETRANDOM,
	// signals (the runtime preempts its own threads with tgkill)
	unix.SYS_RT_SIGACTION, unix.SYS_RT_SIGPROCMASK, unix.SYS_RT_SIGRETURN, unix.SYS_SIGALTSTACK, unix.SYS_TGKILL,
	// the poller and descriptors already open (the link to the SPM)
	unix.SYS_EPOLL_CREATE1, unix.SYS_EPOLL_CTL, unix.SYS_EPOLL_PWAIT, unix.SYS_EPOLL_PWAIT2, unix.SYS_EVENTFD2,
	unix.SYS_READ, unix.SYS_WRITE, unix.SYS_READV, unix.SYS_WRITEV, unix.SYS_PREAD64, unix.SYS_PWRITE64,
	unix.SYS_CLOSE, unix.SYS_FCNTL, unix.SYS_FSTAT, unix.SYS_LSEEK, unix.SYS_PPOLL,
	unix.SYS_GETSOCKOPT, unix.SYS_GETSOCKNAME, unix.SYS_GETPEERNAME, unix.SYS_SHUTDOWN,
	unix.SYS_RECVMSG, unix.SYS_SENDMSG, unix.SYS_RECVFROM, unix.SYS_SENDTO,
}

// fileSyscalls are what WithFiles adds: the storage's atomic writes
// (temporary file, fsync, rename, directory fsync), listing, removal.
var fileSyscalls = []uintptr{
	unix.SYS_OPENAT, unix.SYS_STATX, unix.SYS_GETDENTS64, unix.SYS_FSYNC, unix.SYS_FDATASYNC,
	unix.SYS_FTRUNCATE, unix.SYS_RENAMEAT, unix.SYS_RENAMEAT2, unix.SYS_UNLINKAT, unix.SYS_MKDIRAT,
	unix.SYS_FCHMOD, unix.SYS_FCHMODAT, unix.SYS_FLOCK, unix.SYS_READLINKAT, unix.SYS_FACCESSAT, unix.SYS_FACCESSAT2,
}

// allowedSyscalls returns the allow list of a profile on this build's
// architecture.
func allowedSyscalls(p Profile) []uintptr {
	out := append(append([]uintptr(nil), runtimeSyscalls...), archRuntimeSyscalls...)
	if p == WithFiles {
		out = append(append(out, fileSyscalls...), archFileSyscalls...)
	}
	return out
}

// auditArch is the seccomp architecture of this build, 0 when the filter
// is not written for it.
func auditArch() uint32 {
	switch runtime.GOARCH {
	case "amd64":
		return unix.AUDIT_ARCH_X86_64
	case "arm64":
		return unix.AUDIT_ARCH_AARCH64
	}
	return 0
}

// namespaceFlags are the clone flags that make a new namespace: a thread
// never needs one.
const namespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER |
	unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP

// seccompProgram is the filter: a system call of another architecture
// kills the process (a 32-bit entry cannot bypass the list); clone makes
// threads only (CLONE_THREAD, no new namespace); clone3, whose flags a
// filter cannot read, answers ENOSYS, so glibc falls back to clone; a call
// of allowed runs; anything else answers EPERM (and is logged by the
// kernel: SECCOMP_FILTER_FLAG_LOG).
func seccompProgram(arch uint32, allowed []uintptr) []unix.SockFilter {
	const (
		ld   = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq  = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jge  = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
		jset = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
		ret  = unix.BPF_RET | unix.BPF_K
	)
	eperm := uint32(unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM))
	enosys := uint32(unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS))
	allow := uint32(unix.SECCOMP_RET_ALLOW)
	p := []unix.SockFilter{
		{Code: ld, K: 4}, // seccomp_data.arch
		{Code: jeq, Jt: 1, Jf: 0, K: arch},
		{Code: ret, K: unix.SECCOMP_RET_KILL_PROCESS},
		{Code: ld, K: 0}, // seccomp_data.nr
	}
	if arch == unix.AUDIT_ARCH_X86_64 {
		// The x32 ABI reaches the same calls with bit 30 set.
		p = append(p, unix.SockFilter{Code: jge, Jt: 0, Jf: 1, K: 0x40000000}, unix.SockFilter{Code: ret, K: eperm})
	}
	p = append(p,
		unix.SockFilter{Code: jeq, Jt: 0, Jf: 1, K: uint32(unix.SYS_CLONE3)},
		unix.SockFilter{Code: ret, K: enosys},
		unix.SockFilter{Code: jeq, Jt: 0, Jf: 5, K: uint32(unix.SYS_CLONE)},
		unix.SockFilter{Code: ld, K: 16}, // the low half of seccomp_data.args[0]: the flags
		unix.SockFilter{Code: jset, Jt: 0, Jf: 2, K: unix.CLONE_THREAD},
		unix.SockFilter{Code: jset, Jt: 1, Jf: 0, K: namespaceFlags},
		unix.SockFilter{Code: ret, K: allow},
		unix.SockFilter{Code: ret, K: eperm},
	)
	for _, nr := range allowed {
		p = append(p, unix.SockFilter{Code: jeq, Jt: 0, Jf: 1, K: uint32(nr)}, unix.SockFilter{Code: ret, K: allow})
	}
	return append(p, unix.SockFilter{Code: ret, K: eperm})
}

// Sandbox is SandboxProfile(WithFiles).
func Sandbox() error { return SandboxProfile(WithFiles) }

// SandboxProfile drops what a partition process can do, for good: no new
// privileges (setuid programs and file capabilities do nothing), and a
// seccomp filter, on every thread of the process, that lets through only
// the system calls of the profile (allowedSyscalls): no exec, no new
// socket, no ptrace, no namespace, no mount; NoFiles also no file opened.
// Any other call answers EPERM and the kernel logs it (audit type 1326,
// `syscall=N`, in dmesg or the audit log). It also makes the process
// non-dumpable (HardenProcess). Call it once the process has opened what
// it needs.
func SandboxProfile(profile Profile) error {
	if err := HardenProcess(); err != nil {
		return fmt.Errorf("spe: sandbox: %w", err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("spe: sandbox: no_new_privs: %w", err)
	}
	arch := auditArch()
	if arch == 0 {
		return fmt.Errorf("spe: sandbox: no seccomp filter for %s", runtime.GOARCH)
	}
	prog := seccompProgram(arch, allowedSyscalls(profile))
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	// TSYNC puts the filter (and no_new_privs) on every thread the Go
	// runtime already started, not only this one; LOG has the kernel log
	// every refused call.
	flags := uintptr(unix.SECCOMP_FILTER_FLAG_TSYNC | unix.SECCOMP_FILTER_FLAG_LOG)
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		return fmt.Errorf("spe: sandbox: seccomp: %w", e)
	}
	runtime.KeepAlive(prog)
	return nil
}
