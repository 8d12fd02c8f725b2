package attest

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Endorsement binds an instance ID to the attestation public key that signs
// its tokens and, optionally, to an implementation ID.
type Endorsement struct {
	InstanceID       []byte
	ImplementationID []byte // optional; when set, tokens must carry it
	PublicKey        *ecdsa.PublicKey
	Comment          string
}

// EndorsementList is a set of endorsements indexed by instance ID. Its file
// form is described in docs/attestation-token.md:
//
//	{"endorsements": [{"instance_id": "01...", "implementation_id": "...",
//	                   "public_key": "-----BEGIN PUBLIC KEY-----\n...", "comment": "..."}]}
type EndorsementList struct {
	byID map[string]*Endorsement
}

type endorsementFile struct {
	Endorsements []endorsementJSON `json:"endorsements"`
}

type endorsementJSON struct {
	InstanceID       string `json:"instance_id"`
	ImplementationID string `json:"implementation_id,omitempty"`
	PublicKey        string `json:"public_key"`
	Comment          string `json:"comment,omitempty"`
}

// maxEndorsementFile bounds the size of an endorsement list read by ReadEndorsements.
const maxEndorsementFile = 64 << 20

// ReadEndorsements parses an endorsement list. Every entry's instance ID must
// be 0x01 || SHA-256 of its public key, and instance IDs must be unique.
func ReadEndorsements(r io.Reader) (*EndorsementList, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxEndorsementFile+1))
	if err != nil {
		return nil, fmt.Errorf("attest: reading endorsements: %w", err)
	}
	if len(data) > maxEndorsementFile {
		return nil, fmt.Errorf("attest: endorsements: larger than %d bytes: %w", maxEndorsementFile, ErrOversized)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f endorsementFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("attest: endorsements: %w", err)
	}
	l := &EndorsementList{byID: map[string]*Endorsement{}}
	for i, e := range f.Endorsements {
		at := fmt.Sprintf("attest: endorsements[%d]", i)
		id, err := hex.DecodeString(e.InstanceID)
		if err != nil || len(id) != InstanceIDLen || id[0] != 0x01 {
			return nil, fmt.Errorf("%s.instance_id: want %d hex bytes starting with 01", at, InstanceIDLen)
		}
		key, err := ParsePublicKeyPEM([]byte(e.PublicKey))
		if err != nil {
			return nil, fmt.Errorf("%s.public_key: %w", at, err)
		}
		want, err := InstanceID(key)
		if err != nil {
			return nil, fmt.Errorf("%s.public_key: %w", at, err)
		}
		if !bytes.Equal(id, want) {
			return nil, fmt.Errorf("%s.instance_id: %x is not the key's instance ID %x: %w", at, id, want, ErrInstanceID)
		}
		var impl []byte
		if e.ImplementationID != "" {
			impl, err = hex.DecodeString(e.ImplementationID)
			if err != nil || len(impl) != ImplementationIDLen {
				return nil, fmt.Errorf("%s.implementation_id: want %d hex bytes", at, ImplementationIDLen)
			}
		}
		k := string(id)
		if _, dup := l.byID[k]; dup {
			return nil, fmt.Errorf("%s.instance_id: %x appears twice", at, id)
		}
		l.byID[k] = &Endorsement{InstanceID: id, ImplementationID: impl, PublicKey: key, Comment: e.Comment}
	}
	return l, nil
}

// Add inserts or replaces the endorsement of e.PublicKey, computing its instance ID.
func (l *EndorsementList) Add(e Endorsement) error {
	id, err := InstanceID(e.PublicKey)
	if err != nil {
		return err
	}
	if l.byID == nil {
		l.byID = map[string]*Endorsement{}
	}
	e.InstanceID = id
	l.byID[string(id)] = &e
	return nil
}

// Len returns the number of endorsements.
func (l *EndorsementList) Len() int { return len(l.byID) }

// Lookup returns the endorsement for instanceID; it suits VerifyOptions.Lookup.
func (l *EndorsementList) Lookup(instanceID []byte) (*Endorsement, error) {
	e, ok := l.byID[string(instanceID)]
	if !ok {
		return nil, fmt.Errorf("not in the endorsement list")
	}
	return e, nil
}

// WriteJSON writes the list in its file form, sorted by instance ID.
func (l *EndorsementList) WriteJSON(w io.Writer) error {
	var f endorsementFile
	f.Endorsements = []endorsementJSON{}
	for _, e := range l.All() {
		pemKey, err := e.PublicKeyPEM()
		if err != nil {
			return err
		}
		f.Endorsements = append(f.Endorsements, endorsementJSON{
			InstanceID: hex.EncodeToString(e.InstanceID), ImplementationID: hex.EncodeToString(e.ImplementationID),
			PublicKey: pemKey, Comment: e.Comment,
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(f)
}

// All returns the endorsements ordered by instance ID.
func (l *EndorsementList) All() []*Endorsement {
	ids := make([]string, 0, len(l.byID))
	for id := range l.byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]*Endorsement, len(ids))
	for i, id := range ids {
		out[i] = l.byID[id]
	}
	return out
}

// PublicKeyPEM is the endorsed key in the PEM form the list file carries.
func (e *Endorsement) PublicKeyPEM() (string, error) {
	pemKey, err := MarshalPublicKeyPEM(e.PublicKey)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(pemKey)) + "\n", nil
}
