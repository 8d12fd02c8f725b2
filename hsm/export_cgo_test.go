//go:build cgo

package hsm

// DropSessionForTest closes the key's session under it, as a token that
// restarted would.
func DropSessionForTest(k *Key) { k.mod.ctx.CloseSession(k.sess) }
