package spe

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// deniedSyscalls are what a partition process never needs once it runs:
// starting another program, reading or writing another process's memory,
// changing the filesystem namespace, loading kernel code, creating new
// namespaces or keys. They answer EPERM (a Go runtime that tried one
// would see an error, not a dead process).
var deniedSyscalls = []uintptr{
	unix.SYS_EXECVE, unix.SYS_EXECVEAT,
	unix.SYS_PTRACE, unix.SYS_PROCESS_VM_READV, unix.SYS_PROCESS_VM_WRITEV,
	unix.SYS_MOUNT, unix.SYS_UMOUNT2, unix.SYS_PIVOT_ROOT, unix.SYS_CHROOT,
	unix.SYS_UNSHARE, unix.SYS_SETNS,
	unix.SYS_INIT_MODULE, unix.SYS_FINIT_MODULE, unix.SYS_DELETE_MODULE,
	unix.SYS_KEXEC_LOAD, unix.SYS_REBOOT, unix.SYS_SWAPON, unix.SYS_SWAPOFF,
	unix.SYS_BPF, unix.SYS_PERF_EVENT_OPEN, unix.SYS_USERFAULTFD,
	unix.SYS_KEYCTL, unix.SYS_ADD_KEY, unix.SYS_REQUEST_KEY,
	unix.SYS_OPEN_BY_HANDLE_AT, unix.SYS_NAME_TO_HANDLE_AT,
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

// seccompProgram is the filter: a syscall of another architecture kills
// the process (so a 32-bit entry cannot bypass the list), a denied one
// answers EPERM, anything else is allowed.
func seccompProgram(arch uint32) []unix.SockFilter {
	const (
		ld  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jge = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
		ret = unix.BPF_RET | unix.BPF_K
	)
	eperm := uint32(unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM))
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
	for _, nr := range deniedSyscalls {
		p = append(p, unix.SockFilter{Code: jeq, Jt: 0, Jf: 1, K: uint32(nr)}, unix.SockFilter{Code: ret, K: eperm})
	}
	return append(p, unix.SockFilter{Code: ret, K: unix.SECCOMP_RET_ALLOW})
}

// Sandbox drops what a partition process can do, for good: no new
// privileges (setuid programs and file capabilities do nothing), and a
// seccomp filter, on every thread of the process, that refuses
// deniedSyscalls. It also makes the process non-dumpable (HardenProcess).
// Call it once the process has opened what it needs.
func Sandbox() error {
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
	prog := seccompProgram(arch)
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	// TSYNC puts the filter (and no_new_privs) on every thread the Go
	// runtime already started, not only this one.
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		return fmt.Errorf("spe: sandbox: seccomp: %w", e)
	}
	runtime.KeepAlive(prog)
	return nil
}
