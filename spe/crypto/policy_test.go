package crypto

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"rampart/psa"
	"rampart/psaclient"
	"rampart/spe/storage"
)

// oaepKeyPKCS1 returns the RSA-2048 key pair of the Wycheproof OAEP file in
// PKCS#1 form, so tests need not generate RSA keys.
func oaepKeyPKCS1(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "rsa_oaep_2048_sha256_mgf1sha256_test.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			PrivateKeyPkcs8 string `json:"privateKeyPkcs8"`
		} `json:"testGroups"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	der, _ := hex.DecodeString(f.Groups[0].PrivateKeyPkcs8)
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		t.Fatal(err)
	}
	return x509.MarshalPKCS1PrivateKey(k.(*rsa.PrivateKey))
}

var (
	secp    = psa.KeyTypeECCKeyPair(psa.ECCFamilySECPR1)
	x25519T = psa.KeyTypeECCKeyPair(psa.ECCFamilyMontgomery)
	edT     = psa.KeyTypeECCKeyPair(psa.ECCFamilyTwistedEdwards)
	allUse  = psa.UsageExport | psa.UsageCopy | psa.UsageCache | psa.UsageDerivePublic | psa.UsageEncrypt |
		psa.UsageDecrypt | psa.UsageSignMessage | psa.UsageVerifyMessage | psa.UsageSignHash | psa.UsageVerifyHash |
		psa.UsageDerive | psa.UsageVerifyDerivation | psa.UsageWrap | psa.UsageUnwrap
)

// policyCase is one operation, the usage flag it needs and an algorithm it
// can run with.
type policyCase struct {
	name     string
	typ      psa.KeyType
	bits     int
	material func(t *testing.T) []byte
	usage    psa.Usage
	alg      psa.Algorithm
	other    psa.Algorithm // a different algorithm the key type would support
	op       func(c *psaclient.Client, id psa.KeyID, alg psa.Algorithm) error
}

func policyCases(t *testing.T) []policyCase {
	var peer []byte
	sha := make([]byte, 32)
	return []policyCase{
		{"export", psa.KeyTypeAES, 128, nil, psa.UsageExport, psa.AlgCTR, 0, func(c *psaclient.Client, id psa.KeyID, _ psa.Algorithm) error {
			_, err := c.ExportKey(id)
			return err
		}},
		{"copy", psa.KeyTypeAES, 128, nil, psa.UsageCopy, psa.AlgCTR, 0, func(c *psaclient.Client, id psa.KeyID, _ psa.Algorithm) error {
			_, err := c.CopyKey(id, psa.KeyAttributes{Usage: allUse, Algorithm: psa.AlgCTR})
			return err
		}},
		{"mac_compute", psa.KeyTypeHMAC, 256, nil, psa.UsageSignMessage, psa.AlgHMAC(psa.AlgSHA256), psa.AlgHMAC(psa.AlgSHA512), func(c *psaclient.Client, id psa.KeyID, a psa.Algorithm) error {
			_, err := c.MACCompute(id, a, []byte("m"))
			return err
		}},
		{"mac_verify", psa.KeyTypeAES, 128, nil, psa.UsageVerifyMessage, psa.AlgCMAC, psa.AlgTruncatedMAC(psa.AlgCMAC, 8), func(c *psaclient.Client, id psa.KeyID, a psa.Algorithm) error {
			err := c.MACVerify(id, a, []byte("m"), make([]byte, 16))
			if errors.Is(err, psa.ErrInvalidSignature) {
				return nil // the policy allowed the check; the MAC is wrong on purpose
			}
			return err
		}},
		{"cipher_encrypt", psa.KeyTypeAES, 128, nil, psa.UsageEncrypt, psa.AlgCTR, psa.AlgCBCPKCS7, func(c *psaclient.Client, id psa.KeyID, a psa.Algorithm) error {
			_, err := c.CipherEncrypt(id, a, []byte("m"))
			return err
		}},
		{"cipher_decrypt", psa.KeyTypeAES, 256, nil, psa.UsageDecrypt, psa.AlgCBCPKCS7, psa.AlgCTR, func(c *psaclient.Client, id psa.KeyID, a psa.Algorithm) error {
			_, err := c.CipherDecrypt(id, a, make([]byte, 32))
			if errors.Is(err, psa.ErrInvalidPadding) {
				return nil
			}
			return err
		}},
		{"aead_encrypt", psa.KeyTypeAES, 128, nil, psa.UsageEncrypt, psa.AlgGCM, psa.AlgCCM, func(c *psaclient.Client, id psa.KeyID, a psa.Algorithm) error {
			_, err := c.AEADEncrypt(id, a, make([]byte, 12), nil, []byte("m"))
			return err
		}},
		{"aead_decrypt", psa.KeyTypeChaCha20, 256, nil, psa.UsageDecrypt, psa.AlgChaCha20Poly1305, psa.AlgAEADWithShortenedTag(psa.AlgChaCha20Poly1305, 12), func(c *psaclient.Client, id psa.KeyID, a psa.Algorithm) error {
			_, err := c.AEADDecrypt(id, a, make([]byte, 12), nil, make([]byte, 16))
			if errors.Is(err, psa.ErrInvalidSignature) {
				return nil
			}
			return err
		}},
		{"sign_hash", secp, 256, nil, psa.UsageSignHash, psa.AlgECDSA(psa.AlgSHA256), psa.AlgDeterministicECDSA(psa.AlgSHA256), func(c *psaclient.Client, id psa.KeyID, a psa.Algorithm) error {
			_, err := c.SignHash(id, a, sha)
			return err
		}},
		{"verify_hash", secp, 384, nil, psa.UsageVerifyHash, psa.AlgECDSA(psa.AlgSHA384), psa.AlgECDSA(psa.AlgSHA256), func(c *psaclient.Client, id psa.KeyID, a psa.Algorithm) error {
			err := c.VerifyHash(id, a, make([]byte, 48), make([]byte, 96))
			if errors.Is(err, psa.ErrInvalidSignature) {
				return nil
			}
			return err
		}},
		{"sign_message", edT, 255, nil, psa.UsageSignMessage, psa.AlgPureEdDSA, psa.AlgECDSA(psa.AlgSHA256), func(c *psaclient.Client, id psa.KeyID, a psa.Algorithm) error {
			_, err := c.SignMessage(id, a, []byte("m"))
			return err
		}},
		{"verify_message", psa.KeyTypeRSAKeyPair, 0, oaepKeyPKCS1, psa.UsageVerifyMessage, psa.AlgRSAPSS(psa.AlgSHA256), psa.AlgRSAPKCS1v15Sign(psa.AlgSHA256), func(c *psaclient.Client, id psa.KeyID, a psa.Algorithm) error {
			err := c.VerifyMessage(id, a, []byte("m"), make([]byte, 256))
			if errors.Is(err, psa.ErrInvalidSignature) {
				return nil
			}
			return err
		}},
		{"asymmetric_encrypt", psa.KeyTypeRSAKeyPair, 0, oaepKeyPKCS1, psa.UsageEncrypt, psa.AlgRSAOAEP(psa.AlgSHA256), psa.AlgRSAOAEP(psa.AlgSHA1), func(c *psaclient.Client, id psa.KeyID, a psa.Algorithm) error {
			_, err := c.AsymmetricEncrypt(id, a, []byte("m"), nil)
			return err
		}},
		{"asymmetric_decrypt", psa.KeyTypeRSAKeyPair, 0, oaepKeyPKCS1, psa.UsageDecrypt, psa.AlgRSAOAEP(psa.AlgSHA256), psa.AlgRSAOAEP(psa.AlgSHA384), func(c *psaclient.Client, id psa.KeyID, a psa.Algorithm) error {
			_, err := c.AsymmetricDecrypt(id, a, make([]byte, 256), nil)
			if errors.Is(err, psa.ErrInvalidPadding) {
				return nil
			}
			return err
		}},
		{"raw_key_agreement", x25519T, 255, nil, psa.UsageDerive, psa.AlgECDH, psa.Algorithm(0x09010000) /* PSA_ALG_FFDH */, func(c *psaclient.Client, id psa.KeyID, a psa.Algorithm) error {
			if peer == nil {
				peer = make([]byte, 32)
				peer[0] = 9 // the X25519 base point
			}
			_, err := c.RawKeyAgreement(a, id, peer)
			return err
		}},
		{"hkdf", psa.KeyTypeDerive, 256, nil, psa.UsageDerive, psa.AlgHKDF(psa.AlgSHA256), psa.AlgHKDF(psa.AlgSHA512), func(c *psaclient.Client, id psa.KeyID, a psa.Algorithm) error {
			_, err := c.DeriveBytes(id, a, nil, []byte("info"), 42)
			return err
		}},
	}
}

// implied returns the flags that imply u (SIGN_HASH implies SIGN_MESSAGE).
func implied(u psa.Usage) psa.Usage {
	switch u {
	case psa.UsageSignMessage:
		return psa.UsageSignHash
	case psa.UsageVerifyMessage:
		return psa.UsageVerifyHash
	}
	return 0
}

func TestPolicyEveryUsageAndAlgorithm(t *testing.T) {
	e := startSPE(t, "", nil)
	c := e.dial(t)
	for _, pc := range policyCases(t) {
		t.Run(pc.name, func(t *testing.T) {
			mk := func(usage psa.Usage, alg psa.Algorithm) psa.KeyID {
				attr := psa.KeyAttributes{Type: pc.typ, Bits: pc.bits, Usage: usage, Algorithm: alg}
				var id psa.KeyID
				var err error
				if pc.material != nil {
					id, err = c.ImportKey(attr, pc.material(t))
				} else {
					id, err = c.GenerateKey(attr)
				}
				if err != nil {
					t.Fatalf("create key: %v", err)
				}
				return id
			}
			// Everything else allowed, this flag (and what implies it) absent.
			id := mk(allUse&^pc.usage&^implied(pc.usage), pc.alg)
			if err := pc.op(c, id, pc.alg); !errors.Is(err, psa.ErrNotPermitted) {
				t.Errorf("without usage 0x%x: %v, want NOT_PERMITTED", pc.usage, err)
			}
			// Exactly this flag and algorithm: allowed.
			id = mk(pc.usage, pc.alg)
			if err := pc.op(c, id, pc.alg); err != nil {
				t.Errorf("with usage 0x%x and its algorithm: %v", pc.usage, err)
			}
			if pc.other != 0 {
				// The flag, but the key permits another algorithm: refused
				// either way round.
				if err := pc.op(c, id, pc.other); !errors.Is(err, psa.ErrNotPermitted) {
					t.Errorf("with algorithm 0x%08x on a key for 0x%08x: %v, want NOT_PERMITTED", pc.other, pc.alg, err)
				}
				id = mk(allUse, pc.other)
				if err := pc.op(c, id, pc.alg); !errors.Is(err, psa.ErrNotPermitted) {
					t.Errorf("with algorithm 0x%08x on a key for 0x%08x: %v, want NOT_PERMITTED", pc.alg, pc.other, err)
				}
			}
		})
	}
}

func TestPolicyImpliedAndWildcards(t *testing.T) {
	e := startSPE(t, "", nil)
	c := e.dial(t)
	id, err := c.GenerateKey(psa.KeyAttributes{Type: secp, Bits: 256, Usage: psa.UsageSignHash | psa.UsageCopy, Algorithm: psa.AlgECDSA(psa.AlgAnyHash)})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := c.KeyAttributes(id)
	if a.Usage&psa.UsageSignMessage == 0 {
		t.Errorf("SIGN_HASH did not imply SIGN_MESSAGE: 0x%x", a.Usage)
	}
	for _, h := range []psa.Algorithm{psa.AlgSHA256, psa.AlgSHA384, psa.AlgSHA512} {
		if _, err := c.SignMessage(id, psa.AlgECDSA(h), []byte("m")); err != nil {
			t.Errorf("ANY_HASH policy with 0x%08x: %v", h, err)
		}
	}
	if _, err := c.SignMessage(id, psa.AlgDeterministicECDSA(psa.AlgSHA256), []byte("m")); !errors.Is(err, psa.ErrNotPermitted) {
		t.Errorf("ECDSA(ANY_HASH) allowed deterministic ECDSA: %v", err)
	}
	if _, err := c.SignHash(id, psa.AlgECDSA(psa.AlgAnyHash), make([]byte, 32)); !errors.Is(err, psa.ErrInvalidArgument) {
		t.Errorf("signing with the wildcard itself: %v, want INVALID_ARGUMENT", err)
	}
	// A copy narrows the policy: one hash, no copy, never wider than the source.
	cp, err := c.CopyKey(id, psa.KeyAttributes{Usage: psa.UsageSignHash | psa.UsageExport, Algorithm: psa.AlgECDSA(psa.AlgSHA256)})
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := c.KeyAttributes(cp)
	if ca.Algorithm != psa.AlgECDSA(psa.AlgSHA256) || ca.Usage&(psa.UsageExport|psa.UsageCopy) != 0 {
		t.Errorf("copy attributes %+v", ca)
	}
	if _, err := c.ExportKey(cp); !errors.Is(err, psa.ErrNotPermitted) {
		t.Errorf("copy gained EXPORT: %v", err)
	}
	if _, err := c.SignMessage(cp, psa.AlgECDSA(psa.AlgSHA384), []byte("m")); !errors.Is(err, psa.ErrNotPermitted) {
		t.Errorf("narrowed copy signs with SHA-384: %v", err)
	}
	if _, err := c.CopyKey(id, psa.KeyAttributes{Usage: psa.UsageSignHash, Algorithm: psa.AlgGCM}); !errors.Is(err, psa.ErrInvalidArgument) {
		t.Errorf("copy with an incompatible algorithm: %v", err)
	}
	// MAC at-least-this-length.
	mid, err := c.GenerateKey(psa.KeyAttributes{Type: psa.KeyTypeHMAC, Bits: 256, Usage: psa.UsageSignMessage,
		Algorithm: psa.AlgTruncatedMAC(psa.AlgHMAC(psa.AlgSHA256), 16) | psa.AtLeastThisLengthFlag})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := c.MACCompute(mid, psa.AlgTruncatedMAC(psa.AlgHMAC(psa.AlgSHA256), 20), nil); err != nil || len(m) != 20 {
		t.Errorf("20-byte MAC under an at-least-16 policy: %d %v", len(m), err)
	}
	if _, err := c.MACCompute(mid, psa.AlgHMAC(psa.AlgSHA256), nil); err != nil {
		t.Errorf("full MAC under an at-least-16 policy: %v", err)
	}
	if _, err := c.MACCompute(mid, psa.AlgTruncatedMAC(psa.AlgHMAC(psa.AlgSHA256), 8), nil); !errors.Is(err, psa.ErrNotPermitted) {
		t.Errorf("8-byte MAC under an at-least-16 policy: %v", err)
	}
}

func TestKeyManagementErrors(t *testing.T) {
	e := startSPE(t, "", nil)
	c := e.dial(t)
	cases := []struct {
		name string
		attr psa.KeyAttributes
		data []byte
		want error
	}{
		{"aes of 15 bytes", psa.KeyAttributes{Type: psa.KeyTypeAES}, make([]byte, 15), psa.ErrInvalidArgument},
		{"bits disagree", psa.KeyAttributes{Type: psa.KeyTypeAES, Bits: 256}, make([]byte, 16), psa.ErrInvalidArgument},
		{"volatile with an id", psa.KeyAttributes{Type: psa.KeyTypeAES, ID: 5}, make([]byte, 16), psa.ErrInvalidArgument},
		{"persistent id 0", psa.KeyAttributes{Type: psa.KeyTypeAES, Lifetime: psa.LifetimePersistent}, make([]byte, 16), psa.ErrInvalidArgument},
		{"persistent vendor id", psa.KeyAttributes{Type: psa.KeyTypeAES, Lifetime: psa.LifetimePersistent, ID: psa.KeyIDVendorMin}, make([]byte, 16), psa.ErrInvalidArgument},
		{"read-only lifetime", psa.KeyAttributes{Type: psa.KeyTypeAES, Lifetime: 0xff}, make([]byte, 16), psa.ErrNotSupported},
		{"unknown type", psa.KeyAttributes{Type: 0x7777}, make([]byte, 16), psa.ErrNotSupported},
		{"p256 scalar zero", psa.KeyAttributes{Type: secp}, make([]byte, 32), psa.ErrInvalidArgument},
		{"empty hmac", psa.KeyAttributes{Type: psa.KeyTypeHMAC}, nil, psa.ErrInvalidArgument},
	}
	for _, tc := range cases {
		if _, err := c.ImportKey(tc.attr, tc.data); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := c.ExportKey(0x1234); !errors.Is(err, psa.ErrInvalidHandle) {
		t.Errorf("export of a missing key: %v", err)
	}
	if err := c.DestroyKey(0); err != nil {
		t.Errorf("destroy of PSA_KEY_ID_NULL: %v", err)
	}
	pub, err := c.GenerateKey(psa.KeyAttributes{Type: x25519T, Bits: 255, Usage: psa.UsageDerive, Algorithm: psa.AlgECDH})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExportPublicKey(pub); err != nil {
		t.Errorf("export_public without EXPORT must work: %v", err)
	}
	sym, _ := c.GenerateKey(psa.KeyAttributes{Type: psa.KeyTypeAES, Bits: 128, Usage: psa.UsageExport})
	if _, err := c.ExportPublicKey(sym); !errors.Is(err, psa.ErrInvalidArgument) {
		t.Errorf("export_public of AES: %v", err)
	}
	if _, err := c.GenerateKey(psa.KeyAttributes{Type: psa.KeyTypeECCPublicKey(psa.ECCFamilySECPR1), Bits: 256}); !errors.Is(err, psa.ErrInvalidArgument) {
		t.Errorf("generate a public key: %v", err)
	}
}

// TestStateDirectoryAndHUKModes: a state directory others could read is
// made 0700, one others could write to is refused (its contents cannot be
// trusted), key files are made 0600 whatever they were, and a hardware
// unique key others could read is refused (it may have leaked).
func TestStateDirectoryAndHUKModes(t *testing.T) {
	dir := t.TempDir()
	loose := filepath.Join(dir, "loose")
	os.Mkdir(loose, 0o755)
	os.Chmod(loose, 0o755)
	if _, err := New(Options{StateDir: loose}); err != nil {
		t.Fatalf("state directory readable by others: %v", err)
	}
	if fi, _ := os.Stat(loose); fi.Mode().Perm() != 0o700 {
		t.Errorf("state directory left at %v", fi.Mode().Perm())
	}
	writable := filepath.Join(dir, "writable")
	os.Mkdir(writable, 0o777)
	os.Chmod(writable, 0o777)
	if _, err := New(Options{StateDir: writable}); !errors.Is(err, storage.ErrExposed) {
		t.Errorf("state directory writable by others: %v", err)
	}
	keyFile := filepath.Join(loose, "keys", "ffffffff-00000001.key")
	os.WriteFile(keyFile, []byte("RPK1 sealed"), 0o644)
	os.Chmod(keyFile, 0o644)
	os.Chmod(filepath.Join(loose, "keys"), 0o755)
	if _, err := New(Options{StateDir: loose}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{keyFile: 0o600, filepath.Join(loose, "keys"): 0o700} {
		if fi, _ := os.Stat(p); fi.Mode().Perm() != want {
			t.Errorf("%s left at %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	good := filepath.Join(dir, "good")
	if _, err := New(Options{StateDir: good}); err != nil {
		t.Fatal(err)
	}
	huk := filepath.Join(good, "huk")
	first, _ := os.ReadFile(huk)
	if _, err := New(Options{StateDir: good}); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(huk); !bytes.Equal(first, again) || len(first) != HUKSize {
		t.Fatal("the hardware unique key changed across starts")
	}
	os.Chmod(huk, 0o644)
	if _, err := New(Options{StateDir: good}); err == nil {
		t.Error("hardware unique key readable by others accepted")
	}
	os.Chmod(huk, 0o600)
	os.WriteFile(huk, first[:16], 0o600)
	if _, err := New(Options{StateDir: good}); err == nil {
		t.Error("short hardware unique key accepted")
	}
}
