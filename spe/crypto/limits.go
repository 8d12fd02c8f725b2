package crypto

import (
	"rampart/ipc"
	"rampart/psa"
)

// Limits bounds what the clients of the crypto service may hold, so that
// one client cannot take the memory or the key slots every client shares.
// Zero fields take the defaults below.
type Limits struct {
	// VolatileKeysPerClient bounds one client's volatile keys, over all its
	// connections (default 64); beyond it a new volatile key is refused
	// with PSA_ERROR_INSUFFICIENT_MEMORY.
	VolatileKeysPerClient int
	// VolatileBytesPerClient bounds the key material of one client's
	// volatile keys (default 128 KiB), the same way.
	VolatileBytesPerClient int
	// VolatileKeys bounds the volatile keys of all clients (default 4096).
	VolatileKeys int
	// PersistentKeysPerClient bounds one client's persistent keys (default
	// 256); beyond it PSA_ERROR_INSUFFICIENT_STORAGE.
	PersistentKeysPerClient int
}

// Default limits.
const (
	DefaultVolatileKeysPerClient   = 64
	DefaultVolatileBytesPerClient  = 128 << 10
	DefaultVolatileKeys            = 4096
	DefaultPersistentKeysPerClient = 256
)

func (l Limits) withDefaults() Limits {
	if l.VolatileKeysPerClient <= 0 {
		l.VolatileKeysPerClient = DefaultVolatileKeysPerClient
	}
	if l.VolatileBytesPerClient <= 0 {
		l.VolatileBytesPerClient = DefaultVolatileBytesPerClient
	}
	if l.VolatileKeys <= 0 {
		l.VolatileKeys = DefaultVolatileKeys
	}
	if l.PersistentKeysPerClient <= 0 {
		l.PersistentKeysPerClient = DefaultPersistentKeysPerClient
	}
	return l
}

// Largest keys the service supports, per type. The PSA Crypto API lets an
// implementation choose the sizes it supports and answer
// PSA_ERROR_NOT_SUPPORTED for others; these are the largest of each type
// that has a use:
//   - HMAC, DERIVE and RAW_DATA: 1 KiB (8192 bits), what generate_key
//     already allowed. An HMAC key longer than the hash's block (128 bytes
//     at most) is hashed first, and an HKDF input key gains nothing from
//     more; the 1 MiB an IPC vector carries was never a key.
//   - RSA: 4096-bit moduli (generate_key's range), checked on the DER's
//     length before it is parsed and on the modulus after.
//
// AES (128/192/256), ChaCha20 (256), the SECP R1 curves (P-256, P-384),
// X25519 and Ed25519 have fixed sizes, checked when the key is built.
const (
	maxSymmetricKeyBytes = 1024
	maxRSABits           = 4096
	maxRSAPairDER        = 4096 // a 4096-bit RSAPrivateKey is about 2,350 bytes
	maxRSAPublicDER      = 1024 // a 4096-bit RSAPublicKey is about 526 bytes
)

// checkKeySize refuses key material too large for its type, before it is
// parsed. n is the material's length in bytes.
func checkKeySize(t psa.KeyType, n int) ipc.Status {
	limit := 0
	switch t {
	case psa.KeyTypeHMAC, psa.KeyTypeDerive, psa.KeyTypeRawData:
		limit = maxSymmetricKeyBytes
	case psa.KeyTypeRSAKeyPair:
		limit = maxRSAPairDER
	case psa.KeyTypeRSAPublicKey:
		limit = maxRSAPublicDER
	default:
		return ipc.Success // fixed sizes, checked by newSlot
	}
	if n > limit {
		return ipc.ErrNotSupported
	}
	return ipc.Success
}

// checkKeyBits refuses a built key beyond its type's largest size.
func checkKeyBits(a psa.KeyAttributes) ipc.Status {
	switch a.Type {
	case psa.KeyTypeRSAKeyPair, psa.KeyTypeRSAPublicKey:
		if a.Bits > maxRSABits {
			return ipc.ErrNotSupported
		}
	case psa.KeyTypeHMAC, psa.KeyTypeDerive, psa.KeyTypeRawData:
		if a.Bits > 8*maxSymmetricKeyBytes {
			return ipc.ErrNotSupported
		}
	}
	return ipc.Success
}

// clientUsage is what one client's volatile keys take.
type clientUsage struct {
	keys  int
	bytes int
}
