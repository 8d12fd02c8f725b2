//go:build linux && !amd64 && !arm64

package spe

// No filter is written for this architecture: SandboxProfile refuses to
// run rather than run unfiltered (auditArch is 0).
var archRuntimeSyscalls, archFileSyscalls []uintptr
