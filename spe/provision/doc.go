// Package provision is the factory step that turns a blank SPE into a
// deployable device: the hardware unique key and the initial attestation
// key are generated inside the SPE (the IAK never leaves it), the
// implementation ID and certification reference are fixed, the boot
// verification keys are installed in the bootloader's device, the
// lifecycle moves from assembly and test through PSA RoT provisioning to
// secured, and an endorsement (instance ID, implementation ID, attestation
// public key) is written in the list format of package attest and signed by
// the manufacturer as a COSE_Sign1, for a fleet server to import.
//
// It must never export or print a private key, never provision a device
// that has left the provisioning states, and never sign an endorsement for
// a key it did not just read from the SPE.
package provision
