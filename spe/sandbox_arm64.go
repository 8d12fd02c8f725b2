//go:build linux

package spe

import "golang.org/x/sys/unix"

// arm64 has only the *at family (and fstatat for newfstatat).
var (
	archRuntimeSyscalls = []uintptr{}
	archFileSyscalls    = []uintptr{unix.SYS_FSTATAT}
)
