package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"io"

	"golang.org/x/crypto/chacha20poly1305"

	"rampart/ipc"
	"rampart/psa"
	"rampart/spe"
)

// maxAEADBuffer bounds what one multi-part AEAD operation holds: the
// service computes the AEAD at finish or verify over everything buffered
// (so decryption releases no plaintext before the tag is checked), and a
// client may not make it hold more than this.
const maxAEADBuffer = 1 << 20

// cipherOp is a multi-part AES-CTR or AES-CBC operation.
type cipherOp struct {
	alg     psa.Algorithm
	encrypt bool
	block   cipher.Block
	ctr     cipher.Stream    // CTR, once the IV is set
	cbc     cipher.BlockMode // CBC, once the IV is set
	pending []byte           // CBC: input not yet processed (under a block, or a held-back last block)
}

// aeadOp is a multi-part AEAD operation: it buffers and computes at the end.
type aeadOp struct {
	alg        psa.Algorithm
	base       psa.Algorithm // alg with the default tag
	tag        int
	encrypt    bool
	block      cipher.Block // AES
	key        []byte       // ChaCha20
	nonce      []byte
	lengths    bool
	adLen      uint64
	ptLen      uint64
	ad, data   []byte
	dataCalled bool
}

func (s *Service) streamSetupKey(m *spe.Message, encrypt bool) (psa.CryptoHeader, *slot, ipc.Status) {
	hd, st := header(m)
	if st != ipc.Success || m.NumIn() != 1 {
		return hd, nil, ipc.ErrInvalidArgument
	}
	sl, st := s.key(m, hd.Key)
	if st != ipc.Success {
		return hd, nil, st
	}
	usage := psa.UsageDecrypt
	if encrypt {
		usage = psa.UsageEncrypt
	}
	return hd, sl, sl.use(usage, hd.Alg)
}

// cipherSetup is psa_cipher_encrypt_setup and psa_cipher_decrypt_setup.
func (s *Service) cipherSetup(m *spe.Message, encrypt bool) ipc.Status {
	hd, st := header(m)
	if st != ipc.Success {
		return ipc.ErrInvalidArgument
	}
	if alg := hd.Alg; alg != psa.AlgCTR && alg != psa.AlgCBCPKCS7 && alg != psa.AlgCBCNoPad {
		if alg.IsCipher() {
			return ipc.ErrNotSupported
		}
		return ipc.ErrInvalidArgument
	}
	hd, sl, st := s.streamSetupKey(m, encrypt)
	if st != ipc.Success {
		return st
	}
	if sl.attr.Type != psa.KeyTypeAES {
		return ipc.ErrInvalidArgument
	}
	b, err := aes.NewCipher(sl.material)
	if err != nil {
		return ipc.ErrInvalidArgument
	}
	return s.startOp(m, &operation{kind: opCipher, c: &cipherOp{alg: hd.Alg, encrypt: encrypt, block: b}})
}

func (c *cipherOp) setIV(iv []byte) {
	if c.alg == psa.AlgCTR {
		c.ctr = cipher.NewCTR(c.block, iv)
	} else if c.encrypt {
		c.cbc = cipher.NewCBCEncrypter(c.block, iv)
	} else {
		c.cbc = cipher.NewCBCDecrypter(c.block, iv)
	}
}

func (c *cipherOp) ivSet() bool { return c.ctr != nil || c.cbc != nil }

// updateLen is how many bytes an update with n more input bytes outputs.
func (c *cipherOp) updateLen(n int) int {
	if c.ctr != nil {
		return n
	}
	total := len(c.pending) + n
	out := total - total%aes.BlockSize
	if !c.encrypt && c.alg == psa.AlgCBCPKCS7 && out == total && out > 0 {
		out -= aes.BlockSize // keep the last block: finish strips its padding
	}
	return out
}

// cipherCall runs generate_iv, set_iv, update, finish and abort of a cipher.
func (s *Service) cipherCall(m *spe.Message, id uint32, o *operation) ipc.Status {
	c := o.c
	switch psa.Op(m.Type) {
	case psa.OpCipherAbort:
		s.ops.remove(m.Session, id)
		return ipc.Success
	case psa.OpCipherGenerateIV:
		if !c.encrypt || c.ivSet() {
			return ipc.ErrBadState
		}
		if len(m.OutSize) != 1 || m.OutSize[0] < aes.BlockSize {
			return ipc.ErrBufferTooSmall
		}
		iv := make([]byte, aes.BlockSize)
		if _, err := io.ReadFull(s.rand, iv); err != nil {
			return ipc.ErrInsufficientEntropy
		}
		if st := m.Write(0, iv); st != ipc.Success {
			return st
		}
		c.setIV(iv)
		return ipc.Success
	case psa.OpCipherSetIV:
		if c.ivSet() {
			return ipc.ErrBadState
		}
		if m.NumIn() != 2 || len(m.InVec(1)) != aes.BlockSize {
			return ipc.ErrInvalidArgument
		}
		c.setIV(m.InVec(1))
		return ipc.Success
	case psa.OpCipherUpdate:
		if !c.ivSet() {
			return ipc.ErrBadState
		}
		if m.NumIn() != 2 || len(m.OutSize) != 1 {
			return ipc.ErrInvalidArgument
		}
		in := m.InVec(1)
		n := c.updateLen(len(in))
		if n > int(m.OutSize[0]) {
			return ipc.ErrBufferTooSmall
		}
		out := make([]byte, n)
		if c.ctr != nil {
			c.ctr.XORKeyStream(out, in)
			return m.Write(0, out)
		}
		buf := append(c.pending, in...)
		c.cbc.CryptBlocks(out, buf[:n])
		c.pending = append([]byte(nil), buf[n:]...)
		return m.Write(0, out)
	case psa.OpCipherFinish:
		if !c.ivSet() {
			return ipc.ErrBadState
		}
		if len(m.OutSize) != 1 {
			return ipc.ErrInvalidArgument
		}
		out, st := c.finish()
		if st != ipc.Success {
			s.ops.remove(m.Session, id)
			return st
		}
		if len(out) > int(m.OutSize[0]) {
			return ipc.ErrBufferTooSmall
		}
		s.ops.remove(m.Session, id)
		return m.Write(0, out)
	}
	return ipc.ErrNotSupported
}

// finish processes what CBC held back: padding it (encrypt, PKCS#7),
// checking and stripping the padding (decrypt, PKCS#7), or refusing a
// partial block (no padding).
func (c *cipherOp) finish() ([]byte, ipc.Status) {
	if c.ctr != nil {
		return nil, ipc.Success
	}
	switch {
	case c.alg == psa.AlgCBCNoPad:
		if len(c.pending) != 0 {
			return nil, ipc.ErrInvalidArgument
		}
		return nil, ipc.Success
	case c.encrypt:
		pad := aes.BlockSize - len(c.pending)
		blk := append(append([]byte(nil), c.pending...), make([]byte, pad)...)
		for i := len(c.pending); i < aes.BlockSize; i++ {
			blk[i] = byte(pad)
		}
		c.cbc.CryptBlocks(blk, blk)
		return blk, ipc.Success
	}
	if len(c.pending) != aes.BlockSize {
		return nil, ipc.ErrInvalidArgument
	}
	out := make([]byte, aes.BlockSize)
	c.cbc.CryptBlocks(out, c.pending)
	pad := int(out[aes.BlockSize-1])
	good := subtle.ConstantTimeLessOrEq(1, pad) & subtle.ConstantTimeLessOrEq(pad, aes.BlockSize)
	for i := 0; i < aes.BlockSize; i++ {
		in := subtle.ConstantTimeLessOrEq(aes.BlockSize-pad, i)
		eq := subtle.ConstantTimeByteEq(out[i], byte(pad))
		good &= eq | (in ^ 1)
	}
	if good != 1 {
		return nil, ipc.ErrInvalidPadding
	}
	return out[:aes.BlockSize-pad], ipc.Success
}

// aeadSetup is psa_aead_encrypt_setup and psa_aead_decrypt_setup.
func (s *Service) aeadSetup(m *spe.Message, encrypt bool) ipc.Status {
	hd, st := header(m)
	if st != ipc.Success {
		return ipc.ErrInvalidArgument
	}
	alg := hd.Alg
	if !alg.IsAEAD() || alg&psa.AtLeastThisLengthFlag != 0 {
		return ipc.ErrInvalidArgument
	}
	base := psa.AlgAEADWithShortenedTag(alg, 16)
	tag := alg.TagLength()
	switch base {
	case psa.AlgGCM:
		if tag != 4 && tag != 8 && (tag < 12 || tag > 16) {
			return ipc.ErrInvalidArgument
		}
	case psa.AlgCCM:
		if tag < 4 || tag > 16 || tag%2 != 0 {
			return ipc.ErrInvalidArgument
		}
	case psa.AlgChaCha20Poly1305:
		if tag != 16 {
			return ipc.ErrInvalidArgument
		}
	default:
		return ipc.ErrNotSupported
	}
	hd, sl, st := s.streamSetupKey(m, encrypt)
	if st != ipc.Success {
		return st
	}
	a := &aeadOp{alg: alg, base: base, tag: tag, encrypt: encrypt}
	switch {
	case base == psa.AlgChaCha20Poly1305 && sl.attr.Type == psa.KeyTypeChaCha20:
		a.key = append([]byte(nil), sl.material...)
	case base != psa.AlgChaCha20Poly1305 && sl.attr.Type == psa.KeyTypeAES:
		b, err := aes.NewCipher(sl.material)
		if err != nil {
			return ipc.ErrInvalidArgument
		}
		a.block = b
	default:
		return ipc.ErrInvalidArgument
	}
	return s.startOp(m, &operation{kind: opAEAD, a: a})
}

// nonceOK reports whether n bytes is a nonce the algorithm takes.
func (a *aeadOp) nonceOK(n int) bool {
	switch a.base {
	case psa.AlgGCM:
		return n > 0 && n <= 64
	case psa.AlgCCM:
		return n >= 7 && n <= 13
	}
	return n == chacha20poly1305.NonceSize
}

// defaultNonce is the length psa_aead_generate_nonce makes.
func (a *aeadOp) defaultNonce() int {
	if a.base == psa.AlgCCM {
		return 13
	}
	return 12
}

// aeadCall runs the calls after an AEAD setup.
func (s *Service) aeadCall(m *spe.Message, id uint32, o *operation) ipc.Status {
	a := o.a
	switch psa.Op(m.Type) {
	case psa.OpAEADAbort:
		s.ops.remove(m.Session, id)
		return ipc.Success
	case psa.OpAEADGenerateNonce:
		if !a.encrypt || a.nonce != nil {
			return ipc.ErrBadState
		}
		n := a.defaultNonce()
		if len(m.OutSize) != 1 || int(m.OutSize[0]) < n {
			return ipc.ErrBufferTooSmall
		}
		nonce := make([]byte, n)
		if _, err := io.ReadFull(s.rand, nonce); err != nil {
			return ipc.ErrInsufficientEntropy
		}
		if st := m.Write(0, nonce); st != ipc.Success {
			return st
		}
		a.nonce = nonce
		return ipc.Success
	case psa.OpAEADSetNonce:
		if a.nonce != nil {
			return ipc.ErrBadState
		}
		if m.NumIn() != 2 || !a.nonceOK(len(m.InVec(1))) {
			return ipc.ErrInvalidArgument
		}
		a.nonce = append([]byte(nil), m.InVec(1)...)
		return ipc.Success
	case psa.OpAEADSetLengths:
		if a.lengths || len(a.ad) > 0 || a.dataCalled {
			return ipc.ErrBadState
		}
		if m.NumIn() != 3 {
			return ipc.ErrInvalidArgument
		}
		adLen, err1 := psa.ParseUint64(m.InVec(1))
		ptLen, err2 := psa.ParseUint64(m.InVec(2))
		if err1 != nil || err2 != nil {
			return ipc.ErrInvalidArgument
		}
		if adLen > maxAEADBuffer || ptLen > maxAEADBuffer {
			return ipc.ErrNotSupported
		}
		if a.base == psa.AlgCCM && a.nonce != nil && ccmCheck(a.nonce, a.tag, int(ptLen)) != nil {
			return ipc.ErrInvalidArgument
		}
		a.lengths, a.adLen, a.ptLen = true, adLen, ptLen
		return ipc.Success
	case psa.OpAEADUpdateAD:
		if a.nonce == nil || a.dataCalled || (a.base == psa.AlgCCM && !a.lengths) {
			return ipc.ErrBadState
		}
		if m.NumIn() != 2 {
			return ipc.ErrInvalidArgument
		}
		in := m.InVec(1)
		if a.lengths && uint64(len(a.ad)+len(in)) > a.adLen {
			return ipc.ErrInvalidArgument
		}
		if len(a.ad)+len(a.data)+len(in) > maxAEADBuffer {
			return ipc.ErrInsufficientMemory
		}
		a.ad = append(a.ad, in...)
		return ipc.Success
	case psa.OpAEADUpdate:
		if a.nonce == nil || (a.base == psa.AlgCCM && !a.lengths) {
			return ipc.ErrBadState
		}
		if m.NumIn() != 2 || len(m.OutSize) != 1 {
			return ipc.ErrInvalidArgument
		}
		in := m.InVec(1)
		if a.lengths && (uint64(len(a.ad)) != a.adLen || uint64(len(a.data)+len(in)) > a.ptLen) {
			return ipc.ErrInvalidArgument
		}
		if len(a.ad)+len(a.data)+len(in) > maxAEADBuffer {
			return ipc.ErrInsufficientMemory
		}
		if int(m.OutSize[0]) < len(in) {
			return ipc.ErrBufferTooSmall // room for what a streaming implementation would output
		}
		a.dataCalled = true
		a.data = append(a.data, in...)
		return m.Write(0, nil) // released at finish (encrypt) or after the tag is checked (verify)
	case psa.OpAEADFinish:
		if !a.encrypt || a.nonce == nil {
			return ipc.ErrBadState
		}
		if len(m.OutSize) != 2 {
			return ipc.ErrInvalidArgument
		}
		if a.lengths && (uint64(len(a.ad)) != a.adLen || uint64(len(a.data)) != a.ptLen) {
			return ipc.ErrInvalidArgument
		}
		if int(m.OutSize[0]) < len(a.data) || int(m.OutSize[1]) < a.tag {
			return ipc.ErrBufferTooSmall
		}
		out, st := a.seal()
		s.ops.remove(m.Session, id)
		if st != ipc.Success {
			return st
		}
		n := len(out) - a.tag
		if st := m.Write(0, out[:n]); st != ipc.Success {
			return st
		}
		return m.Write(1, out[n:])
	case psa.OpAEADVerify:
		if a.encrypt || a.nonce == nil {
			return ipc.ErrBadState
		}
		if m.NumIn() != 2 || len(m.OutSize) != 1 {
			return ipc.ErrInvalidArgument
		}
		if a.lengths && (uint64(len(a.ad)) != a.adLen || uint64(len(a.data)) != a.ptLen) {
			return ipc.ErrInvalidArgument
		}
		if int(m.OutSize[0]) < len(a.data) {
			return ipc.ErrBufferTooSmall
		}
		tag := m.InVec(1)
		if len(tag) != a.tag {
			s.ops.remove(m.Session, id)
			return ipc.ErrInvalidSignature
		}
		pt, st := a.open(tag)
		s.ops.remove(m.Session, id)
		if st != ipc.Success {
			return st
		}
		return m.Write(0, pt)
	}
	return ipc.ErrNotSupported
}

func (a *aeadOp) seal() ([]byte, ipc.Status) {
	switch a.base {
	case psa.AlgGCM:
		out, err := gcm(a.block, true, a.nonce, a.ad, a.data, a.tag)
		if err != nil {
			return nil, ipc.ErrInvalidArgument
		}
		return out, ipc.Success
	case psa.AlgCCM:
		out, err := ccmSeal(a.block, a.nonce, a.ad, a.data, a.tag)
		if err != nil {
			return nil, ipc.ErrInvalidArgument
		}
		return out, ipc.Success
	}
	c, err := chacha20poly1305.New(a.key)
	if err != nil {
		return nil, ipc.ErrInvalidArgument
	}
	return c.Seal(nil, a.nonce, a.data, a.ad), ipc.Success
}

func (a *aeadOp) open(tag []byte) ([]byte, ipc.Status) {
	in := append(append([]byte(nil), a.data...), tag...)
	var pt []byte
	var err error
	switch a.base {
	case psa.AlgGCM:
		pt, err = gcm(a.block, false, a.nonce, a.ad, in, a.tag)
	case psa.AlgCCM:
		pt, err = ccmOpen(a.block, a.nonce, a.ad, in, a.tag)
	default:
		var c cipher.AEAD
		if c, err = chacha20poly1305.New(a.key); err == nil {
			pt, err = c.Open(nil, a.nonce, in, a.ad)
		}
	}
	if err != nil {
		return nil, ipc.ErrInvalidSignature
	}
	return pt, ipc.Success
}
