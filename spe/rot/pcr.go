package rot

import (
	"crypto/sha256"
	"fmt"

	"github.com/google/go-tpm/tpm2"
)

// MeasureBoot resets BootPCR and extends it with the SHA-256 of each boot
// record in order (the CBOR records the bootloader emitted), the log a
// verifier replays: ReplayBoot of the same records gives the PCR's value.
func (t *TPM) MeasureBoot(records [][]byte) error {
	pcr := tpm2.AuthHandle{Handle: tpm2.TPMHandle(BootPCR), Auth: tpm2.PasswordAuth(nil)}
	if _, err := (tpm2.PCRReset{PCRHandle: pcr}).Execute(t.t); err != nil {
		return fmt.Errorf("rot: resetting PCR %d: %w", BootPCR, err)
	}
	for i, r := range records {
		d := sha256.Sum256(r)
		_, err := (tpm2.PCRExtend{PCRHandle: pcr, Digests: tpm2.TPMLDigestValues{
			Digests: []tpm2.TPMTHA{{HashAlg: tpm2.TPMAlgSHA256, Digest: d[:]}}}}).Execute(t.t)
		if err != nil {
			return fmt.Errorf("rot: extending PCR %d with boot record %d: %w", BootPCR, i, err)
		}
	}
	return nil
}

// BootPCRValue reads BootPCR's SHA-256 bank.
func (t *TPM) BootPCRValue() ([]byte, error) {
	rsp, err := (tpm2.PCRRead{PCRSelectionIn: tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{
		{Hash: tpm2.TPMAlgSHA256, PCRSelect: tpm2.PCClientCompatible.PCRs(BootPCR)}}}}).Execute(t.t)
	if err != nil {
		return nil, fmt.Errorf("rot: reading PCR %d: %w", BootPCR, err)
	}
	if len(rsp.PCRValues.Digests) != 1 {
		return nil, fmt.Errorf("rot: PCR %d: %d values read", BootPCR, len(rsp.PCRValues.Digests))
	}
	return rsp.PCRValues.Digests[0].Buffer, nil
}

// ReplayBoot computes what BootPCR holds after MeasureBoot(records): what
// a verifier recomputes from the token's software components' records.
func ReplayBoot(records [][]byte) []byte {
	pcr := make([]byte, sha256.Size)
	for _, r := range records {
		d := sha256.Sum256(r)
		h := sha256.New()
		h.Write(pcr)
		h.Write(d[:])
		pcr = h.Sum(nil)
	}
	return pcr
}
