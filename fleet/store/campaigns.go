package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// CampaignRecord is a firmware update campaign as stored: its specification
// (JSON owned by fleet/campaign), state, current phase and why it is in
// that state.
type CampaignRecord struct {
	ID     string
	Spec   string
	State  string
	Phase  int
	Reason string
	// AckedFailures are failures an operator accepted by resuming; the
	// failure threshold counts only the ones after them.
	AckedFailures int
	// Version counts the state writes (SetCampaignState): a write is made
	// against the version it read, and refused if another came first.
	Version int64
	Created time.Time
	Updated time.Time
}

// CampaignDevice is one target device's progress in a campaign.
type CampaignDevice struct {
	DeviceID string
	Phase    int
	Status   string
	Reason   string
	Notified time.Time
	Updated  time.Time
}

// PutCampaign stores a new campaign and its targets in one transaction;
// an existing id is ErrConflict.
func (s *DB) PutCampaign(ctx context.Context, c *CampaignRecord, devs []CampaignDevice, audit *AuditEntry) error {
	now := ms(s.now())
	return s.tx(ctx, func(t *sql.Tx) error {
		var n int
		if err := t.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM campaigns WHERE id = ?`), c.ID).Scan(&n); err != nil {
			return fmt.Errorf("store: put campaign: %w", err)
		}
		if n > 0 {
			return fmt.Errorf("store: campaign %s already exists: %w", c.ID, ErrConflict)
		}
		if _, err := s.exec(ctx, t, `INSERT INTO campaigns (id, spec, state, phase, reason, created_ms, updated_ms) VALUES (?,?,?,?,?,?,?)`,
			c.ID, c.Spec, c.State, c.Phase, c.Reason, now, now); err != nil {
			return fmt.Errorf("store: put campaign: %w", err)
		}
		st, err := t.PrepareContext(ctx, s.q(`INSERT INTO campaign_devices (campaign_id, device_id, phase, status, reason, notified_ms, updated_ms) VALUES (?,?,?,?,?,?,?)`))
		if err != nil {
			return fmt.Errorf("store: put campaign: %w", err)
		}
		defer st.Close()
		for _, d := range devs {
			if _, err := st.ExecContext(ctx, c.ID, d.DeviceID, d.Phase, d.Status, d.Reason, ms(d.Notified), now); err != nil {
				return fmt.Errorf("store: put campaign device %s: %w", d.DeviceID, err)
			}
		}
		if audit != nil {
			return s.insertAudit(ctx, t, audit)
		}
		return nil
	})
}

// SetCampaignState records a campaign's state, phase, reason and
// acknowledged failures (c.ID selects it; the spec is not changed) if the
// stored version is still c.Version, and increments it (c.Version too): a
// write decided on an older reading is refused with ErrConflict, so an
// operator's action and the evaluator's transition never overwrite each
// other; the loser reads again. Under a non-zero fence the write commits
// only while the lease has the fence's epoch (else ErrFenced).
func (s *DB) SetCampaignState(ctx context.Context, c *CampaignRecord, f Fence, audit *AuditEntry) error {
	id := c.ID
	err := s.tx(ctx, func(t *sql.Tx) error {
		if err := s.checkFence(ctx, t, f); err != nil {
			return err
		}
		res, err := s.exec(ctx, t, `UPDATE campaigns SET state = ?, phase = ?, reason = ?, acked_failures = ?, updated_ms = ?, version = version + 1 WHERE id = ? AND version = ?`,
			c.State, c.Phase, c.Reason, c.AckedFailures, ms(s.now()), id, c.Version)
		if err != nil {
			return fmt.Errorf("store: campaign state: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var v int64
			err := t.QueryRowContext(ctx, s.q(`SELECT version FROM campaigns WHERE id = ?`), id).Scan(&v)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("store: campaign %s: %w", id, ErrNotFound)
			}
			if err != nil {
				return fmt.Errorf("store: campaign state: %w", err)
			}
			return fmt.Errorf("store: campaign %s is at version %d, not %d: %w", id, v, c.Version, ErrConflict)
		}
		if audit != nil {
			return s.insertAudit(ctx, t, audit)
		}
		return nil
	})
	if err == nil {
		c.Version++
	}
	return err
}

// SetCampaignDevices records the progress of several devices of a
// campaign in one transaction, unconditionally.
func (s *DB) SetCampaignDevices(ctx context.Context, campaignID string, devs []CampaignDevice) error {
	if len(devs) == 0 {
		return nil
	}
	now := ms(s.now())
	return s.tx(ctx, func(t *sql.Tx) error {
		st, err := t.PrepareContext(ctx, s.q(`UPDATE campaign_devices SET status = ?, reason = ?, notified_ms = ?, updated_ms = ? WHERE campaign_id = ? AND device_id = ?`))
		if err != nil {
			return fmt.Errorf("store: campaign devices: %w", err)
		}
		defer st.Close()
		for _, d := range devs {
			if _, err := st.ExecContext(ctx, d.Status, d.Reason, ms(d.Notified), now, campaignID, d.DeviceID); err != nil {
				return fmt.Errorf("store: campaign device %s: %w", d.DeviceID, err)
			}
		}
		return nil
	})
}

// DeviceChange is a device's transition in a campaign: to the status,
// reason and notification time of CampaignDevice, from any of the From
// statuses with the notification time FromNotified (the caller's rules of
// which transitions are allowed; the store only checks them).
type DeviceChange struct {
	CampaignDevice
	From         []string
	FromNotified time.Time
}

// ChangeCampaignDevices applies transitions of a campaign's devices in one
// transaction, each only if the device's stored row is still in one of its
// From statuses and at its notification (a conditional UPDATE): of two
// nodes that move one device, the first wins and the second learns it
// changed nothing. applied[i] tells whether changes[i] was made. Under a
// non-zero fence nothing is written unless the lease has the fence's epoch
// (ErrFenced).
func (s *DB) ChangeCampaignDevices(ctx context.Context, campaignID string, changes []DeviceChange, f Fence) (applied []bool, err error) {
	applied = make([]bool, len(changes))
	if len(changes) == 0 {
		return applied, nil
	}
	now := ms(s.now())
	err = s.tx(ctx, func(t *sql.Tx) error {
		if err := s.checkFence(ctx, t, f); err != nil {
			return err
		}
		stmts := map[int]*sql.Stmt{} // by the number of From statuses
		defer func() {
			for _, st := range stmts {
				st.Close()
			}
		}()
		for i, d := range changes {
			if len(d.From) == 0 {
				continue
			}
			st := stmts[len(d.From)]
			if st == nil {
				q := `UPDATE campaign_devices SET status = ?, reason = ?, notified_ms = ?, updated_ms = ?
					WHERE campaign_id = ? AND device_id = ? AND notified_ms = ? AND status IN (?` + strings.Repeat(",?", len(d.From)-1) + `)`
				var err error
				if st, err = t.PrepareContext(ctx, s.q(q)); err != nil {
					return fmt.Errorf("store: campaign devices: %w", err)
				}
				stmts[len(d.From)] = st
			}
			args := []any{d.Status, d.Reason, ms(d.Notified), now, campaignID, d.DeviceID, ms(d.FromNotified)}
			for _, f := range d.From {
				args = append(args, f)
			}
			res, err := st.ExecContext(ctx, args...)
			if err != nil {
				return fmt.Errorf("store: campaign device %s: %w", d.DeviceID, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("store: campaign device %s: %w", d.DeviceID, err)
			}
			applied[i] = n == 1
		}
		return nil
	})
	if err != nil {
		return make([]bool, len(changes)), err
	}
	return applied, nil
}

// Campaign returns the campaign with id.
func (s *DB) Campaign(ctx context.Context, id string) (*CampaignRecord, error) {
	var c CampaignRecord
	var cr, up int64
	err := s.sql.QueryRowContext(ctx, s.q(`SELECT id, spec, state, phase, reason, acked_failures, version, created_ms, updated_ms FROM campaigns WHERE id = ?`), id).
		Scan(&c.ID, &c.Spec, &c.State, &c.Phase, &c.Reason, &c.AckedFailures, &c.Version, &cr, &up)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: campaign %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: campaign: %w", err)
	}
	c.Created, c.Updated = fromMS(cr), fromMS(up)
	return &c, nil
}

// Campaigns lists every campaign, oldest first.
func (s *DB) Campaigns(ctx context.Context) ([]*CampaignRecord, error) {
	rows, err := s.sql.QueryContext(ctx, `SELECT id, spec, state, phase, reason, acked_failures, version, created_ms, updated_ms FROM campaigns ORDER BY created_ms, id`)
	if err != nil {
		return nil, fmt.Errorf("store: list campaigns: %w", err)
	}
	defer rows.Close()
	var out []*CampaignRecord
	for rows.Next() {
		var c CampaignRecord
		var cr, up int64
		if err := rows.Scan(&c.ID, &c.Spec, &c.State, &c.Phase, &c.Reason, &c.AckedFailures, &c.Version, &cr, &up); err != nil {
			return nil, fmt.Errorf("store: list campaigns: %w", err)
		}
		c.Created, c.Updated = fromMS(cr), fromMS(up)
		out = append(out, &c)
	}
	return out, rows.Err()
}

// CampaignDevices lists a campaign's targets ordered by phase and id.
func (s *DB) CampaignDevices(ctx context.Context, campaignID string) ([]CampaignDevice, error) {
	return s.campaignDevices(ctx, `SELECT device_id, phase, status, reason, notified_ms, updated_ms FROM campaign_devices WHERE campaign_id = ? ORDER BY phase, device_id`, campaignID)
}

// CampaignDevicesSince lists a campaign's targets whose row was written at
// or after since (by the writer's clock), ordered by phase and id.
func (s *DB) CampaignDevicesSince(ctx context.Context, campaignID string, since time.Time) ([]CampaignDevice, error) {
	return s.campaignDevices(ctx, `SELECT device_id, phase, status, reason, notified_ms, updated_ms FROM campaign_devices WHERE campaign_id = ? AND updated_ms >= ? ORDER BY phase, device_id`, campaignID, ms(since))
}

// CampaignDevice returns one target's row.
func (s *DB) CampaignDevice(ctx context.Context, campaignID, deviceID string) (*CampaignDevice, error) {
	out, err := s.campaignDevices(ctx, `SELECT device_id, phase, status, reason, notified_ms, updated_ms FROM campaign_devices WHERE campaign_id = ? AND device_id = ?`, campaignID, deviceID)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("store: campaign %s device %s: %w", campaignID, deviceID, ErrNotFound)
	}
	return &out[0], nil
}

func (s *DB) campaignDevices(ctx context.Context, query string, args ...any) ([]CampaignDevice, error) {
	rows, err := s.sql.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("store: campaign devices: %w", err)
	}
	defer rows.Close()
	var out []CampaignDevice
	for rows.Next() {
		var d CampaignDevice
		var n, u int64
		if err := rows.Scan(&d.DeviceID, &d.Phase, &d.Status, &d.Reason, &n, &u); err != nil {
			return nil, fmt.Errorf("store: campaign devices: %w", err)
		}
		d.Notified, d.Updated = fromMS(n), fromMS(u)
		out = append(out, d)
	}
	return out, rows.Err()
}

// PutImage stores a release image under the SHA-256 of its bytes (hex);
// storing the same bytes again is a no-op.
func (s *DB) PutImage(ctx context.Context, sha256Hex string, digest []byte, swType string, securityCounter uint32, data []byte) error {
	return s.tx(ctx, func(t *sql.Tx) error {
		var n int
		if err := t.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM release_images WHERE sha256 = ?`), sha256Hex).Scan(&n); err != nil {
			return fmt.Errorf("store: put image: %w", err)
		}
		if n > 0 {
			return nil
		}
		if _, err := s.exec(ctx, t, `INSERT INTO release_images (sha256, digest, sw_type, security_counter, data, created_ms) VALUES (?,?,?,?,?,?)`, sha256Hex, digest, swType, int64(securityCounter), data, ms(s.now())); err != nil {
			return fmt.Errorf("store: put image: %w", err)
		}
		return nil
	})
}

// Image returns the image stored under sha256Hex and its release digest.
func (s *DB) Image(ctx context.Context, sha256Hex string) (digest, data []byte, err error) {
	err = s.sql.QueryRowContext(ctx, s.q(`SELECT digest, data FROM release_images WHERE sha256 = ?`), sha256Hex).Scan(&digest, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, fmt.Errorf("store: image %s: %w", sha256Hex, ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("store: image: %w", err)
	}
	return digest, data, nil
}

// ImageByDigest returns the SHA-256 (hex) of the stored image of the
// release whose measurement is digest.
func (s *DB) ImageByDigest(ctx context.Context, digest []byte) (string, error) {
	var h string
	err := s.sql.QueryRowContext(ctx, s.q(`SELECT sha256 FROM release_images WHERE digest = ?`), digest).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("store: image of release %x: %w", digest, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("store: image: %w", err)
	}
	return h, nil
}

// MaxSecurityCounter returns the highest security counter of the stored
// images of swType, and whether there is any.
func (s *DB) MaxSecurityCounter(ctx context.Context, swType string) (uint32, bool, error) {
	var v sql.NullInt64
	if err := s.sql.QueryRowContext(ctx, s.q(`SELECT MAX(security_counter) FROM release_images WHERE sw_type = ?`), swType).Scan(&v); err != nil {
		return 0, false, fmt.Errorf("store: security counter: %w", err)
	}
	return uint32(v.Int64), v.Valid, nil
}
