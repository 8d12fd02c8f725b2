package fleet

import (
	"crypto"
	"crypto/ecdsa"
	"fmt"
	"os"

	"rampart/attest"
	"rampart/fleet/trust"
	"rampart/image"
)

// validateManufacturers loads the manufacturer keys trusted to sign
// endorsement lists; each needs a unique name.
func (c *Config) validateManufacturers(bad report) {
	c.manufacturerKeys = map[string]*ecdsa.PublicKey{}
	for i, m := range c.Manufacturers {
		p := fmt.Sprintf("manufacturers.%d", i)
		if m.Name == "" {
			bad(p, "name required")
		}
		if _, dup := c.manufacturerKeys[m.Name]; dup {
			bad(p, "duplicate name %q", m.Name)
		}
		b, err := os.ReadFile(m.PublicKey)
		if err != nil {
			bad(p, "public_key: %v", err)
			continue
		}
		k, err := attest.ParsePublicKeyPEM(b)
		if err != nil {
			bad(p, "public_key %s: %v", m.PublicKey, err)
			continue
		}
		c.manufacturerKeys[m.Name] = k
	}
}

// validateReleaseKeys loads the keys trusted to sign release images.
func (c *Config) validateReleaseKeys(bad report) {
	c.releaseKeys = nil
	for i, f := range c.ReleaseKeys {
		b, err := os.ReadFile(f)
		if err != nil {
			bad(fmt.Sprintf("release_keys.%d", i), "%v", err)
			continue
		}
		k, err := image.ParseKeyPEM(b)
		if err != nil {
			bad(fmt.Sprintf("release_keys.%d", i), "%s: %v", f, err)
			continue
		}
		c.releaseKeys = append(c.releaseKeys, k)
	}
	c.retiredKeys = nil
	for i, f := range c.RetiredReleaseKeys {
		p := fmt.Sprintf("retired_release_keys.%d", i)
		b, err := os.ReadFile(f)
		if err != nil {
			bad(p, "%v", err)
			continue
		}
		k, err := image.ParseKeyPEM(b)
		if err != nil {
			bad(p, "%s: %v", f, err)
			continue
		}
		for _, t := range c.releaseKeys {
			if sameKey(t, k) {
				bad(p, "%s is also in release_keys: a retired key is no longer trusted", f)
			}
		}
		c.retiredKeys = append(c.retiredKeys, k)
	}
	c.validateRetiringKeys(bad)
}

// validateRetiringKeys loads the release keys being rotated out: a key
// also trusted or retired outright, or two on one fuse, is an error.
func (c *Config) validateRetiringKeys(bad report) {
	c.retiringKeys = nil
	fuses := map[int]bool{}
	for i, r := range c.RetiringReleaseKeys {
		p := fmt.Sprintf("retiring_release_keys.%d", i)
		if r.Fuse < 0 || r.Fuse > 31 {
			bad(p+".fuse", "%d: want 0..31 (the key's index in the devices' provisioned key set)", r.Fuse)
		} else if fuses[r.Fuse] {
			bad(p+".fuse", "%d: another retiring key has this fuse", r.Fuse)
		}
		fuses[r.Fuse] = true
		b, err := os.ReadFile(r.Key)
		if err != nil {
			bad(p+".key", "%v", err)
			continue
		}
		k, err := image.ParseKeyPEM(b)
		if err != nil {
			bad(p+".key", "%s: %v", r.Key, err)
			continue
		}
		for _, t := range append(append([]any{}, c.releaseKeys...), c.retiredKeys...) {
			if sameKey(t, k) {
				bad(p+".key", "%s is also in release_keys or retired_release_keys", r.Key)
			}
		}
		c.retiringKeys = append(c.retiringKeys, trust.RetiringKey{Key: k, Name: r.Key, Fuse: r.Fuse})
	}
}

// sameKey reports whether two parsed keys are the same public key.
func sameKey(a, b any) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	pa, pb := publicOf(a), publicOf(b)
	e, ok := pa.(equaler)
	return ok && pb != nil && e.Equal(pb)
}

// publicOf is a key's public half (a private key parsed from PEM, or the
// public key itself).
func publicOf(k any) crypto.PublicKey {
	if s, ok := k.(crypto.Signer); ok {
		return s.Public()
	}
	return k
}

// validateAPITokens checks each admin API token entry.
func (c *Config) validateAPITokens(bad report) {
	for i, t := range c.APITokens {
		if err := t.Validate(); err != nil {
			bad(fmt.Sprintf("api_tokens.%d", i), "%v", err)
		}
	}
}
