//go:build cgo

package hsm

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/asn1"
	"fmt"

	"github.com/miekg/pkcs11"
)

// ImportECDSA creates key in the token the URI names, as a private key
// the token will not let out (CKA_SENSITIVE, not CKA_EXTRACTABLE) and its
// public key, labelled object= with CKA_ID id= (or the first 8 bytes of
// the SHA-256 of the public point). It is how an existing file key (the
// fleet CA's) moves into an HSM without a plain copy on disk. It refuses
// when the token already holds a private key with that label or id.
func ImportECDSA(uri string, key *ecdsa.PrivateKey) error {
	u, err := ParseURI(uri)
	if err != nil {
		return err
	}
	if u.Object == "" {
		return fmt.Errorf("%w: importing needs object= (the key's label)", ErrURI)
	}
	var params []byte
	switch key.Curve {
	case elliptic.P256():
		params = oidP256
	case elliptic.P384():
		params = oidP384
	default:
		return fmt.Errorf("%w: ECDSA on %s (P-256 or P-384)", ErrKeyType, key.Curve.Params().Name)
	}
	point, err := key.PublicKey.Bytes()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKeyType, err)
	}
	d, err := key.Bytes()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKeyType, err)
	}
	defer clear(d)
	id := u.ID
	if id == nil {
		sum := sha256.Sum256(point)
		id = sum[:8]
	}
	path, err := u.Module()
	if err != nil {
		return err
	}
	m, err := openModule(path)
	if err != nil {
		return err
	}
	defer m.release()
	slot, err := findSlot(m.ctx, u)
	if err != nil {
		return err
	}
	sh, err := login(m.ctx, slot, u, true)
	if err != nil {
		return err
	}
	defer m.ctx.CloseSession(sh)
	for _, t := range [][]*pkcs11.Attribute{objectTemplate(pkcs11.CKO_PRIVATE_KEY, u.Object, nil), objectTemplate(pkcs11.CKO_PRIVATE_KEY, "", id)} {
		objs, err := findOne(m.ctx, sh, t)
		if err != nil {
			return err
		}
		if len(objs) > 0 {
			return fmt.Errorf("%w: the token already holds a private key labelled %q or with id %x: not overwritten", ErrAmbiguous, u.Object, id)
		}
	}
	ecPoint, _ := asn1.Marshal(point)
	common := func(class uint) []*pkcs11.Attribute {
		return []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, class), pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true), pkcs11.NewAttribute(pkcs11.CKA_LABEL, u.Object),
			pkcs11.NewAttribute(pkcs11.CKA_ID, id), pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params)}
	}
	pub := append(common(pkcs11.CKO_PUBLIC_KEY), pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true), pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, ecPoint))
	priv := append(common(pkcs11.CKO_PRIVATE_KEY), pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true), pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false), pkcs11.NewAttribute(pkcs11.CKA_VALUE, d))
	privObj, err := m.ctx.CreateObject(sh, priv)
	if err != nil {
		return fmt.Errorf("%w: C_CreateObject (private key): %w", ErrModule, err)
	}
	if _, err := m.ctx.CreateObject(sh, pub); err != nil {
		m.ctx.DestroyObject(sh, privObj)
		return fmt.Errorf("%w: C_CreateObject (public key): %w", ErrModule, err)
	}
	return nil
}
