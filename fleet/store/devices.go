package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// State is a device's fleet lifecycle state.
type State string

// Lifecycle states. A device is registered when its endorsement is imported,
// active once enrolled, suspended by an operator (with a reason), and
// decommissioned for good until it is re-provisioned.
const (
	Registered     State = "registered"
	Active         State = "active"
	Suspended      State = "suspended"
	Decommissioned State = "decommissioned"
)

// Valid reports whether st is one of the four states.
func (st State) Valid() bool {
	switch st {
	case Registered, Active, Suspended, Decommissioned:
		return true
	}
	return false
}

// Device is one endorsed device.
type Device struct {
	ID               string    `json:"id"`
	InstanceID       []byte    `json:"instance_id"`
	ImplementationID []byte    `json:"implementation_id,omitempty"`
	PublicKeyPEM     string    `json:"public_key"`
	State            State     `json:"state"`
	Reason           string    `json:"reason,omitempty"`
	Comment          string    `json:"comment,omitempty"`
	Manufacturer     string    `json:"manufacturer,omitempty"`
	Created          time.Time `json:"created"`
	Updated          time.Time `json:"updated"`
	Enrolled         time.Time `json:"enrolled,omitzero"`
	LastAttested     time.Time `json:"last_attested,omitzero"`
}

const deviceCols = `device_id, instance_id, implementation_id, public_key, state, reason, comment, manufacturer, created_ms, updated_ms, enrolled_ms, last_attested_ms`

func scanDevice(r interface{ Scan(...any) error }) (*Device, error) {
	var d Device
	var c, u, e, a int64
	var st string
	if err := r.Scan(&d.ID, &d.InstanceID, &d.ImplementationID, &d.PublicKeyPEM, &st, &d.Reason, &d.Comment, &d.Manufacturer, &c, &u, &e, &a); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("store: read device: %w", err)
	}
	d.State = State(st)
	d.Created, d.Updated, d.Enrolled, d.LastAttested = fromMS(c), fromMS(u), fromMS(e), fromMS(a)
	return &d, nil
}

// PutEndorsement records an accepted endorsement. A new device starts
// registered; an existing one keeps its state (a decommissioned device stays
// decommissioned until Reprovision) and has its endorsement fields updated.
// It reports whether the device is new.
func (s *DB) PutEndorsement(ctx context.Context, d *Device) (created bool, err error) {
	now := ms(s.now())
	err = s.tx(ctx, func(t *sql.Tx) error {
		var st, key, mfr string
		err := t.QueryRowContext(ctx, s.q(`SELECT state, public_key, manufacturer FROM devices WHERE device_id = ?`), d.ID).Scan(&st, &key, &mfr)
		if err == nil {
			if why := endorsementChange(State(st), key, mfr, d); why != "" {
				return fmt.Errorf("store: endorsement of %s refused: %s: %w", d.ID, why, ErrConflict)
			}
		}
		switch {
		case errors.Is(err, sql.ErrNoRows):
			created = true
			_, err = s.exec(ctx, t, `INSERT INTO devices (`+deviceCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,0,0)`,
				d.ID, d.InstanceID, d.ImplementationID, d.PublicKeyPEM, string(Registered), "", d.Comment, d.Manufacturer, now, now)
		case err == nil:
			_, err = s.exec(ctx, t, `UPDATE devices SET implementation_id = ?, public_key = ?, comment = ?, manufacturer = ?, updated_ms = ? WHERE device_id = ?`,
				d.ImplementationID, d.PublicKeyPEM, d.Comment, d.Manufacturer, now, d.ID)
		}
		if err != nil {
			return fmt.Errorf("store: put endorsement %s: %w", d.ID, err)
		}
		return nil
	})
	return created, err
}

// endorsementChange says why a new endorsement may not replace the one on
// record, or "" when it may. Whoever holds a trusted manufacturer key must
// not be able to take over a device another manufacturer endorsed, nor swap
// the attestation key of a device in service: either would let a different
// chip enroll under the device's identity. A key or manufacturer changes
// only once the device is decommissioned (re-provisioning); a device never
// enrolled may get a new key from its own manufacturer (a factory re-run).
func endorsementChange(st State, key, mfr string, d *Device) string {
	if st == Decommissioned || (key == d.PublicKeyPEM && mfr == d.Manufacturer) {
		return ""
	}
	if mfr != d.Manufacturer {
		return fmt.Sprintf("endorsed by manufacturer %q, this endorsement is from %q (decommission it first)", mfr, d.Manufacturer)
	}
	if st != Registered {
		return fmt.Sprintf("its attestation key differs and the device is %s (decommission it first)", st)
	}
	return ""
}

// Device returns the device with id.
func (s *DB) Device(ctx context.Context, id string) (*Device, error) {
	return scanDevice(s.sql.QueryRowContext(ctx, s.q(`SELECT `+deviceCols+` FROM devices WHERE device_id = ?`), id))
}

// DeviceByInstance returns the device with the attestation instance ID.
// Every enrollment reads it (prepared statement; not cached, so a state
// change or a new endorsement made by any writer is seen at once).
func (s *DB) DeviceByInstance(ctx context.Context, instanceID []byte) (*Device, error) {
	return scanDevice(s.readRow(ctx, qDeviceByInstance, instanceID))
}

const qDeviceByInstance = `SELECT ` + deviceCols + ` FROM devices WHERE instance_id = ?`

// Devices lists devices, all or those in state, ordered by id.
func (s *DB) Devices(ctx context.Context, state State) ([]*Device, error) {
	query, args := `SELECT `+deviceCols+` FROM devices ORDER BY device_id`, []any(nil)
	if state != "" {
		query, args = `SELECT `+deviceCols+` FROM devices WHERE state = ? ORDER BY device_id`, []any{string(state)}
	}
	rows, err := s.sql.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("store: list devices: %w", err)
	}
	defer rows.Close()
	var out []*Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// transitions says which states each target may be reached from.
var transitions = map[State][]State{
	Suspended:      {Active, Registered},
	Active:         {Suspended}, // resume; enrollment reaches Active through RecordEnrollment
	Decommissioned: {Registered, Active, Suspended},
	Registered:     {Decommissioned}, // re-provisioning
}

// SetState moves device id to state `to` with reason, if the lifecycle
// allows it from its current state (ErrConflict otherwise). Decommissioning
// revokes every certificate of the device in the same transaction. It
// returns the device as it was before and the serials it revoked.
func (s *DB) SetState(ctx context.Context, id string, to State, reason string, audit *AuditEntry) (before *Device, revoked []string, err error) {
	allowed, ok := transitions[to]
	if !ok {
		return nil, nil, fmt.Errorf("store: state: cannot set %q: %w", to, ErrConflict)
	}
	now := s.now()
	err = s.tx(ctx, func(t *sql.Tx) error {
		d, err := scanDevice(t.QueryRowContext(ctx, s.q(`SELECT `+deviceCols+` FROM devices WHERE device_id = ?`), id))
		if err != nil {
			return err
		}
		before = d
		okFrom := false
		for _, f := range allowed {
			okFrom = okFrom || d.State == f
		}
		if !okFrom {
			return fmt.Errorf("store: device %s: cannot go from %s to %s: %w", id, d.State, to, ErrConflict)
		}
		if _, err := s.exec(ctx, t, `UPDATE devices SET state = ?, reason = ?, updated_ms = ? WHERE device_id = ?`, string(to), reason, ms(now), id); err != nil {
			return fmt.Errorf("store: set state: %w", err)
		}
		if to == Decommissioned {
			rows, err := t.QueryContext(ctx, s.q(`SELECT serial FROM certificates WHERE device_id = ? AND revoked_ms = 0`), id)
			if err != nil {
				return fmt.Errorf("store: revoke: %w", err)
			}
			for rows.Next() {
				var sn string
				if err := rows.Scan(&sn); err != nil {
					rows.Close()
					return fmt.Errorf("store: revoke: %w", err)
				}
				revoked = append(revoked, sn)
			}
			rows.Close()
			if _, err := s.exec(ctx, t, `UPDATE certificates SET revoked_ms = ? WHERE device_id = ? AND revoked_ms = 0`, ms(now), id); err != nil {
				return fmt.Errorf("store: revoke: %w", err)
			}
		}
		if audit != nil {
			return s.insertAudit(ctx, t, audit)
		}
		return nil
	})
	return before, revoked, err
}
