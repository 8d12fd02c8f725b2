package spe

import (
	"fmt"

	"rampart/ipc"
)

// Limits are the per-client quotas of the SPE's services, in the
// configuration's "limits" object. A field left out (or 0) takes the
// service's default; docs/spe-ipc.md (section 7) and docs/spe-services.md
// list them.
type Limits struct {
	// SessionsPerClient bounds one client's connections (default 64).
	SessionsPerClient int          `json:"sessions_per_client,omitempty"`
	Crypto            CryptoLimits `json:"crypto"`
	ITS               ITSLimits    `json:"its"`
	PS                PSLimits     `json:"ps"`
}

// CryptoLimits are the crypto service's quotas (crypto.Limits).
type CryptoLimits struct {
	VolatileKeysPerClient   int `json:"volatile_keys_per_client,omitempty"`
	VolatileBytesPerClient  int `json:"volatile_key_bytes_per_client,omitempty"`
	VolatileKeys            int `json:"volatile_keys,omitempty"`
	PersistentKeysPerClient int `json:"persistent_keys_per_client,omitempty"`
}

// ITSLimits are ITS's quotas (its.Limits): a set beyond them answers
// PSA_ERROR_INSUFFICIENT_STORAGE (a new object over the count) or
// PSA_ERROR_INVALID_ARGUMENT (an object over the size). A secure partition
// (PS's version records, the audit anchor) has its own object count.
type ITSLimits struct {
	MaxObjectSize                int `json:"max_object_size,omitempty"`
	MaxObjectsPerClient          int `json:"max_objects_per_client,omitempty"`
	MaxObjectsPerSecurePartition int `json:"max_objects_per_secure_partition,omitempty"`
}

// PSLimits are PS's quotas, as ITS's; a client's version records are
// bounded by its object count too.
type PSLimits struct {
	MaxObjectSize       int `json:"max_object_size,omitempty"`
	MaxObjectsPerClient int `json:"max_objects_per_client,omitempty"`
}

// validate names the first limit that is out of range.
func (l *Limits) validate() error {
	check := func(field string, v, max int) error {
		if v < 0 || v > max {
			return fmt.Errorf("spe: config: limits.%s: %d, want 0 (the default) to %d: %w", field, v, max, ErrConfig)
		}
		return nil
	}
	const many = 1 << 20
	for _, c := range []struct {
		field  string
		v, max int
	}{
		{"sessions_per_client", l.SessionsPerClient, 4096},
		{"crypto.volatile_keys_per_client", l.Crypto.VolatileKeysPerClient, many},
		{"crypto.volatile_key_bytes_per_client", l.Crypto.VolatileBytesPerClient, 1 << 30},
		{"crypto.volatile_keys", l.Crypto.VolatileKeys, many},
		{"crypto.persistent_keys_per_client", l.Crypto.PersistentKeysPerClient, many},
		{"its.max_object_size", l.ITS.MaxObjectSize, ipc.DefaultMaxVec},
		{"its.max_objects_per_client", l.ITS.MaxObjectsPerClient, many},
		{"its.max_objects_per_secure_partition", l.ITS.MaxObjectsPerSecurePartition, many},
		{"ps.max_object_size", l.PS.MaxObjectSize, ipc.DefaultMaxVec},
		{"ps.max_objects_per_client", l.PS.MaxObjectsPerClient, many},
	} {
		if err := check(c.field, c.v, c.max); err != nil {
			return err
		}
	}
	return nil
}
