package attest

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"rampart/internal/cborscan"
	"rampart/swcomponent"
)

// vector is a real token from testdata with what verifying it needs.
type vector struct {
	name, file, key string
	nonce           []byte
	profile         Profile
	// instanceIDIsKeyHash: the token's instance ID is 0x01||SHA-256(key).
	instanceIDIsKeyHash bool
}

var vectors = []vector{
	{"rfc9783-example", "rfc-sign1.cbor", "rfc-es-iak.pub.pem", bytes.Repeat([]byte{1}, 32), ProfileRFC9783, false},
	{"tfm-psa-iot-1", "psa-iot-1_sign1.bin", "public.pem", make([]byte, 64), ProfileIoT1, true},
	{"tfm-psa-2.0.0", "psa-2_0_0_sign1.bin", "public.pem", make([]byte, 64), ProfilePSA2, true},
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (v vector) load(t testing.TB) ([]byte, VerifyOptions) {
	t.Helper()
	key, err := ParsePublicKeyPEM(readFile(t, v.key))
	if err != nil {
		t.Fatal(err)
	}
	return readFile(t, v.file), VerifyOptions{Key: key, Nonce: v.nonce, AllowInstanceIDMismatch: !v.instanceIDIsKeyHash}
}

func TestVectorsVerify(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			tok, opts := v.load(t)
			c, err := Verify(tok, opts)
			if err != nil {
				t.Fatal(err)
			}
			if c.Profile != v.profile || c.Lifecycle != LifecycleSecured || !bytes.Equal(c.Nonce, v.nonce) {
				t.Fatalf("claims: profile %q lifecycle %v nonce %x", c.Profile, c.Lifecycle, c.Nonce)
			}
			// The instance ID rule, checked on real tokens: strict mode passes
			// exactly when the vector's instance ID is the hash of its key.
			opts.AllowInstanceIDMismatch = false
			_, err = Verify(tok, opts)
			if v.instanceIDIsKeyHash != (err == nil) {
				t.Fatalf("strict instance ID check: %v", err)
			}
			if err != nil && !errors.Is(err, ErrInstanceID) {
				t.Fatalf("strict instance ID check: %v, want ErrInstanceID", err)
			}
		})
	}
}

// TestPSA2Claims checks every decoded claim of the TF-M psa/2.0.0 token
// against psa-2_0_0_claims.diag (written independently of this decoder).
func TestPSA2Claims(t *testing.T) {
	tok, err := Parse(readFile(t, "psa-2_0_0_sign1.bin"))
	if err != nil {
		t.Fatal(err)
	}
	h := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	want := &Claims{
		Profile:          ProfilePSA2,
		Nonce:            make([]byte, 64),
		BootSeed:         h("A0A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3B4B5B6B7B8B9BABBBCBDBEBF"),
		InstanceID:       h("01FA58755F658627CE5460F29B75296713248CAE7AD9E2984B90280EFCBCB50248"),
		ImplementationID: h("AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"),
		ClientID:         3002,
		Lifecycle:        0x3000,
		SoftwareComponents: []swcomponent.Component{
			{MeasurementType: "SPE", Version: "1.6.0", SignerID: h("BFE6D86F8826F4FF97FB96C4E6FBC4993E4619FC565DA26ADF34C329489ADC38"),
				MeasurementDescription: "SHA256", MeasurementValue: h("96A2EC56C65120A60CE3A53EF8D2082233772AACD5B17935A92BE12AC577F685")},
			{MeasurementType: "NSPE", Version: "0.0.0", SignerID: h("B360CAF5C98C6B942A4882FA9D4823EFB166A9EF6A6E4AA37C1919ED1FCCC049"),
				MeasurementDescription: "SHA256", MeasurementValue: h("087D13C68F32AAAFB8C4FC0A2253445432009765E216FB85C398C9580522C1BF")},
		},
		VerificationService:    "www.trustedfirmware.org",
		CertificationReference: "0604565272829-10010",
	}
	if !tok.Claims.Equal(want) {
		t.Fatalf("decoded claims differ from the diag:\n got %+v\nwant %+v", tok.Claims, want)
	}
}

// TestInstanceIDOfTFMKey recomputes the TF-M tokens' instance ID from the key.
func TestInstanceIDOfTFMKey(t *testing.T) {
	key, err := ParsePublicKeyPEM(readFile(t, "public.pem"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := InstanceID(key)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(id); got != "01fa58755f658627ce5460f29b75296713248cae7ad9e2984b90280efcbcb50248" {
		t.Fatalf("instance ID %s", got)
	}
}

// TestRFCKeyMatchesJWK checks that rfc-es-iak.pub.pem is the JWK published
// in RFC 9783 (rfc-es-iak.json), so the example verifies with the RFC's key.
func TestRFCKeyMatchesJWK(t *testing.T) {
	var jwk struct{ Crv, X, Y string }
	if err := json.Unmarshal(readFile(t, "rfc-es-iak.json"), &jwk); err != nil {
		t.Fatal(err)
	}
	x, err1 := base64.RawURLEncoding.DecodeString(jwk.X)
	y, err2 := base64.RawURLEncoding.DecodeString(jwk.Y)
	if err1 != nil || err2 != nil || jwk.Crv != "P-256" {
		t.Fatalf("JWK: %v %v %q", err1, err2, jwk.Crv)
	}
	key, err := ParsePublicKeyPEM(readFile(t, "rfc-es-iak.pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	point, _ := key.Bytes()
	if !bytes.Equal(point, append(append([]byte{4}, x...), y...)) {
		t.Fatal("rfc-es-iak.pub.pem is not the RFC's JWK")
	}
}

// TestComponentVectors: the software-component vectors in
// swcomponent/testdata are the components of the tokens here, byte for
// byte, and the claims decode them to what swcomponent reads from them.
func TestComponentVectors(t *testing.T) {
	for _, c := range []struct {
		token string
		files []string
	}{
		{"rfc-sign1.cbor", []string{"rfc9783-0.cbor"}},
		{"psa-2_0_0_sign1.bin", []string{"tfm-psa2-0.cbor", "tfm-psa2-1.cbor"}},
		{"psa-iot-1_sign1.bin", []string{"tfm-iot1-0.cbor"}},
	} {
		env, err := decodeEnvelope(readFile(t, c.token))
		if err != nil {
			t.Fatal(err)
		}
		m, p, err := splitClaims(env.payload, nil)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := cborscan.Lookup(m, p.keys().swComponents)
		items, _, err := readArray(raw, nameSwComponents, MaxSoftwareComponents)
		if err != nil {
			t.Fatal(err)
		}
		claims, err := UnmarshalPayload(env.payload)
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range c.files {
			want, err := os.ReadFile(filepath.Join("..", "swcomponent", "testdata", f))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(items[i], want) {
				t.Errorf("%s: component %d is not swcomponent/testdata/%s", c.token, i, f)
			}
			sc, err := swcomponent.Parse(want, swcomponent.AnyKeys)
			if err != nil || !sc.Equal(&claims.SoftwareComponents[i]) {
				t.Errorf("%s: component %d decodes differently: %v", c.token, i, err)
			}
		}
	}
}
