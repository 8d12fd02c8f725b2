package platform

import (
	"crypto"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"rampart/internal/secfile"
	"rampart/spe/rot"
)

// RoTFile names the state directory's record of which root of trust made
// it: "tpm" when its keys are in a TPM, absent for the file root. A state
// directory is opened only with the root that made it (the sealed objects
// open only under that root's HUK).
const RoTFile = "rot"

// hukLabel is the label the TPM's HMAC key derives the sealing root from.
const hukLabel = "rampart huk v1"

// checkRoT refuses a state directory made with the other root of trust,
// and records the TPM root in a new one.
func checkRoT(stateDir string, tpm *rot.TPM) error {
	b, err := os.ReadFile(filepath.Join(stateDir, RoTFile))
	recorded := strings.TrimSpace(string(b))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("platform: %w", err)
	}
	_, hukErr := os.Lstat(filepath.Join(stateDir, HUKFile))
	switch {
	case tpm == nil && recorded == "tpm":
		return errors.New("platform: this state directory's keys are in a TPM: start the SPE with --rot tpm:SPEC")
	case tpm != nil && hukErr == nil:
		return errors.New("platform: this state directory has a file hardware unique key: it cannot move into a TPM (provision a new device with --rot tpm:...)")
	case tpm != nil && recorded != "tpm":
		if err := secfile.WriteFile(filepath.Join(stateDir, RoTFile), []byte("tpm\n")); err != nil {
			return fmt.Errorf("platform: %w", err)
		}
	}
	return nil
}

// tpmHUK is the sealing root from the TPM's hardware unique key, made on
// the first start.
func tpmHUK(tpm *rot.TPM) ([]byte, error) {
	if err := tpm.EnsureHUK(); err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	huk, err := tpm.Derive(hukLabel)
	if err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	return huk, nil
}

// tpmIAK adapts the TPM to attestation.ExternalIAK.
type tpmIAK struct{ t *rot.TPM }

func (k tpmIAK) ProvisionIAK() (*ecdsa.PublicKey, error) { return k.t.ProvisionIAK() }
func (k tpmIAK) IAKSigner() (crypto.Signer, error)       { return k.t.IAK() }

// BootLog is the measured-boot log: each software component of this boot
// in its deterministic CBOR encoding, in the token's order. With a TPM,
// PCR rot.BootPCR holds rot.ReplayBoot(BootLog()): a verifier that
// replays the token's software components gets the same value.
func (p *Platform) BootLog() [][]byte {
	var log [][]byte
	for _, c := range p.bootRecords() {
		b, _ := c.MarshalCBOR()
		log = append(log, b)
	}
	return log
}

// measureBoot extends the TPM's boot PCR with this boot's log.
func (p *Platform) measureBoot() error {
	if p.opt.RoT == nil {
		return nil
	}
	if err := p.opt.RoT.MeasureBoot(p.BootLog()); err != nil {
		return fmt.Errorf("platform: measured boot: %w", err)
	}
	return nil
}
