package transfer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"rampart/attest"
	"rampart/deviceproto"
	"rampart/fleet/store"
)

// keyHash names an owner key in audit entries: SHA-256 of its DER, first
// 8 bytes.
func keyHash(der []byte) []byte {
	h := sha256.Sum256(der)
	return h[:8]
}

// Report takes in what a device publishes on its status topic (the
// broker's OnStatus hook, beside the campaign engine): an outcome naming
// the transfer the device was released by, with a token over the
// transfer's challenge signed by the device's endorsed key, is the
// device's acknowledgement that it leaves. The device is then
// decommissioned here (its certificates revoked, its sessions ended). It
// reports whether the message was such an acknowledgement.
func (s *Service) Report(ctx context.Context, deviceID string, payload []byte) bool {
	if !bytes.Contains(payload, []byte(`"transfer-`)) {
		return false // not ours: cheap test before any parsing
	}
	o, err := deviceproto.ParseOutcome(payload)
	if err != nil || o.Result != deviceproto.ResultOK {
		return false
	}
	r, err := s.cfg.Store.Voucher(ctx, deviceID)
	if err != nil || r.TransferID == "" || r.TransferID != o.JobID {
		return false
	}
	if err := s.verifyAck(ctx, deviceID, o.Token, r.TransferNonce); err != nil {
		s.audit(ctx, &store.AuditEntry{Actor: "device:" + deviceID, Action: "ownership.transferred", Subject: deviceID, Decision: store.Deny, Reason: err.Error()})
		return true
	}
	reason := "released: transfer " + r.TransferID + " acknowledged"
	_, revoked, err := s.cfg.Store.SetState(ctx, deviceID, store.Decommissioned, reason,
		&store.AuditEntry{Actor: "device:" + deviceID, Action: "ownership.transferred", Subject: deviceID, Decision: store.Allow, Reason: reason})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		s.cfg.Log.Warn("released device not revoked", "device", deviceID, "err", err)
		return true
	}
	dropped := s.cfg.Disconnect(deviceID, reason)
	s.cfg.Log.Info("device transferred", "device", deviceID, "transfer", r.TransferID, "revoked", len(revoked), "disconnected", dropped)
	return true
}

// verifyAck checks the acknowledgement's token: signed by the device's
// endorsed attestation key, over the transfer's challenge.
func (s *Service) verifyAck(ctx context.Context, deviceID string, token, nonce []byte) error {
	if len(token) == 0 {
		return errors.New("transfer: acknowledgement without an attestation token")
	}
	d, err := s.cfg.Store.Device(ctx, deviceID)
	if err != nil {
		return err
	}
	pub, err := attest.ParsePublicKeyPEM([]byte(d.PublicKeyPEM))
	if err != nil {
		return fmt.Errorf("transfer: device %s: endorsed key: %w", deviceID, err)
	}
	_, err = attest.Verify(token, attest.VerifyOptions{Nonce: nonce, Lookup: func(id []byte) (*attest.Endorsement, error) {
		if !bytes.Equal(id, d.InstanceID) {
			return nil, fmt.Errorf("transfer: token instance ID is not device %s's", deviceID)
		}
		return &attest.Endorsement{InstanceID: d.InstanceID, PublicKey: pub}, nil
	}})
	if err != nil {
		return fmt.Errorf("transfer: acknowledgement token: %w", err)
	}
	return nil
}
