package attest

import (
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"testing"

	"github.com/veraison/go-cose"
)

func TestSignVerifyRoundTrip(t *testing.T) {
	curves := []struct {
		c   elliptic.Curve
		alg cose.Algorithm
	}{{elliptic.P256(), cose.AlgorithmES256}, {elliptic.P384(), cose.AlgorithmES384}, {elliptic.P521(), cose.AlgorithmES512}}
	for _, cv := range curves {
		key := newKey(t, cv.c)
		for _, p := range Profiles {
			t.Run(cv.alg.String()+"/"+string(p), func(t *testing.T) {
				c := sampleClaims(p)
				if p == ProfileRFC9783 {
					c.BootSeed = seq(8, 0xa0) // RFC 9783 allows 8..32
				}
				tok, err := Sign(c, key, rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				got, err := Verify(tok, VerifyOptions{Key: &key.PublicKey, Nonce: c.Nonce})
				if err != nil {
					t.Fatal(err)
				}
				want := *c
				want.InstanceID, _ = InstanceID(&key.PublicKey)
				if !got.Equal(&want) {
					t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
				}
				parsed, err := Parse(tok)
				if err != nil {
					t.Fatal(err)
				}
				if parsed.Algorithm != cv.alg || !parsed.Claims.Equal(&want) {
					t.Fatalf("Parse: alg %v claims %+v", parsed.Algorithm, parsed.Claims)
				}
			})
		}
	}
}

// TestPayloadRoundTripVectors: decode each vector's claims, re-encode them
// in the same profile, decode again: the claims survive unchanged.
func TestPayloadRoundTripVectors(t *testing.T) {
	for _, v := range vectors {
		tok, err := Parse(readFile(t, v.file))
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		p, err := tok.Claims.MarshalPayload()
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		c, err := UnmarshalPayload(p)
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		if !c.Equal(tok.Claims) {
			t.Fatalf("%s: claims changed in a round trip", v.name)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	for _, p := range Profiles {
		c := sampleClaims(p)
		c.InstanceID = append([]byte{1}, seq(32, 9)...)
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var d Claims
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		if !d.Equal(c) {
			t.Fatalf("%s: JSON round trip changed the claims: %s", p, b)
		}
	}
	var d Claims
	if err := json.Unmarshal([]byte(`{"nonse": "00"}`), &d); err == nil {
		t.Fatal("a misspelt claim in a claims file was accepted")
	}
}

func TestSignComputesInstanceID(t *testing.T) {
	key := tfmKey(t)
	c := sampleClaims(ProfileIoT1)
	tok, err := Sign(c, key, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	// The TF-M tokens signed by this key carry this instance ID.
	want, _ := Parse(readFile(t, "psa-iot-1_sign1.bin"))
	if !equalBytes(got.Claims.InstanceID, want.Claims.InstanceID) {
		t.Fatalf("instance ID %x, the TF-M token has %x", got.Claims.InstanceID, want.Claims.InstanceID)
	}
	if len(c.InstanceID) != 0 {
		t.Fatal("Sign modified the caller's claims")
	}
}

func TestNoSoftwareMeasurements(t *testing.T) {
	key := tfmKey(t)
	c := sampleClaims(ProfileIoT1)
	c.SoftwareComponents = nil
	c.NoSoftwareMeasurements = true
	tok, err := Sign(c, key, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(tok, VerifyOptions{Key: &key.PublicKey, Nonce: c.Nonce})
	if err != nil || !got.NoSoftwareMeasurements {
		t.Fatalf("got %+v, %v", got, err)
	}
	c.Profile = ProfileRFC9783
	if _, err := Sign(c, key, rand.Reader); err == nil {
		t.Fatal("no-software-measurements accepted outside PSA_IOT_PROFILE_1")
	}
}
