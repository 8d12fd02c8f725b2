package rot

// EvictIAKForTest removes the attestation key alone: the state a power cut
// between the two keys of Provision leaves.
func EvictIAKForTest(t *TPM) error { return t.evict(IAKHandle) }
