package crypto

import (
	"crypto/hkdf"
	"math/big"

	"rampart/ipc"
	"rampart/psa"
	"rampart/spe"
)

// PSA key derivation steps (psa_key_derivation_step_t).
const (
	stepSecret = 0x0101
	stepLabel  = 0x0201
	stepSalt   = 0x0202
	stepInfo   = 0x0203
	stepSeed   = 0x0204
)

// kdfOp is a multi-part HKDF (optionally fed by ECDH): its secret, salt and
// info and the output stream stay in the SPE.
type kdfOp struct {
	alg       psa.Algorithm // as set up: HKDF(h) or KEY_AGREEMENT(ECDH, HKDF(h))
	kdf       psa.Algorithm // HKDF(h)
	agreement bool
	salt      []byte
	secret    []byte
	info      []byte
	have      map[uint32]bool
	capacity  uint64 // what may still be output
	stream    []byte // the output, computed at the first output call
	pos       int
}

// kdfOf splits a key derivation or key agreement algorithm.
func kdfOf(alg psa.Algorithm) (kdf psa.Algorithm, agreement bool, st ipc.Status) {
	switch {
	case alg.IsKeyDerivation():
		kdf = alg
	case alg.IsKeyAgreement():
		if alg&0xffff0000 != psa.AlgECDH&0xffff0000 {
			return 0, true, ipc.ErrNotSupported
		}
		kdf = alg&0xfe00ffff | 0x08000000
		if kdf == 0x08000000 {
			return 0, true, ipc.ErrInvalidArgument // a raw key agreement: psa_raw_key_agreement's
		}
		agreement = true
	default:
		return 0, false, ipc.ErrInvalidArgument
	}
	if kdf&^0xff != psa.AlgHKDF(0) {
		return 0, agreement, ipc.ErrNotSupported
	}
	if kdf.Hash().CryptoHash() == 0 {
		return 0, agreement, ipc.ErrNotSupported
	}
	return kdf, agreement, ipc.Success
}

func (s *Service) kdfSetup(m *spe.Message) ipc.Status {
	hd, st := header(m)
	if st != ipc.Success || m.NumIn() != 1 {
		return ipc.ErrInvalidArgument
	}
	kdf, agreement, st := kdfOf(hd.Alg)
	if st != ipc.Success {
		return st
	}
	k := &kdfOp{alg: hd.Alg, kdf: kdf, agreement: agreement, have: map[uint32]bool{},
		capacity: uint64(255 * kdf.Hash().CryptoHash().Size())}
	return s.startOp(m, &operation{kind: opKDF, k: k})
}

// input takes one step's data, in the order HKDF requires: salt before
// secret, each step once, info any time before output.
func (k *kdfOp) input(step uint32, data []byte) ipc.Status {
	switch step {
	case stepSalt, stepSecret, stepInfo:
	default:
		return ipc.ErrInvalidArgument
	}
	if k.have[step] || k.stream != nil || (step == stepSalt && k.have[stepSecret]) {
		return ipc.ErrBadState
	}
	k.have[step] = true
	d := append([]byte(nil), data...)
	switch step {
	case stepSalt:
		k.salt = d
	case stepSecret:
		k.secret = d
	case stepInfo:
		k.info = d
	}
	return ipc.Success
}

func (s *Service) kdfCall(m *spe.Message, id uint32, o *operation, hd psa.CryptoHeader) ipc.Status {
	k := o.k
	switch psa.Op(m.Type) {
	case psa.OpKDFAbort:
		s.ops.remove(m.Session, id)
		k.wipe()
		return ipc.Success
	case psa.OpKDFGetCapacity:
		return m.Write(0, psa.AppendUint64(nil, k.capacity))
	case psa.OpKDFSetCapacity:
		if m.NumIn() != 2 {
			return ipc.ErrInvalidArgument
		}
		c, err := psa.ParseUint64(m.InVec(1))
		if err != nil || c > k.capacity {
			return ipc.ErrInvalidArgument
		}
		k.capacity = c
		return ipc.Success
	case psa.OpKDFInputBytes:
		if m.NumIn() != 3 {
			return ipc.ErrInvalidArgument
		}
		step, err := psa.ParseUint32(m.InVec(1))
		if err != nil {
			return ipc.ErrInvalidArgument
		}
		return k.input(step, m.InVec(2))
	case psa.OpKDFInputKey, psa.OpKDFKeyAgreement:
		agree := psa.Op(m.Type) == psa.OpKDFKeyAgreement
		if m.NumIn() != 2+b2i(agree) {
			return ipc.ErrInvalidArgument
		}
		step, err := psa.ParseUint32(m.InVec(1))
		if err != nil {
			return ipc.ErrInvalidArgument
		}
		sl, st := s.key(m, hd.Key)
		if st != ipc.Success {
			return st
		}
		if st := sl.use(psa.UsageDerive, k.alg); st != ipc.Success {
			return st
		}
		if !agree {
			if step != stepSecret || sl.attr.Type != psa.KeyTypeDerive {
				return ipc.ErrInvalidArgument // only the secret comes from a key, a DERIVE key
			}
			return k.input(step, sl.material)
		}
		if !k.agreement {
			return ipc.ErrInvalidArgument
		}
		if step != stepSecret {
			return ipc.ErrInvalidArgument
		}
		if sl.ecdh == nil {
			return ipc.ErrInvalidArgument
		}
		peer, err := sl.ecdh.Curve().NewPublicKey(m.InVec(2))
		if err != nil {
			return ipc.ErrInvalidArgument
		}
		secret, err := sl.ecdh.ECDH(peer)
		if err != nil {
			return ipc.ErrInvalidArgument
		}
		defer clear(secret)
		return k.input(stepSecret, secret)
	case psa.OpKDFOutputBytes:
		if len(m.OutSize) != 1 {
			return ipc.ErrInvalidArgument
		}
		out, st := k.output(int(m.OutSize[0]))
		if st != ipc.Success {
			return st
		}
		return m.Write(0, out)
	case psa.OpKDFOutputKey:
		attr, st := checkNewAttributes(hd.Attributes)
		if st != ipc.Success {
			return st
		}
		switch t := attr.Type; {
		case t == psa.KeyTypeAES, t == psa.KeyTypeHMAC, t == psa.KeyTypeDerive, t == psa.KeyTypeRawData, t == psa.KeyTypeChaCha20:
		case t.IsPublicKey():
			return ipc.ErrInvalidArgument // a public key is never derived
		case t == typeSECPPair:
			if attr.Bits != 256 && attr.Bits != 384 {
				return ipc.ErrInvalidArgument
			}
			if !k.have[stepSecret] || !k.have[stepInfo] {
				return ipc.ErrBadState
			}
			scalar, st := k.eccScalar(attr.Bits)
			if st != ipc.Success {
				return st
			}
			return s.create(m, attr, scalar)
		default:
			return ipc.ErrNotSupported
		}
		if attr.Bits <= 0 || attr.Bits%8 != 0 {
			return ipc.ErrInvalidArgument
		}
		if !k.have[stepSecret] || !k.have[stepInfo] {
			return ipc.ErrBadState
		}
		material, st := k.output(attr.Bits / 8)
		if st != ipc.Success {
			return st
		}
		return s.create(m, attr, material)
	}
	return ipc.ErrNotSupported
}

// output returns the next n bytes of the stream. Asking for more than the
// capacity left answers INSUFFICIENT_DATA and leaves no capacity (PSA 1.0).
func (k *kdfOp) output(n int) ([]byte, ipc.Status) {
	if !k.have[stepSecret] || !k.have[stepInfo] {
		return nil, ipc.ErrBadState
	}
	if uint64(n) > k.capacity {
		k.capacity = 0
		return nil, ipc.ErrInsufficientData
	}
	if k.stream == nil {
		h := k.kdf.Hash().CryptoHash()
		total := int(k.capacity) // the capacity at the first output bounds every later one
		if total == 0 {
			k.stream = []byte{}
		} else {
			out, err := hkdf.Key(h.New, k.secret, k.salt, string(k.info), total)
			if err != nil {
				return nil, ipc.ErrInvalidArgument
			}
			k.stream = out
		}
		clear(k.secret)
	}
	out := append([]byte(nil), k.stream[k.pos:k.pos+n]...)
	clear(k.stream[k.pos : k.pos+n]) // what was output is not kept
	k.pos += n
	k.capacity -= uint64(n)
	return out, ipc.Success
}

func (k *kdfOp) wipe() {
	clear(k.secret)
	clear(k.stream)
}

// eccScalar derives a SECP R1 private key as the PSA Crypto API specifies
// for Weierstrass curves: draw ceil(bits/8) bytes, read them big-endian as
// k, draw again while k > n-2, and output k+1.
func (k *kdfOp) eccScalar(bits int) ([]byte, ipc.Status) {
	curve, _ := secpCurve(bits / 8)
	n := curve.Params().N
	max := new(big.Int).Sub(n, big.NewInt(2))
	for {
		b, st := k.output(bits / 8)
		if st != ipc.Success {
			return nil, st
		}
		v := new(big.Int).SetBytes(b)
		clear(b)
		if v.Cmp(max) > 0 {
			continue
		}
		v.Add(v, big.NewInt(1))
		out := v.FillBytes(make([]byte, bits/8))
		v.SetInt64(0)
		return out, ipc.Success
	}
}
