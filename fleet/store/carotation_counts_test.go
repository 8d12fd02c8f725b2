package store_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"testing"
	"time"

	"rampart/fleet/store"
	"rampart/fleet/store/storetest"
)

// TestRotationCounts: the one aggregate query behind the CA rotation's
// status counts what the rotation loop's full read of devices and
// certificates finds: active devices, and those of them with a live
// certificate of the predecessor (a renewed, an expired, a suspended and a
// never enrolled device are not pending).
func TestRotationCounts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Millisecond)
		prev, prevKey := testCA(t, "fleet CA 1")
		next, nextKey := testCA(t, "fleet CA 2")
		serial := 0
		enroll := func(id string, ca *x509.Certificate, key *ecdsa.PrivateKey, notAfter time.Time, from store.State) {
			t.Helper()
			serial++
			der := testLeaf(t, id, serial, ca, key, notAfter)
			c := &store.Certificate{Serial: fmt.Sprintf("%02x", serial), DeviceID: id, NotBefore: now.Add(-time.Hour), NotAfter: notAfter, DER: der}
			if err := db.RecordEnrollment(ctx, c, []store.State{from}, nil); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 6 {
			if _, err := db.PutEndorsement(ctx, dev(fmt.Sprint("d", i))); err != nil {
				t.Fatal(err)
			}
		}
		day := now.Add(24 * time.Hour)
		enroll("d0", prev, prevKey, day, store.Registered) // pending
		enroll("d1", prev, prevKey, day, store.Registered) // renewed under the successor
		enroll("d1", next, nextKey, day, store.Active)
		enroll("d2", prev, prevKey, now.Add(-time.Minute), store.Registered) // expired
		enroll("d3", prev, prevKey, day, store.Registered)                   // suspended
		if _, _, err := db.SetState(ctx, "d3", store.Suspended, "lost", nil); err != nil {
			t.Fatal(err)
		}
		enroll("d4", prev, prevKey, day, store.Registered) // pending
		// d5 never enrolled.

		active, pending, err := db.RotationCounts(ctx, now, prev.RawSubject)
		if err != nil {
			t.Fatal(err)
		}
		wantActive, wantPending := fullRead(t, db, now, prev)
		if active != wantActive || pending != wantPending {
			t.Fatalf("RotationCounts = %d active, %d pending; the full read finds %d, %d", active, pending, wantActive, wantPending)
		}
		if active != 4 || pending != 2 {
			t.Fatalf("RotationCounts = %d active, %d pending; want 4 (d0, d1, d2, d4), 2 (d0, d4)", active, pending)
		}
		if _, pending, _ := db.RotationCounts(ctx, now, next.RawSubject); pending != 1 {
			t.Fatalf("devices with a live certificate of the successor: %d, want 1 (d1)", pending)
		}
	})
}

// fullRead is the rotation loop's computation: every active device and
// every live certificate, parsed.
func fullRead(t *testing.T, db *store.DB, now time.Time, issuer *x509.Certificate) (active, pending int) {
	ctx := context.Background()
	devs, err := db.Devices(ctx, store.Active)
	if err != nil {
		t.Fatal(err)
	}
	live, err := db.LiveCertificates(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	old := map[string]bool{}
	for _, c := range live {
		x, err := x509.ParseCertificate(c.DER)
		if err == nil && bytes.Equal(x.RawIssuer, issuer.RawSubject) {
			old[c.DeviceID] = true
		}
	}
	for _, d := range devs {
		if old[d.ID] {
			pending++
		}
	}
	return len(devs), pending
}

func testCA(t *testing.T, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name, Organization: []string{"Rampart"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, k
}

func testLeaf(t *testing.T, id string, serial int, ca *x509.Certificate, key *ecdsa.PrivateKey, notAfter time.Time) []byte {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(serial)), Subject: pkix.Name{CommonName: id, Organization: []string{"Rampart devices"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
