package transfer

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"rampart/deviceproto"
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
// on first use, so that every node of a cluster has the same. It is kept
// sealed (AES-256-GCM) under secret, which the server derives from its CA
// key (fleet/ca DeriveSecret): the store alone opens nothing, and no
// passphrase stretching is paid at every start.
func LoadOwnerKey(ctx context.Context, db *store.DB, secret []byte, rnd io.Reader) (*ecdsa.PrivateKey, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	aead, err := ownerAEAD(secret)
	if err != nil {
		return nil, err
	}
	sealed, err := db.OwnerKey(ctx)
	if errors.Is(err, store.ErrNotFound) {
		k, gerr := ecdsa.GenerateKey(elliptic.P256(), rnd)
		if gerr != nil {
			return nil, fmt.Errorf("transfer: owner key: %w", gerr)
		}
		der, merr := x509.MarshalPKCS8PrivateKey(k)
		if merr != nil {
			return nil, fmt.Errorf("transfer: owner key: %w", merr)
		}
		blob, serr := sealOwner(aead, der, rnd)
		if serr != nil {
			return nil, serr
		}
		if _, err = db.PutOwnerKeyIfAbsent(ctx, blob); err != nil {
			return nil, err
		}
		sealed, err = db.OwnerKey(ctx) // another node may have stored one first
	}
	if err != nil {
		return nil, err
	}
	der, err := openOwner(aead, sealed)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("transfer: owner key: %w", err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("transfer: owner key: not ECDSA")
	}
	return ek, nil
}

// ResealOwnerKey returns the sealed owner key opened under oldSecret and
// sealed under newSecret (an emergency CA rotation: the key is kept,
// docs/ownership-and-rotation.md says why).
func ResealOwnerKey(sealed, oldSecret, newSecret []byte, rnd io.Reader) ([]byte, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	oldAEAD, err := ownerAEAD(oldSecret)
	if err != nil {
		return nil, err
	}
	newAEAD, err := ownerAEAD(newSecret)
	if err != nil {
		return nil, err
	}
	der, err := openOwner(oldAEAD, sealed)
	if err != nil {
		return nil, err
	}
	return sealOwner(newAEAD, der, rnd)
}

// OwnerKeyOpens reports whether a sealed owner key opens under secret.
func OwnerKeyOpens(sealed, secret []byte) bool {
	aead, err := ownerAEAD(secret)
	if err != nil {
		return false
	}
	_, err = openOwner(aead, sealed)
	return err == nil
}

func sealOwner(aead cipher.AEAD, der []byte, rnd io.Reader) ([]byte, error) {
	nonce := make([]byte, aead.NonceSize())
	if _, err := io.ReadFull(rnd, nonce); err != nil {
		return nil, fmt.Errorf("transfer: owner key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: ownerKeyPEM, Bytes: aead.Seal(nonce, nonce, der, []byte(ownerKeyPEM))}), nil
}

func openOwner(aead cipher.AEAD, sealed []byte) ([]byte, error) {
	b, _ := pem.Decode(sealed)
	if b == nil || b.Type != ownerKeyPEM || len(b.Bytes) < aead.NonceSize() {
		return nil, errors.New("transfer: owner key: not a sealed owner key")
	}
	der, err := aead.Open(nil, b.Bytes[:aead.NonceSize()], b.Bytes[aead.NonceSize():], []byte(ownerKeyPEM))
	if err != nil {
		return nil, fmt.Errorf("transfer: owner key: does not open under this CA's secret: %w", err)
	}
	return der, nil
}

// ownerKeyPEM is the PEM type of the sealed owner key (and its AAD).
const ownerKeyPEM = "RAMPART SEALED OWNER KEY"

func ownerAEAD(secret []byte) (cipher.AEAD, error) {
	if len(secret) != 32 {
		return nil, errors.New("transfer: owner key: the sealing secret must be 32 bytes")
	}
	blk, err := aes.NewCipher(secret)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(blk)
}

// audit writes an entry on its own, logging a failure.
func (s *Service) audit(ctx context.Context, e *store.AuditEntry) {
	if err := s.cfg.Store.Audit(ctx, e); err != nil {
		s.cfg.Log.Error("audit write failed", "action", e.Action, "err", err)
	}
}
