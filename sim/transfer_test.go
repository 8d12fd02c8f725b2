package sim

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"net"
	"sync"
	"testing"
	"time"

	"rampart/agent"
	"rampart/attest"
	"rampart/deviceproto"
	"rampart/fleet/store"
	"rampart/ownership"
	"rampart/psaclient"
)

var transferDevices = flag.Int("sim.transfer-devices", 100, "devices TestTransferAToB moves from fleet A to fleet B")

// owners is fleet A (the devices' first owner) and fleet B (the buyer),
// two real servers that trust the same manufacturer and firmware.
type owners struct {
	a, b *Fleet
	v1   []byte
}

func newOwners(t *testing.T) *owners {
	t.Helper()
	a, err := StartFleet(FleetOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err := StartFleet(FleetOptions{Dir: t.TempDir(), Manufacturer: a.Mfr, Release: a.Release})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	o := &owners{a: a, b: b}
	if o.v1, err = a.SignFirmware("1.0.0", 4096); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*Fleet{a, b} {
		if err := f.RegisterRelease(context.Background(), o.v1, "test"); err != nil {
			t.Fatal(err)
		}
	}
	return o
}

// devices makes n devices owned by A (voucher from the manufacturer to A),
// endorsed in both fleets, enrolled and connected in A.
func (o *owners) devices(t *testing.T, n int) ([]*Device, []*agent.Agent) {
	return o.devicesIn(t, n, o.a, o.b)
}

// devicesIn makes n devices endorsed in fleets (the first owns them, has
// their voucher and enrolls them).
func (o *owners) devicesIn(t *testing.T, n int, fleets ...*Fleet) ([]*Device, []*agent.Agent) {
	t.Helper()
	ctx := context.Background()
	devs := make([]*Device, n)
	var mu sync.Mutex
	var errs error
	parallel(4, n, func(i int) {
		d, err := Manufacture(t.TempDir(), i, o.a, o.v1)
		if err == nil {
			_, err = d.PowerOn()
		}
		mu.Lock()
		devs[i], errs = d, errors.Join(errs, err)
		mu.Unlock()
	})
	if errs != nil {
		t.Fatal(errs)
	}
	for _, d := range devs {
		t.Cleanup(d.PowerOff)
	}
	for _, f := range fleets {
		if err := f.Endorse(ctx, devs); err != nil {
			t.Fatal(err)
		}
	}
	agents := make([]*agent.Agent, n)
	for i, d := range devs {
		if _, err := o.a.IssueVoucher(ctx, d); err != nil {
			t.Fatal(err)
		}
		a, err := d.StartAgent(o.a, AgentOptions{Interval: time.Second, Backoff: fastBackoff})
		if err != nil {
			t.Fatal(err)
		}
		agents[i] = a
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { a.Run(rctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done; a.Close() })
	}
	for i, a := range agents {
		waitLong(t, "device enrolled and connected in A", func() bool { return a.Connected() && issuedBy(agents[i].Certificate(), o.a) })
	}
	return devs, agents
}

func issuedBy(c *x509.Certificate, f *Fleet) bool {
	return c != nil && f.Server.CA().IsIssuer(c)
}

func waitLong(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTransferAToB moves every device from fleet A to fleet B: A extends
// each voucher to B, B imports it and answers with its ticket, A releases
// the device (a signed transfer message). Each device acknowledges to A,
// destroys its key, forgets A and enrolls in B: then every device is active
// and connected in B, decommissioned in A with every A certificate
// revoked, and nothing it holds opens A (its old key is gone from its SPE,
// its new certificate is not A's).
func TestTransferAToB(t *testing.T) {
	n := *transferDevices
	if testing.Short() {
		n = min(n, 10)
	}
	o := newOwners(t)
	devs, agents := o.devices(t, n)
	ctx := context.Background()
	oldCerts := make([]*x509.Certificate, n)
	for i, a := range agents {
		oldCerts[i] = a.Certificate()
	}
	start := time.Now()
	for _, a := range agents {
		if _, err := o.a.Sell(ctx, a.DeviceID(), o.b); err != nil {
			t.Fatal(err)
		}
	}
	for i, a := range agents {
		waitLong(t, "device moved to B", func() bool {
			s := a.State()
			return s.Moving == nil && s.Fleet != nil && a.Connected() && issuedBy(agents[i].Certificate(), o.b)
		})
	}
	t.Logf("%d devices moved from A to B in %s", n, time.Since(start).Round(time.Millisecond))
	for i, a := range agents {
		id := a.DeviceID()
		waitLong(t, "device revoked in A", func() bool {
			d, err := o.a.Server.Store().Device(ctx, id)
			return err == nil && d.State == store.Decommissioned
		})
		if d, err := o.b.Server.Store().Device(ctx, id); err != nil || d.State != store.Active {
			t.Fatalf("device %s in B: %+v %v", id, d, err)
		}
		certs, err := o.a.Server.Store().Certificates(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range certs {
			if c.Revoked.IsZero() {
				t.Fatalf("device %s: A certificate %s not revoked", id, c.Serial)
			}
		}
		// Crypto-shredded: the key A certified is no longer the device's.
		if pub := a.Certificate().PublicKey.(*ecdsa.PublicKey); pub.Equal(oldCerts[i].PublicKey) {
			t.Fatalf("device %s still holds the key A certified", id)
		}
	}
	// What the device holds now does not open A: its certificate is B's,
	// and A's MQTT broker refuses it.
	key := deviceKey(t, devs[0])
	if err := dialMQTT(o.a, agents[0].Certificate(), key); err == nil {
		t.Fatal("A's broker accepted the device's certificate from B")
	}
	if err := dialMQTT(o.a, oldCerts[0], key); err == nil {
		t.Fatal("A's broker accepted A's old certificate with the device's key")
	}
	// The probe itself works: B accepts the device's credentials.
	if err := dialMQTT(o.b, agents[0].Certificate(), key); err != nil {
		t.Fatalf("B refused the device: %v", err)
	}
}

// TestTransferRefusals: the voucher checks at the buyer's import, and the
// device's own checks of a transfer message.
func TestTransferRefusals(t *testing.T) {
	o := newOwners(t)
	devs, agents := o.devices(t, 3)
	ctx := context.Background()
	ta, tb := o.a.Server.Transfer(), o.b.Server.Transfer()
	id0, id1 := agents[0].DeviceID(), agents[1].DeviceID()

	// The buyer refuses a forged voucher (a hop signed by a key that
	// does not own the device), one for another device, and one with a
	// hop skipped.
	thief, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := ownership.Issue(thief, devs[0].Endorse.InstanceID, tb.OwnerKey(), ownership.Signing{Name: MfrName})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Import(ctx, mustMarshal(t, forged), "test"); !errors.Is(err, ownership.ErrSignature) {
		t.Fatalf("forged voucher imported: %v", err)
	}
	ext0, err := ta.Extend(ctx, id0, tb.OwnerKey(), "test")
	if err != nil {
		t.Fatal(err)
	}
	// A voucher for another device: device 0's chain under device 1's
	// name is device 0's; B imports it for device 0, not 1, and A will
	// not release device 1 with it.
	imp0, err := tb.Import(ctx, ext0, "test")
	if err != nil || imp0.DeviceID != id0 {
		t.Fatalf("import: %+v %v", imp0, err)
	}
	if _, err := ta.Release(ctx, id1, ext0, imp0.Ticket, "test"); !errors.Is(err, ownership.ErrDevice) {
		t.Fatalf("device 1 released with device 0's voucher: %v", err)
	}
	v, _ := ownership.Parse(ext0)
	skipped := &ownership.Voucher{Raw: v.Raw[1:]}
	if _, err := tb.Import(ctx, mustMarshal(t, skipped), "test"); err == nil {
		t.Fatal("a voucher without its first hop imported")
	}
	// Replay: the same voucher again is not newer than the one recorded.
	if _, err := tb.Import(ctx, ext0, "test"); !errors.Is(err, ownership.ErrReplayed) {
		t.Fatalf("voucher imported twice: %v", err)
	}

	// A device that was not released refuses a new owner: B's job signer
	// is not its fleet's.
	msgB, _, err := o.b.Server.JobSigner().SignTransfer(id0, deviceproto.Transfer{ID: "transfer-b", Voucher: ext0, Ticket: imp0.Ticket})
	if err != nil {
		t.Fatal(err)
	}
	if err := agents[0].HandleTransfer(ctx, msgB); !errors.Is(err, deviceproto.ErrJobSignature) {
		t.Fatalf("transfer from a fleet the device is not in: %v", err)
	}
	// A transfer from A whose voucher names another device.
	ext1, err := ta.Extend(ctx, id1, tb.OwnerKey(), "test")
	if err != nil {
		t.Fatal(err)
	}
	msgX, _, err := o.a.Server.JobSigner().SignTransfer(id0, deviceproto.Transfer{ID: "transfer-x", Voucher: ext1, Ticket: imp0.Ticket})
	if err != nil {
		t.Fatal(err)
	}
	if err := agents[0].HandleTransfer(ctx, msgX); !errors.Is(err, ownership.ErrDevice) {
		t.Fatalf("transfer with another device's voucher: %v", err)
	}
	// A decommissioned device refuses everyone, its own fleet included.
	if err := devs[2].Platform().Lifecycle.Transition(attest.LifecycleDecommissioned); err != nil {
		t.Fatal(err)
	}
	id2 := agents[2].DeviceID()
	ext2, err := ta.Extend(ctx, id2, tb.OwnerKey(), "test")
	if err != nil {
		t.Fatal(err)
	}
	imp2, err := tb.Import(ctx, ext2, "test")
	if err != nil {
		t.Fatal(err)
	}
	msg2, _, err := o.a.Server.JobSigner().SignTransfer(id2, deviceproto.Transfer{ID: "transfer-2", Voucher: ext2, Ticket: imp2.Ticket})
	if err != nil {
		t.Fatal(err)
	}
	if err := agents[2].HandleTransfer(ctx, msg2); !errors.Is(err, agent.ErrDecommissioned) {
		t.Fatalf("decommissioned device followed a transfer: %v", err)
	}
	for _, a := range agents {
		if s := a.State(); s.Fleet != nil || s.Moving != nil {
			t.Fatalf("device %s moved after a refused transfer", a.DeviceID())
		}
	}

	// Device 0 moves for real; then an old voucher replayed to it (B
	// sending the voucher that made B its owner, serial not newer) is
	// refused by the device.
	rel, err := ta.Release(ctx, id0, ext0, imp0.Ticket, "test")
	if err != nil {
		t.Fatal(err)
	}
	waitLong(t, "device 0 in B", func() bool {
		return agents[0].State().Moving == nil && issuedBy(agents[0].Certificate(), o.b)
	})
	replay, _, err := o.b.Server.JobSigner().SignTransfer(id0, deviceproto.Transfer{ID: "transfer-replay", Voucher: ext0, Ticket: imp0.Ticket})
	if err != nil {
		t.Fatal(err)
	}
	if err := agents[0].HandleTransfer(ctx, replay); !errors.Is(err, ownership.ErrReplayed) && !errors.Is(err, ownership.ErrOwner) {
		t.Fatalf("old voucher replayed to the device: %v", err)
	}
	// And A, which released it, cannot import its old voucher again.
	if _, err := ta.Import(ctx, mustMarshal(t, &ownership.Voucher{Raw: v.Raw[:1]}), "test"); !errors.Is(err, ownership.ErrReplayed) {
		t.Fatalf("A imported its old voucher after the release: %v", err)
	}
	if !bytes.Contains(rel.Message, []byte(rel.TransferID)) {
		t.Fatal("the transfer message does not name its transfer")
	}
}

func mustMarshal(t *testing.T, v *ownership.Voucher) []byte {
	t.Helper()
	b, err := v.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// deviceKey is the device's TLS key in its SPE, as a crypto.Signer.
func deviceKey(t *testing.T, d *Device) crypto.Signer {
	t.Helper()
	tr, err := d.Platform().Server.Local(-1)
	if err != nil {
		t.Fatal(err)
	}
	c, err := psaclient.NewClient(tr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := psaclient.NewSigner(c, agent.DefaultKeyID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// dialMQTT opens a mutual-TLS connection to f's broker with cert and key:
// nil when the broker accepts the client certificate (it then waits for
// CONNECT), the broker's refusal otherwise.
func dialMQTT(f *Fleet, cert *x509.Certificate, key crypto.Signer) error {
	conf := &tls.Config{RootCAs: f.Roots(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}}}
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", f.MQTTAddr, conf)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(time.Second))
	_, err = c.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	if err == nil {
		return nil
	}
	return err
}
