package crypto

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/subtle"
	"hash"
	"sync"

	"rampart/ipc"
	"rampart/psa"
	"rampart/spe"
)

// maxOpsPerSession bounds the multi-part operations one connection may
// hold open at once.
const maxOpsPerSession = 32

type opKind int

const (
	opHash opKind = iota
	opMACSign
	opMACVerify
	opCipher
	opAEAD
	opKDF
)

// operation is an open multi-part operation. It belongs to one session and
// is only ever touched by that session's calls, which arrive one at a time.
type operation struct {
	kind   opKind
	h      hash.Hash
	tagLen int
	c      *cipherOp // opCipher
	a      *aeadOp   // opAEAD
	k      *kdfOp    // opKDF
}

type opRef struct {
	session uint64
	id      uint32
}

// operations holds the open multi-part operations of every session.
type operations struct {
	mu   sync.Mutex
	ops  map[opRef]*operation
	next uint32
}

func (o *operations) add(session uint64, op *operation) (uint32, ipc.Status) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ops == nil {
		o.ops = map[opRef]*operation{}
	}
	n := 0
	for r := range o.ops {
		if r.session == session {
			n++
		}
	}
	if n >= maxOpsPerSession {
		return 0, ipc.ErrInsufficientMemory
	}
	for {
		o.next++
		if o.next == 0 {
			continue
		}
		r := opRef{session, o.next}
		if o.ops[r] == nil {
			o.ops[r] = op
			return o.next, ipc.Success
		}
	}
}

func (o *operations) get(session uint64, id uint32) *operation {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.ops[opRef{session, id}]
}

func (o *operations) remove(session uint64, id uint32) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.ops[opRef{session, id}]
	delete(o.ops, opRef{session, id})
	return ok
}

func (o *operations) endSession(session uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for r := range o.ops {
		if r.session == session {
			delete(o.ops, r)
		}
	}
}

func (o *operations) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.ops)
}

// cmacHash is AES-CMAC as a streaming hash.Hash: it holds back the last
// (possibly full) block until Sum, which needs to know whether it was full.
type cmacHash struct {
	b       cipher.Block
	x       [16]byte
	pending []byte
}

func (c *cmacHash) Write(p []byte) (int, error) {
	n := len(p)
	for len(c.pending)+len(p) > 16 {
		k := copy(c.pending[len(c.pending):16], p)
		blk := c.pending[:16]
		p = p[k:]
		subtle.XORBytes(c.x[:], c.x[:], blk)
		c.b.Encrypt(c.x[:], c.x[:])
		c.pending = c.pending[:0]
	}
	c.pending = append(c.pending, p...)
	return n, nil
}

func (c *cmacHash) Sum(in []byte) []byte {
	t := cmacFinish(c.b, c.x, c.pending)
	return append(in, t[:]...)
}

func (c *cmacHash) Reset()         { c.x, c.pending = [16]byte{}, c.pending[:0] }
func (c *cmacHash) Size() int      { return 16 }
func (c *cmacHash) BlockSize() int { return 16 }

func newCMACHash(b cipher.Block) *cmacHash { return &cmacHash{b: b, pending: make([]byte, 0, 16)} }

// multipart runs the setup, update, finish, verify and abort calls.
func (s *Service) multipart(m *spe.Message) ipc.Status {
	switch op := psa.Op(m.Type); op {
	case psa.OpCipherEncryptSetup, psa.OpCipherDecryptSetup:
		return s.cipherSetup(m, op == psa.OpCipherEncryptSetup)
	case psa.OpAEADEncryptSetup, psa.OpAEADDecryptSetup:
		return s.aeadSetup(m, op == psa.OpAEADEncryptSetup)
	case psa.OpKDFSetup:
		return s.kdfSetup(m)
	case psa.OpHashSetup:
		hd, st := header(m)
		if st != ipc.Success || m.NumIn() != 1 {
			return ipc.ErrInvalidArgument
		}
		alg := hd.Alg
		if !alg.IsHash() {
			return ipc.ErrInvalidArgument
		}
		h := alg.CryptoHash()
		if h == 0 {
			return ipc.ErrNotSupported
		}
		return s.startOp(m, &operation{kind: opHash, h: h.New()})
	case psa.OpMACSignSetup, psa.OpMACVerifySetup:
		hd, st := header(m)
		if st != ipc.Success || m.NumIn() != 1 {
			return ipc.ErrInvalidArgument
		}
		alg := hd.Alg
		if !alg.IsMAC() || alg&psa.AtLeastThisLengthFlag != 0 {
			return ipc.ErrInvalidArgument
		}
		sl, st := s.key(m, hd.Key)
		if st != ipc.Success {
			return st
		}
		kind, usage := opMACSign, psa.UsageSignMessage
		if op == psa.OpMACVerifySetup {
			kind, usage = opMACVerify, psa.UsageVerifyMessage
		}
		if st := sl.use(usage, alg); st != ipc.Success {
			return st
		}
		n := tagLen(alg)
		var h hash.Hash
		switch {
		case alg.IsHMAC():
			ch := alg.Hash().CryptoHash()
			if ch == 0 {
				return ipc.ErrNotSupported
			}
			if sl.attr.Type != psa.KeyTypeHMAC {
				return ipc.ErrInvalidArgument
			}
			h = hmac.New(ch.New, sl.material)
		case alg&^0x003f8000 == psa.AlgCMAC:
			if sl.block == nil {
				return ipc.ErrInvalidArgument
			}
			h = newCMACHash(sl.block)
		default:
			return ipc.ErrNotSupported
		}
		if n < 4 {
			return ipc.ErrNotSupported
		}
		if n > h.Size() {
			return ipc.ErrInvalidArgument
		}
		return s.startOp(m, &operation{kind: kind, h: h, tagLen: n})
	}
	hd, st := header(m)
	if st != ipc.Success {
		return st
	}
	id := uint32(hd.Operation)
	o := s.ops.get(m.Session, id)
	if o == nil {
		return ipc.ErrBadState
	}
	switch {
	case psa.Op(m.Type) == psa.OpHashClone:
		return s.hashClone(m, o)
	case o.kind == opCipher || o.kind == opAEAD || o.kind == opKDF:
		want := map[opKind]bool{opCipher: cipherOps[psa.Op(m.Type)], opAEAD: aeadOps[psa.Op(m.Type)], opKDF: kdfOps[psa.Op(m.Type)]}
		if !want[o.kind] {
			return ipc.ErrBadState
		}
		switch o.kind {
		case opCipher:
			return s.cipherCall(m, id, o)
		case opAEAD:
			return s.aeadCall(m, id, o)
		}
		return s.kdfCall(m, id, o, hd)
	}
	want := opHash
	switch psa.Op(m.Type) {
	case psa.OpMACUpdate, psa.OpMACAbort:
		want = o.kind
		if o.kind == opHash {
			return ipc.ErrBadState
		}
	case psa.OpMACSignFinish:
		want = opMACSign
	case psa.OpMACVerifyFinish:
		want = opMACVerify
	}
	if o.kind != want {
		return ipc.ErrBadState
	}
	switch psa.Op(m.Type) {
	case psa.OpHashUpdate, psa.OpMACUpdate:
		if m.NumIn() != 2 {
			return ipc.ErrInvalidArgument
		}
		o.h.Write(m.InVec(1))
		return ipc.Success
	case psa.OpHashAbort, psa.OpMACAbort:
		s.ops.remove(m.Session, id)
		return ipc.Success
	case psa.OpHashFinish, psa.OpMACSignFinish:
		sum := o.h.Sum(nil)
		if o.kind != opHash {
			sum = sum[:o.tagLen]
		}
		if st := m.Write(0, sum); st != ipc.Success {
			return st // PSA: a too-small buffer leaves the operation active
		}
		s.ops.remove(m.Session, id)
		return ipc.Success
	case psa.OpHashVerify, psa.OpMACVerifyFinish:
		s.ops.remove(m.Session, id)
		sum := o.h.Sum(nil)
		if o.kind != opHash {
			sum = sum[:o.tagLen]
		}
		if m.NumIn() != 2 {
			return ipc.ErrInvalidArgument
		}
		if subtle.ConstantTimeCompare(sum, m.InVec(1)) != 1 {
			return ipc.ErrInvalidSignature
		}
		return ipc.Success
	}
	return ipc.ErrNotSupported
}

func (s *Service) startOp(m *spe.Message, o *operation) ipc.Status {
	id, st := s.ops.add(m.Session, o)
	if st != ipc.Success {
		return st
	}
	if st := m.Write(0, psa.AppendUint32(nil, id)); st != ipc.Success {
		s.ops.remove(m.Session, id)
		return st
	}
	return ipc.Success
}

// hashClone starts a copy of hash operation o (psa_hash_clone) in the same
// session: every hash the service offers is a hash.Cloner.
func (s *Service) hashClone(m *spe.Message, o *operation) ipc.Status {
	if o.kind != opHash {
		return ipc.ErrBadState
	}
	c, ok := o.h.(hash.Cloner)
	if !ok {
		return ipc.ErrNotSupported
	}
	nh, err := c.Clone()
	if err != nil {
		return ipc.ErrNotSupported
	}
	return s.startOp(m, &operation{kind: opHash, h: nh})
}

// The calls each kind of operation takes after its setup.
var (
	cipherOps = map[psa.Op]bool{psa.OpCipherGenerateIV: true, psa.OpCipherSetIV: true, psa.OpCipherUpdate: true,
		psa.OpCipherFinish: true, psa.OpCipherAbort: true}
	aeadOps = map[psa.Op]bool{psa.OpAEADGenerateNonce: true, psa.OpAEADSetNonce: true, psa.OpAEADSetLengths: true,
		psa.OpAEADUpdateAD: true, psa.OpAEADUpdate: true, psa.OpAEADFinish: true, psa.OpAEADVerify: true, psa.OpAEADAbort: true}
	kdfOps = map[psa.Op]bool{psa.OpKDFSetCapacity: true, psa.OpKDFGetCapacity: true, psa.OpKDFInputBytes: true,
		psa.OpKDFInputKey: true, psa.OpKDFKeyAgreement: true, psa.OpKDFOutputBytes: true, psa.OpKDFOutputKey: true,
		psa.OpKDFAbort: true}
)
