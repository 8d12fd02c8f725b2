//go:build cgo

package hsm

import (
	"crypto"
	"fmt"
	"io"
	"sync"

	"github.com/miekg/pkcs11"
)

// Key is a private key in a PKCS#11 token, used as a crypto.Signer. It
// holds one logged-in session; signatures are made one at a time on it
// (a PKCS#11 session runs one operation at a time). Close releases it.
type Key struct {
	uri  string
	u    *URI
	mod  *module
	mu   sync.Mutex
	sess pkcs11.SessionHandle
	obj  pkcs11.ObjectHandle
	pub  crypto.PublicKey
	kind keyKind
}

// Open finds the private key the URI names, logs in with its pin-source
// and reads its public half (from the public key object with the same
// CKA_ID, or the private object's own attributes for RSA).
func Open(uri string) (*Key, error) {
	u, err := ParseURI(uri)
	if err != nil {
		return nil, err
	}
	if u.Type != "" && u.Type != "private" {
		return nil, fmt.Errorf("%w: type=%s: signing needs the private key (type=private or no type)", ErrURI, u.Type)
	}
	path, err := u.Module()
	if err != nil {
		return nil, err
	}
	m, err := openModule(path)
	if err != nil {
		return nil, err
	}
	k, err := openKey(m, u)
	if err != nil {
		m.release()
		return nil, err
	}
	k.uri = u.String()
	return k, nil
}

func openKey(m *module, u *URI) (*Key, error) {
	slot, err := findSlot(m.ctx, u)
	if err != nil {
		return nil, err
	}
	sh, err := login(m.ctx, slot, u, false)
	if err != nil {
		return nil, err
	}
	k := &Key{mod: m, sess: sh, u: u}
	if err := k.find(u); err != nil {
		m.ctx.CloseSession(sh)
		return nil, err
	}
	return k, nil
}

func (k *Key) find(u *URI) error {
	ctx := k.mod.ctx
	objs, err := findOne(ctx, k.sess, objectTemplate(pkcs11.CKO_PRIVATE_KEY, u.Object, u.ID))
	if err != nil {
		return err
	}
	switch len(objs) {
	case 0:
		hint := ""
		if u.PinSource == "" {
			hint = " (private keys are visible only after login: add pin-source=file:/path)"
		}
		return fmt.Errorf("%w: no private key %s in token %s%s", ErrNoObject, describeObject(u), describeToken(u), hint)
	case 2:
		return fmt.Errorf("%w: several private keys match %s: add object= or id=", ErrAmbiguous, describeObject(u))
	}
	k.obj = objs[0]
	a, err := ctx.GetAttributeValue(k.sess, k.obj, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, nil), pkcs11.NewAttribute(pkcs11.CKA_ID, nil), pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil)})
	if err != nil {
		return fmt.Errorf("%w: reading the key's type: %w", ErrModule, err)
	}
	kt := ulong(a[0].Value)
	k.kind, k.pub, err = readPublic(ctx, k.sess, k.obj, kt, string(a[2].Value), a[1].Value)
	return err
}

// Public returns the key's public half.
func (k *Key) Public() crypto.PublicKey { return k.pub }

// URI returns the key's URI as parsed (canonical order).
func (k *Key) URI() string { return k.uri }

// Sign signs digest (ECDSA, RSA) or the message itself (Ed25519, opts
// crypto.Hash(0)) in the token, returning what the standard library's
// keys return: ASN.1 DER for ECDSA, raw bytes for Ed25519 and RSA.
func (k *Key) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	mech, input, err := k.kind.mechanism(digest, opts)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.mod == nil {
		return nil, fmt.Errorf("hsm: sign: key closed")
	}
	sig, err := k.signOnce(mech, input)
	if err != nil && sessionLost(err) {
		// The token restarted, was re-inserted, or logged us out: a
		// long-running server opens a new session once and retries.
		if rerr := k.reopen(); rerr != nil {
			return nil, fmt.Errorf("%w (reopening the session: %w)", err, rerr)
		}
		sig, err = k.signOnce(mech, input)
	}
	if err != nil {
		return nil, err
	}
	return k.kind.encode(sig)
}

func (k *Key) signOnce(mech *pkcs11.Mechanism, input []byte) ([]byte, error) {
	if err := k.mod.ctx.SignInit(k.sess, []*pkcs11.Mechanism{mech}, k.obj); err != nil {
		return nil, fmt.Errorf("hsm: C_SignInit (%s): %w", k.kind, err)
	}
	sig, err := k.mod.ctx.Sign(k.sess, input)
	if err != nil {
		return nil, fmt.Errorf("hsm: C_Sign (%s): %w", k.kind, err)
	}
	return sig, nil
}

// sessionLost says whether err means the session or the key handle is no
// longer valid, rather than that the signature itself failed.
func sessionLost(err error) bool {
	for _, c := range []uint{pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_SESSION_CLOSED, pkcs11.CKR_USER_NOT_LOGGED_IN,
		pkcs11.CKR_OBJECT_HANDLE_INVALID, pkcs11.CKR_KEY_HANDLE_INVALID, pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_TOKEN_NOT_PRESENT} {
		if isCKR(err, c) {
			return true
		}
	}
	return false
}

// reopen opens a new session and finds the key again; it must be the
// same key (the same public half), not merely one with the same label.
func (k *Key) reopen() error {
	k.mod.ctx.CloseSession(k.sess)
	fresh, err := openKey(k.mod, k.u)
	if err != nil {
		return err
	}
	if !samePublic(fresh.pub, k.pub) {
		k.mod.ctx.CloseSession(fresh.sess)
		return fmt.Errorf("%w: the token now holds another key under %s", ErrNoObject, describeObject(k.u))
	}
	k.sess, k.obj = fresh.sess, fresh.obj
	return nil
}

// Close ends the session and, with the last key of its module, the module.
func (k *Key) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.mod == nil {
		return nil
	}
	k.mod.ctx.CloseSession(k.sess)
	k.mod.release()
	k.mod = nil
	return nil
}

// ulong decodes a CK_ULONG attribute (native byte order and size).
func ulong(b []byte) uint {
	var v uint
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint(b[i])
	}
	return v
}
