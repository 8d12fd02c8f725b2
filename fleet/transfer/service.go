package transfer

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"rampart/deviceproto"
	"rampart/fleet/ca"
	"rampart/fleet/store"
	"rampart/ownership"
)

// Config wires a Service to the server.
type Config struct {
	Store *store.DB
	// Manufacturers are the trusted manufacturer endorsement keys (the
	// server's manufacturers): hop 0 of every voucher must verify with
	// the key of the manufacturer that endorsed the device.
	Manufacturers map[string]*ecdsa.PublicKey
	// Owner is the fleet's owner key (LoadOwnerKey).
	Owner *ecdsa.PrivateKey
	// Jobs signs transfer messages (the fleet's job signer).
	Jobs *deviceproto.JobSigner
	// Publish delivers a signed message, retained, on a device's jobs
	// topic (the broker's PublishJob on every node).
	Publish func(deviceID string, payload []byte, expires time.Time) error
	// Disconnect ends a device's MQTT sessions.
	Disconnect func(deviceID, reason string) bool
	// Enrollment is where this fleet's devices enroll and whom they trust:
	// what the tickets this fleet signs tell an arriving device.
	Enrollment func() (enrollURL string, caCerts [][]byte, mqtt []string)
	Rand       io.Reader
	Now        func() time.Time
	Log        *slog.Logger
}

// Service handles the ownership operations of one fleet server.
type Service struct{ cfg Config }

// Errors the admin API maps to its answers.
var (
	// ErrRefused: the voucher or ticket does not prove what it must.
	ErrRefused = errors.New("transfer: refused")
	// ErrNotOwned: the fleet holds no voucher for the device.
	ErrNotOwned = errors.New("transfer: the fleet holds no voucher for this device")
)

// New checks cfg and returns the service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Owner == nil {
		return nil, errors.New("transfer: Store and Owner are required")
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Disconnect == nil {
		cfg.Disconnect = func(string, string) bool { return false }
	}
	return &Service{cfg: cfg}, nil
}

// OwnerKey is the fleet's owner public key: what a seller extends a
// voucher to.
func (s *Service) OwnerKey() *ecdsa.PublicKey { return &s.cfg.Owner.PublicKey }

func (s *Service) signing() ownership.Signing {
	return ownership.Signing{Rand: s.cfg.Rand, Now: s.cfg.Now}
}

// LoadOwnerKey returns the fleet's owner key from the store, creating it
// on first use; it is kept encrypted under the CA passphrase as the CA key
// is (fleet/ca EncryptKey), so that every node of a cluster has the same.
func LoadOwnerKey(ctx context.Context, db *store.DB, passphrase []byte, rnd io.Reader) (*ecdsa.PrivateKey, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	pemKey, err := db.OwnerKey(ctx)
	if errors.Is(err, store.ErrNotFound) {
		k, gerr := ecdsa.GenerateKey(elliptic.P256(), rnd)
		if gerr != nil {
			return nil, fmt.Errorf("transfer: owner key: %w", gerr)
		}
		enc, eerr := ca.EncryptKey(k, passphrase, rnd)
		if eerr != nil {
			return nil, fmt.Errorf("transfer: owner key: %w", eerr)
		}
		if _, err = db.PutOwnerKeyIfAbsent(ctx, enc); err != nil {
			return nil, err
		}
		pemKey, err = db.OwnerKey(ctx) // another node may have stored one first
	}
	if err != nil {
		return nil, err
	}
	k, err := ca.DecryptKey(pemKey, passphrase)
	if err != nil {
		return nil, fmt.Errorf("transfer: owner key: %w", err)
	}
	return k, nil
}

// audit writes an entry on its own, logging a failure.
func (s *Service) audit(ctx context.Context, e *store.AuditEntry) {
	if err := s.cfg.Store.Audit(ctx, e); err != nil {
		s.cfg.Log.Error("audit write failed", "action", e.Action, "err", err)
	}
}
