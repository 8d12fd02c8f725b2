package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"rampart/swcomponent"
)

// Release is a registered firmware release: a signed image whose
// measurement is a reference value for the software-components claim.
type Release struct {
	// Component is the measurement the bootloader reports for the image
	// (image.Measurement): its hash as measurement value, the KEYHASH of
	// the key that verified it as signer ID, the BOOT_RECORD sw_type as
	// measurement type, "major.minor.revision" as version and the hash's
	// name ("SHA256") as description. The row keeps it in the columns
	// digest, signer_id, sw_type, version and hash_alg.
	Component swcomponent.Component
	Size      int64
	Created   time.Time
	Comment   string
}

// PutRelease registers r; registering the same digest again is ErrConflict.
func (s *DB) PutRelease(ctx context.Context, r *Release, audit *AuditEntry) error {
	return s.tx(ctx, func(t *sql.Tx) error {
		var n int
		c := &r.Component
		if err := t.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM releases WHERE digest = ?`), c.MeasurementValue).Scan(&n); err != nil {
			return fmt.Errorf("store: put release: %w", err)
		}
		if n > 0 {
			return fmt.Errorf("store: release %x already registered: %w", c.MeasurementValue, ErrConflict)
		}
		if _, err := s.exec(ctx, t, `INSERT INTO releases (digest, sw_type, version, signer_id, hash_alg, size, created_ms, comment) VALUES (?,?,?,?,?,?,?,?)`,
			c.MeasurementValue, c.MeasurementType, c.Version, c.SignerID, c.MeasurementDescription, r.Size, ms(s.now()), r.Comment); err != nil {
			return fmt.Errorf("store: put release: %w", err)
		}
		if audit != nil {
			return s.insertAudit(ctx, t, audit)
		}
		return nil
	})
}

const releaseCols = `digest, sw_type, version, signer_id, hash_alg, size, created_ms, comment`

func scanRelease(r interface{ Scan(...any) error }) (*Release, error) {
	var x Release
	var c int64
	m := &x.Component
	if err := r.Scan(&m.MeasurementValue, &m.MeasurementType, &m.Version, &m.SignerID, &m.MeasurementDescription, &x.Size, &c, &x.Comment); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("store: read release: %w", err)
	}
	x.Created = fromMS(c)
	return &x, nil
}

// Release returns the release whose image hash is digest. Every enrollment
// looks up each measurement here, so releases found are kept in memory:
// a release row never changes once written (PutRelease refuses a second
// registration of a digest and nothing updates or deletes releases), so a
// row once read stays true. A digest not found is not remembered: a release
// registered later, through this DB or any other writer, is found at once.
// If releases ever become deletable, the deletion must go through this
// package and drop the digest from s.relCache.
func (s *DB) Release(ctx context.Context, digest []byte) (*Release, error) {
	if r := s.relCache.get(digest); r != nil {
		return r, nil
	}
	r, err := scanRelease(s.readRow(ctx, qRelease, digest))
	if err != nil {
		return nil, err
	}
	s.relCache.put(r)
	return r.clone(), nil
}

const qRelease = `SELECT ` + releaseCols + ` FROM releases WHERE digest = ?`

// releaseCache holds releases read by Release, by digest.
type releaseCache struct {
	mu sync.RWMutex
	m  map[string]*Release
}

// maxCachedReleases bounds the cache; past it, it starts over (a fleet has
// tens of releases, not thousands).
const maxCachedReleases = 4096

func (c *releaseCache) get(digest []byte) *Release {
	c.mu.RLock()
	r := c.m[string(digest)]
	c.mu.RUnlock()
	if r == nil {
		return nil
	}
	return r.clone()
}

func (c *releaseCache) put(r *Release) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedReleases {
		c.m = map[string]*Release{}
	}
	c.m[string(r.Component.MeasurementValue)] = r.clone()
	c.mu.Unlock()
}

// clone copies r so that callers cannot alter the cached release.
func (r *Release) clone() *Release {
	x := *r
	x.Component = r.Component.Clone()
	return &x
}

// Releases lists every release, oldest first.
func (s *DB) Releases(ctx context.Context) ([]*Release, error) {
	rows, err := s.sql.QueryContext(ctx, `SELECT `+releaseCols+` FROM releases ORDER BY created_ms, sw_type, version`)
	if err != nil {
		return nil, fmt.Errorf("store: list releases: %w", err)
	}
	defer rows.Close()
	var out []*Release
	for rows.Next() {
		r, err := scanRelease(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
