package attest

import (
	"bytes"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"
)

// TestTruncatedTokens: every proper prefix of every vector is rejected.
func TestTruncatedTokens(t *testing.T) {
	for _, v := range vectors {
		tok, opts := v.load(t)
		for n := 0; n < len(tok); n++ {
			if _, err := Parse(tok[:n]); err == nil {
				t.Fatalf("%s: prefix of %d bytes parsed", v.name, n)
			}
			if _, err := Verify(tok[:n], opts); err == nil {
				t.Fatalf("%s: prefix of %d bytes verified", v.name, n)
			}
		}
	}
}

func TestBadEnvelopes(t *testing.T) {
	v := vectors[1]
	tok, opts := v.load(t)
	key := tfmKey(t)
	es384 := func() []byte {
		k := newKey(t, elliptic.P384())
		c := sampleClaims(ProfileRFC9783)
		tk, err := Sign(c, k, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}()
	withAlg := func(alg cose.Algorithm) []byte {
		// A well-formed Sign1 whose header names another algorithm; the
		// signature bytes do not matter, it must be refused before.
		m := cose.NewSign1Message()
		m.Headers.Protected.SetAlgorithm(alg)
		m.Payload = []byte{0xa0}
		m.Signature = make([]byte, 64)
		b, err := m.MarshalCBOR()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	flip := func(i int) []byte {
		b := bytes.Clone(tok)
		b[i] ^= 0x01
		return b
	}
	cases := []struct {
		name  string
		token []byte
		want  error
		text  string
	}{
		{"empty", nil, ErrEnvelope, "empty"},
		{"untagged", tok[1:], ErrEnvelope, "untagged"},
		{"mac0", readFile(t, "psa-iot-1_mac0.bin"), ErrEnvelope, "Mac0"},
		{"cwt tag 61", append([]byte{0xd8, 0x3d}, tok...), ErrEnvelope, "61"},
		{"tag 19", append([]byte{0xd3}, tok[1:]...), ErrEnvelope, "tag 19"},
		{"trailing byte", append(bytes.Clone(tok), 0x00), ErrEnvelope, "trailing"},
		{"indefinite array", append(append([]byte{0xd2, 0x9f}, tok[2:]...), 0xff), ErrEnvelope, ""},
		{"oversized", append(bytes.Clone(tok), make([]byte, MaxTokenSize)...), ErrOversized, ""},
		{"not CBOR", []byte("d28443a10126a0"), ErrEnvelope, ""},
		{"EdDSA header", withAlg(cose.AlgorithmEdDSA), ErrEnvelope, "algorithm"},
		{"PS256 header", withAlg(cose.AlgorithmPS256), ErrEnvelope, "algorithm"},
		{"ES384 token, P-256 key", es384, ErrSignature, "ES384"},
		{"payload bit flipped", flip(len(tok) - 80), ErrSignature, ""},
		{"signature bit flipped", flip(len(tok) - 1), ErrSignature, ""},
	}
	for _, c := range cases {
		_, err := Verify(c.token, opts)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%s: got %v, want %v containing %q", c.name, err, c.want, c.text)
		}
	}
	// The wrong key.
	other := newKey(t, elliptic.P256())
	if _, err := Verify(tok, VerifyOptions{Key: &other.PublicKey, Nonce: opts.Nonce}); !errors.Is(err, ErrSignature) {
		t.Errorf("wrong key: %v", err)
	}
	_ = key
}

func TestNonceOption(t *testing.T) {
	tok, opts := vectors[1].load(t)
	for _, n := range []int{0, 1, 16, 31, 33, 47, 49, 63, 65, 128} {
		opts.Nonce = make([]byte, n)
		if _, err := Verify(tok, opts); !errors.Is(err, ErrNonce) {
			t.Errorf("expected nonce of %d bytes: %v", n, err)
		}
	}
	opts.Nonce = make([]byte, 32) // right size, wrong value
	if _, err := Verify(tok, opts); !errors.Is(err, ErrNonce) {
		t.Errorf("wrong nonce: %v", err)
	}
	key := tfmKey(t)
	for _, n := range []int{1, 31, 33, 65} {
		c := sampleClaims(ProfileRFC9783)
		c.Nonce = make([]byte, n)
		_, err := Sign(c, key, rand.Reader)
		var ce *ClaimError
		if !errors.As(err, &ce) || ce.Claim != "nonce" || !errors.Is(err, ErrClaimSyntax) {
			t.Errorf("signing a %d-byte nonce: %v", n, err)
		}
	}
}

// claimCase edits a valid claims map and expects a named claim error.
type claimCase struct {
	name    string
	profile Profile
	edit    func(m map[any]any, k claimKeys)
	claim   string // the ClaimError.Claim expected
	want    error
}

func TestBadClaims(t *testing.T) {
	long := strings.Repeat("x", MaxTextLen+1)
	comps := func(m map[any]any, k claimKeys) []any { return m[mkey(k.swComponents)].([]any) }
	comp0 := func(m map[any]any, k claimKeys) map[any]any { return comps(m, k)[0].(map[any]any) }
	del := func(get func(claimKeys) int64) func(map[any]any, claimKeys) {
		return func(m map[any]any, k claimKeys) { delete(m, mkey(get(k))) }
	}
	set := func(get func(claimKeys) int64, v any) func(map[any]any, claimKeys) {
		return func(m map[any]any, k claimKeys) { m[mkey(get(k))] = v }
	}
	nonce := func(k claimKeys) int64 { return k.nonce }
	inst := func(k claimKeys) int64 { return k.instanceID }
	impl := func(k claimKeys) int64 { return k.implID }
	client := func(k claimKeys) int64 { return k.clientID }
	lc := func(k claimKeys) int64 { return k.lifecycle }
	seed := func(k claimKeys) int64 { return k.bootSeed }
	cert := func(k claimKeys) int64 { return k.certRef }
	sw := func(k claimKeys) int64 { return k.swComponents }
	vsi := func(k claimKeys) int64 { return k.vsi }
	R, P1 := ProfileRFC9783, ProfileIoT1
	many := make([]any, MaxSoftwareComponents+1)
	for i := range many {
		many[i] = map[any]any{uint64(2): seq(32, 0), uint64(5): seq(32, 0)}
	}
	cases := []claimCase{
		{"nonce missing", R, del(nonce), "nonce", ErrMissingClaim},
		{"nonce missing (P1)", P1, del(nonce), "nonce", ErrMissingClaim},
		{"nonce 33 bytes", R, set(nonce, seq(33, 0)), "nonce", ErrClaimSyntax},
		{"nonce 16 bytes", P1, set(nonce, seq(16, 0)), "nonce", ErrClaimSyntax},
		{"nonce array", R, set(nonce, []any{seq(32, 0)}), "nonce", ErrClaimSyntax},
		{"nonce text", R, set(nonce, strings.Repeat("a", 32)), "nonce", ErrClaimSyntax},
		{"instance-id missing", R, del(inst), "instance-id", ErrMissingClaim},
		{"instance-id 32 bytes", R, set(inst, seq(32, 1)), "instance-id", ErrClaimSyntax},
		{"instance-id type 0x02", R, set(inst, append([]byte{2}, seq(32, 0)...)), "instance-id", ErrClaimSyntax},
		{"implementation-id missing", R, del(impl), "implementation-id", ErrMissingClaim},
		{"implementation-id 31 bytes", P1, set(impl, seq(31, 0)), "implementation-id", ErrClaimSyntax},
		{"client-id missing", R, del(client), "client-id", ErrMissingClaim},
		{"client-id 0", R, set(client, 0), "client-id", ErrClaimSyntax},
		{"client-id 2^31", R, set(client, uint64(1)<<31), "client-id", ErrClaimSyntax},
		{"client-id text", R, set(client, "-1"), "client-id", ErrClaimSyntax},
		{"lifecycle missing", R, del(lc), "security-lifecycle", ErrMissingClaim},
		{"lifecycle 0x7000", R, set(lc, 0x7000), "security-lifecycle", ErrClaimSyntax},
		{"lifecycle 0x3100", R, set(lc, 0x3100), "security-lifecycle", ErrClaimSyntax},
		{"lifecycle 0x10000", R, set(lc, 0x13000), "security-lifecycle", ErrClaimSyntax},
		{"lifecycle negative", R, set(lc, -1), "security-lifecycle", ErrClaimSyntax},
		{"boot-seed 7 bytes", R, set(seed, seq(7, 0)), "boot-seed", ErrClaimSyntax},
		{"boot-seed 33 bytes", R, set(seed, seq(33, 0)), "boot-seed", ErrClaimSyntax},
		{"boot-seed empty", R, set(seed, []byte{}), "boot-seed", ErrClaimSyntax},
		{"boot-seed missing (P1)", P1, del(seed), "boot-seed", ErrMissingClaim},
		{"boot-seed 16 bytes (P1)", P1, set(seed, seq(16, 0)), "boot-seed", ErrClaimSyntax},
		{"certification-reference EAN-13 (RFC)", R, set(cert, "1234567890123"), "certification-reference", ErrClaimSyntax},
		{"certification-reference letters", P1, set(cert, "123456789012x"), "certification-reference", ErrClaimSyntax},
		{"certification-reference oversized", R, set(cert, long), "certification-reference", ErrOversized},
		{"software-components missing", R, del(sw), "software-components", ErrMissingClaim},
		{"software-components empty", R, set(sw, []any{}), "software-components", ErrClaimSyntax},
		{"software-components map", R, set(sw, map[any]any{}), "software-components", ErrClaimSyntax},
		{"software-components oversized", R, set(sw, many), "software-components", ErrOversized},
		{"software-component not a map", R, func(m map[any]any, k claimKeys) { comps(m, k)[1] = seq(32, 0) }, "software-components[1]", ErrClaimSyntax},
		{"measurement-value missing", R, func(m map[any]any, k claimKeys) { delete(comp0(m, k), uint64(2)) }, "software-components[0].measurement-value", ErrMissingClaim},
		{"measurement-value 20 bytes", P1, func(m map[any]any, k claimKeys) { comp0(m, k)[uint64(2)] = seq(20, 0) }, "software-components[0].measurement-value", ErrClaimSyntax},
		{"signer-id missing", R, func(m map[any]any, k claimKeys) { delete(comp0(m, k), uint64(5)) }, "software-components[0].signer-id", ErrMissingClaim},
		{"signer-id text", R, func(m map[any]any, k claimKeys) { comp0(m, k)[uint64(5)] = "key" }, "software-components[0].signer-id", ErrClaimSyntax},
		{"version oversized", R, func(m map[any]any, k claimKeys) { comp0(m, k)[uint64(4)] = long }, "software-components[0].version", ErrOversized},
		{"measurement-type int", R, func(m map[any]any, k claimKeys) { comp0(m, k)[uint64(1)] = 1 }, "software-components[0].measurement-type", ErrClaimSyntax},
		{"verification-service-indicator oversized", R, set(vsi, long), "verification-service-indicator", ErrOversized},
		{"verification-service-indicator bytes", P1, set(vsi, []byte("x")), "verification-service-indicator", ErrClaimSyntax},
		{"no-software-measurements 2 (P1)", P1, func(m map[any]any, k claimKeys) {
			delete(m, mkey(k.swComponents))
			m[mkey(k.noSwMeasurements)] = 2
		}, "no-software-measurements", ErrClaimSyntax},
		{"no-software-measurements with components (P1)", P1, set(func(k claimKeys) int64 { return k.noSwMeasurements }, 1), "software-components", ErrClaimSyntax},
		{"profile int", R, set(func(k claimKeys) int64 { return k.profile }, 1), "profile", ErrClaimSyntax},
	}
	key := tfmKey(t)
	for _, c := range cases {
		m := claimsMap(t, sampleClaims(c.profile))
		c.edit(m, c.profile.keys())
		tok := signRaw(t, key, mustCBOR(t, m))
		_, err := Verify(tok, VerifyOptions{Key: &key.PublicKey, Nonce: seq(32, 0x40)})
		var ce *ClaimError
		if !errors.As(err, &ce) || ce.Claim != c.claim || !errors.Is(err, c.want) {
			t.Errorf("%s: got %v; want a %v error naming %q", c.name, err, c.want, c.claim)
		}
	}
}

func TestProfiles(t *testing.T) {
	key := tfmKey(t)
	verify := func(m map[any]any) error {
		_, err := Verify(signRaw(t, key, mustCBOR(t, m)), VerifyOptions{Key: &key.PublicKey, Nonce: seq(32, 0x40)})
		return err
	}
	m := claimsMap(t, sampleClaims(ProfileRFC9783))
	m[uint64(265)] = "tag:psacertified.org,2023:psa#other"
	if err := verify(m); !errors.Is(err, ErrProfile) || !strings.Contains(err.Error(), "#other") {
		t.Errorf("unknown profile: %v", err)
	}
	delete(m, uint64(265))
	if err := verify(m); !errors.Is(err, ErrProfile) || !errors.Is(err, ErrMissingClaim) {
		t.Errorf("missing profile: %v", err)
	}
	m = claimsMap(t, sampleClaims(ProfileIoT1))
	m[int64(-75000)] = "PSA_IOT_PROFILE_2"
	if err := verify(m); !errors.Is(err, ErrProfile) {
		t.Errorf("unknown legacy profile: %v", err)
	}
	// PSA_IOT_PROFILE_1 made its profile claim optional.
	delete(m, int64(-75000))
	if err := verify(m); err != nil {
		t.Errorf("legacy token without a profile claim: %v", err)
	}
	// Restricting the accepted profiles.
	tok, opts := vectors[1].load(t)
	opts.Profiles = []Profile{ProfileRFC9783}
	if _, err := Verify(tok, opts); !errors.Is(err, ErrProfile) {
		t.Errorf("profile restriction: %v", err)
	}
}

func TestUnknownClaimsIgnored(t *testing.T) {
	key := tfmKey(t)
	c := sampleClaims(ProfileRFC9783)
	m := claimsMap(t, c)
	m[uint64(99999)] = "future claim"
	m[int64(-1)] = []any{1, 2, map[any]any{"a": []byte{1}}}
	m["text-key"] = true
	m[uint64(2397)] = seq(32, 0) // psa/2.0.0's boot seed key means nothing in RFC 9783
	comp0 := m[uint64(2399)].([]any)[0].(map[any]any)
	comp0[uint64(3)] = "reserved key 3"
	got, err := Verify(signRaw(t, key, mustCBOR(t, m)), VerifyOptions{Key: &key.PublicKey, Nonce: c.Nonce})
	if err != nil {
		t.Fatal(err)
	}
	c.InstanceID, _ = InstanceID(&key.PublicKey)
	if !got.Equal(c) {
		t.Fatalf("unknown claims changed the known ones: %+v", got)
	}
}

func TestMalformedPayloads(t *testing.T) {
	key := tfmKey(t)
	good, err := sampleClaimsWithID(t).MarshalPayload()
	if err != nil {
		t.Fatal(err)
	}
	if good[0] < 0xa0 || good[0] > 0xb6 {
		t.Fatalf("test assumes a small map header, got 0x%02x", good[0])
	}
	dupNonce := append([]byte{good[0] + 1}, good[1:]...)
	dupNonce = append(dupNonce, mustCBOR(t, map[int]any{10: seq(32, 0x40)})[1:]...)
	cases := map[string][]byte{
		"duplicate nonce":     dupNonce,
		"indefinite map":      append(append([]byte{0xbf}, good[1:]...), 0xff),
		"array, not a map":    mustCBOR(t, []any{1, 2}),
		"empty":               {},
		"truncated map":       good[:len(good)-1],
		"invalid UTF-8":       invalidUTF8(t),
		"deep nesting":        mustCBOR(t, map[int]any{1: []any{[]any{[]any{[]any{[]any{[]any{[]any{[]any{[]any{1}}}}}}}}}}),
		"trailing garbage":    append(bytes.Clone(good), 0x00),
		"map with 65 entries": manyClaims(t, good),
	}
	for name, p := range cases {
		if _, err := UnmarshalPayload(p); testing.Verbose() {
			t.Logf("%s: %v", name, err)
		}
		if _, err := UnmarshalPayload(p); err == nil {
			t.Errorf("%s: payload accepted", name)
		}
		if _, err := Verify(signRaw(t, key, append([]byte{}, p...)), VerifyOptions{Key: &key.PublicKey, Nonce: seq(32, 0x40)}); err == nil {
			t.Errorf("%s: token verified", name)
		}
	}
}

func sampleClaimsWithID(t *testing.T) *Claims {
	c := sampleClaims(ProfileRFC9783)
	c.InstanceID, _ = InstanceID(&tfmKey(t).PublicKey)
	return c
}

func invalidUTF8(t *testing.T) []byte {
	m := claimsMap(t, sampleClaims(ProfileRFC9783))
	m[uint64(2400)] = string([]byte{0xff, 0xfe})
	return mustCBOR(t, m)
}

func manyClaims(t *testing.T, good []byte) []byte {
	m := map[any]any{}
	if err := cbor.Unmarshal(good, &m); err != nil {
		t.Fatal(err)
	}
	for i := 0; len(m) <= maxMapPairs; i++ {
		m[uint64(100000+i)] = 0
	}
	return mustCBOR(t, m)
}

func TestLifecyclePolicy(t *testing.T) {
	key := tfmKey(t)
	for _, l := range []Lifecycle{0x0000, 0x00ff, 0x1000, 0x2000, 0x3000, 0x30ff, 0x4000, 0x4001, 0x5000, 0x6000} {
		c := sampleClaims(ProfileRFC9783)
		c.Lifecycle = l
		tok, err := Sign(c, key, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Verify(tok, VerifyOptions{Key: &key.PublicKey, Nonce: c.Nonce})
		pass := l.Major() == LifecycleSecured || l.Major() == LifecycleNonPSARoTDebug
		if pass != (err == nil) || (!pass && !errors.Is(err, ErrLifecycle)) {
			t.Errorf("lifecycle %v: %v", l, err)
		}
	}
}

func TestVerifyOptionsNeedOneKeySource(t *testing.T) {
	tok, opts := vectors[1].load(t)
	opts.Key = nil
	if _, err := Verify(tok, opts); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("no key: %v", err)
	}
}
