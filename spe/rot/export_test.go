package rot

import "github.com/google/go-tpm/tpm2"

// EvictIAKForTest removes the attestation key alone: the state a power cut
// between the two keys of Provision leaves.
func EvictIAKForTest(t *TPM) error {
	rp, err := (tpm2.ReadPublic{ObjectHandle: IAKHandle}).Execute(t.t)
	if err != nil {
		return err
	}
	_, err = (tpm2.EvictControl{Auth: tpm2.TPMRHOwner, ObjectHandle: &tpm2.NamedHandle{Handle: IAKHandle, Name: rp.Name}, PersistentHandle: IAKHandle}).Execute(t.t)
	return err
}
