package transfer

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"

	"rampart/fleet/store"
	"rampart/ownership"
)

// Imported is what an import recorded, and the ticket the device will
// need to come to this fleet.
type Imported struct {
	DeviceID string `json:"device_id"`
	Serial   uint64 `json:"serial"`
	// Ticket is this fleet's onboarding ticket for the device, signed
	// with its owner key: the seller sends it with the transfer.
	Ticket []byte `json:"ticket"`
}

// Import accepts a device into the fleet's ownership with its voucher: the
// device must be endorsed here (its endorsement imported), hop 0 signed by
// the manufacturer that endorsed it, the chain unbroken and ending at this
// fleet's owner key, and its serial newer than any the fleet recorded for
// the device (a replayed voucher is refused). Every outcome is audited.
func (s *Service) Import(ctx context.Context, voucher []byte, actor string) (*Imported, error) {
	v, err := ownership.Parse(voucher)
	if err != nil {
		s.audit(ctx, &store.AuditEntry{Actor: actor, Action: "ownership.import", Decision: store.Deny, Reason: err.Error()})
		return nil, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	inst := v.Hops[0].Device
	d, err := s.cfg.Store.DeviceByInstance(ctx, inst)
	if err != nil {
		err = fmt.Errorf("transfer: device %x: no endorsement imported: %w", inst, err)
		s.audit(ctx, &store.AuditEntry{Actor: actor, Action: "ownership.import", Subject: fmt.Sprintf("%x", inst), Decision: store.Deny, Reason: err.Error()})
		return nil, err
	}
	deny := func(err error) (*Imported, error) {
		s.audit(ctx, &store.AuditEntry{Actor: actor, Action: "ownership.import", Subject: d.ID, Decision: store.Deny, Reason: err.Error()})
		return nil, err
	}
	after, err := s.lastSerial(ctx, d.ID)
	if err != nil {
		return deny(err)
	}
	mfr, ok := s.cfg.Manufacturers[d.Manufacturer]
	if !ok {
		return deny(fmt.Errorf("%w: device %s's manufacturer %q is not trusted", ErrRefused, d.ID, d.Manufacturer))
	}
	_, got, err := ownership.Verify(voucher, ownership.Policy{Manufacturers: map[string]*ecdsa.PublicKey{d.Manufacturer: mfr},
		Device: d.InstanceID, Owner: s.OwnerKey(), After: after})
	if err != nil {
		return deny(fmt.Errorf("%w: %w", ErrRefused, err))
	}
	ticket, err := s.ticket(d.InstanceID, got.Serial)
	if err != nil {
		return deny(err)
	}
	audit := &store.AuditEntry{Actor: actor, Action: "ownership.import", Subject: d.ID, Decision: store.Allow,
		Reason: fmt.Sprintf("voucher of %d hops from %s, serial %d", len(v.Hops), got.Manufacturer, got.Serial)}
	if err := s.cfg.Store.PutVoucher(ctx, d.ID, got.Serial, voucher, audit); err != nil {
		if errors.Is(err, store.ErrConflict) {
			err = fmt.Errorf("%w: %w: %w", ErrRefused, ownership.ErrReplayed, err)
		}
		return deny(err)
	}
	if d.State == store.Decommissioned {
		// The device comes back to a fleet that released it: it may
		// enroll again.
		if _, _, err := s.cfg.Store.SetState(ctx, d.ID, store.Registered, "imported again by voucher",
			&store.AuditEntry{Actor: actor, Action: "device.reprovision", Subject: d.ID, Decision: store.Allow, Reason: "imported again by voucher"}); err != nil {
			return nil, err
		}
	}
	return &Imported{DeviceID: d.ID, Serial: got.Serial, Ticket: ticket}, nil
}

// lastSerial is the newest serial the fleet used for a device (0 if none).
func (s *Service) lastSerial(ctx context.Context, deviceID string) (uint64, error) {
	r, err := s.cfg.Store.Voucher(ctx, deviceID)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return max(r.Serial, r.ReleasedSerial), nil
}

// ticket signs this fleet's onboarding ticket for a device at a serial.
func (s *Service) ticket(instanceID []byte, serial uint64) ([]byte, error) {
	if s.cfg.Enrollment == nil {
		return nil, errors.New("transfer: no enrollment endpoint to name in a ticket")
	}
	u, certs, mqtt := s.cfg.Enrollment()
	return ownership.SignTicket(s.cfg.Owner, ownership.Ticket{Device: instanceID, Serial: serial, URL: u, CACerts: certs, MQTT: mqtt}, s.signing())
}

// Ticket signs a fresh onboarding ticket for a device the fleet owns (its
// endpoints or CA changed since the import).
func (s *Service) Ticket(ctx context.Context, deviceID string) ([]byte, error) {
	r, err := s.owned(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	v, err := ownership.Parse(r.Voucher)
	if err != nil {
		return nil, err
	}
	return s.ticket(v.Hops[0].Device, r.Serial)
}

// owned is the voucher record of a device the fleet owns now.
func (s *Service) owned(ctx context.Context, deviceID string) (*store.OwnedVoucher, error) {
	r, err := s.cfg.Store.Voucher(ctx, deviceID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotOwned, deviceID)
	}
	if err != nil {
		return nil, err
	}
	if r.ReleasedSerial != 0 {
		return nil, fmt.Errorf("%w: %s was released (serial %d)", ErrNotOwned, deviceID, r.ReleasedSerial)
	}
	return r, nil
}
