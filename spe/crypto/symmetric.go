package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/subtle"
	"io"

	"golang.org/x/crypto/chacha20poly1305"

	"rampart/ipc"
	"rampart/psa"
	"rampart/spe"
)

func (s *Service) hashCompute(m *spe.Message) ipc.Status {
	hd, st := header(m)
	if st != ipc.Success || m.NumIn() != 2 {
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
	hh := h.New()
	hh.Write(m.InVec(1))
	return m.Write(0, hh.Sum(nil))
}

// computeMAC returns the untruncated MAC of input under sl with alg.
func computeMAC(sl *slot, alg psa.Algorithm, input []byte) ([]byte, ipc.Status) {
	switch {
	case alg.IsHMAC():
		h := alg.Hash().CryptoHash()
		if h == 0 {
			return nil, ipc.ErrNotSupported
		}
		if sl.attr.Type != psa.KeyTypeHMAC {
			return nil, ipc.ErrInvalidArgument
		}
		mac := hmac.New(h.New, sl.material)
		mac.Write(input)
		return mac.Sum(nil), ipc.Success
	case alg&^0x003f8000 == psa.AlgCMAC:
		if sl.block == nil {
			return nil, ipc.ErrInvalidArgument
		}
		t := cmac(sl.block, input)
		return t[:], ipc.Success
	}
	return nil, ipc.ErrNotSupported
}

func (s *Service) mac(m *spe.Message, verify bool) ipc.Status {
	hd, st := header(m)
	if st != ipc.Success || m.NumIn() != 2+b2i(verify) {
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
	usage := psa.UsageSignMessage
	if verify {
		usage = psa.UsageVerifyMessage
	}
	if st := sl.use(usage, alg); st != ipc.Success {
		return st
	}
	full, st := computeMAC(sl, alg, m.InVec(1))
	if st != ipc.Success {
		return st
	}
	n := tagLen(alg)
	if n < 4 {
		return ipc.ErrNotSupported // PSA: a truncation under the implementation's minimum
	}
	if n > len(full) {
		return ipc.ErrInvalidArgument
	}
	if !verify {
		return m.Write(0, full[:n])
	}
	if subtle.ConstantTimeCompare(full[:n], m.InVec(2)) != 1 {
		return ipc.ErrInvalidSignature
	}
	return ipc.Success
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *Service) cipher(m *spe.Message, encrypt bool) ipc.Status {
	hd, st := header(m)
	if st != ipc.Success || m.NumIn() != 2 {
		return ipc.ErrInvalidArgument
	}
	alg := hd.Alg
	if alg != psa.AlgCTR && alg != psa.AlgCBCPKCS7 && alg != psa.AlgCBCNoPad {
		if alg.IsCipher() {
			return ipc.ErrNotSupported
		}
		return ipc.ErrInvalidArgument
	}
	sl, st := s.key(m, hd.Key)
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
	if sl.block == nil {
		return ipc.ErrInvalidArgument
	}
	in := m.InVec(1)
	if encrypt {
		var pt []byte
		switch alg {
		case psa.AlgCBCPKCS7:
			pad := aes.BlockSize - len(in)%aes.BlockSize
			pt = append(append(make([]byte, 0, len(in)+pad), in...), make([]byte, pad)...)
			for i := len(in); i < len(pt); i++ {
				pt[i] = byte(pad)
			}
		case psa.AlgCBCNoPad:
			if len(in)%aes.BlockSize != 0 {
				return ipc.ErrInvalidArgument
			}
			pt = in
		default:
			pt = in
		}
		out := make([]byte, aes.BlockSize+len(pt))
		if _, err := io.ReadFull(s.rand, out[:aes.BlockSize]); err != nil {
			return ipc.ErrInsufficientEntropy
		}
		if alg == psa.AlgCTR {
			cipher.NewCTR(sl.block, out[:aes.BlockSize]).XORKeyStream(out[aes.BlockSize:], pt)
		} else {
			cipher.NewCBCEncrypter(sl.block, out[:aes.BlockSize]).CryptBlocks(out[aes.BlockSize:], pt)
		}
		return m.Write(0, out)
	}
	if len(in) < aes.BlockSize {
		return ipc.ErrInvalidArgument
	}
	iv, ct := in[:aes.BlockSize], in[aes.BlockSize:]
	out := make([]byte, len(ct))
	if alg == psa.AlgCTR {
		cipher.NewCTR(sl.block, iv).XORKeyStream(out, ct)
		return m.Write(0, out)
	}
	if len(ct)%aes.BlockSize != 0 || (alg == psa.AlgCBCPKCS7 && len(ct) == 0) {
		return ipc.ErrInvalidArgument
	}
	cipher.NewCBCDecrypter(sl.block, iv).CryptBlocks(out, ct)
	if alg == psa.AlgCBCPKCS7 {
		pad := int(out[len(out)-1])
		bad := subtle.ConstantTimeLessOrEq(1, pad) & subtle.ConstantTimeLessOrEq(pad, aes.BlockSize)
		if bad == 1 {
			for i := len(out) - pad; i < len(out); i++ {
				bad &= subtle.ConstantTimeByteEq(out[i], byte(pad))
			}
		}
		if bad != 1 {
			return ipc.ErrInvalidPadding
		}
		out = out[:len(out)-pad]
	}
	return m.Write(0, out)
}

func (s *Service) aead(m *spe.Message, encrypt bool) ipc.Status {
	hd, st := header(m)
	if st != ipc.Success || m.NumIn() != 3 {
		return ipc.ErrInvalidArgument
	}
	alg := hd.Alg
	if !alg.IsAEAD() || alg&psa.AtLeastThisLengthFlag != 0 {
		return ipc.ErrInvalidArgument
	}
	sl, st := s.key(m, hd.Key)
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
	nonce, aad, in := hd.Nonce, m.InVec(1), m.InVec(2)
	tag := alg.TagLength()
	base := psa.AlgAEADWithShortenedTag(alg, 16)
	var out []byte
	var err error
	switch base {
	case psa.AlgGCM:
		if sl.block == nil {
			return ipc.ErrInvalidArgument
		}
		if len(nonce) == 0 || (tag != 4 && tag != 8 && (tag < 12 || tag > 16)) {
			return ipc.ErrInvalidArgument
		}
		out, err = gcm(sl.block, encrypt, nonce, aad, in, tag)
	case psa.AlgCCM:
		if sl.block == nil {
			return ipc.ErrInvalidArgument
		}
		if ccmCheck(nonce, tag, 0) != nil {
			return ipc.ErrInvalidArgument
		}
		if encrypt {
			out, err = ccmSeal(sl.block, nonce, aad, in, tag)
			if err != nil {
				return ipc.ErrInvalidArgument
			}
		} else {
			out, err = ccmOpen(sl.block, nonce, aad, in, tag)
		}
	case psa.AlgChaCha20Poly1305:
		if sl.attr.Type != psa.KeyTypeChaCha20 {
			return ipc.ErrInvalidArgument
		}
		if len(nonce) != chacha20poly1305.NonceSize || tag != 16 {
			return ipc.ErrInvalidArgument
		}
		a, _ := chacha20poly1305.New(sl.material)
		if encrypt {
			out = a.Seal(nil, nonce, in, aad)
		} else {
			out, err = a.Open(nil, nonce, in, aad)
		}
	default:
		return ipc.ErrNotSupported
	}
	if err != nil {
		return ipc.ErrInvalidSignature
	}
	return m.Write(0, out)
}

// gcm seals or opens with AES-GCM for any nonce length and a tag of tagLen
// bytes. Go's GCM offers either a custom nonce size or a custom tag size,
// not both, so shorter tags are handled here: sealing truncates the full tag;
// opening recovers the plaintext from the keystream (the encryption of
// zeros, which does not depend on the AAD), recomputes the full tag and
// compares its prefix in constant time before releasing anything.
func gcm(b cipher.Block, encrypt bool, nonce, aad, in []byte, tagLen int) ([]byte, error) {
	var g cipher.AEAD
	var err error
	if len(nonce) == 12 {
		g, err = cipher.NewGCM(b)
	} else {
		g, err = cipher.NewGCMWithNonceSize(b, len(nonce))
	}
	if err != nil {
		return nil, err
	}
	if encrypt {
		out := g.Seal(nil, nonce, in, aad)
		return out[:len(in)+tagLen], nil
	}
	if tagLen == 16 {
		return g.Open(nil, nonce, in, aad)
	}
	if len(in) < tagLen {
		return nil, errCCMAuth
	}
	n := len(in) - tagLen
	ks := g.Seal(nil, nonce, make([]byte, n), nil)[:n]
	pt := make([]byte, n)
	subtle.XORBytes(pt, in[:n], ks)
	full := g.Seal(nil, nonce, pt, aad)
	if subtle.ConstantTimeCompare(full[n:n+tagLen], in[n:]) != 1 {
		clear(pt)
		return nil, errCCMAuth
	}
	return pt, nil
}

func (s *Service) derive(m *spe.Message, toKey bool) ipc.Status {
	hd, st := header(m)
	if st != ipc.Success || m.NumIn() != 3 {
		return ipc.ErrInvalidArgument
	}
	alg := hd.Alg
	if !alg.IsKeyDerivation() {
		return ipc.ErrInvalidArgument
	}
	sl, st := s.key(m, hd.Key)
	if st != ipc.Success {
		return st
	}
	if st := sl.use(psa.UsageDerive, alg); st != ipc.Success {
		return st
	}
	if sl.attr.Type != psa.KeyTypeDerive {
		return ipc.ErrInvalidArgument
	}
	h := alg.Hash().CryptoHash()
	if alg&^0xff != psa.AlgHKDF(0) || h == 0 {
		return ipc.ErrNotSupported
	}
	var attr psa.KeyAttributes
	length := 0
	if toKey {
		if attr, st = checkNewAttributes(hd.Attributes); st != ipc.Success {
			return st
		}
		switch attr.Type {
		case psa.KeyTypeAES, psa.KeyTypeHMAC, psa.KeyTypeDerive, psa.KeyTypeRawData, psa.KeyTypeChaCha20:
		default:
			return ipc.ErrNotSupported
		}
		if attr.Bits <= 0 || attr.Bits%8 != 0 {
			return ipc.ErrInvalidArgument
		}
		length = attr.Bits / 8
	} else {
		length = int(hd.Length)
	}
	if length > 255*h.Size() {
		return ipc.ErrInsufficientData
	}
	if length == 0 {
		if toKey {
			return ipc.ErrInvalidArgument
		}
		return m.Write(0, nil)
	}
	out, err := hkdf.Key(h.New, sl.material, m.InVec(1), string(m.InVec(2)), length)
	if err != nil {
		return ipc.ErrInvalidArgument
	}
	if toKey {
		return s.create(m, attr, out)
	}
	return m.Write(0, out)
}
