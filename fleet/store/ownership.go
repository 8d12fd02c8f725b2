package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// OwnerKey returns the fleet's owner key (PEM, encrypted under the CA
// passphrase); ErrNotFound when none is stored yet.
func (s *DB) OwnerKey(ctx context.Context) ([]byte, error) {
	var k string
	err := s.sql.QueryRowContext(ctx, `SELECT key_pem FROM ownership_key WHERE id = 1`).Scan(&k)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: owner key: %w", err)
	}
	return []byte(k), nil
}

// PutOwnerKeyIfAbsent stores the owner key unless one is stored already (of
// nodes starting together exactly one writes it; all read it back with
// OwnerKey). It reports whether this call stored it.
func (s *DB) PutOwnerKeyIfAbsent(ctx context.Context, keyPEM []byte) (bool, error) {
	r, err := s.sql.ExecContext(ctx, s.q(`INSERT INTO ownership_key (id, key_pem, created_ms) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING`), string(keyPEM), ms(s.now()))
	if err != nil {
		return false, fmt.Errorf("store: owner key: %w", err)
	}
	n, err := r.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: owner key: %w", err)
	}
	return n == 1, nil
}

// OwnedVoucher is the voucher by which the fleet owns a device, and the
// transfer that released it (if any).
type OwnedVoucher struct {
	DeviceID string
	// Serial is the voucher's final serial: a voucher imported for the
	// device must exceed it (and ReleasedSerial).
	Serial  uint64
	Voucher []byte
	// ReleasedSerial is the final serial of the voucher that handed the
	// device on (0 while the fleet owns it).
	ReleasedSerial uint64
	TransferID     string
	TransferNonce  []byte
	Updated        time.Time
}

// Voucher returns the voucher record of a device; ErrNotFound when the
// fleet holds none.
func (s *DB) Voucher(ctx context.Context, deviceID string) (*OwnedVoucher, error) {
	var v OwnedVoucher
	var serial, rel, upd int64
	err := s.sql.QueryRowContext(ctx, s.q(`SELECT device_id, serial, voucher, released_serial, transfer_id, transfer_nonce, updated_ms FROM ownership_vouchers WHERE device_id = ?`), deviceID).
		Scan(&v.DeviceID, &serial, &v.Voucher, &rel, &v.TransferID, &v.TransferNonce, &upd)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: voucher: %w", err)
	}
	v.Serial, v.ReleasedSerial, v.Updated = uint64(serial), uint64(rel), time.UnixMilli(upd)
	return &v, nil
}

// PutVoucher records the voucher by which the fleet now owns a device, if
// its serial is greater than every serial the fleet recorded for the device
// (the one it owned it by and the one it released it with); ErrConflict
// otherwise (a replayed or stale voucher). A device that comes back after
// a release is owned again: the release is cleared. The audit entry is
// written in the same transaction.
func (s *DB) PutVoucher(ctx context.Context, deviceID string, serial uint64, voucher []byte, audit *AuditEntry) error {
	if serial == 0 || serial > 1<<62 {
		return fmt.Errorf("store: voucher: serial %d out of range: %w", serial, ErrConflict)
	}
	return s.tx(ctx, func(t *sql.Tx) error {
		r, err := s.exec(ctx, t, `INSERT INTO ownership_vouchers (device_id, serial, voucher, released_serial, transfer_id, transfer_nonce, updated_ms) VALUES (?, ?, ?, 0, '', NULL, ?)
			ON CONFLICT (device_id) DO UPDATE SET serial = excluded.serial, voucher = excluded.voucher, released_serial = 0, transfer_id = '', transfer_nonce = NULL, updated_ms = excluded.updated_ms
			WHERE ownership_vouchers.serial < excluded.serial AND ownership_vouchers.released_serial < excluded.serial`,
			deviceID, int64(serial), voucher, ms(s.now()))
		if err != nil {
			return fmt.Errorf("store: voucher: %w", err)
		}
		if n, err := r.RowsAffected(); err != nil {
			return fmt.Errorf("store: voucher: %w", err)
		} else if n != 1 {
			return fmt.Errorf("store: voucher of device %s: serial %d is not newer than the one recorded: %w", deviceID, serial, ErrConflict)
		}
		if audit != nil {
			return s.insertAudit(ctx, t, audit)
		}
		return nil
	})
}

// ReleaseVoucher records that the fleet hands a device on with a voucher
// of final serial released (greater than the one it owns it by) through the
// transfer job transferID, whose outcome must be attested over nonce.
// ErrNotFound when the fleet holds no voucher for the device, ErrConflict
// when the serial is not newer or the device was already released with a
// newer one.
func (s *DB) ReleaseVoucher(ctx context.Context, deviceID string, released uint64, transferID string, nonce []byte, audit *AuditEntry) error {
	return s.tx(ctx, func(t *sql.Tx) error {
		r, err := s.exec(ctx, t, `UPDATE ownership_vouchers SET released_serial = ?, transfer_id = ?, transfer_nonce = ?, updated_ms = ?
			WHERE device_id = ? AND serial < ? AND released_serial <= ?`, int64(released), transferID, nonce, ms(s.now()), deviceID, int64(released), int64(released))
		if err != nil {
			return fmt.Errorf("store: release: %w", err)
		}
		if n, err := r.RowsAffected(); err != nil {
			return fmt.Errorf("store: release: %w", err)
		} else if n != 1 {
			var one int
			if err := t.QueryRowContext(ctx, s.q(`SELECT 1 FROM ownership_vouchers WHERE device_id = ?`), deviceID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("store: release: device %s: no voucher: %w", deviceID, ErrNotFound)
			}
			return fmt.Errorf("store: release: device %s: serial %d is not newer: %w", deviceID, released, ErrConflict)
		}
		if audit != nil {
			return s.insertAudit(ctx, t, audit)
		}
		return nil
	})
}
