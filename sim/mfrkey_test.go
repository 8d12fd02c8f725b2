package sim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"rampart/attest"
	"rampart/fleet/trust"
	"rampart/ownership"
)

// TestManufacturerKeyRotation: devices made under the old manufacturer
// key join a fleet that trusts only the new one, with their endorsement
// lists re-signed by the new key (the lists themselves unchanged): the
// old signature is refused, the re-signed list imported, and every device
// enrolls (the fleet checks a device against its endorsed attestation key,
// not against the key that signed the list). A voucher's first hop signed
// with the old key is refused there too, and one re-issued with the new
// key accepted.
func TestManufacturerKeyRotation(t *testing.T) {
	ctx := context.Background()
	old, err := StartFleet(FleetOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	newMfr, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f, err := StartFleet(FleetOptions{Dir: t.TempDir(), Manufacturer: newMfr, Release: old.Release})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fw, err := old.SignFirmware("1.0.0", 4096)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.RegisterRelease(ctx, fw, "test"); err != nil {
		t.Fatal(err)
	}
	const n = 3
	for i := range n {
		d, err := Manufacture(t.TempDir(), i, old, fw) // provisioned and endorsed under the old key
		if err != nil {
			t.Fatal(err)
		}
		signed, err := os.ReadFile(filepath.Join(d.Dir, SignedEndorsementFile))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.importSigned(ctx, signed); !errors.Is(err, trust.ErrUntrusted) {
			t.Fatalf("device %d: the old key's list imported by a fleet that retired it: %v", i, err)
		}
		se, err := attest.ParseSignedEndorsements(signed)
		if err != nil {
			t.Fatal(err)
		}
		resigned, err := attest.SignEndorsements(se.Payload, MfrName, newMfr, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.importSigned(ctx, resigned); err != nil {
			t.Fatalf("device %d: re-signed list: %v", i, err)
		}
		stale, _ := ownership.Issue(old.Mfr, d.Endorse.InstanceID, f.Server.Transfer().OwnerKey(), ownership.Signing{})
		b, _ := stale.Marshal()
		if _, err := f.Server.Transfer().Import(ctx, b, "test"); !errors.Is(err, ownership.ErrSignature) {
			t.Fatalf("device %d: a voucher from the old manufacturer key: %v", i, err)
		}
		if _, err := f.IssueVoucher(ctx, d); err != nil {
			t.Fatalf("device %d: a voucher from the new manufacturer key: %v", i, err)
		}
		if _, err := d.PowerOn(); err != nil {
			t.Fatal(err)
		}
		a, err := d.StartAgent(f, AgentOptions{Backoff: fastBackoff, Interval: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { a.Run(rctx); close(done) }()
		waitFor(t, "enrollment after the manufacturer key rotation", func() bool { return a.Connected() && issuedBy(a.Certificate(), f) })
		cancel()
		<-done
		d.PowerOff()
	}
}
