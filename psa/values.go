package psa

import "rampart/ipc"

// Status is a PSA status code; a non-zero Status is an error.
type Status = ipc.Status

// PSA status codes (psa/error.h), re-exported from the wire package.
const (
	Success                 = ipc.Success
	ErrProgrammerError      = ipc.ErrProgrammerError
	ErrConnectionRefused    = ipc.ErrConnectionRefused
	ErrConnectionBusy       = ipc.ErrConnectionBusy
	ErrGenericError         = ipc.ErrGenericError
	ErrNotPermitted         = ipc.ErrNotPermitted
	ErrNotSupported         = ipc.ErrNotSupported
	ErrInvalidArgument      = ipc.ErrInvalidArgument
	ErrInvalidHandle        = ipc.ErrInvalidHandle
	ErrBadState             = ipc.ErrBadState
	ErrBufferTooSmall       = ipc.ErrBufferTooSmall
	ErrAlreadyExists        = ipc.ErrAlreadyExists
	ErrDoesNotExist         = ipc.ErrDoesNotExist
	ErrInsufficientMemory   = ipc.ErrInsufficientMemory
	ErrInsufficientStorage  = ipc.ErrInsufficientStorage
	ErrInsufficientData     = ipc.ErrInsufficientData
	ErrServiceFailure       = ipc.ErrServiceFailure
	ErrCommunicationFailure = ipc.ErrCommunicationFailure
	ErrStorageFailure       = ipc.ErrStorageFailure
	ErrHardwareFailure      = ipc.ErrHardwareFailure
	ErrInsufficientEntropy  = ipc.ErrInsufficientEntropy
	ErrInvalidSignature     = ipc.ErrInvalidSignature
	ErrInvalidPadding       = ipc.ErrInvalidPadding
	ErrCorruptionDetected   = ipc.ErrCorruptionDetected
	ErrDataCorrupt          = ipc.ErrDataCorrupt
	ErrDataInvalid          = ipc.ErrDataInvalid
)

// KeyType is psa_key_type_t.
type KeyType uint16

// ECCFamily is psa_ecc_family_t.
type ECCFamily uint8

// Key types and ECC families.
const (
	KeyTypeNone           KeyType = 0x0000
	KeyTypeRawData        KeyType = 0x1001
	KeyTypeHMAC           KeyType = 0x1100
	KeyTypeDerive         KeyType = 0x1200
	KeyTypeAES            KeyType = 0x2400
	KeyTypeChaCha20       KeyType = 0x2004
	KeyTypeRSAKeyPair     KeyType = 0x7001
	KeyTypeRSAPublicKey   KeyType = 0x4001
	keyTypeECCKeyPairBase KeyType = 0x7100
	keyTypeECCPublicBase  KeyType = 0x4100

	ECCFamilySECPR1         ECCFamily = 0x12
	ECCFamilyMontgomery     ECCFamily = 0x41
	ECCFamilyTwistedEdwards ECCFamily = 0x42
)

// KeyTypeECCKeyPair is PSA_KEY_TYPE_ECC_KEY_PAIR(family).
func KeyTypeECCKeyPair(f ECCFamily) KeyType { return keyTypeECCKeyPairBase | KeyType(f) }

// KeyTypeECCPublicKey is PSA_KEY_TYPE_ECC_PUBLIC_KEY(family).
func KeyTypeECCPublicKey(f ECCFamily) KeyType { return keyTypeECCPublicBase | KeyType(f) }

// IsECC reports whether t is an ECC key pair or public key.
func (t KeyType) IsECC() bool { return t&0xcf00 == 0x4100 }

// IsKeyPair reports whether t is an asymmetric key pair.
func (t KeyType) IsKeyPair() bool { return t&0x7000 == 0x7000 }

// IsPublicKey reports whether t is an asymmetric public key.
func (t KeyType) IsPublicKey() bool { return t&0x7000 == 0x4000 }

// Family returns the ECC family of an ECC key type.
func (t KeyType) Family() ECCFamily { return ECCFamily(t & 0xff) }

// PublicKeyType returns the public key type of a key pair type (and t itself
// for any other type).
func (t KeyType) PublicKeyType() KeyType {
	if t.IsKeyPair() {
		return t &^ 0x3000
	}
	return t
}

// Usage is psa_key_usage_t.
type Usage uint32

// Usage flags.
const (
	UsageExport           Usage = 0x00000001
	UsageCopy             Usage = 0x00000002
	UsageCache            Usage = 0x00000004
	UsageDerivePublic     Usage = 0x00000080
	UsageEncrypt          Usage = 0x00000100
	UsageDecrypt          Usage = 0x00000200
	UsageSignMessage      Usage = 0x00000400
	UsageVerifyMessage    Usage = 0x00000800
	UsageSignHash         Usage = 0x00001000
	UsageVerifyHash       Usage = 0x00002000
	UsageDerive           Usage = 0x00004000
	UsageVerifyDerivation Usage = 0x00008000
	UsageWrap             Usage = 0x00010000
	UsageUnwrap           Usage = 0x00020000
)

// Lifetime is psa_key_lifetime_t: persistence in bits 0-7, location above.
type Lifetime uint32

// Lifetimes (local storage).
const (
	LifetimeVolatile   Lifetime = 0x00000000
	LifetimePersistent Lifetime = 0x00000001
)

// Key locations (psa_key_location_t, the lifetime's bits 8-31).
// LocationRampartTPM is a vendor location (bit 23 set): a key generated
// inside the TPM that holds the SPE's roots of trust, usable there and
// never exportable; the SPE keeps its handle, its public key and its PSA
// attributes, and checks its policy as for any key.
const (
	LocationLocalStorage uint32 = 0x000000
	LocationRampartTPM   uint32 = 0x800001
)

// LifetimePersistentTPM is a persistent key in LocationRampartTPM.
var LifetimePersistentTPM = LifetimeFromPersistenceAndLocation(LifetimePersistent, LocationRampartTPM)

// LifetimeFromPersistenceAndLocation is
// PSA_KEY_LIFETIME_FROM_PERSISTENCE_AND_LOCATION: persistence is a
// lifetime whose location bits are ignored.
func LifetimeFromPersistenceAndLocation(persistence Lifetime, location uint32) Lifetime {
	return persistence&0xff | Lifetime(location<<8)
}

// Location is PSA_KEY_LIFETIME_GET_LOCATION.
func (l Lifetime) Location() uint32 { return uint32(l) >> 8 }

// KeyID is psa_key_id_t.
type KeyID uint32

// Key identifier ranges.
const (
	KeyIDNull      KeyID = 0
	KeyIDUserMin   KeyID = 0x00000001
	KeyIDUserMax   KeyID = 0x3fffffff
	KeyIDVendorMin KeyID = 0x40000000
	KeyIDVendorMax KeyID = 0x7fffffff
)

// Algorithm is psa_algorithm_t.
type Algorithm uint32

// Algorithms.
const (
	AlgNone             Algorithm = 0
	AlgSHA1             Algorithm = 0x02000005
	AlgSHA224           Algorithm = 0x02000008
	AlgSHA256           Algorithm = 0x02000009
	AlgSHA384           Algorithm = 0x0200000a
	AlgSHA512           Algorithm = 0x0200000b
	AlgAnyHash          Algorithm = 0x020000ff
	AlgCMAC             Algorithm = 0x03c00200
	AlgCTR              Algorithm = 0x04c01000
	AlgCBCNoPad         Algorithm = 0x04404000
	AlgCBCPKCS7         Algorithm = 0x04404100
	AlgCCM              Algorithm = 0x05500100
	AlgGCM              Algorithm = 0x05500200
	AlgChaCha20Poly1305 Algorithm = 0x05100500
	AlgPureEdDSA        Algorithm = 0x06000800
	AlgRSAPKCS1v15Crypt Algorithm = 0x07000200
	AlgECDH             Algorithm = 0x09020000

	algHMACBase            Algorithm = 0x03800000
	algECDSABase           Algorithm = 0x06000600
	algDetECDSABase        Algorithm = 0x06000700
	algRSAPKCS1v15SignBase Algorithm = 0x06000200
	algRSAPSSBase          Algorithm = 0x06000300
	algRSAPSSAnySaltBase   Algorithm = 0x06001300
	algRSAOAEPBase         Algorithm = 0x07000300
	algHKDFBase            Algorithm = 0x08000100

	// lengthMask is where MAC and AEAD algorithms carry a tag length.
	lengthMask Algorithm = 0x003f0000
	// AtLeastThisLengthFlag widens a MAC or AEAD policy to longer tags.
	AtLeastThisLengthFlag Algorithm = 0x00008000
)

func withHash(base, h Algorithm) Algorithm { return base | h&0xff }

// AlgHMAC is PSA_ALG_HMAC(hash).
func AlgHMAC(h Algorithm) Algorithm { return withHash(algHMACBase, h) }

// AlgECDSA is PSA_ALG_ECDSA(hash) (randomized).
func AlgECDSA(h Algorithm) Algorithm { return withHash(algECDSABase, h) }

// AlgDeterministicECDSA is PSA_ALG_DETERMINISTIC_ECDSA(hash).
func AlgDeterministicECDSA(h Algorithm) Algorithm { return withHash(algDetECDSABase, h) }

// AlgRSAPKCS1v15Sign is PSA_ALG_RSA_PKCS1V15_SIGN(hash).
func AlgRSAPKCS1v15Sign(h Algorithm) Algorithm { return withHash(algRSAPKCS1v15SignBase, h) }

// AlgRSAPSS is PSA_ALG_RSA_PSS(hash): salt as long as the hash.
func AlgRSAPSS(h Algorithm) Algorithm { return withHash(algRSAPSSBase, h) }

// AlgRSAPSSAnySalt is PSA_ALG_RSA_PSS_ANY_SALT(hash).
func AlgRSAPSSAnySalt(h Algorithm) Algorithm { return withHash(algRSAPSSAnySaltBase, h) }

// AlgRSAOAEP is PSA_ALG_RSA_OAEP(hash).
func AlgRSAOAEP(h Algorithm) Algorithm { return withHash(algRSAOAEPBase, h) }

// AlgHKDF is PSA_ALG_HKDF(hash).
func AlgHKDF(h Algorithm) Algorithm { return withHash(algHKDFBase, h) }

// AlgTruncatedMAC is PSA_ALG_TRUNCATED_MAC(mac, length).
func AlgTruncatedMAC(mac Algorithm, length int) Algorithm {
	return mac&^(lengthMask|AtLeastThisLengthFlag) | Algorithm(length&0x3f)<<16
}

// AlgAEADWithShortenedTag is PSA_ALG_AEAD_WITH_SHORTENED_TAG(aead, length).
func AlgAEADWithShortenedTag(aead Algorithm, length int) Algorithm {
	return aead&^(lengthMask|AtLeastThisLengthFlag) | Algorithm(length&0x3f)<<16
}

// Category predicates.
func (a Algorithm) IsHash() bool          { return a&0x7f000000 == 0x02000000 }
func (a Algorithm) IsMAC() bool           { return a&0x7f000000 == 0x03000000 }
func (a Algorithm) IsCipher() bool        { return a&0x7f000000 == 0x04000000 }
func (a Algorithm) IsAEAD() bool          { return a&0x7f000000 == 0x05000000 }
func (a Algorithm) IsSign() bool          { return a&0x7f000000 == 0x06000000 }
func (a Algorithm) IsAsymEncrypt() bool   { return a&0x7f000000 == 0x07000000 }
func (a Algorithm) IsKeyDerivation() bool { return a&0x7f000000 == 0x08000000 }
func (a Algorithm) IsKeyAgreement() bool  { return a&0x7f000000 == 0x09000000 }

// IsHMAC reports whether a is an HMAC (of any length).
func (a Algorithm) IsHMAC() bool { return a&0x7fc0ff00 == 0x03800000 }

// IsHashAndSign reports whether a is a signature scheme parameterised by a
// hash (ECDSA, RSA PKCS#1 v1.5, RSA-PSS).
func (a Algorithm) IsHashAndSign() bool {
	switch a &^ 0xff {
	case algECDSABase, algDetECDSABase, algRSAPKCS1v15SignBase, algRSAPSSBase, algRSAPSSAnySaltBase:
		return true
	}
	return false
}

// Hash returns the hash algorithm of a hash-parameterised algorithm (HMAC,
// hash-and-sign, OAEP, HKDF), or AlgNone.
func (a Algorithm) Hash() Algorithm {
	if a&0xff == 0 {
		return AlgNone
	}
	if a.IsHMAC() || a.IsHashAndSign() || a&^0xff == algRSAOAEPBase || a&^0xff == algHKDFBase {
		return 0x02000000 | a&0xff
	}
	return AlgNone
}

// Base returns a with its hash, tag length and wildcard flag cleared, so
// algorithm families compare equal: Base(AlgECDSA(SHA256)) == AlgECDSA(0).
func (a Algorithm) Base() Algorithm {
	switch {
	case a.IsMAC(), a.IsAEAD():
		return a &^ (lengthMask | AtLeastThisLengthFlag | 0xff*Algorithm(b2i(a.IsHMAC())))
	case a.IsHashAndSign(), a&^0xff == algRSAOAEPBase, a&^0xff == algHKDFBase:
		return a &^ 0xff
	}
	return a
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TagLength returns the tag length a MAC or AEAD algorithm encodes (0 means
// the full length of the MAC).
func (a Algorithm) TagLength() int { return int(a&lengthMask) >> 16 }
