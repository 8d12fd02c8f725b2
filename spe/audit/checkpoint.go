package audit

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// The chain: head(0) = SHA-256("rampart audit log v1"); after record i,
// head = SHA-256(head || record body i). A record's body holds its sequence
// number, so moving, dropping or inserting one changes every later head.
var genesis = sha256.Sum256([]byte("rampart audit log v1"))

func chain(head [32]byte, body []byte) [32]byte {
	h := sha256.New()
	h.Write(head[:])
	h.Write(body)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Checkpoint is a signed statement that the log's first Count records chain
// to Head. A reader keeps the latest one it has verified as an anchor: a
// later log must still contain it (VerifyOptions.Anchor).
type Checkpoint struct {
	Count     uint64 // records covered: sequence numbers 0..Count-1
	Head      [32]byte
	Time      time.Time
	Signature []byte
}

// ErrSignature: a checkpoint's signature does not verify.
var ErrSignature = errors.New("audit: checkpoint signature invalid")

// signedMessage is what a checkpoint's signature covers.
func (c *Checkpoint) signedMessage() []byte {
	b := []byte("rampart audit checkpoint v1\x00")
	b = binary.BigEndian.AppendUint64(b, c.Count)
	b = append(b, c.Head[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(c.Time.UnixNano()))
}

// sign signs c with s: Ed25519 over the message, ECDSA over its SHA-256.
func (c *Checkpoint) sign(s crypto.Signer) error {
	msg := c.signedMessage()
	var err error
	switch s.Public().(type) {
	case ed25519.PublicKey:
		c.Signature, err = s.Sign(rand.Reader, msg, crypto.Hash(0))
	case *ecdsa.PublicKey:
		d := sha256.Sum256(msg)
		c.Signature, err = s.Sign(rand.Reader, d[:], crypto.SHA256)
	default:
		return fmt.Errorf("audit: checkpoint key %T: want ECDSA or Ed25519", s.Public())
	}
	if err != nil {
		return fmt.Errorf("audit: signing checkpoint: %w", err)
	}
	if len(c.Signature) > maxSignature {
		return fmt.Errorf("audit: checkpoint signature of %d bytes, limit %d", len(c.Signature), maxSignature)
	}
	return nil
}

// Verify checks c's signature with pub (ECDSA or Ed25519).
func (c *Checkpoint) Verify(pub crypto.PublicKey) error {
	msg := c.signedMessage()
	ok := false
	switch k := pub.(type) {
	case ed25519.PublicKey:
		ok = ed25519.Verify(k, msg, c.Signature)
	case *ecdsa.PublicKey:
		d := sha256.Sum256(msg)
		ok = ecdsa.VerifyASN1(k, d[:], c.Signature)
	default:
		return fmt.Errorf("audit: checkpoint key %T: want ECDSA or Ed25519", pub)
	}
	if !ok {
		return fmt.Errorf("%w (checkpoint over %d records)", ErrSignature, c.Count)
	}
	return nil
}

// Checkpoint body: count u64 | head [32] | time (Unix ns) i64 | sig len u16 | sig.
func (c *Checkpoint) marshal() []byte {
	b := binary.BigEndian.AppendUint64(nil, c.Count)
	b = append(b, c.Head[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Time.UnixNano()))
	b = binary.BigEndian.AppendUint16(b, uint16(len(c.Signature)))
	return append(b, c.Signature...)
}

const checkpointFixed = 8 + 32 + 8 + 2

func unmarshalCheckpoint(b []byte) (*Checkpoint, error) {
	if len(b) < checkpointFixed {
		return nil, fmt.Errorf("checkpoint of %d bytes, shorter than %d", len(b), checkpointFixed)
	}
	c := &Checkpoint{Count: binary.BigEndian.Uint64(b), Time: time.Unix(0, int64(binary.BigEndian.Uint64(b[40:]))).UTC()}
	copy(c.Head[:], b[8:40])
	n := int(binary.BigEndian.Uint16(b[48:]))
	if n > maxSignature || len(b)-checkpointFixed != n {
		return nil, fmt.Errorf("checkpoint signature length %d does not match the %d bytes left", n, len(b)-checkpointFixed)
	}
	c.Signature = append([]byte(nil), b[checkpointFixed:]...)
	return c, nil
}
