package provision

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"unicode/utf8"

	"rampart/attest"
	"rampart/boot"
	"rampart/image"
	"rampart/internal/secfile"
	"rampart/spe/attestation"
	"rampart/spe/lifecycle"
	"rampart/spe/platform"
)

// ErrState is returned when the device is not in a provisioning state.
var ErrState = errors.New("provision: device is not in assembly-and-test or PSA RoT provisioning")

// Options describe one device's provisioning.
type Options struct {
	// ImplementationID identifies the PSA RoT implementation (32 bytes).
	ImplementationID []byte
	// CertificationReference is the optional PSA Certified reference.
	CertificationReference string
	// Curve of the IAK: elliptic.P256() (nil) or elliptic.P384().
	Curve elliptic.Curve
	// BootKeys are PEM public keys to install as boot verification keys in
	// DeviceDir/keys (none: keep the device's keys).
	BootKeys [][]byte
	// NextBootKeys are PEM public keys installed after BootKeys as next
	// release keys: pending in the device's OTP block, refused until an
	// update signed by a trusted key activates them (docs/boot.md §7a).
	NextBootKeys [][]byte
	// DeviceDir is the bootloader device directory (needed with BootKeys).
	DeviceDir string
	// Manufacturer signs the endorsement (ECDSA P-256, P-384 or P-521).
	Manufacturer crypto.Signer
	// ManufacturerName, when set, goes into the signed endorsement's
	// protected kid (attest.SignEndorsements): the signer's name for itself.
	ManufacturerName string
	// Comment goes into the endorsement.
	Comment string
	// Rand is injected for tests; nil means crypto/rand.
	Rand io.Reader
}

// Result is what provisioning produced.
type Result struct {
	Endorsement attest.Endorsement
	// List is the endorsement list (attest's JSON file form) holding this
	// device: `rampart attest verify --endorsements` reads it.
	List []byte
	// Signed is List signed by the manufacturer as a tagged COSE_Sign1
	// (attest.SignEndorsements): what a fleet server imports as it is.
	Signed []byte
	// BootKeyFiles are the installed boot key files.
	BootKeyFiles []string
}

// Run provisions the platform p. A run interrupted after the IAK was made
// can be run again: it continues with the same IAK.
func Run(p *platform.Platform, opt Options) (*Result, error) {
	if opt.Rand == nil {
		opt.Rand = rand.Reader
	}
	if opt.Curve == nil {
		opt.Curve = elliptic.P256()
	}
	if err := checkManufacturer(opt); err != nil {
		return nil, err
	}
	allKeys := append(append([][]byte(nil), opt.BootKeys...), opt.NextBootKeys...)
	if len(allKeys) > 0 && opt.DeviceDir == "" {
		return nil, errors.New("provision: boot keys need a device directory")
	}
	for i, k := range allKeys {
		if _, err := image.ParseKeyPEM(k); err != nil {
			return nil, fmt.Errorf("provision: boot key %d: %w", i, err)
		}
	}
	if p.Attestation == nil {
		return nil, ErrState
	}
	switch p.Lifecycle.State().Major() {
	case attest.LifecycleAssemblyAndTest:
		if err := p.Lifecycle.Transition(attest.LifecyclePSARoTProvisioning); err != nil {
			return nil, fmt.Errorf("provision: %w", err)
		}
	case attest.LifecyclePSARoTProvisioning:
	default:
		return nil, fmt.Errorf("%w (it is %s)", ErrState, p.Lifecycle.State())
	}
	pub := p.Attestation.PublicKey()
	if pub == nil {
		var err error
		id := attestation.Identity{ImplementationID: opt.ImplementationID, CertificationReference: opt.CertificationReference}
		if ext := p.ExternalIAK(); ext != nil {
			if opt.Curve != nil && opt.Curve != elliptic.P256() {
				return nil, errors.New("provision: the TPM's attestation key is P-256")
			}
			_, err = attestation.ProvisionExternal(p.AttestStore(), p.HUK(), ext, id, opt.Rand)
		} else {
			_, err = attestation.Provision(p.AttestStore(), p.HUK(), opt.Curve, id, opt.Rand)
		}
		if err != nil {
			return nil, fmt.Errorf("provision: %w", err)
		}
		if err := p.Attestation.Reload(); err != nil {
			return nil, fmt.Errorf("provision: %w", err)
		}
		pub = p.Attestation.PublicKey()
	}
	res := &Result{}
	for i, k := range allKeys {
		name := filepath.Join(opt.DeviceDir, boot.DeviceKeysDir, fmt.Sprintf("provisioned-%02d.pem", i))
		if err := writeFileAtomic(name, k); err != nil {
			return nil, fmt.Errorf("provision: boot key: %w", err)
		}
		res.BootKeyFiles = append(res.BootKeyFiles, name)
	}
	if err := markNextKeys(opt.DeviceDir, opt.NextBootKeys); err != nil {
		return nil, err
	}
	if err := p.Lifecycle.Transition(attest.LifecycleSecured); err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	if err := endorse(res, pub, opt); err != nil {
		return nil, err
	}
	return res, nil
}

// Reissue writes the endorsement of a device that is already provisioned
// (secured or a debug state) again, e.g. when the provisioning run was cut
// after the device reached secured but before the endorsement was saved.
// It changes nothing in the device; opt.ImplementationID, when set, must be
// the one recorded.
func Reissue(p *platform.Platform, opt Options) (*Result, error) {
	if opt.Rand == nil {
		opt.Rand = rand.Reader
	}
	if err := checkManufacturer(opt); err != nil {
		return nil, err
	}
	if p.Attestation == nil || !IsProvisioned(p.Lifecycle.State()) || p.Attestation.PublicKey() == nil {
		return nil, fmt.Errorf("provision: reissue: the device is not provisioned (it is %s)", p.Lifecycle.State())
	}
	id := p.Attestation.Identity()
	if opt.ImplementationID != nil && !bytes.Equal(opt.ImplementationID, id.ImplementationID) {
		return nil, errors.New("provision: reissue: the implementation ID differs from the one provisioned")
	}
	opt.ImplementationID = id.ImplementationID
	res := &Result{}
	if err := endorse(res, p.Attestation.PublicKey(), opt); err != nil {
		return nil, err
	}
	return res, nil
}

// endorse fills res's endorsement, list and signed list for pub.
func endorse(res *Result, pub *ecdsa.PublicKey, opt Options) error {
	iid, err := attest.InstanceID(pub)
	if err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	res.Endorsement = attest.Endorsement{InstanceID: iid, ImplementationID: append([]byte(nil), opt.ImplementationID...), PublicKey: pub, Comment: opt.Comment}
	var list attest.EndorsementList
	if err := list.Add(res.Endorsement); err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	var buf bytes.Buffer
	if err := list.WriteJSON(&buf); err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	res.List = buf.Bytes()
	if res.Signed, err = attest.SignEndorsements(res.List, opt.ManufacturerName, opt.Manufacturer, opt.Rand); err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	return nil
}

// IsProvisioned reports whether lc is past provisioning.
func IsProvisioned(lc attest.Lifecycle) bool { return lifecycle.AttestationAllowed(lc) }

// writeFileAtomic writes a boot key file into the device's 0700 keys
// directory: a new 0600 file renamed into place (secfile).
func writeFileAtomic(name string, data []byte) error {
	if err := secfile.MkdirAll(filepath.Dir(name)); err != nil {
		return err
	}
	return secfile.WriteFile(name, data)
}

// checkManufacturer refuses an unusable manufacturer key before the device
// changes state, rather than after it reached secured.
func checkManufacturer(opt Options) error {
	if opt.Manufacturer == nil {
		return errors.New("provision: a manufacturer key is required to sign the endorsement")
	}
	pub, ok := opt.Manufacturer.Public().(*ecdsa.PublicKey)
	if !ok {
		return fmt.Errorf("provision: the manufacturer key is a %T, want ECDSA P-256, P-384 or P-521", opt.Manufacturer.Public())
	}
	switch pub.Curve {
	case elliptic.P256(), elliptic.P384(), elliptic.P521():
	default:
		return fmt.Errorf("provision: the manufacturer key is on %s, want P-256, P-384 or P-521", pub.Curve.Params().Name)
	}
	if len(opt.ManufacturerName) > attest.MaxTextLen {
		return fmt.Errorf("provision: manufacturer name of %d bytes, limit %d", len(opt.ManufacturerName), attest.MaxTextLen)
	}
	if !utf8.ValidString(opt.ManufacturerName) {
		return fmt.Errorf("provision: manufacturer name %q is not valid UTF-8", opt.ManufacturerName)
	}
	return nil
}

// markNextKeys programs the pending fuse of each next key, found by its
// index in the device's key set (the keys directory in name order).
func markNextKeys(dir string, next [][]byte) error {
	if len(next) == 0 {
		return nil
	}
	keys, err := boot.LoadKeys(filepath.Join(dir, boot.DeviceKeysDir))
	if err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	otp, err := boot.LoadCounters(filepath.Join(dir, boot.DeviceOTPFile))
	if err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	for i, p := range next {
		k, _ := image.ParseKeyPEM(p) // checked above
		want, err := image.PublicKeyBytes(k)
		if err != nil {
			return fmt.Errorf("provision: next boot key %d: %w", i, err)
		}
		found := false
		for j, have := range keys {
			// Every copy: a next key also given as a boot key stays pending.
			if b, err := image.PublicKeyBytes(have); err == nil && bytes.Equal(b, want) {
				found = true
				if err := otp.MarkPending(j); err != nil {
					return fmt.Errorf("provision: %w", err)
				}
			}
		}
		if !found {
			return fmt.Errorf("provision: next boot key %d is not in the device's key set", i)
		}
	}
	return nil
}
