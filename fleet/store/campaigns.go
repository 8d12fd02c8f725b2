package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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
	Created       time.Time
	Updated       time.Time
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
// acknowledged failures (c.ID selects it; the spec is not changed).
func (s *DB) SetCampaignState(ctx context.Context, c *CampaignRecord, audit *AuditEntry) error {
	id := c.ID
	return s.tx(ctx, func(t *sql.Tx) error {
		res, err := s.exec(ctx, t, `UPDATE campaigns SET state = ?, phase = ?, reason = ?, acked_failures = ?, updated_ms = ? WHERE id = ?`, c.State, c.Phase, c.Reason, c.AckedFailures, ms(s.now()), id)
		if err != nil {
			return fmt.Errorf("store: campaign state: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("store: campaign %s: %w", id, ErrNotFound)
		}
		if audit != nil {
			return s.insertAudit(ctx, t, audit)
		}
		return nil
	})
}

// SetCampaignDevices records the progress of several devices of a
// campaign in one transaction.
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

// Campaign returns the campaign with id.
func (s *DB) Campaign(ctx context.Context, id string) (*CampaignRecord, error) {
	var c CampaignRecord
	var cr, up int64
	err := s.sql.QueryRowContext(ctx, s.q(`SELECT id, spec, state, phase, reason, acked_failures, created_ms, updated_ms FROM campaigns WHERE id = ?`), id).
		Scan(&c.ID, &c.Spec, &c.State, &c.Phase, &c.Reason, &c.AckedFailures, &cr, &up)
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
	rows, err := s.sql.QueryContext(ctx, `SELECT id, spec, state, phase, reason, acked_failures, created_ms, updated_ms FROM campaigns ORDER BY created_ms, id`)
	if err != nil {
		return nil, fmt.Errorf("store: list campaigns: %w", err)
	}
	defer rows.Close()
	var out []*CampaignRecord
	for rows.Next() {
		var c CampaignRecord
		var cr, up int64
		if err := rows.Scan(&c.ID, &c.Spec, &c.State, &c.Phase, &c.Reason, &c.AckedFailures, &cr, &up); err != nil {
			return nil, fmt.Errorf("store: list campaigns: %w", err)
		}
		c.Created, c.Updated = fromMS(cr), fromMS(up)
		out = append(out, &c)
	}
	return out, rows.Err()
}

// CampaignDevices lists a campaign's targets ordered by phase and id.
func (s *DB) CampaignDevices(ctx context.Context, campaignID string) ([]CampaignDevice, error) {
	rows, err := s.sql.QueryContext(ctx, s.q(`SELECT device_id, phase, status, reason, notified_ms, updated_ms FROM campaign_devices WHERE campaign_id = ? ORDER BY phase, device_id`), campaignID)
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
