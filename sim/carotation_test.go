package sim

import (
	"context"
	"crypto/x509"
	"flag"
	"testing"
	"time"

	"rampart/agent"
	"rampart/fleet/store"
)

var rotationDevices = flag.Int("sim.rotation-devices", 50, "devices TestCARotation moves to the new fleet CA (1000 for the issue's long run)")

// rotationWorld is one fleet with n devices enrolled and connected.
func rotationWorld(t *testing.T, n int) (*Fleet, []*Device, []*agent.Agent) {
	t.Helper()
	f, err := StartFleet(FleetOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fw, err := f.SignFirmware("1.0.0", 4096)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.RegisterRelease(context.Background(), fw, "test"); err != nil {
		t.Fatal(err)
	}
	o := &owners{a: f, v1: fw}
	devs, agents := o.devicesIn(t, n, f)
	return f, devs, agents
}

// onCA reports whether every agent holds a certificate of ca and trusts
// only it.
func onCA(agents []*agent.Agent, ca *x509.Certificate) (int, bool) {
	n := 0
	for _, a := range agents {
		c := a.Certificate()
		s := a.State()
		if c != nil && a.Connected() && c.CheckSignatureFrom(ca) == nil && s.Fleet != nil && len(s.Fleet.CACerts) == 1 && string(s.Fleet.CACerts[0]) == string(ca.Raw) {
			n++
		}
	}
	return n, n == len(agents)
}

func waitRotated(t *testing.T, f *Fleet, agents []*agent.Agent, ca *x509.Certificate) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		n, all := onCA(agents, ca)
		r, err := f.Server.Store().CARotation(context.Background())
		if all && err == nil && r.State == store.RotationRetired {
			return
		}
		if time.Now().After(deadline) {
			state := ""
			if r != nil {
				state = r.State
			}
			t.Fatalf("after 3 minutes %d of %d devices on the new CA, rotation %s", n, len(agents), state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCARotation rotates the fleet CA under connected devices: the
// successor is staged, the server restarts (and switches to it), each
// device is told its new anchor (vouched for by the cross certificate) at
// the rotation's pace and re-enrolls by attestation; then every device
// holds a certificate of the new CA and trusts only it, the old CA is
// retired, and the broker refuses a certificate of the old CA.
func TestCARotation(t *testing.T) {
	n := *rotationDevices
	if testing.Short() {
		n = min(n, 10)
	}
	f, devs, agents := rotationWorld(t, n)
	ctx := context.Background()
	oldCert := agents[0].Certificate()
	start := time.Now()
	r, err := f.Server.RotateCA(ctx, false, 60000, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Server.RotateCA(ctx, false, 0, "test"); err == nil {
		t.Fatal("a second rotation started while one is staged")
	}
	if err := f.Restart(); err != nil {
		t.Fatal(err)
	}
	newCA := f.Server.CA().Certificate()
	if newCA.Subject.CommonName == oldCert.Issuer.CommonName {
		t.Fatal("the server did not switch to the new CA")
	}
	// The status (one aggregate query): every device active, and still on
	// the predecessor before the loop's first tick told any.
	if p, err := f.Server.Rotation(ctx); err != nil || p.Active != n || p.Pending < 1 || p.Pending > n {
		t.Fatalf("status after the switch: %+v %v, want %d active, 1..%d pending", p, err, n, n)
	}
	waitRotated(t, f, agents, newCA)
	t.Logf("%d devices on CA generation %d in %s", n, r.Generation, time.Since(start).Round(time.Millisecond))
	if p, err := f.Server.Rotation(ctx); err != nil || p.Active != n || p.Pending != 0 || p.Notified < n || p.State != store.RotationRetired {
		t.Fatalf("status once retired: %+v %v, want %d active, none pending, %d told", p, err, n, n)
	}
	if err := dialMQTT(f, oldCert, deviceKey(t, devs[0])); err == nil {
		t.Fatal("the broker accepted a certificate of the retired CA")
	}
	if err := dialMQTT(f, agents[0].Certificate(), deviceKey(t, devs[0])); err != nil {
		t.Fatalf("the broker refused the device's new certificate: %v", err)
	}
	// The next rotation may start now that this one is retired.
	if _, err := f.Server.RotateCA(ctx, false, 0, "test"); err != nil {
		t.Fatalf("next rotation: %v", err)
	}
}

// TestCARotationEmergency: the old CA is untrusted at once (its
// certificates revoked when the server switches); the devices, refused
// by the broker, re-enroll by attestation alone, then learn the new
// anchor.
func TestCARotationEmergency(t *testing.T) {
	f, _, agents := rotationWorld(t, 10)
	ctx := context.Background()
	if _, err := f.Server.RotateCA(ctx, true, 60000, "test"); err != nil {
		t.Fatal(err)
	}
	if err := f.Restart(); err != nil {
		t.Fatal(err)
	}
	waitRotated(t, f, agents, f.Server.CA().Certificate())
}
