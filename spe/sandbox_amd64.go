//go:build linux

package spe

import "golang.org/x/sys/unix"

// amd64's older entries of calls arm64 makes through the *at family.
var (
	archRuntimeSyscalls = []uintptr{unix.SYS_EPOLL_WAIT, unix.SYS_ARCH_PRCTL, unix.SYS_POLL, unix.SYS_TIME}
	archFileSyscalls    = []uintptr{unix.SYS_NEWFSTATAT, unix.SYS_OPEN, unix.SYS_STAT, unix.SYS_LSTAT,
		unix.SYS_RENAME, unix.SYS_UNLINK, unix.SYS_MKDIR, unix.SYS_ACCESS, unix.SYS_READLINK}
)
