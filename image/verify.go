package image

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"errors"
)

// VerifyOptions controls [Image.Verify].
type VerifyOptions struct {
	// Keys are the trusted signing keys (public or private halves of ECDSA
	// P-256/P-384, Ed25519, RSA-2048/3072 keys). When empty, only the
	// structure and the hash are checked, as imgtool verify without -k does;
	// [Verified.Signed] is then false.
	Keys []any
	// DecryptKey is the private key for an encrypted image (the key whose
	// public half was given to imgtool -E). Without it an encrypted image
	// cannot be verified: its hash covers the plaintext.
	DecryptKey any
	// KeyHashes are hashes of trusted keys (SHA-256 of PublicKeyBytes, as
	// getpubhash prints, or the image-hash algorithm's). An image that
	// carries its key in full (PUBKEY TLV, --public-key-format full) is
	// accepted when that key hashes to one of them: MCUboot's
	// MCUBOOT_HW_KEY mode, where the device stores only the key's hash.
	KeyHashes [][]byte
	// BodyInClear verifies an image whose flags say encrypted but whose body
	// is plaintext: an image made with imgtool --clear, or one already
	// decrypted into the primary slot (MCUboot only decrypts the secondary).
	BodyInClear bool
	// SkipDependencies leaves the DEPENDENCY TLVs unchecked: a bootloader
	// checks them itself, as MCUboot does outside its image validation (a
	// malformed one fails its dependency check, not the image).
	SkipDependencies bool
}

// Verified describes an image that passed [Image.Verify].
type Verified struct {
	Hash   Hash   // the image hash algorithm
	Digest []byte // the image hash (of the plaintext for encrypted images)
	Pure   bool   // the signature is over the hashed region itself (SIG_PURE)
	// Signed is true when a signature by one of VerifyOptions.Keys verified.
	Signed bool
	// KeyIndex is the index in VerifyOptions.Keys of the key whose
	// signature verified, or -1.
	KeyIndex int
	// KeyHashIndex is the index in VerifyOptions.KeyHashes that admitted
	// the image's embedded key, or -1.
	KeyHashIndex int
	// Key is the public key whose signature verified.
	Key       crypto.PublicKey
	Signature TLV // the signature TLV that verified, when Signed
	// Plaintext is the hashed region with a decrypted body, set only for
	// encrypted images.
	Plaintext []byte
}

// Verify checks that data is a well-formed image whose hash is right and,
// when keys are given, that one of them signed it. It is the one-call form
// of Parse followed by [Image.Verify].
func Verify(data []byte, keys ...any) (*Image, *Verified, error) {
	img, err := Parse(data)
	if err != nil {
		return nil, nil, err
	}
	v, err := img.Verify(VerifyOptions{Keys: keys})
	return img, v, err
}

// hashTLV finds the single image hash TLV.
func (img *Image) hashTLV() (TLV, error) {
	if img.Protected != nil {
		for _, t := range img.Protected.TLVs {
			if t.Type == TLVSHA256 || t.Type == TLVSHA384 || t.Type == TLVSHA512 {
				return TLV{}, fieldErr(t.field(), t.Offset, ErrMalformed, "hash TLV inside the protected area")
			}
		}
	}
	var found []TLV
	for _, t := range img.Unprotected.TLVs {
		if t.Type == TLVSHA256 || t.Type == TLVSHA384 || t.Type == TLVSHA512 {
			found = append(found, t)
		}
	}
	switch len(found) {
	case 0:
		return TLV{}, fieldErr("TLV area", img.Unprotected.Offset, ErrMissingHash, "no SHA256/SHA384/SHA512 TLV")
	case 1:
	default:
		return TLV{}, fieldErr(found[1].field(), found[1].Offset, ErrDuplicateHash, "%d hash TLVs", len(found))
	}
	h := found[0]
	if len(h.Value) != Hash(h.Type).Size() {
		return TLV{}, fieldErr(h.field()+" it_len", h.Offset+2, ErrMalformed, "%d, want %d", len(h.Value), Hash(h.Type).Size())
	}
	return h, nil
}

// Verify checks, in this order: the protected TLVs' well-formedness (SEC_CNT
// and, unless opts.SkipDependencies, DEPENDENCY only in the protected
// area), the single hash TLV against the hash of [Image.HashedRegion]
// (decrypting the body first when the image is encrypted), and, when
// opts.Keys is not empty, that a KEYHASH or PUBKEY entry names one of the
// keys and the signature TLV after it verifies. One
// valid signature suffices, as in MCUboot; a KEYHASH must be as long as the
// image hash (MCUboot would accept a prefix).
func (img *Image) Verify(opts VerifyOptions) (*Verified, error) {
	if _, _, err := img.SecurityCounter(); err != nil {
		return nil, err
	}
	if !opts.SkipDependencies {
		if _, err := img.Dependencies(); err != nil {
			return nil, err
		}
	}
	ht, err := img.hashTLV()
	if err != nil {
		return nil, err
	}
	h := Hash(ht.Type)
	region := img.HashedRegion()
	res := &Verified{Hash: h, KeyIndex: -1, KeyHashIndex: -1}
	if img.Header.Flags.Encrypted() && !opts.BodyInClear {
		if opts.DecryptKey == nil {
			return nil, fieldErr("ih_flags", 16, ErrEncrypted, "%s: give the decrypt key to check its hash", img.Header.Flags.Names())
		}
		if region, err = img.Decrypt(opts.DecryptKey); err != nil {
			return nil, err
		}
		res.Plaintext = region
	}
	res.Digest = h.Sum(region)
	if !bytes.Equal(res.Digest, ht.Value) {
		return nil, fieldErr(ht.field(), ht.Offset, ErrHashMismatch, "image hashes to %x", res.Digest)
	}
	for _, t := range img.Unprotected.Find(TLVSigPure) {
		if len(t.Value) != 1 || t.Value[0] != 1 {
			return nil, fieldErr(t.field(), t.Offset, ErrMalformed, "value must be the single byte 0x01")
		}
		res.Pure = true
	}
	if len(opts.Keys) == 0 && len(opts.KeyHashes) == 0 {
		return res, nil
	}
	return res, img.checkSignatures(opts.Keys, opts.KeyHashes, region, res)
}

type trustedKey struct {
	kt        KeyType
	pub       crypto.PublicKey
	bytes     []byte
	hash      []byte
	hashIndex int // index in VerifyOptions.KeyHashes for an embedded key, else -1
}

// embeddedKey admits a PUBKEY TLV's key when its SHA-256 or image-hash
// digest is one of keyHashes, and parses it.
func embeddedKey(b []byte, keyHashes [][]byte, h Hash) (*trustedKey, int) {
	sums := [][]byte{SHA256.Sum(b)}
	if h != SHA256 {
		sums = append(sums, h.Sum(b))
	}
	for j, want := range keyHashes {
		for _, s := range sums {
			if !bytes.Equal(s, want) {
				continue
			}
			pub, err := x509.ParsePKIXPublicKey(b)
			if err != nil {
				if pub, err = x509.ParsePKCS1PublicKey(b); err != nil {
					return nil, -1
				}
			}
			kt, err := KeyTypeOf(pub)
			if err != nil || kt.SigTLV() == 0 {
				return nil, -1
			}
			return &trustedKey{kt: kt, pub: pub, bytes: b, hash: h.Sum(b)}, j
		}
	}
	return nil, -1
}

func (img *Image) checkSignatures(keys []any, keyHashes [][]byte, region []byte, res *Verified) error {
	tk := make([]trustedKey, len(keys))
	for i, k := range keys {
		kt, err := KeyTypeOf(k)
		if err != nil {
			return err
		}
		if kt.SigTLV() == 0 {
			return argErr("key", "%w: %s keys cannot sign", ErrUnsupported, kt)
		}
		b, err := PublicKeyBytes(k)
		if err != nil {
			return err
		}
		tk[i] = trustedKey{kt: kt, pub: publicOf(k), bytes: b, hash: res.Hash.Sum(b), hashIndex: -1}
	}
	cur := -1
	var sigErr error
	identified := false
	for _, t := range img.Unprotected.TLVs {
		switch t.Type {
		case TLVKeyHash:
			if len(t.Value) != res.Hash.Size() {
				return fieldErr(t.field()+" it_len", t.Offset+2, ErrMalformed, "key hash of %d bytes, the image hash is %d (a prefix is not accepted)", len(t.Value), res.Hash.Size())
			}
			cur = -1
			for i := range tk {
				if bytes.Equal(tk[i].hash, t.Value) {
					cur, identified = i, true
					break
				}
			}
		case TLVPubKey:
			cur = -1
			for i := range tk {
				if bytes.Equal(tk[i].bytes, t.Value) {
					cur, identified = i, true
					break
				}
			}
			if cur < 0 && len(keyHashes) > 0 {
				if k, j := embeddedKey(t.Value, keyHashes, res.Hash); k != nil {
					k.hashIndex = j
					tk = append(tk, *k)
					cur, identified = len(tk)-1, true
				}
			}
		case TLVRSA2048PSS, TLVRSA3072PSS, TLVECDSASig, TLVED25519, TLVECDSA224:
			if cur < 0 {
				continue
			}
			k := tk[cur]
			cur = -1
			if err := verifySig(k, t, region, res); err != nil {
				sigErr = err
				continue
			}
			res.Signed, res.Signature, res.Key = true, t, k.pub
			if k.hashIndex >= 0 {
				res.KeyHashIndex = k.hashIndex
			} else {
				res.KeyIndex = indexOf(tk[:len(keys)], k)
			}
			return nil
		}
	}
	if sigErr != nil {
		return sigErr
	}
	if identified {
		return fieldErr("TLV area", img.Unprotected.Offset, ErrKeyNotFound, "a key matched but no signature TLV follows it")
	}
	return fieldErr("TLV area", img.Unprotected.Offset, ErrKeyNotFound, "no KEYHASH/PUBKEY entry matches the %d given key(s)", len(keys))
}

func indexOf(tk []trustedKey, k trustedKey) int {
	for i := range tk {
		if bytes.Equal(tk[i].bytes, k.bytes) {
			return i
		}
	}
	return -1
}

// signedMessage returns what a key of type kt signs for this image: the
// ECDSA/RSA hash of the region, the image digest for Ed25519, or the region
// itself for pure Ed25519.
func signedMessage(kt KeyType, region []byte, h Hash, digest []byte, pure bool) []byte {
	return signedMessagePieces(kt, [][]byte{region}, h, digest, pure)
}

// signedMessagePieces is signedMessage over a region given in pieces; only
// pure Ed25519 needs them joined.
func signedMessagePieces(kt KeyType, region [][]byte, h Hash, digest []byte, pure bool) []byte {
	switch kt {
	case KeyECDSAP256, KeyRSA2048, KeyRSA3072:
		if h == SHA256 {
			return digest
		}
		return hashPieces(SHA256, region...)
	case KeyECDSAP384:
		if h == SHA384 {
			return digest
		}
		return hashPieces(SHA384, region...)
	}
	if pure {
		if len(region) == 1 {
			return region[0]
		}
		var all []byte
		for _, p := range region {
			all = append(all, p...)
		}
		return all
	}
	return digest
}

func verifySig(k trustedKey, t TLV, region []byte, res *Verified) error {
	fail := func(format string, args ...any) error {
		return fieldErr(t.field(), t.Offset, ErrBadSignature, format, args...)
	}
	if t.Type == TLVECDSA224 {
		return fail("%w: ECDSA224 signatures are obsolete", ErrUnsupported)
	}
	if t.Type != k.kt.SigTLV() {
		return fail("the key named before it is %s, which signs with TLV 0x%02x", k.kt, k.kt.SigTLV())
	}
	if res.Pure && k.kt != KeyEd25519 {
		return fail("%w: SIG_PURE with a %s key", ErrUnsupported, k.kt)
	}
	return verifySigMessage(k, t, signedMessage(k.kt, region, res.Hash, res.Digest, res.Pure))
}

// verifySigMessage checks one signature TLV over msg (see signedMessage).
func verifySigMessage(k trustedKey, t TLV, msg []byte) error {
	fail := func(format string, args ...any) error {
		return fieldErr(t.field(), t.Offset, ErrBadSignature, format, args...)
	}
	switch p := k.pub.(type) {
	case *ecdsa.PublicKey:
		sig := trimECDSAPad(t.Value, k.kt)
		if !ecdsa.VerifyASN1(p, msg, sig) {
			return fail("ECDSA %s", k.kt)
		}
	case ed25519.PublicKey:
		if len(t.Value) != ed25519.SignatureSize || !ed25519.Verify(p, msg, t.Value) {
			return fail("Ed25519")
		}
	case *rsa.PublicKey:
		if err := rsa.VerifyPSS(p, crypto.SHA256, msg, t.Value, &rsa.PSSOptions{SaltLength: 32}); err != nil {
			return fail("RSA-PSS: %v", err)
		}
	default:
		return fail("%w: key %T", ErrUnsupported, k.pub)
	}
	return nil
}

// trimECDSAPad removes the zero padding imgtool --pad-sig appends (to 72
// bytes for P-256, 103 for P-384) when, and only when, the value has exactly
// that length and the padding is all zeros.
func trimECDSAPad(sig []byte, kt KeyType) []byte {
	padded := 72
	if kt == KeyECDSAP384 {
		padded = 103
	}
	if len(sig) != padded || len(sig) < 2 || sig[0] != 0x30 {
		return sig
	}
	n := int(sig[1]) + 2
	if sig[1] >= 0x80 {
		if sig[1] != 0x81 || len(sig) < 3 {
			return sig
		}
		n = int(sig[2]) + 3
	}
	if n >= len(sig) {
		return sig
	}
	for _, b := range sig[n:] {
		if b != 0 {
			return sig
		}
	}
	return sig[:n]
}

// IsVerificationFailure reports whether err means the image is invalid (as
// opposed to a bad argument such as an unsupported key).
func IsVerificationFailure(err error) bool {
	for _, e := range []error{ErrTruncated, ErrBadMagic, ErrMalformed, ErrMissingHash, ErrDuplicateHash,
		ErrHashMismatch, ErrKeyNotFound, ErrBadSignature, ErrDecrypt, ErrTooLarge, ErrEncrypted} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
