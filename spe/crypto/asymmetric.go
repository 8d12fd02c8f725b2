package crypto

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"math/big"

	"rampart/ipc"
	"rampart/psa"
	"rampart/spe"
)

// signInputs parses a sign or verify call and checks the policy; it returns
// the slot, the algorithm and the hash to sign (for a message, hashed here;
// for PureEdDSA, the message itself).
func (s *Service) signInputs(m *spe.Message, message, verify bool) (*slot, psa.Algorithm, []byte, ipc.Status) {
	hd, st := header(m)
	if st != ipc.Success || m.NumIn() != 2+b2i(verify) {
		return nil, 0, nil, ipc.ErrInvalidArgument
	}
	alg := hd.Alg
	if !alg.IsSign() || alg&0xff == 0xff {
		return nil, 0, nil, ipc.ErrInvalidArgument
	}
	sl, st := s.key(m, hd.Key)
	if st != ipc.Success {
		return nil, 0, nil, st
	}
	var usage psa.Usage
	switch {
	case message && verify:
		usage = psa.UsageVerifyMessage
	case message:
		usage = psa.UsageSignMessage
	case verify:
		usage = psa.UsageVerifyHash
	default:
		usage = psa.UsageSignHash
	}
	if st := sl.use(usage, alg); st != ipc.Success {
		return nil, 0, nil, st
	}
	if message && alg != psa.AlgPureEdDSA && alg.Hash() == psa.AlgNone {
		return nil, 0, nil, ipc.ErrInvalidArgument // a message needs a hash (PKCS1V15_SIGN_RAW, ECDSA_ANY)
	}
	// Signing needs a key pair (INVALID_ARGUMENT otherwise); verifying with
	// a key that is not asymmetric at all is NOT_SUPPORTED (psa-arch-tests
	// c041 and c042 ask for exactly these).
	if !verify && !sl.attr.Type.IsKeyPair() {
		return nil, 0, nil, ipc.ErrInvalidArgument
	}
	if verify && !sl.attr.Type.IsKeyPair() && !sl.attr.Type.IsPublicKey() {
		return nil, 0, nil, ipc.ErrNotSupported
	}
	in := m.InVec(1)
	if alg == psa.AlgPureEdDSA {
		if !message {
			return nil, 0, nil, ipc.ErrInvalidArgument
		}
		return sl, alg, in, ipc.Success
	}
	if !alg.IsHashAndSign() {
		return nil, 0, nil, ipc.ErrNotSupported
	}
	h := alg.Hash().CryptoHash()
	if h == 0 {
		if alg.Hash() == psa.AlgNone && message {
			return nil, 0, nil, ipc.ErrInvalidArgument // a message needs a hash (PKCS1V15_SIGN_RAW, ECDSA_ANY)
		}
		if alg.Hash() == psa.AlgNone && alg&^0xff == psa.AlgRSAPKCS1v15Sign(0) {
			return sl, alg, in, ipc.Success // PSA_ALG_RSA_PKCS1V15_SIGN_RAW
		}
		return nil, 0, nil, ipc.ErrNotSupported
	}
	if message {
		hh := h.New()
		hh.Write(in)
		return sl, alg, hh.Sum(nil), ipc.Success
	}
	if len(in) != h.Size() {
		return nil, 0, nil, ipc.ErrInvalidArgument
	}
	return sl, alg, in, ipc.Success
}

func (s *Service) sign(m *spe.Message, message bool) ipc.Status {
	sl, alg, digest, st := s.signInputs(m, message, false)
	if st != ipc.Success {
		return st
	}
	h := alg.Hash().CryptoHash()
	switch base := alg &^ 0xff; {
	case alg == psa.AlgPureEdDSA:
		if sl.ed == nil {
			return ipc.ErrInvalidArgument
		}
		return m.Write(0, ed25519.Sign(sl.ed, digest))
	case (base == psa.AlgECDSA(0) || base == psa.AlgDeterministicECDSA(0)) && inVault(sl.attr):
		raw, st := s.signInVault(sl, alg, digest)
		if st != ipc.Success {
			return st
		}
		return m.Write(0, raw)
	case base == psa.AlgECDSA(0) || base == psa.AlgDeterministicECDSA(0):
		if sl.ecdsa == nil {
			return ipc.ErrInvalidArgument
		}
		var der []byte
		var err error
		if base == psa.AlgDeterministicECDSA(0) {
			der, err = sl.ecdsa.Sign(nil, digest, h) // nil rand: RFC 6979
		} else {
			der, err = ecdsa.SignASN1(s.rand, sl.ecdsa, digest)
		}
		if err != nil {
			return ipc.ErrGenericError
		}
		raw, err := psa.ECDSASignatureFromASN1(der, (sl.attr.Bits+7)/8)
		if err != nil {
			return ipc.ErrGenericError
		}
		return m.Write(0, raw)
	case base == psa.AlgRSAPKCS1v15Sign(0):
		if sl.rsa == nil {
			return ipc.ErrInvalidArgument
		}
		sig, err := rsa.SignPKCS1v15(s.rand, sl.rsa, h, digest)
		if err != nil {
			return ipc.ErrInvalidArgument
		}
		return m.Write(0, sig)
	case base == psa.AlgRSAPSS(0):
		if sl.rsa == nil {
			return ipc.ErrInvalidArgument
		}
		sig, err := rsa.SignPSS(s.rand, sl.rsa, h, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		if err != nil {
			return ipc.ErrInvalidArgument
		}
		return m.Write(0, sig)
	}
	return ipc.ErrNotSupported
}

func (s *Service) verify(m *spe.Message, message bool) ipc.Status {
	sl, alg, digest, st := s.signInputs(m, message, true)
	if st != ipc.Success {
		return st
	}
	sig := m.InVec(2)
	h := alg.Hash().CryptoHash()
	ok := false
	switch base := alg &^ 0xff; {
	case alg == psa.AlgPureEdDSA:
		if sl.edP == nil {
			return ipc.ErrInvalidArgument
		}
		ok = len(sig) == ed25519.SignatureSize && ed25519.Verify(sl.edP, digest, sig)
	case base == psa.AlgECDSA(0) || base == psa.AlgDeterministicECDSA(0):
		if sl.ecdsaP == nil {
			return ipc.ErrInvalidArgument
		}
		n := (sl.attr.Bits + 7) / 8
		if len(sig) == 2*n {
			r := new(big.Int).SetBytes(sig[:n])
			ss := new(big.Int).SetBytes(sig[n:])
			ok = ecdsa.Verify(sl.ecdsaP, digest, r, ss)
		}
	case base == psa.AlgRSAPKCS1v15Sign(0):
		if sl.rsaP == nil {
			return ipc.ErrInvalidArgument
		}
		ok = rsa.VerifyPKCS1v15(sl.rsaP, h, digest, sig) == nil
	case base == psa.AlgRSAPSS(0) || base == psa.AlgRSAPSSAnySalt(0):
		if sl.rsaP == nil {
			return ipc.ErrInvalidArgument
		}
		salt := rsa.PSSSaltLengthEqualsHash
		if base == psa.AlgRSAPSSAnySalt(0) {
			salt = rsa.PSSSaltLengthAuto
		}
		ok = rsa.VerifyPSS(sl.rsaP, h, digest, sig, &rsa.PSSOptions{SaltLength: salt, Hash: h}) == nil
	default:
		return ipc.ErrNotSupported
	}
	if !ok {
		return ipc.ErrInvalidSignature
	}
	return ipc.Success
}

func (s *Service) asymmetric(m *spe.Message, encrypt bool) ipc.Status {
	hd, st := header(m)
	if st != ipc.Success || m.NumIn() != 3 {
		return ipc.ErrInvalidArgument
	}
	alg := hd.Alg
	sl, st := s.key(m, hd.Key)
	if !alg.IsAsymEncrypt() {
		if st == ipc.Success && sl.attr.Type != psa.KeyTypeRSAKeyPair && sl.attr.Type != psa.KeyTypeRSAPublicKey &&
			(sl.attr.Type.IsKeyPair() || sl.attr.Type.IsPublicKey()) {
			return ipc.ErrNotSupported // no encryption at all with this key type (psa-arch-tests c039)
		}
		return ipc.ErrInvalidArgument
	}
	if st != ipc.Success {
		return st
	}
	usage := psa.UsageDecrypt
	if encrypt {
		usage = psa.UsageEncrypt
	}
	if st := sl.use(usage, alg); st != ipc.Success {
		return st
	}
	in, label := m.InVec(1), m.InVec(2)
	switch t := sl.attr.Type; {
	case t == psa.KeyTypeRSAKeyPair || t == psa.KeyTypeRSAPublicKey:
	case t.IsKeyPair() || t.IsPublicKey():
		return ipc.ErrNotSupported // RSA is the only asymmetric encryption offered
	default:
		return ipc.ErrInvalidArgument // a symmetric key (psa-arch-tests c039, c040)
	}
	// PSA_ALG_RSA_PKCS1V15_CRYPT is in the PSA API (and psa-arch-tests) for
	// interoperability; its decryption is a padding oracle to whoever may call
	// it. Here that is only the key's owner (keys are per client, and the
	// policy must name this algorithm), who can decrypt anyway: a key made
	// for OAEP is never used with it.
	if alg == psa.AlgRSAPKCS1v15Crypt {
		if len(label) != 0 {
			return ipc.ErrInvalidArgument // PKCS#1 v1.5 takes no salt
		}
		if encrypt {
			if sl.rsaP == nil {
				return ipc.ErrInvalidArgument
			}
			//lint:ignore SA1019 PSA_ALG_RSA_PKCS1V15_CRYPT is a PSA algorithm (see above)
			out, err := rsa.EncryptPKCS1v15(s.rand, sl.rsaP, in)
			if err != nil {
				return ipc.ErrInvalidArgument
			}
			return m.Write(0, out)
		}
		if sl.rsa == nil {
			return ipc.ErrInvalidArgument
		}
		//lint:ignore SA1019 PSA_ALG_RSA_PKCS1V15_CRYPT is a PSA algorithm (see above)
		out, err := rsa.DecryptPKCS1v15(nil, sl.rsa, in)
		if err != nil {
			return ipc.ErrInvalidPadding
		}
		return m.Write(0, out)
	}
	h := alg.Hash().CryptoHash()
	if alg&^0xff != psa.AlgRSAOAEP(0) || h == 0 {
		return ipc.ErrNotSupported
	}
	if encrypt {
		if sl.rsaP == nil {
			return ipc.ErrInvalidArgument
		}
		out, err := rsa.EncryptOAEP(h.New(), s.rand, sl.rsaP, in, label)
		if err != nil {
			return ipc.ErrInvalidArgument
		}
		return m.Write(0, out)
	}
	if sl.rsa == nil {
		return ipc.ErrInvalidArgument
	}
	out, err := rsa.DecryptOAEP(h.New(), nil, sl.rsa, in, label)
	if err != nil {
		return ipc.ErrInvalidPadding
	}
	return m.Write(0, out)
}

func (s *Service) keyAgreement(m *spe.Message) ipc.Status {
	hd, st := header(m)
	if st != ipc.Success || m.NumIn() != 2 {
		return ipc.ErrInvalidArgument
	}
	alg := hd.Alg
	if !alg.IsKeyAgreement() {
		return ipc.ErrInvalidArgument
	}
	sl, st := s.key(m, hd.Key)
	if st != ipc.Success {
		return st
	}
	if st := sl.use(psa.UsageDerive, alg); st != ipc.Success {
		return st
	}
	if alg != psa.AlgECDH {
		return ipc.ErrNotSupported
	}
	if sl.ecdh == nil {
		return ipc.ErrInvalidArgument
	}
	peer, err := sl.ecdh.Curve().NewPublicKey(m.InVec(1))
	if err != nil {
		return ipc.ErrInvalidArgument
	}
	secret, err := sl.ecdh.ECDH(peer)
	if err != nil {
		return ipc.ErrInvalidArgument
	}
	return m.Write(0, secret)
}
