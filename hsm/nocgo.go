//go:build !cgo

package hsm

import (
	"crypto"
	"crypto/ecdsa"
	"io"
)

// Key is a private key in a PKCS#11 token; without cgo none can be opened.
type Key struct{}

// Open returns ErrNoCgo: loading a PKCS#11 module needs cgo.
func Open(uri string) (*Key, error) {
	if _, err := ParseURI(uri); err != nil {
		return nil, err
	}
	return nil, ErrNoCgo
}

// Public returns nil: no Key exists without cgo.
func (k *Key) Public() crypto.PublicKey { return nil }

// URI returns "".
func (k *Key) URI() string { return "" }

// Sign returns ErrNoCgo.
func (k *Key) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) { return nil, ErrNoCgo }

// Close does nothing.
func (k *Key) Close() error { return nil }

// ImportECDSA returns ErrNoCgo.
func ImportECDSA(uri string, key *ecdsa.PrivateKey) error { return ErrNoCgo }
