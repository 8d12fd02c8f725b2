package crypto

import (
	"crypto/cipher"
	"crypto/subtle"
)

// cmac computes AES-CMAC (NIST SP 800-38B, RFC 4493) with a 16-byte block
// cipher. It is written here because neither the standard library nor
// golang.org/x/crypto exposes it.
func cmac(b cipher.Block, msg []byte) [16]byte {
	var x [16]byte
	blocks := (len(msg) + 15) / 16
	if blocks == 0 {
		blocks = 1
	}
	for i := 0; i < blocks-1; i++ {
		subtle.XORBytes(x[:], x[:], msg[16*i:16*i+16])
		b.Encrypt(x[:], x[:])
	}
	return cmacFinish(b, x, msg[16*(blocks-1):])
}

// cmacFinish processes the last block (0 to 16 bytes; empty only for an
// empty message) on top of the chaining value x.
func cmacFinish(b cipher.Block, x [16]byte, rest []byte) [16]byte {
	var l, k1, k2 [16]byte
	b.Encrypt(l[:], l[:])
	dbl(&k1, &l)
	dbl(&k2, &k1)
	var last [16]byte
	if len(rest) == 16 {
		subtle.XORBytes(last[:], rest, k1[:])
	} else {
		copy(last[:], rest)
		last[len(rest)] = 0x80
		subtle.XORBytes(last[:], last[:], k2[:])
	}
	subtle.XORBytes(x[:], x[:], last[:])
	b.Encrypt(x[:], x[:])
	return x
}

// dbl multiplies by x in GF(2^128) with the CMAC polynomial.
func dbl(dst, src *[16]byte) {
	carry := src[0] >> 7
	for i := 0; i < 15; i++ {
		dst[i] = src[i]<<1 | src[i+1]>>7
	}
	dst[15] = src[15]<<1 ^ 0x87*carry
}
