package psa

import (
	"bytes"
	"errors"
	"testing"
)

// Spot checks of the numeric values against the PSA Crypto API headers.
func TestPSANumericValues(t *testing.T) {
	for name, c := range map[string][2]uint32{
		"ECC_KEY_PAIR(SECP_R1)":          {uint32(KeyTypeECCKeyPair(ECCFamilySECPR1)), 0x7112},
		"ECC_PUBLIC_KEY(MONTGOMERY)":     {uint32(KeyTypeECCPublicKey(ECCFamilyMontgomery)), 0x4141},
		"HMAC(SHA_256)":                  {uint32(AlgHMAC(AlgSHA256)), 0x03800009},
		"ECDSA(SHA_256)":                 {uint32(AlgECDSA(AlgSHA256)), 0x06000609},
		"DETERMINISTIC_ECDSA(SHA_384)":   {uint32(AlgDeterministicECDSA(AlgSHA384)), 0x0600070a},
		"RSA_PSS(SHA_256)":               {uint32(AlgRSAPSS(AlgSHA256)), 0x06000309},
		"RSA_PKCS1V15_SIGN(SHA_256)":     {uint32(AlgRSAPKCS1v15Sign(AlgSHA256)), 0x06000209},
		"RSA_OAEP(SHA_256)":              {uint32(AlgRSAOAEP(AlgSHA256)), 0x07000309},
		"HKDF(SHA_256)":                  {uint32(AlgHKDF(AlgSHA256)), 0x08000109},
		"TRUNCATED_MAC(HMAC256, 16)":     {uint32(AlgTruncatedMAC(AlgHMAC(AlgSHA256), 16)), 0x03900009},
		"AEAD_WITH_SHORTENED_TAG(CCM,8)": {uint32(AlgAEADWithShortenedTag(AlgCCM, 8)), 0x05480100},
		"NOT_PERMITTED":                  {uint32(-int32(ErrNotPermitted)), 133},
	} {
		if c[0] != c[1] {
			t.Errorf("%s = 0x%08x, want 0x%08x", name, c[0], c[1])
		}
	}
	if AlgGCM.TagLength() != 16 || AlgCCM.TagLength() != 16 || AlgChaCha20Poly1305.TagLength() != 16 {
		t.Error("AEAD default tag lengths")
	}
	if AlgECDSA(AlgSHA384).Hash() != AlgSHA384 || AlgHMAC(AlgSHA512).Hash() != AlgSHA512 || AlgGCM.Hash() != AlgNone {
		t.Error("Hash()")
	}
	if !KeyTypeECCKeyPair(ECCFamilySECPR1).IsKeyPair() || KeyTypeECCKeyPair(ECCFamilySECPR1).PublicKeyType() != KeyTypeECCPublicKey(ECCFamilySECPR1) || !KeyTypeRSAPublicKey.IsPublicKey() {
		t.Error("key type predicates")
	}
}

func TestAttributesRoundTripAndTruncation(t *testing.T) {
	a := KeyAttributes{Type: KeyTypeAES, Bits: 256, Lifetime: LifetimePersistent, ID: 42, Usage: UsageEncrypt | UsageExport, Algorithm: AlgGCM}
	b, err := a.MarshalBinary()
	if err != nil || len(b) != AttributesSize {
		t.Fatal(err)
	}
	var got KeyAttributes
	if err := got.UnmarshalBinary(b); err != nil || got != a {
		t.Fatalf("%+v %v", got, err)
	}
	for i := 0; i < len(b); i++ {
		if err := got.UnmarshalBinary(b[:i]); err == nil {
			t.Fatalf("prefix %d accepted", i)
		}
	}
	bad := append([]byte(nil), b...)
	bad[2] = 1
	if got.UnmarshalBinary(bad) == nil {
		t.Error("reserved byte accepted")
	}
	if got.UnmarshalBinary(append(b, 0)) == nil {
		t.Error("trailing byte accepted")
	}
}

func FuzzAttributes(f *testing.F) {
	b, _ := KeyAttributes{Type: KeyTypeHMAC, Bits: 256, Usage: UsageSignMessage, Algorithm: AlgHMAC(AlgSHA256)}.MarshalBinary()
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		var a KeyAttributes
		if a.UnmarshalBinary(b) == nil {
			again, err := a.MarshalBinary()
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("re-encoding differs: %x %x", b, again)
			}
		}
	})
}

func TestECDSASignatureConversion(t *testing.T) {
	raw := append(bytes.Repeat([]byte{0}, 31), 1)
	raw = append(raw, bytes.Repeat([]byte{0x80}, 32)...)
	der, err := ECDSASignatureToASN1(raw)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ECDSASignatureFromASN1(der, 32)
	if err != nil || !bytes.Equal(back, raw) {
		t.Fatalf("round trip: %x %v", back, err)
	}
	for i := 0; i < len(der); i++ {
		if _, err := ECDSASignatureFromASN1(der[:i], 32); !errors.Is(err, ErrBadDER) {
			t.Fatalf("prefix %d: %v", i, err)
		}
	}
	if _, err := ECDSASignatureFromASN1(append(der, 0), 32); err == nil {
		t.Error("trailing byte accepted")
	}
	if _, err := ECDSASignatureFromASN1(der, 16); err == nil {
		t.Error("integer wider than the curve accepted")
	}
	nonMinimal := []byte{0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01}
	if _, err := ECDSASignatureFromASN1(nonMinimal, 32); err == nil {
		t.Error("non-minimal integer accepted")
	}
}
