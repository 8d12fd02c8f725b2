package ca

import (
	"crypto/ecdsa"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
)

// DeriveSecret returns a 32-byte secret for one purpose, named by label,
// derived with HKDF-SHA256 from the CA private key (or, for a key held in
// a token, from the passphrase-keyed secret of OpenExternal). The server uses it to
// seal secrets it must keep in the database (campaign download keys), so a
// copy of the database alone, or of the database and the data directory
// without the passphrase, reveals none of them. The same CA and label
// always give the same secret; the key itself is never returned.
func (c *CA) DeriveSecret(label string) ([]byte, error) {
	d := c.secret
	if d == nil {
		k, ok := c.key.(*ecdsa.PrivateKey)
		if !ok {
			return nil, errors.New("ca: derive: the CA key is not an ECDSA key in memory")
		}
		var err error
		if d, err = k.Bytes(); err != nil {
			return nil, fmt.Errorf("ca: derive: %w", err)
		}
	}
	s, err := hkdf.Key(sha256.New, d, []byte("rampart-ca-derived-secret-v1"), label, 32)
	if err != nil {
		return nil, fmt.Errorf("ca: derive: %w", err)
	}
	return s, nil
}
