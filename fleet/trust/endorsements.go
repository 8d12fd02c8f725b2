package trust

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"

	"rampart/attest"
	"rampart/fleet/store"
)

// SignedFormat is the format tag of a signed endorsement list.
const SignedFormat = "rampart-signed-endorsements/1"

// MaxSignedSize bounds a signed endorsement file (about 20,000 devices).
const MaxSignedSize = 16 << 20

// ErrUntrusted: no trusted manufacturer key verifies the signature.
var ErrUntrusted = errors.New("trust: endorsement signature not verified by any trusted manufacturer key")

// Signed is a signed endorsement list: Payload is an endorsement list in
// attest's file form (attest.ReadEndorsements), Signature an ASN.1 ECDSA
// signature over SHA-256 (P-256 keys) or SHA-384 (P-384) of exactly Payload.
type Signed struct {
	Format       string `json:"format"`
	Manufacturer string `json:"manufacturer"`
	Payload      []byte `json:"payload"`   // base64 in JSON
	Signature    []byte `json:"signature"` // base64 in JSON
}

func digest(pub *ecdsa.PublicKey, msg []byte) []byte {
	if pub.Curve.Params().BitSize > 256 {
		h := sha512.Sum384(msg)
		return h[:]
	}
	h := sha256.Sum256(msg)
	return h[:]
}

// SignEndorsements signs an endorsement list (its file form) for manufacturer.
func SignEndorsements(list *attest.EndorsementList, manufacturer string, key *ecdsa.PrivateKey, rand io.Reader) ([]byte, error) {
	var buf bytes.Buffer
	if err := list.WriteJSON(&buf); err != nil {
		return nil, err
	}
	sig, err := key.Sign(rand, digest(&key.PublicKey, buf.Bytes()), crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("trust: sign: %w", err)
	}
	return json.MarshalIndent(Signed{Format: SignedFormat, Manufacturer: manufacturer, Payload: buf.Bytes(), Signature: sig}, "", "  ")
}

// VerifyEndorsements checks a signed file against the trusted manufacturer
// keys (name -> key) and returns the manufacturer and the list.
func VerifyEndorsements(data []byte, manufacturers map[string]*ecdsa.PublicKey) (string, *attest.EndorsementList, error) {
	if len(data) > MaxSignedSize {
		return "", nil, fmt.Errorf("trust: signed endorsements: %d bytes exceeds %d", len(data), MaxSignedSize)
	}
	var s Signed
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return "", nil, fmt.Errorf("trust: signed endorsements: %w", err)
	}
	if s.Format != SignedFormat {
		return "", nil, fmt.Errorf("trust: signed endorsements: format %q, want %q", s.Format, SignedFormat)
	}
	names := make([]string, 0, len(manufacturers))
	for n := range manufacturers {
		if s.Manufacturer == "" || n == s.Manufacturer {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	who := ""
	for _, n := range names {
		k := manufacturers[n]
		if ecdsa.VerifyASN1(k, digest(k, s.Payload), s.Signature) {
			who = n
			break
		}
	}
	if who == "" {
		return "", nil, fmt.Errorf("%w (manufacturer %q)", ErrUntrusted, s.Manufacturer)
	}
	list, err := attest.ReadEndorsements(bytes.NewReader(s.Payload))
	if err != nil {
		return "", nil, fmt.Errorf("trust: signed endorsements: payload: %w", err)
	}
	return who, list, nil
}

// DeviceID is the fleet's name for a device: the hex of the first 16 bytes
// of the hash in its instance ID (32 characters, fit for a certificate
// common name and an MQTT topic level).
func DeviceID(instanceID []byte) string {
	if len(instanceID) < 17 {
		return hex.EncodeToString(instanceID)
	}
	return hex.EncodeToString(instanceID[1:17])
}

// ImportResult reports what an import changed.
type ImportResult struct {
	Manufacturer string   `json:"manufacturer"`
	Added        []string `json:"added"`
	Updated      []string `json:"updated"`
}

// Import verifies a signed endorsement file and records every endorsement
// (new devices start registered). Both outcomes are audited by actor.
func Import(ctx context.Context, db *store.DB, data []byte, manufacturers map[string]*ecdsa.PublicKey, actor string) (*ImportResult, error) {
	who, list, err := VerifyEndorsements(data, manufacturers)
	if err != nil {
		db.Audit(ctx, &store.AuditEntry{Actor: actor, Action: "endorsements.import", Subject: "", Decision: store.Deny, Reason: err.Error()})
		return nil, err
	}
	var buf bytes.Buffer
	list.WriteJSON(&buf)
	var file struct {
		Endorsements []struct {
			InstanceID       string `json:"instance_id"`
			ImplementationID string `json:"implementation_id"`
			PublicKey        string `json:"public_key"`
			Comment          string `json:"comment"`
		} `json:"endorsements"`
	}
	if err := json.Unmarshal(buf.Bytes(), &file); err != nil {
		return nil, fmt.Errorf("trust: %w", err)
	}
	res := &ImportResult{Manufacturer: who}
	for _, e := range file.Endorsements {
		inst, err := hex.DecodeString(e.InstanceID)
		if err != nil {
			return nil, fmt.Errorf("trust: instance_id: %w", err)
		}
		impl, err := hex.DecodeString(e.ImplementationID)
		if err != nil {
			return nil, fmt.Errorf("trust: implementation_id: %w", err)
		}
		d := &store.Device{ID: DeviceID(inst), InstanceID: inst, ImplementationID: impl, PublicKeyPEM: e.PublicKey, Comment: e.Comment, Manufacturer: who}
		created, err := db.PutEndorsement(ctx, d)
		if err != nil {
			return nil, err
		}
		if created {
			res.Added = append(res.Added, d.ID)
		} else {
			res.Updated = append(res.Updated, d.ID)
		}
	}
	db.Audit(ctx, &store.AuditEntry{Actor: actor, Action: "endorsements.import", Subject: who, Decision: store.Allow,
		Reason: fmt.Sprintf("signed by %s: %d added, %d updated", who, len(res.Added), len(res.Updated))})
	return res, nil
}
