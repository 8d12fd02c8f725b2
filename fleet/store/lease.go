package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Lease is a named lease as stored: who holds it, until when, and its
// epoch. The epoch grows by one every time the lease passes to another
// holder (and when a holder takes back a lease it released), so it is a
// fencing token: a write that carries the epoch it was decided under can be
// refused once the lease has moved on (ErrFenced).
type Lease struct {
	Name    string
	Holder  string // "" once released
	Epoch   int64
	Expires time.Time
	// Held: the lease is held (by Holder, until Expires) at the time it was
	// read. From AcquireLease, Held means the caller holds it.
	Held bool
}

// ErrFenced: a write was made under a lease epoch that is no longer the
// lease's (another holder took it over); the writer has been deposed.
var ErrFenced = errors.New("store: lease lost")

// Fence names the lease a write is made under: the write commits only if
// lease Name still has Epoch.
type Fence struct {
	Name  string
	Epoch int64
}

// AcquireLease acquires lease name for holder, or renews it when holder
// already holds it, until now+ttl, in one conditional statement: it
// succeeds when the lease does not exist, is held by holder, or has
// expired. The epoch is incremented whenever the holder changes. When
// another holder holds an unexpired lease the result has Held false and
// describes that holder's lease; the error is for the database only.
//
// Expiry is decided on the store's clock (Options.Now): nodes sharing a
// database must keep their clocks within a fraction of the TTL (NTP).
func (s *DB) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (Lease, error) {
	if name == "" || holder == "" {
		return Lease{}, fmt.Errorf("store: lease: empty name or holder")
	}
	if ttl <= 0 {
		return Lease{}, fmt.Errorf("store: lease %s: ttl %v", name, ttl)
	}
	now := s.now()
	exp := ms(now.Add(ttl))
	l := Lease{Name: name}
	var expMS int64
	err := s.sql.QueryRowContext(ctx, s.q(`INSERT INTO leases (name, holder, epoch, expires_ms) VALUES (?, ?, 1, ?)
		ON CONFLICT (name) DO UPDATE SET
			epoch = CASE WHEN leases.holder = excluded.holder THEN leases.epoch ELSE leases.epoch + 1 END,
			holder = excluded.holder,
			expires_ms = excluded.expires_ms
		WHERE leases.holder = excluded.holder OR leases.expires_ms <= ?
		RETURNING holder, epoch, expires_ms`), name, holder, exp, ms(now)).Scan(&l.Holder, &l.Epoch, &expMS)
	switch {
	case err == nil:
		l.Expires, l.Held = fromMS(expMS), true
		return l, nil
	case !errors.Is(err, sql.ErrNoRows):
		return Lease{}, fmt.Errorf("store: acquire lease %s: %w", name, err)
	}
	// Held by another holder: report whose it is.
	err = s.sql.QueryRowContext(ctx, s.q(`SELECT holder, epoch, expires_ms FROM leases WHERE name = ?`), name).Scan(&l.Holder, &l.Epoch, &expMS)
	if err != nil {
		return Lease{}, fmt.Errorf("store: lease %s: %w", name, err)
	}
	l.Expires = fromMS(expMS)
	return l, nil
}

// ReleaseLease gives up lease name if holder holds it, so that another
// holder can take it at once instead of after its expiry. Releasing a lease
// one does not hold is not an error (it may have been taken over).
func (s *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := s.exec(ctx, s.sql, `UPDATE leases SET holder = '', expires_ms = 0 WHERE name = ? AND holder = ?`, name, holder); err != nil {
		return fmt.Errorf("store: release lease %s: %w", name, err)
	}
	return nil
}

// Leases lists every lease ever acquired, by name; Held tells whether it is
// held now.
func (s *DB) Leases(ctx context.Context) ([]Lease, error) {
	rows, err := s.sql.QueryContext(ctx, `SELECT name, holder, epoch, expires_ms FROM leases ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: leases: %w", err)
	}
	defer rows.Close()
	now := ms(s.now())
	var out []Lease
	for rows.Next() {
		var l Lease
		var exp int64
		if err := rows.Scan(&l.Name, &l.Holder, &l.Epoch, &exp); err != nil {
			return nil, fmt.Errorf("store: leases: %w", err)
		}
		l.Expires, l.Held = fromMS(exp), l.Holder != "" && exp > now
		out = append(out, l)
	}
	return out, rows.Err()
}

// checkFence makes the transaction t commit only under lease f.Epoch: it
// reads the lease's epoch, on PostgreSQL with a share lock that holds off a
// takeover (AcquireLease's update) until t ends, so a deposed holder's
// write either commits before the new holder's term begins or not at all.
// (SQLite runs one writing transaction at a time: the same order holds.)
// A zero Fence checks nothing.
func (s *DB) checkFence(ctx context.Context, t *sql.Tx, f Fence) error {
	if f.Name == "" {
		return nil
	}
	q := `SELECT epoch FROM leases WHERE name = ?`
	if s.dialect == Postgres {
		q += ` FOR SHARE`
	}
	var epoch int64
	err := t.QueryRowContext(ctx, s.q(q), f.Name).Scan(&epoch)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: lease %s does not exist: %w", f.Name, ErrFenced)
	}
	if err != nil {
		return fmt.Errorf("store: lease %s: %w", f.Name, err)
	}
	if epoch != f.Epoch {
		return fmt.Errorf("store: lease %s is at epoch %d, not %d: %w", f.Name, epoch, f.Epoch, ErrFenced)
	}
	return nil
}
