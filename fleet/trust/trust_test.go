package trust

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"rampart/attest"
	"rampart/fleet/store"
	"rampart/image"
	"rampart/swcomponent"
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

// signList signs l's file form as `rampart spe provision` does.
func signList(t testing.TB, l *attest.EndorsementList, name string, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := l.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	signed, err := attest.SignEndorsements(buf.Bytes(), name, k, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func TestEndorsementImport(t *testing.T) {
	acme, evil, globex := key(t), key(t), key(t)
	trusted := map[string]*ecdsa.PublicKey{"acme": &acme.PublicKey, "globex": &globex.PublicKey}
	l := &attest.EndorsementList{}
	iak := key(t)
	l.Add(attest.Endorsement{PublicKey: &iak.PublicKey, Comment: "one"})
	// The factory names itself "ACME Corp."; the fleet calls the key "acme".
	signed := signList(t, l, "ACME Corp.", acme)
	db := openDB(t)
	res, err := Import(context.Background(), db, signed, trusted, "test")
	if err != nil || res.Manufacturer != "acme" || len(res.Added) != 1 {
		t.Fatalf("Import = %+v, %v", res, err)
	}
	inst, _ := attest.InstanceID(&iak.PublicKey)
	if d, err := db.Device(context.Background(), DeviceID(inst)); err != nil || d.State != store.Registered || len(d.ID) != 32 || d.Manufacturer != "acme" {
		t.Fatalf("device %+v, %v", d, err)
	}
	if res, err := Import(context.Background(), db, signed, trusted, "test"); err != nil || len(res.Updated) != 1 {
		t.Fatalf("re-import = %+v, %v", res, err)
	}
	// Signed by an untrusted key, even when claiming a trusted name.
	bad := signList(t, l, "acme", evil)
	if _, err := Import(context.Background(), db, bad, trusted, "test"); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("untrusted signer: %v", err)
	}
	// A payload changed after signing.
	tampered := bytes.Replace(signed, []byte("one"), []byte("two"), 1)
	if _, _, err := VerifyEndorsements(tampered, trusted); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("tampered payload: %v", err)
	}
	// Malformed input is a bad request, not an untrusted signer.
	legacy := []byte(`{"format":"rampart-signed-endorsements/1","manufacturer":"acme","payload":"e30=","signature":"AA=="}`)
	for name, in := range map[string][]byte{"not COSE": []byte("{"), "legacy": legacy, "truncated": signed[:len(signed)/2], "empty": nil} {
		if _, _, err := VerifyEndorsements(in, trusted); err == nil || errors.Is(err, ErrUntrusted) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, _, err := VerifyEndorsements(legacy, trusted); !strings.Contains(err.Error(), "rampart fleet endorsements sign") {
		t.Errorf("legacy refusal does not say how to re-sign: %v", err)
	}
	if l, _ := db.AuditLog(context.Background(), store.AuditFilter{Action: "endorsements.import", Decision: store.Deny}); len(l) != 1 {
		t.Fatalf("%d refused imports audited, want 1", len(l))
	}
	// The audit names the trusted key that verified and the signer's own kid.
	if l, _ := db.AuditLog(context.Background(), store.AuditFilter{Action: "endorsements.import", Decision: store.Allow}); len(l) != 2 || !strings.Contains(l[0].Reason, `signed by acme (kid "ACME Corp.")`) {
		t.Fatalf("allowed imports audited: %+v", l)
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
	if !bytes.Equal(r.Component.MeasurementValue, res.Digest) || !bytes.Equal(r.Component.SignerID, signer) || r.Component.Version != "2.1.3" || r.Component.MeasurementType != "SPE" || r.Component.MeasurementDescription != "SHA256" {
		t.Fatalf("release %+v", r)
	}
	// The reference value equals the boot record MCUboot saves for attestation.
	rec, err := swcomponent.Measured(mustBootRecord(t, res.Bytes), res.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if br, err := swcomponent.Parse(rec, swcomponent.KnownKeys); err != nil || !br.Equal(&r.Component) {
		t.Fatalf("boot record %v %+v vs release %+v", err, br, r)
	}
	// The stored row reads back as the same component.
	if got, err := db.Release(context.Background(), res.Digest); err != nil || !got.Component.Equal(&r.Component) {
		t.Fatalf("stored release %v %+v", err, got)
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

// A trusted manufacturer cannot take over a device another manufacturer
// endorsed: the import records the others and lists the refusal, audited.
// Once the device is decommissioned the new endorsement is accepted
// (re-provisioning).
func TestEndorsementImportRefusesTakeover(t *testing.T) {
	ctx := context.Background()
	acme, globex := key(t), key(t)
	trusted := map[string]*ecdsa.PublicKey{"acme": &acme.PublicKey, "globex": &globex.PublicKey}
	iak, other := key(t), key(t)
	l := &attest.EndorsementList{}
	l.Add(attest.Endorsement{PublicKey: &iak.PublicKey})
	db := openDB(t)
	if _, err := Import(ctx, db, signList(t, l, "acme", acme), trusted, "test"); err != nil {
		t.Fatal(err)
	}
	l.Add(attest.Endorsement{PublicKey: &other.PublicKey})
	res, err := Import(ctx, db, signList(t, l, "globex", globex), trusted, "test")
	if err != nil || len(res.Refused) != 1 || len(res.Added) != 1 || !strings.Contains(res.Refused[0].Reason, `manufacturer "acme"`) {
		t.Fatalf("takeover import = %+v, %v; want one refused, one added", res, err)
	}
	inst, _ := attest.InstanceID(&iak.PublicKey)
	id := DeviceID(inst)
	if d, _ := db.Device(ctx, id); d.Manufacturer != "acme" {
		t.Fatalf("manufacturer after a refused takeover: %q", d.Manufacturer)
	}
	audit, err := db.AuditLog(ctx, store.AuditFilter{Subject: id, Action: "endorsements.import"})
	if err != nil || len(audit) != 1 || audit[0].Decision != store.Deny {
		t.Fatalf("refusal not audited: %+v, %v", audit, err)
	}
	if _, _, err := db.SetState(ctx, id, store.Decommissioned, "returned", nil); err != nil {
		t.Fatal(err)
	}
	if res, err := Import(ctx, db, signList(t, l, "globex", globex), trusted, "test"); err != nil || len(res.Refused) != 0 {
		t.Fatalf("after decommissioning: %+v, %v", res, err)
	}
	if d, _ := db.Device(ctx, id); d.Manufacturer != "globex" {
		t.Fatalf("manufacturer after re-provisioning: %q", d.Manufacturer)
	}
}
