package attest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"
)

// listFile is an endorsement list file with one entry for a fresh key.
func listFile(t testing.TB) []byte {
	t.Helper()
	var l EndorsementList
	if err := l.Add(Endorsement{PublicKey: &newKey(t, elliptic.P256()).PublicKey, ImplementationID: seq(32, 9), Comment: "one"}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := l.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// coseSign signs payload with arbitrary protected headers, so tests can
// build messages SignEndorsements would refuse to make.
func coseSign(t testing.TB, key crypto.Signer, alg cose.Algorithm, prot cose.ProtectedHeader, payload []byte) []byte {
	t.Helper()
	s, err := cose.NewSigner(alg, key)
	if err != nil {
		t.Fatal(err)
	}
	prot[cose.HeaderLabelAlgorithm] = alg
	b, err := cose.Sign1(rand.Reader, s, cose.Headers{Protected: prot}, payload, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSignedEndorsementsRoundTrip(t *testing.T) {
	list := listFile(t)
	for _, c := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		mfr := newKey(t, c)
		signed, err := SignEndorsements(list, "acme", mfr, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		s, err := VerifySignedEndorsements(signed, &mfr.PublicKey)
		if err != nil || s.KeyID != "acme" || !bytes.Equal(s.Payload, list) || s.List.Len() != 1 {
			t.Fatalf("%s: %+v, %v", c.Params().Name, s, err)
		}
		// Any trusted key that verifies; its name is recorded, not the kid.
		other := newKey(t, c)
		who, s, err := VerifyAny(signed, map[string]*ecdsa.PublicKey{"a-other": &other.PublicKey, "factory-7": &mfr.PublicKey, "p256": &newKey(t, elliptic.P256()).PublicKey})
		if err != nil || who != "factory-7" || s.List.Len() != 1 {
			t.Fatalf("%s: VerifyAny = %q, %v", c.Params().Name, who, err)
		}
		// A kid naming a trusted manufacturer whose key does not verify:
		// the signer is whoever's key verifies.
		who, _, err = VerifyAny(signed, map[string]*ecdsa.PublicKey{"acme": &other.PublicKey, "globex": &mfr.PublicKey})
		if err != nil || who != "globex" {
			t.Fatalf("%s: kid of another manufacturer: %q, %v", c.Params().Name, who, err)
		}
	}
	// Without a name there is no kid.
	mfr := newKey(t, elliptic.P256())
	signed, err := SignEndorsements(list, "", mfr, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var m cose.Sign1Message
	if err := m.UnmarshalCBOR(signed); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Headers.Protected[cose.HeaderLabelKeyID]; ok {
		t.Fatal("kid without a manufacturer name")
	}
	if ct := m.Headers.Protected[cose.HeaderLabelContentType]; ct != SignedEndorsementsContentType {
		t.Fatalf("content type %v", ct)
	}
}

func TestSignedEndorsementsRefusals(t *testing.T) {
	list := listFile(t)
	mfr := newKey(t, elliptic.P256())
	signed, err := SignEndorsements(list, "acme", mfr, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := &mfr.PublicKey
	// Signature failures.
	flipped := bytes.Clone(signed)
	flipped[len(flipped)-1] ^= 1
	if _, err := VerifySignedEndorsements(flipped, pub); !errors.Is(err, ErrSignature) {
		t.Errorf("bad signature: %v", err)
	}
	if _, err := VerifySignedEndorsements(signed, &newKey(t, elliptic.P256()).PublicKey); !errors.Is(err, ErrSignature) {
		t.Errorf("wrong key: %v", err)
	}
	if _, err := VerifySignedEndorsements(signed, &newKey(t, elliptic.P384()).PublicKey); !errors.Is(err, ErrSignature) || !strings.Contains(err.Error(), "ES256") {
		t.Errorf("key of another algorithm: %v", err)
	}
	if _, _, err := VerifyAny(signed, map[string]*ecdsa.PublicKey{"acme": &newKey(t, elliptic.P256()).PublicKey}); !errors.Is(err, ErrSignature) || !strings.Contains(err.Error(), "none of the 1 trusted") {
		t.Errorf("untrusted: %v", err)
	}
	if _, _, err := VerifyAny(signed, nil); !errors.Is(err, ErrSignature) {
		t.Errorf("no trusted keys: %v", err)
	}
	// The payload changed after signing, at every byte.
	at := bytes.Index(signed, list)
	for i := range list {
		c := bytes.Clone(signed)
		c[at+i] ^= 0x01
		if _, err := VerifySignedEndorsements(c, pub); err == nil {
			t.Fatalf("payload byte %d changed and verified", i)
		}
	}
	// Every truncation.
	for n := range len(signed) {
		if _, err := VerifySignedEndorsements(signed[:n], pub); err == nil {
			t.Fatalf("prefix %d verified", n)
		}
	}
	edKey := ed25519.NewKeyFromSeed(make([]byte, 32))
	ct := func() cose.ProtectedHeader {
		return cose.ProtectedHeader{cose.HeaderLabelContentType: SignedEndorsementsContentType}
	}
	var m cose.Sign1Message
	m.UnmarshalCBOR(signed)
	detached, _ := cbor.Marshal(cbor.Tag{Number: 18, Content: []any{m.Headers.RawProtected, map[any]any{}, nil, m.Signature}})
	badList := bytes.Replace(list, []byte(`"instance_id": "01`), []byte(`"instance_id": "02`), 1)
	malformed := []struct {
		name string
		in   []byte
		want error
		says string
	}{
		{"empty", nil, ErrEnvelope, "empty"},
		{"not CBOR", []byte("\xff\x00hello"), ErrEnvelope, "COSE_Sign1"},
		{"untagged", signed[1:], ErrEnvelope, "COSE_Sign1"},
		{"trailing byte", append(bytes.Clone(signed), 0), ErrEnvelope, "COSE_Sign1"},
		{"detached payload", detached, ErrEnvelope, "payload"},
		{"no content type", coseSign(t, mfr, cose.AlgorithmES256, cose.ProtectedHeader{}, list), ErrEnvelope, "no content type"},
		{"wrong content type", coseSign(t, mfr, cose.AlgorithmES256, cose.ProtectedHeader{cose.HeaderLabelContentType: "application/cbor"}, list), ErrEnvelope, `"application/cbor"`},
		{"CoAP content format", coseSign(t, mfr, cose.AlgorithmES256, cose.ProtectedHeader{cose.HeaderLabelContentType: uint64(50)}, list), ErrEnvelope, "CoAP"},
		{"EdDSA", coseSign(t, edKey, cose.AlgorithmEdDSA, ct(), list), ErrEnvelope, "algorithm"},
		{"critical header", coseSign(t, mfr, cose.AlgorithmES256, cose.ProtectedHeader{cose.HeaderLabelContentType: SignedEndorsementsContentType, cose.HeaderLabelKeyID: []byte("acme"), cose.HeaderLabelCritical: []any{int64(4)}}, list), ErrEnvelope, "critical"},
		{"kid not UTF-8", coseSign(t, mfr, cose.AlgorithmES256, cose.ProtectedHeader{cose.HeaderLabelContentType: SignedEndorsementsContentType, cose.HeaderLabelKeyID: []byte{0xff, 0xfe}}, list), ErrEnvelope, "kid"},
		{"oversized", make([]byte, MaxSignedEndorsementsSize+1), ErrOversized, "limit"},
		{"list fails attest's checks", coseSign(t, mfr, cose.AlgorithmES256, ct(), badList), ErrEndorsementList, "instance_id"},
		{"not a list", coseSign(t, mfr, cose.AlgorithmES256, ct(), []byte(`{"devices": []}`)), ErrEndorsementList, "payload"},
		{"unsigned list", list, ErrEnvelope, "unsigned endorsement list"},
		{"legacy wrapper", readFile(t, "signed-endorsements-legacy.json"), ErrEnvelope, "rampart-signed-endorsements/1"},
		{"other JSON", []byte(` {"a": 1}`), ErrEnvelope, "JSON"},
	}
	for _, c := range malformed {
		_, err := VerifySignedEndorsements(c.in, pub)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v; want %v saying %q", c.name, err, c.want, c.says)
		} else if testing.Verbose() {
			t.Logf("%s: %v", c.name, err)
		}
		if _, _, err := VerifyAny(c.in, map[string]*ecdsa.PublicKey{"acme": pub}); !errors.Is(err, c.want) {
			t.Errorf("%s: VerifyAny: %v", c.name, err)
		}
	}
	// The legacy refusal says how to re-sign.
	if _, err := ParseSignedEndorsements(readFile(t, "signed-endorsements-legacy.json")); !strings.Contains(err.Error(), "rampart fleet endorsements sign") {
		t.Errorf("legacy refusal without instructions: %v", err)
	}
	// Signing refuses what verifying would refuse.
	if _, err := SignEndorsements(badList, "acme", mfr, rand.Reader); !errors.Is(err, ErrEndorsementList) {
		t.Errorf("signing a bad list: %v", err)
	}
	if _, err := SignEndorsements(list, string([]byte{0xff}), mfr, rand.Reader); !errors.Is(err, ErrEnvelope) {
		t.Errorf("signing with a non-UTF-8 name: %v", err)
	}
	if _, err := SignEndorsements(list, "acme", newKey(t, elliptic.P224()), rand.Reader); !errors.Is(err, ErrKey) {
		t.Errorf("signing with P-224: %v", err)
	}
}

// TestSignedEndorsementsFactoryFile verifies a file written by
// `rampart spe provision` (testdata/README.md says how it was made).
func TestSignedEndorsementsFactoryFile(t *testing.T) {
	pub, err := ParsePublicKeyPEM(readFile(t, "signed-endorsements.pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := VerifySignedEndorsements(readFile(t, "signed-endorsements.cose"), pub)
	if err != nil || s.List.Len() != 1 || s.KeyID != "acme" || s.Alg != cose.AlgorithmES256 {
		t.Fatalf("%+v, %v", s, err)
	}
}

// FuzzVerifySignedEndorsements feeds hostile signed endorsement lists to
// the decoder and verifier: no panic, every error names a sentinel, and
// nothing verifies without a list and the trusted key's name.
func FuzzVerifySignedEndorsements(f *testing.F) {
	pub, err := ParsePublicKeyPEM(readFile(f, "signed-endorsements.pub.pem"))
	if err != nil {
		f.Fatal(err)
	}
	real := readFile(f, "signed-endorsements.cose")
	want, err := VerifySignedEndorsements(real, pub)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(real)
	f.Add(real[:len(real)/2])
	f.Add(readFile(f, "signed-endorsements-legacy.json"))
	f.Add([]byte{0xd2, 0x84, 0x40, 0xa0, 0xf6, 0x40})
	f.Add([]byte(`{"endorsements": []}`))
	trusted := map[string]*ecdsa.PublicKey{"acme": pub}
	f.Fuzz(func(t *testing.T, data []byte) {
		who, s, err := VerifyAny(data, trusted)
		if err == nil {
			if who != "acme" || s.List == nil || !bytes.Equal(s.Payload, want.Payload) {
				t.Fatalf("verified: %q, %+v", who, s)
			}
			return
		}
		if !errors.Is(err, ErrEnvelope) && !errors.Is(err, ErrSignature) && !errors.Is(err, ErrEndorsementList) {
			t.Fatalf("error wraps no sentinel: %v", err)
		}
	})
}
