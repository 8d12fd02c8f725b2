//go:build cgo

package hsm

import (
	"crypto"
	"crypto/rsa"
	"fmt"

	"github.com/miekg/pkcs11"
)

// Mechanisms and key types of PKCS#11 3.0 that miekg/pkcs11 v1.1.2 does not name.
const (
	ckkECEdwards = 0x00000040 // CKK_EC_EDWARDS
	ckmEdDSA     = 0x00001057 // CKM_EDDSA
)

// readPublic reads the public half of the private key obj of type kt.
func readPublic(ctx *pkcs11.Ctx, sh pkcs11.SessionHandle, obj pkcs11.ObjectHandle, kt uint, label string, id []byte) (keyKind, crypto.PublicKey, error) {
	switch kt {
	case pkcs11.CKK_RSA:
		a, err := ctx.GetAttributeValue(sh, obj, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS, nil), pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, nil)})
		if err != nil {
			return 0, nil, fmt.Errorf("%w: reading the RSA modulus: %w", ErrModule, err)
		}
		pub, err := publicFromRSA(a[0].Value, a[1].Value)
		return kindRSA, pub, err
	case pkcs11.CKK_EC, ckkECEdwards:
	default:
		return 0, nil, fmt.Errorf("%w: PKCS#11 key type 0x%x (EC, EC Edwards and RSA are supported)", ErrKeyType, kt)
	}
	// The point is on the public key object beside it (same CKA_ID).
	objs, err := findOne(ctx, sh, objectTemplate(pkcs11.CKO_PUBLIC_KEY, "", id))
	if err == nil && len(objs) != 1 && label != "" {
		objs, err = findOne(ctx, sh, objectTemplate(pkcs11.CKO_PUBLIC_KEY, label, id))
	}
	if err != nil {
		return 0, nil, err
	}
	if len(objs) != 1 {
		return 0, nil, fmt.Errorf("%w: %d public key objects share the private key's CKA_ID %x (one is needed for its point)", ErrNoObject, len(objs), id)
	}
	a, err := ctx.GetAttributeValue(sh, objs[0], []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, nil), pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil)})
	if err != nil {
		return 0, nil, fmt.Errorf("%w: reading the EC point: %w", ErrModule, err)
	}
	return publicFromEC(a[0].Value, a[1].Value)
}

// mechanism chooses the PKCS#11 mechanism for opts and what it signs.
func (k keyKind) mechanism(digest []byte, opts crypto.SignerOpts) (*pkcs11.Mechanism, []byte, error) {
	if opts == nil {
		// Go's own ECDSA and Ed25519 keys accept nil options (go-cose
		// passes nil): the digest's length then names the hash.
		opts = nilOpts(k, digest)
	}
	h := opts.HashFunc()
	switch k {
	case kindEd25519:
		if h != 0 {
			return nil, nil, fmt.Errorf("hsm: Ed25519 signs the message itself (crypto.Hash(0)), not a %v digest", h)
		}
		return pkcs11.NewMechanism(ckmEdDSA, nil), digest, nil
	case kindP256, kindP384:
		if err := checkDigest(h, digest); err != nil {
			return nil, nil, err
		}
		return pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil), digest, nil
	}
	if err := checkDigest(h, digest); err != nil {
		return nil, nil, err
	}
	if pss, ok := opts.(*rsa.PSSOptions); ok {
		return pssMechanism(h, pss, digest)
	}
	prefix, ok := digestInfo[h]
	if !ok {
		return nil, nil, fmt.Errorf("hsm: RSA PKCS#1 v1.5 with %v (SHA-256, -384, -512 are supported)", h)
	}
	return pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil), append(append([]byte{}, prefix...), digest...), nil
}

func pssMechanism(h crypto.Hash, o *rsa.PSSOptions, digest []byte) (*pkcs11.Mechanism, []byte, error) {
	hashMech := map[crypto.Hash][2]uint{
		crypto.SHA256: {pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256},
		crypto.SHA384: {pkcs11.CKM_SHA384, pkcs11.CKG_MGF1_SHA384},
		crypto.SHA512: {pkcs11.CKM_SHA512, pkcs11.CKG_MGF1_SHA512},
	}[h]
	if hashMech[0] == 0 {
		return nil, nil, fmt.Errorf("hsm: RSA-PSS with %v (SHA-256, -384, -512 are supported)", h)
	}
	salt := o.SaltLength
	if salt == rsa.PSSSaltLengthEqualsHash || salt == rsa.PSSSaltLengthAuto {
		// Auto lets the signer choose: the hash's length is what
		// verifiers expect most (MCUboot requires 32 with SHA-256).
		salt = h.Size()
	}
	if salt < 0 {
		return nil, nil, fmt.Errorf("hsm: RSA-PSS salt length %d", o.SaltLength)
	}
	params := pkcs11.NewPSSParams(hashMech[0], hashMech[1], uint(salt))
	return pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_PSS, params), digest, nil
}

// encode returns sig in the form Go's own keys give.
func (k keyKind) encode(sig []byte) ([]byte, error) {
	if k == kindP256 || k == kindP384 {
		return ecdsaDER(sig)
	}
	return sig, nil
}

// nilOpts is what nil SignerOpts mean for kind k: Ed25519 signs the message,
// ECDSA a digest whose length names its hash; RSA needs real options.
func nilOpts(k keyKind, digest []byte) crypto.SignerOpts {
	if k == kindEd25519 {
		return crypto.Hash(0)
	}
	if k == kindRSA {
		return crypto.Hash(0) // refused below: RSA needs its padding named
	}
	return map[int]crypto.Hash{32: crypto.SHA256, 48: crypto.SHA384, 64: crypto.SHA512}[len(digest)]
}
