package campaign

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"rampart/attest"
	"rampart/deviceproto"
)

// Report handles what a device publishes on its updates or progress topic
// (the broker's OnStatus hook): a progress message (progress.go) or an
// outcome message (devices/<id>/updates, deviceproto.Outcome). The
// outcome's result field decides: ok becomes verified only when the
// report's token is signed by the device's endorsed attestation key, its
// nonce is the challenge the server sent in the device's job
// (outcomeNonce), its software measurement is the release's, and the
// device re-enrolled by attestation (a server nonce) after it was
// notified; otherwise it is failed. failed and reverted are taken as the
// device says (a device may always refuse an update). The engine takes one
// outcome per device and campaign: the first moves the device to a final
// status, and later ones, replays included, are ignored.
func (e *Engine) Report(ctx context.Context, deviceID string, payload []byte) {
	if len(payload) == 0 || len(payload) > deviceproto.MaxOutcomeSize {
		return
	}
	if isProgress(payload) {
		e.progress(deviceID, payload)
		return
	}
	o, err := deviceproto.ParseOutcome(payload)
	if err != nil {
		e.cfg.Log.Info("outcome report refused", "device", deviceID, "err", err)
		return
	}
	if e.clustered {
		// The notification may be newer than this node's last read.
		e.refreshDevice(ctx, deviceID, o.JobID)
	}
	e.mu.Lock()
	c := e.byDevice[deviceID]
	if c == nil || o.JobID != c.rec.ID {
		e.mu.Unlock()
		return
	}
	d := c.devs[deviceID]
	notified, digest := d.notified, c.digest
	nonce := c.outcomeNonce(deviceID, notified)
	e.mu.Unlock()

	st, reason := Verified, ""
	switch o.Result {
	case deviceproto.ResultReverted:
		st, reason = Reverted, o.Error
	case deviceproto.ResultFailed:
		st, reason = Failed, o.Error
	default:
		if err := e.verify(ctx, deviceID, o.Token, nonce, digest, notified); err != nil {
			st, reason = Failed, err.Error()
		}
	}
	e.mu.Lock()
	// The notification verified against must still be the device's.
	taken := d.notified.Equal(notified) && (d.status.InFlight() || (d.status == Failed && st == Reverted))
	if taken {
		e.set(c, d, st, reason)
	}
	e.mu.Unlock()
	if taken && e.clustered {
		// Written now, not at the next tick: a node that dies loses no
		// outcome it took in. The write is conditional: if another
		// node moved the device first (a timeout, the same report taken
		// in twice), this one changes nothing.
		if err := e.flush(ctx, true); err != nil {
			e.cfg.Log.Warn("outcome not written", "campaign", c.rec.ID, "device", deviceID, "err", err)
		}
	}
	if !taken {
		return
	}
	if st != Verified {
		e.cfg.Log.Info("device update failed", "campaign", c.rec.ID, "device", deviceID, "status", st, "reason", reason)
	}
}

// verify checks the outcome token against the device's endorsement, the
// server's challenge and the release measurement, and that the device
// attested to the fleet after notification.
func (e *Engine) verify(ctx context.Context, deviceID string, token, nonce, digest []byte, notified time.Time) error {
	if len(token) == 0 {
		return fmt.Errorf("campaign: report of %s carries no attestation token", deviceID)
	}
	dev, err := e.cfg.Store.Device(ctx, deviceID)
	if err != nil {
		return fmt.Errorf("campaign: device %s: %w", deviceID, err)
	}
	pub, err := attest.ParsePublicKeyPEM([]byte(dev.PublicKeyPEM))
	if err != nil {
		return fmt.Errorf("campaign: device %s: endorsed key: %w", deviceID, err)
	}
	claims, err := attest.Verify(token, attest.VerifyOptions{Nonce: nonce, Lookup: func(id []byte) (*attest.Endorsement, error) {
		if !bytes.Equal(id, dev.InstanceID) {
			return nil, fmt.Errorf("campaign: token instance ID is not device %s's", deviceID)
		}
		return &attest.Endorsement{InstanceID: dev.InstanceID, PublicKey: pub}, nil
	}})
	if errors.Is(err, attest.ErrNonce) {
		return fmt.Errorf("campaign: report token of %s is not over the challenge of its job (an older token, or a nonce of its own): %w", deviceID, err)
	}
	if err != nil {
		return fmt.Errorf("campaign: report token: %w", err)
	}
	found := false
	for _, sc := range claims.SoftwareComponents {
		found = found || bytes.Equal(sc.MeasurementValue, digest)
	}
	if !found {
		return fmt.Errorf("campaign: attestation of %s does not show the release measurement %x", deviceID, digest)
	}
	if dev.LastAttested.UnixMilli() < notified.UnixMilli() {
		return fmt.Errorf("campaign: %s has not re-enrolled by attestation since it was notified", deviceID)
	}
	return nil
}

// downloadEvent records what the image server saw of a device's download.
func (e *Engine) downloadEvent(deviceID, sha string, complete bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.byDevice[deviceID]
	if c == nil || c.imageSHA != sha {
		return
	}
	d := c.devs[deviceID]
	switch {
	case complete && (d.status == Notified || d.status == Downloading):
		e.set(c, d, Downloaded, "")
	case !complete && d.status == Notified:
		e.set(c, d, Downloading, "")
	}
}
