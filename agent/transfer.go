package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"rampart/attest"
	"rampart/deviceproto"
	"rampart/ownership"
	"rampart/psaclient"
)

// Ownership transfer on the device (docs/ownership-and-rotation.md).
//
// The current fleet's job signer tells the device to leave (a transfer
// message on its jobs topic); the voucher inside proves the new owner, and
// the ticket signed by that owner says where to go and whom to trust. The
// device then acknowledges to the current fleet (an outcome with a token
// over the transfer's challenge, so that the fleet revokes it), destroys
// its TLS key in the SPE and makes a new one, forgets the old fleet's
// certificate, endpoints, jobs and trust anchors, and enrolls at the new
// fleet by attestation. A transfer signed by anyone but the current
// fleet's job signer is refused (a device that was not released refuses a
// new owner), and so is every transfer once the device is decommissioned
// (its attestation key is gone, or its lifecycle says so).

// ErrDecommissioned: a decommissioned device follows no one.
var ErrDecommissioned = errors.New("agent: transfer: the device is decommissioned")

// receiveTransfer is the MQTT path: verify, then hand the transfer to the
// session loop (it needs the session to acknowledge).
func (a *Agent) receiveTransfer(msg []byte) {
	if _, err := a.verifyTransfer(msg); err != nil {
		a.refuse(err)
		return
	}
	select {
	case a.transfers <- msg:
	default: // one is waiting; the retained message comes again on reconnect
	}
}

// HandleTransfer verifies a transfer message and follows it (as the
// session loop does on a message from the jobs topic). A refused message
// returns the refusal, wrapped as fatal.
func (a *Agent) HandleTransfer(ctx context.Context, msg []byte) error {
	return a.followTransfer(ctx, msg)
}

// checked is a verified transfer: the message, the new fleet, the owner
// key and the device's instance ID.
type checked struct {
	t  deviceproto.Transfer
	to FleetRef
}

// verifyTransfer checks a transfer message completely: the envelope and
// its signer (the current fleet's job signer), not older than the last job
// taken, the device not decommissioned, the voucher for this device
// extended by its current owner (when it followed a voucher before) to a
// newer serial, and the ticket signed by the voucher's final owner.
func (a *Agent) verifyTransfer(msg []byte) (*checked, error) {
	t, err := deviceproto.VerifyTransfer(msg, a.policy())
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	taken, cur := a.state.Taken, a.state.Fleet
	a.mu.Unlock()
	if taken != nil && t.Issued < taken.Issued {
		return nil, fmt.Errorf("%w: transfer %s issued at %d, before the last job taken", deviceproto.ErrJobReplayed, t.ID, t.Issued)
	}
	inst, err := a.identity()
	if err != nil {
		return nil, err
	}
	p := ownership.Policy{Manufacturers: a.cfg.Manufacturers, Device: inst}
	if cur != nil {
		p.After = cur.Serial
		if p.Via, err = ownership.ParseOwnerKey(cur.Owner); err != nil {
			return nil, err
		}
	}
	_, got, err := ownership.Verify(t.Voucher, p)
	if err != nil {
		return nil, fmt.Errorf("agent: transfer %s: %w", t.ID, err)
	}
	tk, err := ownership.VerifyTicket(t.Ticket, got.Owner, inst, got.Serial)
	if err != nil {
		return nil, fmt.Errorf("agent: transfer %s: %w", t.ID, err)
	}
	owner, err := ownership.MarshalOwnerKey(got.Owner)
	if err != nil {
		return nil, err
	}
	return &checked{t: t, to: FleetRef{EnrollURL: tk.URL, CACerts: tk.CACerts, MQTT: tk.MQTT, Serial: got.Serial, Owner: owner}}, nil
}

// identity is the device's instance ID, read from a fresh token of its own
// SPE; a device whose lifecycle is decommissioned (or that can no longer
// attest) refuses every transfer.
func (a *Agent) identity() ([]byte, error) {
	nonce := make([]byte, 32)
	if _, err := io.ReadFull(a.cfg.Rand, nonce); err != nil {
		return nil, err
	}
	tok, err := a.att.Token(nonce)
	if err != nil {
		return nil, fmt.Errorf("%w: no attestation: %v", ErrDecommissioned, err)
	}
	t, err := attest.Parse(tok)
	if err != nil {
		return nil, fmt.Errorf("agent: transfer: own token: %w", err)
	}
	if t.Claims.Lifecycle.Major() == attest.LifecycleDecommissioned {
		return nil, ErrDecommissioned
	}
	return t.Claims.InstanceID, nil
}

// followTransfer verifies a transfer, records it, acknowledges it to the
// current fleet and completes it (finishTransfer).
func (a *Agent) followTransfer(ctx context.Context, msg []byte) error {
	c, err := a.verifyTransfer(msg)
	if err != nil {
		a.refuse(err)
		return fatal(err)
	}
	a.mu.Lock()
	a.state.Moving = &Moving{To: c.to, TransferID: c.t.ID}
	err = a.saveLocked()
	a.mu.Unlock()
	if err != nil {
		return err
	}
	a.cfg.Log.Info("transfer: leaving for a new owner", "transfer", c.t.ID, "enroll", c.to.EnrollURL, "serial", c.to.Serial)
	if err := a.acknowledge(ctx, c.t); err != nil {
		// The old fleet does not hear of it: it may still decommission
		// the device by hand. The device goes anyway: its owner released it.
		a.cfg.Log.Warn("transfer: acknowledgement not delivered", "transfer", c.t.ID, "err", err)
	}
	a.mu.Lock()
	a.state.Moving.Acked = true
	err = a.saveLocked()
	a.mu.Unlock()
	if err != nil {
		return err
	}
	return a.finishTransfer(ctx)
}

// acknowledge publishes the transfer's outcome, retained, on the device's
// status topic of the current fleet, with a token over the transfer's
// challenge.
func (a *Agent) acknowledge(ctx context.Context, t deviceproto.Transfer) error {
	tok, err := a.Attest(ctx, t.Nonce)
	if err != nil {
		return err
	}
	v, _ := a.RunningVersion()
	b, err := json.Marshal(deviceproto.Outcome{JobID: t.ID, OK: true, Result: deviceproto.ResultOK, Version: v, Token: tok})
	if err != nil {
		return err
	}
	return a.publish(ctx, deviceproto.StatusTopic(a.DeviceID()), b, true)
}

// finishTransfer completes a transfer under way (after a restart too):
// the old fleet's TLS key is destroyed in the SPE and a new one made, its
// certificate, endpoints, jobs and trust anchors forgotten, and the new
// fleet becomes the device's; then the device enrolls there. Without a
// transfer under way it does nothing.
func (a *Agent) finishTransfer(ctx context.Context) error {
	a.mu.Lock()
	m := a.state.Moving
	a.mu.Unlock()
	if m == nil {
		return nil
	}
	if !m.Shredded {
		if err := a.shred(m); err != nil {
			return err
		}
	}
	if err := retry(ctx, a.cfg.Backoff, a.cfg.Rand, "enroll (new owner)", func() error { return a.Enroll(ctx, false) }); err != nil {
		return err
	}
	a.mu.Lock()
	a.state.Moving = nil
	err := a.saveLocked()
	a.mu.Unlock()
	a.cfg.Log.Info("transfer: enrolled with the new owner", "transfer", m.TransferID, "device", a.DeviceID())
	return err
}

// shred makes the new fleet the device's and destroys everything of the
// old one: the state first (so a restart never goes back), then the key.
func (a *Agent) shred(m *Moving) error {
	roots, err := m.To.roots()
	if err != nil {
		return fatal(err)
	}
	a.mu.Lock()
	to := m.To
	a.state.Fleet, a.fleetRoots = &to, roots
	a.state.CertDER, a.state.DeviceID, a.cert = nil, "", nil
	a.state.MQTTEndpoints, a.state.Update, a.state.Taken, a.state.Last = nil, nil, nil, nil
	a.ep = endpointState{}
	err = a.saveLocked()
	old := a.http
	a.http = a.newHTTP()
	a.mu.Unlock()
	old.CloseIdleConnections()
	if err != nil {
		return err
	}
	// Crypto-shred: the key the old fleet certified is destroyed inside
	// the SPE (a copy of the certificate is useless without it) and a new
	// one made for the new fleet.
	if err := a.crypto.DestroyKey(a.cfg.KeyID); err != nil {
		return fmt.Errorf("agent: transfer: destroy the old key: %w", err)
	}
	if _, err := a.crypto.GenerateKey(tlsKeyAttributes(a.cfg.KeyID)); err != nil {
		return fmt.Errorf("agent: transfer: new key: %w", err)
	}
	signer, err := psaclient.NewSigner(a.crypto, a.cfg.KeyID)
	if err != nil {
		return fmt.Errorf("agent: transfer: new key: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.signer = signer
	a.state.Moving.Shredded = true
	return a.saveLocked()
}
