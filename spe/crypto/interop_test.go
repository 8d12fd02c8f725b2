package crypto

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"math/big"
	"testing"

	"rampart/psa"
)

// Results of the SPE checked by the standard library, for what Wycheproof's
// files here do not cover (signing, P-384 ECDH, RSA PKCS#1 v1.5, OAEP
// encryption).
func TestInteropWithStdlib(t *testing.T) {
	e := startSPE(t, "", nil)
	c := e.dial(t)
	msg := []byte("interop")

	t.Run("ECDSA P-384 sign", func(t *testing.T) {
		id, err := c.GenerateKey(psa.KeyAttributes{Type: secp, Bits: 384, Usage: psa.UsageSignHash, Algorithm: psa.AlgECDSA(psa.AlgSHA384)})
		if err != nil {
			t.Fatal(err)
		}
		sig, err := c.SignMessage(id, psa.AlgECDSA(psa.AlgSHA384), msg)
		if err != nil || len(sig) != 96 {
			t.Fatalf("%d %v", len(sig), err)
		}
		pub, _ := c.ExportPublicKey(id)
		k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P384(), pub)
		if err != nil {
			t.Fatal(err)
		}
		d := sha512.Sum384(msg)
		if !ecdsa.Verify(k, d[:], new(big.Int).SetBytes(sig[:48]), new(big.Int).SetBytes(sig[48:])) {
			t.Fatal("crypto/ecdsa rejects the SPE's signature")
		}
	})
	t.Run("deterministic ECDSA", func(t *testing.T) {
		id, _ := c.GenerateKey(psa.KeyAttributes{Type: secp, Bits: 256, Usage: psa.UsageSignHash | psa.UsageVerifyHash, Algorithm: psa.AlgDeterministicECDSA(psa.AlgSHA256)})
		a, err := c.SignMessage(id, psa.AlgDeterministicECDSA(psa.AlgSHA256), msg)
		b, _ := c.SignMessage(id, psa.AlgDeterministicECDSA(psa.AlgSHA256), msg)
		if err != nil || !bytes.Equal(a, b) {
			t.Fatalf("deterministic signatures differ: %v", err)
		}
		if err := c.VerifyMessage(id, psa.AlgDeterministicECDSA(psa.AlgSHA256), msg, a); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Ed25519 sign", func(t *testing.T) {
		id, _ := c.GenerateKey(psa.KeyAttributes{Type: edT, Bits: 255, Usage: psa.UsageSignMessage, Algorithm: psa.AlgPureEdDSA})
		sig, err := c.SignMessage(id, psa.AlgPureEdDSA, msg)
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := c.ExportPublicKey(id)
		if !ed25519.Verify(pub, msg, sig) {
			t.Fatal("crypto/ed25519 rejects the SPE's signature")
		}
		if _, err := c.SignHash(id, psa.AlgPureEdDSA, make([]byte, 32)); err == nil {
			t.Fatal("sign_hash with PureEdDSA accepted")
		}
	})
	rsaKey := oaepKeyPKCS1(t)
	priv, _ := x509.ParsePKCS1PrivateKey(rsaKey)
	t.Run("RSA PKCS#1 v1.5 and PSS sign", func(t *testing.T) {
		d := sha256.Sum256(msg)
		for _, alg := range []psa.Algorithm{psa.AlgRSAPKCS1v15Sign(psa.AlgSHA256), psa.AlgRSAPSS(psa.AlgSHA256)} {
			id, err := c.ImportKey(psa.KeyAttributes{Type: psa.KeyTypeRSAKeyPair, Usage: psa.UsageSignHash, Algorithm: alg}, rsaKey)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := c.SignHash(id, alg, d[:])
			if err != nil {
				t.Fatal(err)
			}
			if alg == psa.AlgRSAPSS(psa.AlgSHA256) {
				err = rsa.VerifyPSS(&priv.PublicKey, crypto.SHA256, d[:], sig, &rsa.PSSOptions{SaltLength: 32})
			} else {
				err = rsa.VerifyPKCS1v15(&priv.PublicKey, crypto.SHA256, d[:], sig)
			}
			if err != nil {
				t.Fatalf("alg 0x%08x: %v", alg, err)
			}
		}
	})
	t.Run("RSA-OAEP both ways", func(t *testing.T) {
		alg := psa.AlgRSAOAEP(psa.AlgSHA256)
		id, _ := c.ImportKey(psa.KeyAttributes{Type: psa.KeyTypeRSAKeyPair, Usage: psa.UsageEncrypt | psa.UsageDecrypt, Algorithm: alg}, rsaKey)
		ct, err := c.AsymmetricEncrypt(id, alg, msg, []byte("label"))
		if err != nil {
			t.Fatal(err)
		}
		pt, err := rsa.DecryptOAEP(sha256.New(), nil, priv, ct, []byte("label"))
		if err != nil || !bytes.Equal(pt, msg) {
			t.Fatalf("stdlib decrypt of the SPE's ciphertext: %v", err)
		}
		ct, _ = rsa.EncryptOAEP(sha256.New(), rand.Reader, &priv.PublicKey, msg, nil)
		if pt, err := c.AsymmetricDecrypt(id, alg, ct, nil); err != nil || !bytes.Equal(pt, msg) {
			t.Fatalf("SPE decrypt of a stdlib ciphertext: %v", err)
		}
	})
	t.Run("ECDH P-384 and X25519", func(t *testing.T) {
		for _, tc := range []struct {
			typ   psa.KeyType
			bits  int
			curve ecdh.Curve
		}{{secp, 384, ecdh.P384()}, {x25519T, 255, ecdh.X25519()}, {secp, 256, ecdh.P256()}} {
			id, err := c.GenerateKey(psa.KeyAttributes{Type: tc.typ, Bits: tc.bits, Usage: psa.UsageDerive, Algorithm: psa.AlgECDH})
			if err != nil {
				t.Fatal(err)
			}
			peer, _ := tc.curve.GenerateKey(rand.Reader)
			shared, err := c.RawKeyAgreement(psa.AlgECDH, id, peer.PublicKey().Bytes())
			if err != nil {
				t.Fatal(err)
			}
			pub, _ := c.ExportPublicKey(id)
			spePub, err := tc.curve.NewPublicKey(pub)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := peer.ECDH(spePub)
			if !bytes.Equal(shared, want) {
				t.Fatalf("%v: shared secrets differ", tc.curve)
			}
		}
	})
	t.Run("HKDF into a key", func(t *testing.T) {
		alg := psa.AlgHKDF(psa.AlgSHA256)
		secret, _ := c.ImportKey(psa.KeyAttributes{Type: psa.KeyTypeDerive, Usage: psa.UsageDerive, Algorithm: alg}, []byte("input keying material"))
		id, err := c.DeriveKey(secret, alg, []byte("salt"), []byte("info"), psa.KeyAttributes{Type: psa.KeyTypeAES, Bits: 128, Usage: psa.UsageExport})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := c.ExportKey(id)
		want, _ := c.DeriveBytes(secret, alg, []byte("salt"), []byte("info"), 16)
		if !bytes.Equal(got, want) {
			t.Fatal("derived key differs from derived bytes")
		}
	})
}
