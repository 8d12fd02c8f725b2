package spe

import (
	"encoding/json"
	"errors"
	"fmt"
)

// VersionPolicy says which requested versions a service accepts.
type VersionPolicy string

// Version policies of the PSA Firmware Framework manifest.
const (
	// Strict accepts only the service's own version.
	Strict VersionPolicy = "STRICT"
	// Relaxed accepts any version up to the service's own.
	Relaxed VersionPolicy = "RELAXED"
)

// PartitionType is the Root of Trust a partition belongs to.
type PartitionType string

// Partition types.
const (
	PSARoT         PartitionType = "PSA-ROT"
	ApplicationRoT PartitionType = "APPLICATION-ROT"
)

// ServiceManifest declares one RoT Service, as in a FF-M manifest.
type ServiceManifest struct {
	Name    string `json:"name"`
	SID     uint32 `json:"sid"`
	Version uint32 `json:"version"`
	// VersionPolicy is STRICT or RELAXED (empty means STRICT).
	VersionPolicy VersionPolicy `json:"version_policy"`
	// ConnectionBased allows connect/call/close; Stateless allows calls
	// without a connection. At least one must be set.
	ConnectionBased bool `json:"connection_based"`
	Stateless       bool `json:"stateless_handle"`
	// NonSecureClients allows clients with negative IDs at all.
	NonSecureClients bool `json:"non_secure_clients"`
	// Clients, when not empty, lists the only client IDs allowed.
	Clients []int32 `json:"clients,omitempty"`
}

// PartitionManifest declares a secure partition and its services.
type PartitionManifest struct {
	FrameworkVersion string            `json:"psa_framework_version"`
	Name             string            `json:"name"`
	Type             PartitionType     `json:"type"`
	Services         []ServiceManifest `json:"services"`
	// Dependencies are the SIDs the partition's own code may call (FF-M's
	// "dependencies", by SID): the partition manager refuses any other, at
	// every isolation level.
	Dependencies []uint32 `json:"dependencies,omitempty"`
}

// dependencySet returns the SIDs the partition may call (never nil: a
// partition without dependencies reaches nothing).
func (m *PartitionManifest) dependencySet() map[uint32]bool {
	set := map[uint32]bool{}
	for _, sid := range m.Dependencies {
		set[sid] = true
	}
	return set
}

// ErrManifest is wrapped by every manifest validation error.
var ErrManifest = errors.New("invalid manifest")

func merr(part, field, format string, args ...any) error {
	return fmt.Errorf("spe: manifest %q: %s: %s: %w", part, field, fmt.Sprintf(format, args...), ErrManifest)
}

// Validate checks the manifest on its own (SID clashes are checked when it
// is registered).
func (m *PartitionManifest) Validate() error {
	if m.Name == "" {
		return merr(m.Name, "name", "empty")
	}
	if m.Type != PSARoT && m.Type != ApplicationRoT {
		return merr(m.Name, "type", "%q is neither %s nor %s", m.Type, PSARoT, ApplicationRoT)
	}
	if len(m.Services) == 0 {
		return merr(m.Name, "services", "none declared")
	}
	for i, sid := range m.Dependencies {
		if sid == 0 {
			return merr(m.Name, fmt.Sprintf("dependencies[%d]", i), "0 is not a service ID")
		}
	}
	seen := map[uint32]bool{}
	for i, s := range m.Services {
		f := func(name string) string { return fmt.Sprintf("services[%d].%s", i, name) }
		if s.Name == "" {
			return merr(m.Name, f("name"), "empty")
		}
		if s.SID == 0 {
			return merr(m.Name, f("sid"), "0 is not a service ID")
		}
		if seen[s.SID] {
			return merr(m.Name, f("sid"), "0x%x declared twice", s.SID)
		}
		seen[s.SID] = true
		if s.Version == 0 {
			return merr(m.Name, f("version"), "0 is PSA_VERSION_NONE")
		}
		switch s.VersionPolicy {
		case "", Strict, Relaxed:
		default:
			return merr(m.Name, f("version_policy"), "%q is neither STRICT nor RELAXED", s.VersionPolicy)
		}
		if !s.ConnectionBased && !s.Stateless {
			return merr(m.Name, f("connection_based"), "neither connection_based nor stateless_handle is set")
		}
		for _, c := range s.Clients {
			if c == 0 {
				return merr(m.Name, f("clients"), "client ID 0 is not allowed")
			}
		}
	}
	return nil
}

// ParseManifest decodes and validates a JSON partition manifest.
func ParseManifest(data []byte) (*PartitionManifest, error) {
	var m PartitionManifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("spe: manifest: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// accepts reports whether the service answers a request for version v.
func (s *ServiceManifest) accepts(v uint32) bool {
	if v == 0 {
		return false
	}
	if s.VersionPolicy == Relaxed {
		return v <= s.Version
	}
	return v == s.Version
}

// allows reports whether client may use the service.
func (s *ServiceManifest) allows(client int32) bool {
	if client < 0 && !s.NonSecureClients {
		return false
	}
	if len(s.Clients) == 0 {
		return true
	}
	for _, c := range s.Clients {
		if c == client {
			return true
		}
	}
	return false
}
