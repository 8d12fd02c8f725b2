package attest

import (
	"bytes"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// python3 returns an interpreter with cbor2 and cryptography (Debian's
// python3-cbor2 and python3-cryptography), from RAMPART_PYTHON3 or
// /usr/bin/python3, or skips the test.
func python3(t *testing.T) string {
	py := os.Getenv("RAMPART_PYTHON3")
	if py == "" {
		py = "/usr/bin/python3"
	}
	if err := exec.Command(py, "-c", "import cbor2, cryptography").Run(); err != nil {
		t.Skipf("no Python with cbor2 and cryptography at %s (set RAMPART_PYTHON3; Debian: python3-cbor2 python3-cryptography): %v", py, err)
	}
	return py
}

// TestPythonVerifiesRampartTokens: an independent stack (Python cbor2 and
// cryptography/OpenSSL) verifies the signature of tokens Rampart makes, in
// every profile and with ES256 and ES384, reads the same claims, and rejects
// a token whose signature was altered.
func TestPythonVerifiesRampartTokens(t *testing.T) {
	py := python3(t)
	dir := t.TempDir()
	type job struct {
		name   string
		claims *Claims
		alg    int
		bad    bool
	}
	var jobs []job
	var args []string
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384()} {
		key := newKey(t, curve)
		pemKey, err := MarshalPublicKeyPEM(&key.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		pubPath := filepath.Join(dir, curve.Params().Name+".pem")
		if err := os.WriteFile(pubPath, pemKey, 0o644); err != nil {
			t.Fatal(err)
		}
		alg := map[string]int{"P-256": -7, "P-384": -35}[curve.Params().Name]
		for i, p := range Profiles {
			c := sampleClaims(p)
			tok, err := Sign(c, key, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			for _, bad := range []bool{false, true} {
				if bad {
					tok = bytes.Clone(tok)
					tok[len(tok)-1] ^= 1
				}
				path := filepath.Join(dir, curve.Params().Name+strconv.Itoa(i)+strconv.FormatBool(bad))
				if err := os.WriteFile(path, tok, 0o644); err != nil {
					t.Fatal(err)
				}
				args = append(args, path, pubPath)
				jobs = append(jobs, job{curve.Params().Name + " " + string(p), c, alg, bad})
			}
		}
	}
	out, err := exec.Command(py, append([]string{"testdata/python/verify_token.py"}, args...)...).Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	if len(lines) != len(jobs) {
		t.Fatalf("%d results for %d tokens:\n%s", len(lines), len(jobs), out)
	}
	for i, j := range jobs {
		var res struct {
			Error  string         `json:"error"`
			Alg    int            `json:"alg"`
			Claims map[string]any `json:"claims"`
		}
		if err := json.Unmarshal(lines[i], &res); err != nil {
			t.Fatalf("%v: %s", err, lines[i])
		}
		if j.bad {
			if !strings.Contains(res.Error, "InvalidSignature") {
				t.Fatalf("%s: Python accepted an altered signature: %s", j.name, lines[i])
			}
			continue
		}
		if res.Error != "" {
			t.Fatalf("%s: Python: %s", j.name, res.Error)
		}
		c, k := j.claims, j.claims.Profile.keys()
		get := func(key int64) any { return res.Claims[strconv.FormatInt(key, 10)] }
		comps, _ := get(k.swComponents).([]any)
		if res.Alg != j.alg || get(k.profile) != string(c.Profile) || get(k.nonce) != hex.EncodeToString(c.Nonce) ||
			get(k.clientID) != float64(c.ClientID) || get(k.lifecycle) != float64(c.Lifecycle) ||
			get(k.implID) != hex.EncodeToString(c.ImplementationID) || len(comps) != len(c.SoftwareComponents) {
			t.Fatalf("%s: Python read %s", j.name, lines[i])
		}
	}
}
