package crypto

import (
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
)

// AES-CCM (NIST SP 800-38C, RFC 3610), written here on crypto/aes because
// neither the standard library nor golang.org/x/crypto provides it.

var (
	errCCMParams = errors.New("ccm: invalid nonce or tag length")
	errCCMLength = errors.New("ccm: message too long for the nonce length")
	errCCMAuth   = errors.New("ccm: message authentication failed")
)

func ccmCheck(nonce []byte, tagLen int, ptLen int) error {
	if len(nonce) < 7 || len(nonce) > 13 || tagLen < 4 || tagLen > 16 || tagLen%2 != 0 {
		return errCCMParams
	}
	q := 15 - len(nonce)
	if q < 8 && uint64(ptLen) >= uint64(1)<<(8*q) {
		return errCCMLength
	}
	return nil
}

// ccmMAC computes the CBC-MAC T (full block) over B0, the AAD and the plaintext.
func ccmMAC(b cipher.Block, nonce, aad, pt []byte, tagLen int) [16]byte {
	q := 15 - len(nonce)
	var x [16]byte
	flags := byte(8*((tagLen-2)/2) + (q - 1))
	if len(aad) > 0 {
		flags |= 0x40
	}
	x[0] = flags
	copy(x[1:], nonce)
	var lenBuf [8]byte
	binary.BigEndian.PutUint64(lenBuf[:], uint64(len(pt)))
	copy(x[16-q:], lenBuf[8-q:])
	b.Encrypt(x[:], x[:])
	if len(aad) > 0 {
		var enc []byte
		switch n := uint64(len(aad)); {
		case n < 0xff00:
			enc = binary.BigEndian.AppendUint16(nil, uint16(n))
		case n <= 0xffffffff:
			enc = binary.BigEndian.AppendUint32([]byte{0xff, 0xfe}, uint32(n))
		default:
			enc = binary.BigEndian.AppendUint64([]byte{0xff, 0xff}, n)
		}
		ccmAbsorb(b, &x, append(enc, aad...))
	}
	ccmAbsorb(b, &x, pt)
	return x
}

// ccmAbsorb runs CBC-MAC over data padded with zeros to a block boundary.
func ccmAbsorb(b cipher.Block, x *[16]byte, data []byte) {
	for len(data) > 0 {
		var blk [16]byte
		n := copy(blk[:], data)
		data = data[n:]
		subtle.XORBytes(x[:], x[:], blk[:])
		b.Encrypt(x[:], x[:])
	}
}

// ccmCTR XORs src with the CCM keystream starting at counter 1 and returns
// S0 (the keystream block for counter 0, which masks the tag).
func ccmCTR(b cipher.Block, nonce, dst, src []byte) [16]byte {
	q := 15 - len(nonce)
	var a [16]byte
	a[0] = byte(q - 1)
	copy(a[1:], nonce)
	var s0 [16]byte
	b.Encrypt(s0[:], a[:])
	a[15] = 1
	cipher.NewCTR(b, a[:]).XORKeyStream(dst, src)
	return s0
}

// ccmSeal returns ciphertext || tag.
func ccmSeal(b cipher.Block, nonce, aad, pt []byte, tagLen int) ([]byte, error) {
	if err := ccmCheck(nonce, tagLen, len(pt)); err != nil {
		return nil, err
	}
	t := ccmMAC(b, nonce, aad, pt, tagLen)
	out := make([]byte, len(pt)+tagLen)
	s0 := ccmCTR(b, nonce, out[:len(pt)], pt)
	subtle.XORBytes(out[len(pt):], t[:tagLen], s0[:tagLen])
	return out, nil
}

// ccmOpen checks and decrypts ciphertext || tag.
func ccmOpen(b cipher.Block, nonce, aad, ct []byte, tagLen int) ([]byte, error) {
	if len(ct) < tagLen {
		return nil, errCCMAuth
	}
	n := len(ct) - tagLen
	if err := ccmCheck(nonce, tagLen, n); err != nil {
		return nil, err
	}
	pt := make([]byte, n)
	s0 := ccmCTR(b, nonce, pt, ct[:n])
	t := ccmMAC(b, nonce, aad, pt, tagLen)
	var want [16]byte
	subtle.XORBytes(want[:tagLen], t[:tagLen], s0[:tagLen])
	if subtle.ConstantTimeCompare(want[:tagLen], ct[n:]) != 1 {
		clear(pt)
		return nil, errCCMAuth
	}
	return pt, nil
}
