package transfer

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"rampart/deviceproto"
	"rampart/fleet/store"
	"rampart/ownership"
)

// Extend signs the hop that hands a device the fleet owns to buyer (the
// buyer fleet's owner key) and returns the extended voucher. Nothing
// changes here until the device is released (Release). Audited.
func (s *Service) Extend(ctx context.Context, deviceID string, buyer *ecdsa.PublicKey, actor string) ([]byte, error) {
	r, err := s.owned(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	v, err := ownership.Parse(r.Voucher)
	if err != nil {
		return nil, err
	}
	w, err := ownership.Extend(v, s.cfg.Owner, buyer, s.signing())
	if err != nil {
		return nil, err
	}
	out, err := w.Marshal()
	if err != nil {
		return nil, err
	}
	der, _ := ownership.MarshalOwnerKey(buyer)
	s.audit(ctx, &store.AuditEntry{Actor: actor, Action: "ownership.extend", Subject: deviceID, Decision: store.Allow,
		Reason: fmt.Sprintf("voucher extended to owner key %x (serial %d)", keyHash(der), w.Serial())})
	return out, nil
}

// Released is a release's result.
type Released struct {
	DeviceID   string `json:"device_id"`
	TransferID string `json:"transfer_id"`
	Serial     uint64 `json:"serial"`
	// Message is the signed transfer message published to the device.
	Message []byte    `json:"message"`
	Expires time.Time `json:"expires"`
}

// Release gives a device the fleet owns up to the owner an extended
// voucher names: the voucher must be the fleet's own with one more hop
// signed by the fleet's owner key, and the ticket signed by the new owner
// for this device and the voucher's serial. It records the release (a
// newer voucher for the device is needed to import it here again), signs
// the transfer message and publishes it, retained, on the device's jobs
// topic. The device is revoked when it acknowledges (Report).
func (s *Service) Release(ctx context.Context, deviceID string, voucher, ticket []byte, actor string) (*Released, error) {
	deny := func(err error) (*Released, error) {
		s.audit(ctx, &store.AuditEntry{Actor: actor, Action: "ownership.release", Subject: deviceID, Decision: store.Deny, Reason: err.Error()})
		return nil, err
	}
	if s.cfg.Jobs == nil || s.cfg.Publish == nil {
		return deny(fmt.Errorf("transfer: release: no job signer or publisher"))
	}
	r, err := s.owned(ctx, deviceID)
	if err != nil {
		return deny(err)
	}
	d, err := s.cfg.Store.Device(ctx, deviceID)
	if err != nil {
		return deny(err)
	}
	if d.State == store.Decommissioned {
		return deny(fmt.Errorf("%w: device %s is decommissioned", ErrRefused, deviceID))
	}
	own, err := ownership.Parse(r.Voucher)
	if err != nil {
		return deny(err)
	}
	v, got, err := ownership.Verify(voucher, ownership.Policy{Device: d.InstanceID, Via: s.OwnerKey(), After: r.Serial})
	if err != nil {
		return deny(fmt.Errorf("%w: %w", ErrRefused, err))
	}
	if len(v.Raw) != len(own.Raw)+1 || !sameHops(v.Raw[:len(own.Raw)], own.Raw) {
		return deny(fmt.Errorf("%w: the voucher is not the fleet's own extended by one hop", ErrRefused))
	}
	if _, err := ownership.VerifyTicket(ticket, got.Owner, d.InstanceID, got.Serial); err != nil {
		return deny(fmt.Errorf("%w: %w", ErrRefused, err))
	}
	id, err := s.transferID()
	if err != nil {
		return deny(err)
	}
	msg, t, err := s.cfg.Jobs.SignTransfer(deviceID, deviceproto.Transfer{ID: id, Voucher: voucher, Ticket: ticket})
	if err != nil {
		return deny(err)
	}
	der, _ := ownership.MarshalOwnerKey(got.Owner)
	audit := &store.AuditEntry{Actor: actor, Action: "ownership.release", Subject: deviceID, Decision: store.Allow,
		Reason: fmt.Sprintf("released to owner key %x by transfer %s (serial %d)", keyHash(der), id, got.Serial)}
	if err := s.cfg.Store.ReleaseVoucher(ctx, deviceID, got.Serial, id, t.Nonce, audit); err != nil {
		return deny(err)
	}
	exp := time.UnixMilli(t.Expires)
	if err := s.cfg.Publish(deviceID, msg, exp); err != nil {
		// Recorded: publishing again (ReleaseAgain) sends the same
		// transfer; the device may also be told by the operator.
		s.cfg.Log.Warn("transfer message not published", "device", deviceID, "err", err)
	}
	return &Released{DeviceID: deviceID, TransferID: id, Serial: got.Serial, Message: msg, Expires: exp}, nil
}

func sameHops(a, b [][]byte) bool {
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func (s *Service) transferID() (string, error) {
	b := make([]byte, 12)
	if _, err := io.ReadFull(s.cfg.Rand, b); err != nil {
		return "", fmt.Errorf("transfer: id: %w", err)
	}
	return "transfer-" + hex.EncodeToString(b), nil
}
