package certify

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rampart/image"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// copyProject copies testdata/full into a temporary directory so that a test
// can change one file.
func copyProject(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk("testdata/full", func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("testdata/full", path)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func edit(t *testing.T, path, from, to string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), from) {
		t.Fatalf("%s has no %q", path, from)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), from, to, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func assess(t *testing.T, dir string) *Assessment {
	t.Helper()
	p, err := LoadProject(filepath.Join(dir, "rampart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return Assess(p)
}

func result(t *testing.T, a *Assessment, id string) Result {
	t.Helper()
	for _, r := range a.Results {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("no result for %s", id)
	return Result{}
}

func TestCompleteProjectMeetsEverything(t *testing.T) {
	a := assess(t, "testdata/full")
	if len(a.Results) != 19 {
		t.Fatalf("%d results, want 19 (R1.1 to R7.1)", len(a.Results))
	}
	for _, r := range a.Results {
		want := Met
		if r.ID == "R5.1" || r.ID == "R5.2" {
			want = NotApplicable // device.yaml: passwords: none
		}
		if r.Status != want {
			t.Errorf("%s: %s, want %s: %s", r.ID, r.Status, want, r.Answer)
		}
	}
	if a.Failed(true) {
		t.Error("complete project fails")
	}
	if got := result(t, a, "R1.1").Answer; !strings.Contains(got, "ECDSA P-256") {
		t.Errorf("R1.1 answer does not name the key type: %s", got)
	}
	if got := result(t, a, "R4.6").Answer; !strings.Contains(got, "mps2-an505") || !strings.Contains(got, "2 client rule(s)") {
		t.Errorf("R4.6 answer lacks the zone or SPE evidence: %s", got)
	}
}

func TestEvidenceChangesTheAnswer(t *testing.T) {
	cases := []struct {
		name, file, from, to, id, status, evidence string
	}{
		{"debug open", "device.yaml", "debug: locked", "debug: open", "R4.2", NotMet, "device.yaml:2"},
		{"no storage encryption", "device.yaml", "ps_encryption: true", "ps_encryption: false", "R2.2", NotMet, "protected storage encrypted and bound to the device is off"},
		{"no security counter", "image-signing.yaml", "security_counter: auto\n", "", "R1.2", NotMet, "setting security_counter not found"},
		{"bad counter", "image-signing.yaml", "security_counter: auto", "security_counter: -3", "R1.2", NotMet, "neither auto nor a non-negative integer"},
		{"key file missing", "image-signing.yaml", "keys/ecdsa-p256.pub.pem", "keys/nope.pem", "R1.1", NotMet, "key file keys/nope.pem not found"},
		{"lifecycle debug", "device.yaml", "lifecycle: secured", "lifecycle: non-psa-rot-debug", "R4.1", NotMet, "lifecycle is non-psa-rot-debug"},
		{"tls none", "device.yaml", `tls: "1.2"`, "tls: none", "R3.2", NotMet, "network.tls is none"},
		{"misspelt setting", "device.yaml", "trng: true", "trgn: true", "R2.3", NotMet, `line 3: unknown setting "trgn"`},
		{"default passwords", "device.yaml", "passwords: none", "passwords: default", "R5.1", NotMet, "passwords is default"},
		{"per-device passwords", "device.yaml", "passwords: none", "passwords: per-device", "R5.1", Met, "passwords: per-device"},
		{"evidence document missing", "threat-model.yaml", "ref: docs/input-validation.md", "ref: docs/missing.md", "R4.5", Partly, "(docs/missing.md) named by SR.INPUT_CHECKS: not found"},
		{"threat model broken", "threat-model.yaml", "mitigated_by: [O.ANTI_ROLLBACK]", "mitigated_by: [O.NOPE]", "R4.5", Partly, "1 check error(s)"},
		{"spe config invalid", "spe.json", `"client_id": -1`, `"client_id": 1`, "R4.6", NotMet, "non-secure client IDs are negative"},
		{"component on the wrong side", "threat-model.yaml", "    boundary: TB.SPE\n    zone: secure\n", "    boundary: TB.SPE\n    zone: non-secure\n", "R4.6", NotMet, "C.BOOT is declared non-secure but protects D.FIRMWARE, holds D.ROT_KEYS"},
		{"application partition at level 1", "threat-model.yaml", "    zone: secure\n    protects: [D.FIRMWARE]\n  - id: C.APP", "    zone: secure\n    protects: [D.METER_DATA]\n  - id: C.APP", "R4.6", NotMet,
			"SPE isolation level: 1 configured in spe.json, 2 needed by the threat model's partition advice (C.BOOT: PSA RoT: keep its assets from the application RoT partitions (C.FWU)"},
		{"isolation level 3", "spe.json", `"state_dir": "/var/lib/rampart/spe",`, `"state_dir": "/var/lib/rampart/spe", "isolation": 3,`, "R4.6", Met, "SPE isolation level: 3 configured in spe.json, 1 needed"},
		{"zone without non-secure zone", "zone.yaml", "security: non-secure\n    partitions: [CODE_NS, DATA_NS]", "security: secure\n    partitions: [CODE_NS, DATA_NS]", "R4.6", NotMet, "zone"},
	}
	for _, c := range cases {
		dir := copyProject(t)
		edit(t, filepath.Join(dir, c.file), c.from, c.to)
		a := assess(t, dir)
		r := result(t, a, c.id)
		var all []string
		for _, e := range r.Evidence {
			all = append(all, e.Source+": "+e.Found)
		}
		if r.Status != c.status || !strings.Contains(strings.Join(all, "\n"), c.evidence) {
			t.Errorf("%s: %s is %s, want %s with evidence %q; evidence:\n%s", c.name, c.id, r.Status, c.status, c.evidence, strings.Join(all, "\n"))
		}
	}
}

func TestWrongKeyType(t *testing.T) {
	dir := copyProject(t)
	k, err := image.GenerateKey(image.KeyX25519, nil)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, err := image.MarshalPrivateKeyPEM(k)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "keys", "x25519.pem"), pemBytes, 0o600)
	edit(t, filepath.Join(dir, "image-signing.yaml"), "keys/ecdsa-p256.pub.pem", "keys/x25519.pem")
	r := result(t, assess(t, dir), "R1.1")
	if r.Status != NotMet || !strings.Contains(r.Answer, "x25519 key, which cannot sign images") {
		t.Fatalf("x25519 signing key: %s: %s", r.Status, r.Answer)
	}
}

// TestMissingFilesAreNotFound: the named files are absent; certify says so
// for each and does not pass.
func TestMissingFilesAreNotFound(t *testing.T) {
	dir := copyProject(t)
	for _, f := range []string{"device.yaml", "image-signing.yaml", "spe.json", "zone.yaml", "threat-model.yaml"} {
		os.Remove(filepath.Join(dir, f))
	}
	a := assess(t, dir)
	for _, s := range a.Sources {
		if s.Status != "not found" {
			t.Errorf("source %s: %s, want not found", s.Role, s.Status)
		}
	}
	if a.Summary[NotMet] != 19 || !a.Failed(false) {
		t.Errorf("summary %v, want 19 not met", a.Summary)
	}
	for _, r := range a.Results {
		if !strings.Contains(r.Answer, "not found") {
			t.Errorf("%s: answer does not say what was not found: %s", r.ID, r.Answer)
		}
	}
}

func TestExampleProject(t *testing.T) {
	a := assess(t, filepath.Join("..", "examples", "project"))
	// The example names configurations that do not exist yet: it must not
	// pass, and must say "not found" rather than guess.
	if !a.Failed(false) {
		t.Errorf("examples/project passes: %v", a.Summary)
	}
	found := map[string]string{}
	for _, s := range a.Sources {
		found[s.Role] = s.Status
	}
	if found["threat_model"] != "found" || found["zone"] != "found" {
		t.Errorf("example's threat model or zone not found: %v", found)
	}
	for _, role := range []string{"image_signing", "device", "spe"} {
		if _, err := os.Stat(filepath.Join("..", "examples", "project", map[string]string{"image_signing": "image-signing.yaml", "device": "device.yaml", "spe": "spe.json"}[role])); err == nil {
			continue // written since: then it must be found
		}
		if found[role] != "not found" {
			t.Errorf("%s: %q, want not found", role, found[role])
		}
	}
	if r := result(t, a, "R5.2"); r.Status != NotApplicable {
		t.Errorf("R5.2: %s, want not applicable (declared in rampart.yaml)", r.Status)
	}
}

func TestProjectFileErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{"", "p.yaml:1: empty file"},
		{"rampart_project: 2\n", "p.yaml:1: rampart_project: want 1"},
		{"name: x\n", "rampart_project: want 1"},
		{"rampart_project: 1\nthreat_modle: t.yaml\n", `p.yaml:2:1: threat_modle: unknown field "threat_modle"`},
		{"rampart_project: 1\nzone: [a]\n", "p.yaml:2: zone: want a string"},
		{"rampart_project: 1\nnot_applicable:\n  R9.9: because\n", `p.yaml:3: not_applicable: "R9.9" is not`},
		{"rampart_project: 1\nnot_applicable:\n  R5.1: \"\"\n", "p.yaml:3: not_applicable.R5.1: a reason"},
		{"rampart_project: 1\nname: a\nname: b\n", "p.yaml:3: name: field given twice"},
		{"rampart_project: 1\nname: [\n", "p.yaml:2: malformed YAML"},
		{"- a\n", "p.yaml:1: a project file is a mapping"},
		{"rampart_project: 1\nname: &a x\nzone: *a\n", "anchors and aliases"},
	}
	for _, c := range cases {
		_, err := ParseProject("p.yaml", []byte(c.src))
		if err == nil || !errors.Is(err, ErrProject) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want an ErrProject containing %q", c.src, err, c.want)
		}
	}
	if _, err := LoadProject("testdata/none/rampart.yaml"); err == nil || errors.Is(err, ErrProject) {
		t.Errorf("missing project file: %v", err)
	}
}

func TestReportGolden(t *testing.T) {
	a := assess(t, "testdata/full")
	for _, f := range Formats {
		var b bytes.Buffer
		if err := Write(&b, a, f); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", "golden", "full."+f)
		if *update {
			os.MkdirAll(filepath.Dir(path), 0o755)
			if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./certify -run TestReportGolden -update)", err)
		}
		if !bytes.Equal(b.Bytes(), want) {
			t.Errorf("%s differs from the golden file (run with -update if intended)", path)
		}
	}
	var v map[string]any
	var b bytes.Buffer
	Write(&b, a, "json")
	if err := json.Unmarshal(b.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	if err := Write(&b, a, "pdf"); err == nil {
		t.Error("pdf accepted")
	}
}

// FuzzParseProject: the project parser never panics and what it accepts has
// a format version of 1.
func FuzzParseProject(f *testing.F) {
	for _, p := range []string{"testdata/full/rampart.yaml", "../examples/project/rampart.yaml"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("rampart_project: 1\nnot_applicable:\n  R5.1: x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseProject("f.yaml", data)
		if err == nil && p.Lines["rampart_project"] == 0 {
			t.Fatalf("accepted without a version: %q", data)
		}
	})
}

// TestProjectPrefixes: a prefix of a project file either fails to parse or
// parses to fields that are the full file's fields or prefixes of them; it
// never invents a value.
func TestProjectPrefixes(t *testing.T) {
	data, err := os.ReadFile("../examples/project/rampart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	full, err := ParseProject("p.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(data); i++ {
		p, err := ParseProject("p.yaml", data[:i])
		if err != nil {
			continue
		}
		for _, f := range [][2]string{{p.Name, full.Name}, {p.ThreatModel, full.ThreatModel}, {p.Zone, full.Zone}, {p.ImageSigning, full.ImageSigning}, {p.Device, full.Device}, {p.SPE, full.SPE}} {
			if !strings.HasPrefix(f[1], f[0]) {
				t.Fatalf("prefix of %d bytes gives %q, not a prefix of %q", i, f[0], f[1])
			}
		}
		for id, why := range p.NotApplicable {
			if !strings.HasPrefix(full.NotApplicable[id], why) {
				t.Fatalf("prefix of %d bytes gives not_applicable %s %q", i, id, why)
			}
		}
	}
}
