package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const attestTD = "../attest/testdata/"

var (
	attestNonceRFC = strings.Repeat("01", 32)
	attestNonceTFM = strings.Repeat("00", 64)
)

func TestAttestVerifyVectors(t *testing.T) {
	for _, c := range []struct{ key, nonce, token string }{
		{"rfc-es-iak.pub.pem", attestNonceRFC, "rfc-sign1.cbor"},
		{"public.pem", attestNonceTFM, "psa-iot-1_sign1.bin"},
		{"public.pem", attestNonceTFM, "psa-2_0_0_sign1.bin"},
		{"rfc-es-iak.pub.pem", attestNonceRFC, "rfc-sign1.hex"},
	} {
		code, out, stderr := run(t, "attest", "verify", "--key", attestTD+c.key, "--nonce", c.nonce, attestTD+c.token)
		if code != ExitOK || !strings.Contains(out, "token verified (ES256)") || !strings.Contains(out, "security-lifecycle") {
			t.Fatalf("%s: exit %d\n%s%s", c.token, code, out, stderr)
		}
	}
	// The RFC example's placeholder instance ID: a warning, or a failure when strict.
	code, _, stderr := run(t, "attest", "verify", "--key", attestTD+"rfc-es-iak.pub.pem", "--nonce", attestNonceRFC, attestTD+"rfc-sign1.cbor")
	if code != ExitOK || !strings.Contains(stderr, "warning: the token's instance ID") {
		t.Fatalf("lenient: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = run(t, "attest", "verify", "--strict-instance-id", "--key", attestTD+"rfc-es-iak.pub.pem", "--nonce", attestNonceRFC, attestTD+"rfc-sign1.cbor")
	if code != ExitFailure || !strings.Contains(stderr, "instance ID does not match") {
		t.Fatalf("strict: exit %d, stderr %q", code, stderr)
	}
}

func TestAttestVerifyJSON(t *testing.T) {
	code, out, _ := run(t, "attest", "verify", "--json", "--key", attestTD+"public.pem", "--nonce", attestNonceTFM, attestTD+"psa-2_0_0_sign1.bin")
	var r struct {
		Valid  bool `json:"valid"`
		Claims struct {
			Profile            string `json:"profile"`
			ClientID           int    `json:"client-id"`
			SoftwareComponents []struct {
				Type string `json:"measurement-type"`
			} `json:"software-components"`
		} `json:"claims"`
		Match *bool `json:"instance_id_matches_key"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != ExitOK {
		t.Fatalf("exit %d, %v\n%s", code, err, out)
	}
	if !r.Valid || r.Claims.Profile != "http://arm.com/psa/2.0.0" || r.Claims.ClientID != 3002 ||
		len(r.Claims.SoftwareComponents) != 2 || r.Claims.SoftwareComponents[1].Type != "NSPE" || r.Match == nil || !*r.Match {
		t.Fatalf("JSON: %s", out)
	}
	// A failing token still prints JSON, with the reason.
	code, out, _ = run(t, "attest", "verify", "--json", "--key", attestTD+"public.pem", "--nonce", attestNonceRFC, attestTD+"psa-2_0_0_sign1.bin")
	if code != ExitFailure || !strings.Contains(out, `"valid": false`) || !strings.Contains(out, "nonce mismatch") {
		t.Fatalf("failing JSON: exit %d\n%s", code, out)
	}
}

func TestAttestVerifyExitCodes(t *testing.T) {
	dir := t.TempDir()
	trunc := filepath.Join(dir, "trunc.cbor")
	tok, err := os.ReadFile(attestTD + "rfc-sign1.cbor")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(trunc, tok[:200], 0o644); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(notPEM, []byte("not a key"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		code int
		text string
	}{
		{"wrong nonce", []string{"--key", attestTD + "public.pem", "--nonce", attestNonceRFC, attestTD + "psa-iot-1_sign1.bin"}, ExitFailure, "nonce mismatch"},
		{"wrong key", []string{"--key", attestTD + "rfc-es-iak.pub.pem", "--nonce", attestNonceTFM, attestTD + "psa-iot-1_sign1.bin"}, ExitFailure, "signature"},
		{"truncated", []string{"--key", attestTD + "rfc-es-iak.pub.pem", "--nonce", attestNonceRFC, trunc}, ExitFailure, "envelope"},
		{"mac0", []string{"--key", attestTD + "public.pem", "--nonce", attestNonceTFM, attestTD + "psa-iot-1_mac0.bin"}, ExitFailure, "Mac0"},
		{"nonce 33 bytes", []string{"--key", attestTD + "public.pem", "--nonce", strings.Repeat("00", 33), attestTD + "psa-iot-1_sign1.bin"}, ExitUsage, "33 bytes"},
		{"nonce not hex", []string{"--key", attestTD + "public.pem", "--nonce", "xyz", attestTD + "psa-iot-1_sign1.bin"}, ExitUsage, "hex"},
		{"no nonce", []string{"--key", attestTD + "public.pem", attestTD + "psa-iot-1_sign1.bin"}, ExitUsage, "nonce"},
		{"no key", []string{"--nonce", attestNonceTFM, attestTD + "psa-iot-1_sign1.bin"}, ExitUsage, "--key"},
		{"two keys", []string{"--key", "a", "--endorsements", "b", "--nonce", attestNonceTFM, "t"}, ExitUsage, "--key"},
		{"no token", []string{"--key", attestTD + "public.pem", "--nonce", attestNonceTFM}, ExitUsage, "TOKEN"},
		{"bad profile", []string{"--profile", "psa9", "--key", attestTD + "public.pem", "--nonce", attestNonceTFM, "t"}, ExitUsage, "profile"},
		{"missing token file", []string{"--key", attestTD + "public.pem", "--nonce", attestNonceTFM, filepath.Join(dir, "none")}, ExitError, "reading the token"},
		{"missing key file", []string{"--key", filepath.Join(dir, "none"), "--nonce", attestNonceTFM, attestTD + "psa-iot-1_sign1.bin"}, ExitError, "reading the key"},
		{"key not PEM", []string{"--key", notPEM, "--nonce", attestNonceTFM, attestTD + "psa-iot-1_sign1.bin"}, ExitError, "PEM"},
		{"profile not accepted", []string{"--profile", "rfc9783", "--key", attestTD + "public.pem", "--nonce", attestNonceTFM, attestTD + "psa-iot-1_sign1.bin"}, ExitFailure, "profile"},
	}
	for _, c := range cases {
		code, _, stderr := run(t, append([]string{"attest", "verify"}, c.args...)...)
		if code != c.code || !strings.Contains(stderr, c.text) {
			t.Errorf("%s: exit %d (want %d), stderr %q (want %q)", c.name, code, c.code, stderr, c.text)
		}
	}
}

// TestAttestCreateVerifyEndorse: a claims file becomes a token in each
// profile; the token verifies by key and through an endorsement list.
func TestAttestCreateVerifyEndorse(t *testing.T) {
	dir := t.TempDir()
	claims := filepath.Join(dir, "claims.json")
	impl := strings.Repeat("ab", 32)
	if err := os.WriteFile(claims, []byte(`{
  "implementation-id": "`+impl+`",
  "client-id": -1,
  "security-lifecycle": 12288,
  "boot-seed": "`+strings.Repeat("5a", 32)+`",
  "software-components": [
    {"measurement-type": "BL", "measurement-value": "`+strings.Repeat("11", 32)+`", "version": "1.2.3", "signer-id": "`+strings.Repeat("22", 32)+`"}
  ]
}`), 0o644); err != nil {
		t.Fatal(err)
	}
	nonce := strings.Repeat("7e", 48)
	for _, p := range []string{"rfc9783", "psa2", "iot1"} {
		tok := filepath.Join(dir, p+".cbor")
		code, _, stderr := run(t, "attest", "create", "--key", attestTD+"key.pem", "--claims", claims, "--nonce", nonce, "--profile", p, "--out", tok)
		if code != ExitOK {
			t.Fatalf("create %s: exit %d: %s", p, code, stderr)
		}
		code, out, stderr := run(t, "attest", "verify", "--strict-instance-id", "--key", attestTD+"public.pem", "--nonce", nonce, tok)
		if code != ExitOK || !strings.Contains(out, "1.2.3") {
			t.Fatalf("verify %s: exit %d\n%s%s", p, code, out, stderr)
		}
	}
	code, list, stderr := run(t, "attest", "endorse", "--implementation-id", impl, attestTD+"public.pem")
	if code != ExitOK {
		t.Fatalf("endorse: exit %d: %s", code, stderr)
	}
	endorsements := filepath.Join(dir, "fleet.json")
	if err := os.WriteFile(endorsements, []byte(list), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := run(t, "attest", "verify", "--endorsements", endorsements, "--nonce", nonce, filepath.Join(dir, "iot1.cbor")); code != ExitOK {
		t.Fatalf("verify by endorsement: exit %d\n%s%s", code, out, stderr)
	}
	// The TF-M token carries another implementation ID than the one endorsed.
	if code, _, stderr := run(t, "attest", "verify", "--endorsements", endorsements, "--nonce", attestNonceTFM, attestTD+"psa-iot-1_sign1.bin"); code != ExitFailure || !strings.Contains(stderr, "implementation-id") {
		t.Fatalf("endorsed implementation ID: exit %d, %s", code, stderr)
	}
	// Claims the profile forbids fail to sign, naming the claim.
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"implementation-id": "`+impl+`", "client-id": 0, "security-lifecycle": 12288}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, "attest", "create", "--key", attestTD+"key.pem", "--claims", bad, "--nonce", nonce, "--out", filepath.Join(dir, "x")); code != ExitFailure || !strings.Contains(stderr, "client-id") {
		t.Fatalf("bad claims: exit %d, %s", code, stderr)
	}
}

func TestAttestCreateHex(t *testing.T) {
	dir := t.TempDir()
	claims := filepath.Join(dir, "claims.json")
	if err := os.WriteFile(claims, []byte(`{"implementation-id": "`+strings.Repeat("cd", 32)+`", "client-id": 5,
  "security-lifecycle": 16384, "software-components": [{"measurement-value": "`+strings.Repeat("11", 48)+`", "signer-id": "`+strings.Repeat("22", 64)+`"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := run(t, "attest", "create", "--hex", "--key", attestTD+"key.pem", "--claims", claims, "--nonce", attestNonceRFC, "--out", "-")
	if code != ExitOK || !strings.HasPrefix(out, "d2") {
		t.Fatalf("create --hex: exit %d, %q %s", code, out, stderr)
	}
	tok := filepath.Join(dir, "tok.hex")
	if err := os.WriteFile(tok, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := run(t, "attest", "verify", "--key", attestTD+"public.pem", "--nonce", attestNonceRFC, tok); code != ExitOK || !strings.Contains(out, "non-psa-rot-debug") {
		t.Fatalf("verify hex token: exit %d\n%s%s", code, out, stderr)
	}
}
