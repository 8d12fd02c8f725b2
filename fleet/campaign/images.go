package campaign

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"rampart/fleet/internal/netlimit"
	"rampart/fleet/store"
	"rampart/fleet/trust"
	"rampart/image"
)

// ErrRollback is returned for an image whose security counter is lower
// than one already uploaded for the same software type.
var ErrRollback = errors.New("campaign: security counter lower than an uploaded release's")

// Upload verifies a signed image against the release keys (fleet/trust),
// refuses a security counter lower than the highest uploaded for its
// software type unless force, registers the release (its measurement
// becomes a reference value) and stores the image under the SHA-256 of its
// bytes. A release registered before without its image gets the image
// stored; a release whose image is already stored (these bytes, or another
// signature over the same measurement) is refused with store.ErrConflict
// and audited: the upload would change nothing, and an operator who meant
// to upload a new version should hear so.
func Upload(ctx context.Context, db *store.DB, img []byte, keys []any, force bool, comment, actor string) (*store.Release, string, error) {
	parsed, err := image.Parse(img)
	if err != nil {
		return nil, "", fmt.Errorf("campaign: upload: %w", err)
	}
	sc, _, err := parsed.SecurityCounter()
	if err != nil {
		return nil, "", fmt.Errorf("campaign: upload: security counter: %w", err)
	}
	rel, err := trust.RegisterRelease(ctx, db, img, keys, comment, actor)
	conflict := errors.Is(err, store.ErrConflict)
	if err != nil && !conflict {
		return nil, "", err
	}
	if conflict {
		// Verified by RegisterRelease before it found the release on record.
		_, v, verr := image.Verify(img, keys...)
		if verr != nil {
			return nil, "", fmt.Errorf("campaign: upload: %w", verr)
		}
		if rel, err = db.Release(ctx, v.Digest); err != nil {
			return nil, "", err
		}
		if sha, err := db.ImageByDigest(ctx, v.Digest); err == nil {
			db.Audit(ctx, &store.AuditEntry{Actor: actor, Action: "releases.upload", Subject: hex.EncodeToString(rel.Component.MeasurementValue), Decision: store.Deny,
				Reason: "already registered, image " + sha + " stored"})
			return nil, "", fmt.Errorf("campaign: upload: release %x already registered with its image %s: %w", rel.Component.MeasurementValue, sha, store.ErrConflict)
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, "", err
		}
	}
	if max, any, err := db.MaxSecurityCounter(ctx, rel.Component.MeasurementType); err != nil {
		return nil, "", err
	} else if any && sc < max && !force {
		db.Audit(ctx, &store.AuditEntry{Actor: actor, Action: "releases.upload", Subject: hex.EncodeToString(rel.Component.MeasurementValue), Decision: store.Deny,
			Reason: fmt.Sprintf("security counter %d < %d", sc, max)})
		return nil, "", fmt.Errorf("%w: %d < %d (force to override)", ErrRollback, sc, max)
	}
	sum := sha256.Sum256(img)
	h := hex.EncodeToString(sum[:])
	if err := db.PutImage(ctx, h, rel.Component.MeasurementValue, rel.Component.MeasurementType, sc, img); err != nil {
		return nil, "", err
	}
	return rel, h, nil
}

// ImageHandler serves GET /images/<sha256>?device=<id>&token=<hex> with
// Range requests (a cut download resumes). Only a device that a campaign
// of that image has notified, presenting its download token (the job's
// URL carries it), is served; anything else is refused with 403 Forbidden
// and audited, and moves no progress. Each device's downloads together are
// limited to Config.BytesPerSecond. Progress seen here (downloading,
// downloaded) grants nothing: success needs attestation.
func (e *Engine) ImageHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sha := strings.TrimPrefix(r.URL.Path, "/images/")
		if len(sha) != 64 {
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query()
		dev, token := q.Get("device"), q.Get("token")
		valid := func() bool {
			e.mu.Lock()
			defer e.mu.Unlock()
			c := e.byDevice[dev]
			return dev != "" && c != nil && c.imageSHA == sha && c.validToken(dev, token)
		}
		ok := valid()
		if !ok && e.clustered && dev != "" && token != "" {
			// A campaign another node created may not have been read
			// here yet (reads on demand are bounded: demandEvery).
			e.syncOnDemand(r.Context())
			ok = valid()
		}
		if !ok {
			e.refuseDownload(r, dev, sha, token)
			http.Error(w, "campaign: no valid download token for this device and image", http.StatusForbidden)
			return
		}
		e.mu.Lock()
		data, cached := e.images[sha]
		e.mu.Unlock()
		if !cached {
			_, d, err := e.cfg.Store.Image(r.Context(), sha)
			if err != nil {
				http.NotFound(w, r)
				return
			}
			data = d
			e.mu.Lock()
			e.images[sha] = d
			e.mu.Unlock()
		}
		e.mu.Lock()
		tamper := e.cfg.Tamper
		e.mu.Unlock()
		if tamper != nil {
			data = tamper(dev, data)
		}
		e.downloadEvent(dev, sha, false)
		p := e.acquirePacer(dev)
		defer e.releasePacer(dev, p)
		cw := &countWriter{ResponseWriter: w, pace: p}
		w.Header().Set("Cache-Control", "private, no-store")
		if r.Header.Get("Range") == "" && r.Method == http.MethodGet {
			// A whole image: one write (ServeContent copies through a
			// LimitReader in 32 KiB pieces).
			h := w.Header()
			h.Set("Accept-Ranges", "bytes")
			h.Set("Content-Type", "application/octet-stream")
			h.Set("Content-Length", strconv.Itoa(len(data)))
			cw.WriteHeader(http.StatusOK)
			cw.Write(data)
		} else {
			http.ServeContent(cw, r, "", time.Time{}, bytes.NewReader(data))
		}
		if cw.reachedEnd(int64(len(data))) {
			e.downloadEvent(dev, sha, true)
		}
	})
}

// refuseDownload audits an image request without a valid token.
func (e *Engine) refuseDownload(r *http.Request, dev, sha, token string) {
	reason := "no device in an active campaign of this image"
	switch {
	case dev == "":
		reason = "no device parameter"
	case token == "":
		reason = "no download token"
	default:
		e.mu.Lock()
		if c := e.byDevice[dev]; c != nil && c.imageSHA == sha {
			reason = "download token does not match campaign " + c.rec.ID
		}
		e.mu.Unlock()
	}
	e.cfg.Log.Info("image download refused", "device", dev, "image", sha, "remote", r.RemoteAddr, "reason", reason)
	a := &store.AuditEntry{Actor: "http:" + r.RemoteAddr, Action: "image.download", Subject: dev, Decision: store.Deny,
		Reason: fmt.Sprintf("image %s: %s", sha, reason)}
	var err error
	if e.cfg.Refusals != nil {
		_, err = e.cfg.Refusals.Add(r.Context(), netlimit.SourceOf(r.RemoteAddr).String(), "image.download "+dev, a)
	} else {
		err = e.cfg.Store.Audit(r.Context(), a)
	}
	if err != nil {
		e.cfg.Log.Error("audit write failed", "err", err)
	}
}

// countWriter counts the body bytes and paces them through the device's
// shared pacer (nil: no limit).
type countWriter struct {
	http.ResponseWriter
	status int
	n      int64
	pace   *pacer
}

func (c *countWriter) WriteHeader(s int) { c.status = s; c.ResponseWriter.WriteHeader(s) }

func (c *countWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = 200
	}
	if c.pace == nil {
		n, err := c.ResponseWriter.Write(b)
		c.n += int64(n)
		return n, err
	}
	const chunk = 16 << 10
	total := 0
	for len(b) > 0 {
		k := min(len(b), chunk)
		c.pace.wait(k)
		n, err := c.ResponseWriter.Write(b[:k])
		c.n += int64(n)
		total += n
		if err != nil {
			return total, err
		}
		b = b[k:]
	}
	return total, nil
}

// reachedEnd reports whether the response delivered the last byte.
func (c *countWriter) reachedEnd(size int64) bool {
	switch c.status {
	case http.StatusOK:
		return c.n == size
	case http.StatusPartialContent:
		var a, b, total int64
		cr := c.Header().Get("Content-Range")
		if _, err := fmt.Sscanf(cr, "bytes %d-%d/%d", &a, &b, &total); err != nil {
			return false
		}
		return b+1 == size && c.n == b-a+1
	}
	return false
}

// SetTamper installs (or, with nil, removes) a function that may alter the
// image served to a device: fault injection for tests, never for service.
func (e *Engine) SetTamper(f func(deviceID string, data []byte) []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cfg.Tamper = f
}
