package spe

import "golang.org/x/sys/unix"

// HardenProcess makes the SPE's process non-dumpable: no core dump (with
// the keys in it) is written, and processes of the SPE's own user that lack
// CAP_SYS_PTRACE can neither attach a debugger to it nor read its memory or
// environment through /proc. `rampart spe serve` calls it before loading any
// key. Processes of other users were already kept out by the kernel.
func HardenProcess() error {
	return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}
