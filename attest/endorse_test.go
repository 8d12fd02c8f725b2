package attest

import (
	"bytes"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

func TestEndorsementLookup(t *testing.T) {
	tfm := tfmKey(t)
	other := newKey(t, elliptic.P384())
	var l EndorsementList
	impl := make([]byte, 32)
	copy(impl, bytes.Repeat([]byte{0xaa}, 8))
	implTFM, _ := Parse(readFile(t, "psa-2_0_0_sign1.bin"))
	if err := l.Add(Endorsement{PublicKey: &tfm.PublicKey, ImplementationID: implTFM.Claims.ImplementationID, Comment: "TF-M"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Add(Endorsement{PublicKey: &other.PublicKey, ImplementationID: impl}); err != nil {
		t.Fatal(err)
	}
	// Through the file form.
	var buf bytes.Buffer
	if err := l.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	rl, err := ReadEndorsements(&buf)
	if err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if rl.Len() != 2 {
		t.Fatalf("%d endorsements after a round trip", rl.Len())
	}
	// Both TF-M tokens verify with the key found by instance ID.
	for _, v := range vectors[1:] {
		tok, _ := v.load(t)
		if _, err := Verify(tok, VerifyOptions{Lookup: rl.Lookup, Nonce: v.nonce}); err != nil {
			t.Errorf("%s: %v", v.name, err)
		}
	}
	// The RFC example's placeholder instance ID is not endorsed.
	tok, _ := vectors[0].load(t)
	if _, err := Verify(tok, VerifyOptions{Lookup: rl.Lookup, Nonce: vectors[0].nonce}); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("unendorsed instance: %v", err)
	}
	// A P-384 device whose token carries another implementation ID.
	c := sampleClaims(ProfileRFC9783)
	tok, err = Sign(c, other, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(tok, VerifyOptions{Lookup: rl.Lookup, Nonce: c.Nonce}); !errors.Is(err, ErrEndorsement) {
		t.Errorf("implementation ID mismatch: %v", err)
	}
	c.ImplementationID = impl
	tok, _ = Sign(c, other, rand.Reader)
	if _, err := Verify(tok, VerifyOptions{Lookup: rl.Lookup, Nonce: c.Nonce}); err != nil {
		t.Errorf("P-384 endorsed device: %v", err)
	}
	// A token signed by an unendorsed key claiming an endorsed instance ID.
	c.InstanceID, _ = InstanceID(&other.PublicKey)
	forger := newKey(t, elliptic.P384())
	tok, _ = Sign(c, forger, rand.Reader)
	if _, err := Verify(tok, VerifyOptions{Lookup: rl.Lookup, Nonce: c.Nonce}); !errors.Is(err, ErrSignature) {
		t.Errorf("forged instance ID: %v", err)
	}
}

func TestReadEndorsementsRejects(t *testing.T) {
	pub := strings.ReplaceAll(string(readFile(t, "public.pem")), "\n", `\n`)
	id := "01fa58755f658627ce5460f29b75296713248cae7ad9e2984b90280efcbcb50248"
	obj := func(id, key, extra string) string {
		return `{"instance_id": "` + id + `", "public_key": "` + key + `"` + extra + `}`
	}
	entry := func(id, key, extra string) string { return `{"endorsements": [` + obj(id, key, extra) + `]}` }
	if _, err := ReadEndorsements(strings.NewReader(entry(id, pub, ""))); err != nil {
		t.Fatalf("good list: %v", err)
	}
	bad := map[string]string{
		"not JSON":                   "{",
		"unknown field":              entry(id, pub, `, "instanceid": "x"`),
		"instance ID of another key": entry("01"+strings.Repeat("00", 32), pub, ""),
		"short instance ID":          entry("01fa", pub, ""),
		"not a key":                  entry(id, "hello", ""),
		"short implementation ID":    entry(id, pub, `, "implementation_id": "aa"`),
		"duplicate":                  `{"endorsements": [` + obj(id, pub, "") + `,` + obj(id, pub, "") + `]}`,
	}
	for name, s := range bad {
		if _, err := ReadEndorsements(strings.NewReader(s)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if testing.Verbose() {
			t.Logf("%s: %v", name, err)
		}
	}
}
