package crypto

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"io"

	"rampart/ipc"
	"rampart/psa"
)

// slot is one key: its attributes, its material in the PSA export format,
// and the parsed forms the operations use. A slot never changes once made.
type slot struct {
	attr     psa.KeyAttributes
	owner    int32
	session  uint64 // the connection that created a volatile key
	material []byte // for a vault key: its reference (vaultRef), nothing secret

	vaultHandle uint32 // the key's handle in the vault (location psa.LocationRampartTPM)

	block   cipher.Block       // AES
	ecdsa   *ecdsa.PrivateKey  // SECP R1 pair
	ecdsaP  *ecdsa.PublicKey   // SECP R1 pair or public
	ecdh    *ecdh.PrivateKey   // SECP R1 or Montgomery pair
	x25519P *ecdh.PublicKey    // Montgomery public
	ed      ed25519.PrivateKey // Twisted Edwards pair
	edP     ed25519.PublicKey  // Twisted Edwards pair or public
	rsa     *rsa.PrivateKey
	rsaP    *rsa.PublicKey
}

var (
	typeSECPPair  = psa.KeyTypeECCKeyPair(psa.ECCFamilySECPR1)
	typeSECPPub   = psa.KeyTypeECCPublicKey(psa.ECCFamilySECPR1)
	typeX25519    = psa.KeyTypeECCKeyPair(psa.ECCFamilyMontgomery)
	typeX25519Pub = psa.KeyTypeECCPublicKey(psa.ECCFamilyMontgomery)
	typeEdPair    = psa.KeyTypeECCKeyPair(psa.ECCFamilyTwistedEdwards)
	typeEdPub     = psa.KeyTypeECCPublicKey(psa.ECCFamilyTwistedEdwards)
)

func secpCurve(bytes int) (elliptic.Curve, ecdh.Curve) {
	switch bytes {
	case 32:
		return elliptic.P256(), ecdh.P256()
	case 48:
		return elliptic.P384(), ecdh.P384()
	}
	return nil, nil
}

// newSlot validates key material for attr (whose Bits may be 0, meaning
// "from the data") and builds the slot. It copies data.
func newSlot(attr psa.KeyAttributes, data []byte) (*slot, ipc.Status) {
	data = append([]byte(nil), data...)
	sl := &slot{attr: attr, material: data}
	bits := 8 * len(data)
	switch t := attr.Type; t {
	case psa.KeyTypeAES:
		b, err := aes.NewCipher(data)
		if err != nil {
			return nil, ipc.ErrInvalidArgument
		}
		sl.block = b
	case psa.KeyTypeChaCha20:
		if len(data) != 32 {
			return nil, ipc.ErrInvalidArgument
		}
	case psa.KeyTypeHMAC, psa.KeyTypeDerive, psa.KeyTypeRawData:
		if len(data) == 0 {
			return nil, ipc.ErrInvalidArgument
		}
	case typeSECPPair:
		curve, ec := secpCurve(len(data))
		if curve == nil {
			return nil, ipc.ErrInvalidArgument
		}
		k, err := ecdsa.ParseRawPrivateKey(curve, data)
		if err != nil {
			return nil, ipc.ErrInvalidArgument
		}
		dk, err := ec.NewPrivateKey(data)
		if err != nil {
			return nil, ipc.ErrInvalidArgument
		}
		sl.ecdsa, sl.ecdsaP, sl.ecdh = k, &k.PublicKey, dk
	case typeX25519:
		k, err := ecdh.X25519().NewPrivateKey(data)
		if err != nil {
			return nil, ipc.ErrInvalidArgument
		}
		sl.ecdh, bits = k, 255
	case typeEdPair:
		if len(data) != ed25519.SeedSize {
			return nil, ipc.ErrInvalidArgument
		}
		sl.ed = ed25519.NewKeyFromSeed(data)
		sl.edP, bits = sl.ed.Public().(ed25519.PublicKey), 255
	case psa.KeyTypeRSAKeyPair:
		k, err := x509.ParsePKCS1PrivateKey(data)
		if err != nil {
			return nil, ipc.ErrInvalidArgument
		}
		k.Precompute()
		sl.rsa, sl.rsaP, bits = k, &k.PublicKey, k.N.BitLen()
	case typeSECPPub, typeX25519Pub, typeEdPub, psa.KeyTypeRSAPublicKey:
		// The PSA export format of a public key, read by the same code as
		// the client's (psa.ParsePublicKey).
		pub, err := psa.ParsePublicKey(t, data)
		if err != nil {
			return nil, ipc.ErrInvalidArgument
		}
		if bits = sl.setPublic(pub); bits == 0 {
			return nil, ipc.ErrNotSupported
		}
	default:
		return nil, ipc.ErrNotSupported
	}
	if attr.Bits != 0 && attr.Bits != bits {
		return nil, ipc.ErrInvalidArgument
	}
	sl.attr.Bits = bits
	return sl, ipc.Success
}

// setPublic stores a parsed public key in its field of the slot and returns
// its size in bits (0 for a type the slot does not hold).
func (sl *slot) setPublic(pub crypto.PublicKey) int {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		sl.ecdsaP = k
		return k.Curve.Params().BitSize
	case *ecdh.PublicKey:
		sl.x25519P = k
		return 255
	case ed25519.PublicKey:
		sl.edP = k
		return 255
	case *rsa.PublicKey:
		sl.rsaP = k
		return k.N.BitLen()
	}
	return 0
}

// generateMaterial makes random key material of attr's type and size in the
// PSA export format.
func generateMaterial(attr psa.KeyAttributes, rand io.Reader) ([]byte, ipc.Status) {
	random := func(n int) ([]byte, ipc.Status) {
		b := make([]byte, n)
		if _, err := io.ReadFull(rand, b); err != nil {
			return nil, ipc.ErrInsufficientEntropy
		}
		return b, ipc.Success
	}
	switch attr.Type {
	case psa.KeyTypeAES:
		if attr.Bits != 128 && attr.Bits != 192 && attr.Bits != 256 {
			return nil, ipc.ErrInvalidArgument
		}
		return random(attr.Bits / 8)
	case psa.KeyTypeChaCha20:
		if attr.Bits != 256 {
			return nil, ipc.ErrInvalidArgument
		}
		return random(32)
	case psa.KeyTypeHMAC, psa.KeyTypeDerive, psa.KeyTypeRawData:
		if attr.Bits <= 0 || attr.Bits%8 != 0 || attr.Bits > 8*1024 {
			return nil, ipc.ErrInvalidArgument
		}
		return random(attr.Bits / 8)
	case typeSECPPair:
		curve, _ := secpCurve(attr.Bits / 8)
		if curve == nil || attr.Bits%8 != 0 {
			return nil, ipc.ErrNotSupported
		}
		k, err := ecdsa.GenerateKey(curve, rand)
		if err != nil {
			return nil, ipc.ErrInsufficientEntropy
		}
		b, err := k.Bytes()
		if err != nil {
			return nil, ipc.ErrGenericError
		}
		return b, ipc.Success
	case typeX25519:
		if attr.Bits != 255 {
			return nil, ipc.ErrNotSupported
		}
		k, err := ecdh.X25519().GenerateKey(rand)
		if err != nil {
			return nil, ipc.ErrInsufficientEntropy
		}
		return k.Bytes(), ipc.Success
	case typeEdPair:
		if attr.Bits != 255 {
			return nil, ipc.ErrNotSupported
		}
		return random(ed25519.SeedSize)
	case psa.KeyTypeRSAKeyPair:
		if attr.Bits < 2048 || attr.Bits > 4096 || attr.Bits%8 != 0 {
			return nil, ipc.ErrNotSupported
		}
		k, err := rsa.GenerateKey(rand, attr.Bits)
		if err != nil {
			return nil, ipc.ErrInsufficientEntropy
		}
		return x509.MarshalPKCS1PrivateKey(k), ipc.Success
	case psa.KeyTypeRSAPublicKey, typeSECPPub, typeX25519Pub, typeEdPub:
		return nil, ipc.ErrInvalidArgument
	}
	return nil, ipc.ErrNotSupported
}

// publicMaterial returns the public key in the PSA export format.
func (sl *slot) publicMaterial() ([]byte, ipc.Status) {
	switch {
	case sl.ecdsaP != nil:
		b, err := sl.ecdsaP.Bytes()
		if err != nil {
			return nil, ipc.ErrGenericError
		}
		return b, ipc.Success
	case sl.ecdh != nil:
		return sl.ecdh.PublicKey().Bytes(), ipc.Success
	case sl.x25519P != nil:
		return sl.x25519P.Bytes(), ipc.Success
	case sl.edP != nil:
		return append([]byte(nil), sl.edP...), ipc.Success
	case sl.rsaP != nil:
		return x509.MarshalPKCS1PublicKey(sl.rsaP), ipc.Success
	}
	return nil, ipc.ErrInvalidArgument
}
