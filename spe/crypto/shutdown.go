package crypto

import (
	"math/big"

	"rampart/ipc"
)

// Shutdown is decommissioning in the running SPE: it overwrites the
// material of every key slot in memory (volatile keys and cached persistent
// keys), drops their parsed forms and the key-store sealing key, ends every
// multi-part operation, and makes every later call answer
// PSA_ERROR_BAD_STATE, so nothing a client asks for can reach a key again,
// not even a persistent key whose file has not been shredded yet.
//
// Within Go this is the best that can be done: the buffers Rampart owns are
// zeroed, but copies the standard library made inside its own types (AES key
// schedules, HMAC pads, the FIPS module's copies of EC and RSA keys) can
// only be dropped for the garbage collector.
// Server.Retire calls Shutdown once no call of the service is running;
// calling it directly while calls run is a data race. It is idempotent.
func (s *Service) Shutdown() {
	s.down.Store(true)
	s.keys.shutdown()
	s.ops.shutdown()
}

// down answers every call once the service is shut down.
func (s *Service) refuseIfDown() ipc.Status {
	if s.down.Load() {
		return ipc.ErrBadState
	}
	return ipc.Success
}

func (st *store) shutdown() {
	st.createMu.Lock()
	defer st.createMu.Unlock()
	st.mu.Lock()
	defer st.mu.Unlock()
	for r, sl := range st.slots {
		sl.wipe()
		delete(st.slots, r)
	}
	st.volatile = 0
	clear(st.usage)
	st.aead = nil
	st.dir = ""
	st.down = true
}

func (o *operations) shutdown() {
	o.mu.Lock()
	defer o.mu.Unlock()
	clear(o.ops)
}

// wipe overwrites the slot's key material (and the Ed25519 and RSA secret
// numbers its parsed forms hold), and drops the parsed forms. An ECDSA or
// ECDH key's scalar lives inside the standard library's own types and is
// only dropped.
func (sl *slot) wipe() {
	clear(sl.material)
	clear(sl.ed)
	if sl.rsa != nil {
		wipeInt(sl.rsa.D)
		for _, p := range sl.rsa.Primes {
			wipeInt(p)
		}
		wipeInt(sl.rsa.Precomputed.Dp)
		wipeInt(sl.rsa.Precomputed.Dq)
		wipeInt(sl.rsa.Precomputed.Qinv)
	}
	sl.material, sl.block, sl.ecdsa, sl.ecdsaP, sl.ecdh, sl.x25519P = nil, nil, nil, nil, nil, nil
	sl.ed, sl.edP, sl.rsa, sl.rsaP = nil, nil, nil, nil
}

func wipeInt(n *big.Int) {
	if n != nil {
		clear(n.Bits())
		n.SetInt64(0)
	}
}
