package boot

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"rampart/image"
)

// TestBootRecordFromBoot checks the record of a booted image: its hash,
// version, signer ID (SHA-256 of the signing key's SubjectPublicKeyInfo) and
// the measurement type from the image's BOOT_RECORD TLV or the map's name.
func TestBootRecordFromBoot(t *testing.T) {
	r := newRig(t, layouts[0].config(SwapMove, 8, 0xff, 2))
	a := makeImage(t, imgSpec{ver: "1.2.3+4", secCnt: 1, size: 3000, record: "ROT"})
	b := makeImage(t, imgSpec{ver: "0.9.0", secCnt: 1, size: 3000, key: ecdsaKey, seed: 9})
	r.install(0, Primary, a)
	r.install(1, Primary, b)
	res := r.boot()
	recs := res.Records()
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	pub, _ := image.PublicKeyBytes(testKey.Public())
	sid := sha256.Sum256(pub)
	_, v, _ := image.Verify(a, testKey.Public())
	if recs[0].MeasurementType != "ROT" || recs[0].Version != "1.2.3" || !bytes.Equal(recs[0].SignerID, sid[:]) ||
		!bytes.Equal(recs[0].MeasurementValue, v.Digest) || recs[0].MeasurementDescription != "SHA256" {
		t.Fatalf("record 0: %+v", recs[0])
	}
	epub, _ := image.PublicKeyBytes(ecdsaKey.Public())
	esid := sha256.Sum256(epub)
	if recs[1].MeasurementType != "NSPE" || !bytes.Equal(recs[1].SignerID, esid[:]) {
		t.Fatalf("record 1: %+v", recs[1])
	}
}

func TestCountersMonotonic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "otp.json")
	c := NewCounters(2, 3)
	if err := c.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		v      uint32
		raised bool
		want   uint32
	}{{5, true, 5}, {3, false, 5}, {5, false, 5}, {9, true, 9}, {0, false, 9}, {10, true, 10}} {
		raised, err := c.Raise(0, step.v)
		if err != nil || raised != step.raised || c.Get(0) != step.want {
			t.Fatalf("raise to %d: raised %v err %v value %d", step.v, raised, err, c.Get(0))
		}
	}
	if _, err := c.Raise(0, 11); err == nil {
		t.Fatal("a fourth raise with 3 fuse rows succeeded")
	}
	if c.Get(1) != 0 || c.Get(7) != 0 {
		t.Fatal("untouched counters not zero")
	}
	d, err := LoadCounters(path)
	if err != nil || d.Get(0) != 10 {
		t.Fatalf("reload: %v %d", err, d.Get(0))
	}
	if _, err := d.Raise(-1, 1); err == nil {
		t.Fatal("negative index accepted")
	}
}

func TestLoadCountersRejectsMalformed(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"syntax":   `{"banks": [[1,2]`,
		"no fuses": `{"banks": [[1]], "fuses": 0}`,
		"overfull": `{"banks": [[1,2,3]], "fuses": 2}`,
		"type":     `{"banks": "x", "fuses": 4}`,
	} {
		p := filepath.Join(dir, name+".json")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadCounters(p); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

// TestCountersFilePrivate: every counter update rewrites otp.json 0600,
// also over a file an older version left 0644.
func TestCountersFilePrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "otp.json")
	if err := os.WriteFile(path, []byte(`{"banks":[[]],"fuses":4}`), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadCounters(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Raise(0, 3); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(t.TempDir(), "new.json")
	if err := NewCounters(1, 0).SaveAs(fresh); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, fresh} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if m := st.Mode().Perm(); m != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(p), m)
		}
	}
	if d, err := LoadCounters(path); err != nil || d.Get(0) != 3 {
		t.Fatalf("reload: %v", err)
	}
}
