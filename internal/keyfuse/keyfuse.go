// Package keyfuse is the one rule that names a release key's state from
// its one-way fuse bits (docs/boot.md §7a). The bootloader (boot) programs
// the fuses and refuses images by this rule; the attestation token (attest)
// reports the same fuses and the fleet reads key states from them. The two
// sides may not import each other, so the rule lives here, below both.
//
// It holds no state and decides no policy beyond naming: which key is
// trusted for what stays with its callers. It must never import a Rampart
// package.
package keyfuse

// MaxKeys bounds a provisioned key set: one bit per key in each word.
const MaxKeys = 32

// Words are the four fuse words, one bit per key by its index. Both
// boot.KeyFuses and attest.KeyFuses convert to it (same fields; only their
// JSON tags differ).
type Words struct {
	Pending   uint32
	Activated uint32
	Retiring  uint32
	Revoked   uint32
}

// Usable reports whether key k may sign images that boot: in range, not
// revoked, and not pending unless activated.
func (w Words) Usable(k int) bool {
	if k < 0 || k >= MaxKeys {
		return false
	}
	b := uint32(1) << uint(k)
	return w.Revoked&b == 0 && (w.Pending&b == 0 || w.Activated&b != 0)
}

// Status names key k's state: active, pending, retiring or revoked, or
// invalid for an index out of range.
func (w Words) Status(k int) string {
	if k < 0 || k >= MaxKeys {
		return "invalid"
	}
	b := uint32(1) << uint(k)
	switch {
	case w.Revoked&b != 0:
		return "revoked"
	case w.Pending&b != 0 && w.Activated&b == 0:
		return "pending"
	case w.Retiring&b != 0:
		return "retiring"
	}
	return "active"
}
