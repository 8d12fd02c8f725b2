package trust

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"rampart/attest"
	"rampart/fleet/store"
	"rampart/image"
)

func key(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func openDB(t *testing.T) *store.DB {
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestEndorsementImport(t *testing.T) {
	acme, evil := key(t), key(t)
	trusted := map[string]*ecdsa.PublicKey{"acme": &acme.PublicKey}
	l := &attest.EndorsementList{}
	iak := key(t)
	l.Add(attest.Endorsement{PublicKey: &iak.PublicKey, Comment: "one"})
	signed, err := SignEndorsements(l, "acme", acme, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	db := openDB(t)
	res, err := Import(context.Background(), db, signed, trusted, "test")
	if err != nil || res.Manufacturer != "acme" || len(res.Added) != 1 {
		t.Fatalf("Import = %+v, %v", res, err)
	}
	inst, _ := attest.InstanceID(&iak.PublicKey)
	if d, err := db.Device(context.Background(), DeviceID(inst)); err != nil || d.State != store.Registered || len(d.ID) != 32 {
		t.Fatalf("device %+v, %v", d, err)
	}
	// Signed by an untrusted key, or claiming another manufacturer.
	bad, _ := SignEndorsements(l, "acme", evil, rand.Reader)
	if _, err := Import(context.Background(), db, bad, trusted, "test"); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("untrusted signer: %v", err)
	}
	other, _ := SignEndorsements(l, "globex", acme, rand.Reader)
	if _, _, err := VerifyEndorsements(other, trusted); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("unknown manufacturer name: %v", err)
	}
	// A payload changed after signing.
	var s Signed
	json.Unmarshal(signed, &s)
	s.Payload = bytes.Replace(s.Payload, []byte("one"), []byte("two"), 1)
	tampered, _ := json.Marshal(s)
	if _, _, err := VerifyEndorsements(tampered, trusted); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("tampered payload: %v", err)
	}
	for name, in := range map[string]string{"not json": "{", "unknown field": `{"format":"rampart-signed-endorsements/1","x":1}`, "format": `{"format":"v0"}`} {
		if _, _, err := VerifyEndorsements([]byte(in), trusted); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	for i := range len(signed) {
		if _, _, err := VerifyEndorsements(signed[:i], trusted); err == nil {
			t.Fatalf("prefix %d accepted", i)
		}
	}
	if l, _ := db.AuditLog(context.Background(), store.AuditFilter{Action: "endorsements.import", Decision: store.Deny}); len(l) != 1 {
		t.Fatalf("%d refused imports audited, want 1", len(l))
	}
}

func TestRegisterRelease(t *testing.T) {
	rel, other := key(t), key(t)
	v, _ := image.ParseVersion("2.1.3")
	res, err := image.Sign(bytes.Repeat([]byte{7}, 2048), &image.SignOptions{Key: rel, HeaderSize: 0x200, PadHeader: true, Version: v, BootRecord: "SPE", Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	db := openDB(t)
	if _, err := RegisterRelease(context.Background(), db, res.Bytes, []any{&other.PublicKey}, "", "t"); err == nil {
		t.Fatal("image signed by an untrusted key registered")
	}
	r, err := RegisterRelease(context.Background(), db, res.Bytes, []any{&other.PublicKey, &rel.PublicKey}, "c", "t")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := image.KeyHash(&rel.PublicKey, image.SHA256)
	if !bytes.Equal(r.Digest, res.Digest) || !bytes.Equal(r.SignerID, signer) || r.Version != "2.1.3" || r.SwType != "SPE" || r.HashAlg != "SHA256" {
		t.Fatalf("release %+v", r)
	}
	// The reference value equals what the bootloader's boot record reports.
	rec, err := image.MeasuredBootRecord(mustBootRecord(t, res.Bytes), res.Digest)
	if err != nil {
		t.Fatal(err)
	}
	br, _ := image.ParseBootRecord(rec)
	if !bytes.Equal(br.MeasurementValue, r.Digest) || !bytes.Equal(br.SignerID, r.SignerID) || br.Version != r.Version {
		t.Fatalf("boot record %+v vs release %+v", br, r)
	}
	if _, err := RegisterRelease(context.Background(), db, res.Bytes, []any{&rel.PublicKey}, "", "t"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate: %v", err)
	}
	flipped := append([]byte(nil), res.Bytes...)
	flipped[0x200+10] ^= 1
	if _, err := RegisterRelease(context.Background(), db, flipped, []any{&rel.PublicKey}, "", "t"); err == nil {
		t.Fatal("modified image registered")
	}
	if _, err := RegisterRelease(context.Background(), db, res.Bytes[:100], []any{&rel.PublicKey}, "", "t"); err == nil {
		t.Fatal("truncated image registered")
	}
}

func mustBootRecord(t *testing.T, b []byte) []byte {
	img, err := image.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	rec, ok := img.BootRecord()
	if !ok {
		t.Fatal("no boot record")
	}
	return rec
}
