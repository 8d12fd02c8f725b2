// Package agent is Rampart's device agent (`rampart agent`): the non-secure
// application of a Linux-class device. It enrolls with the fleet by
// attestation, holds a mutual-TLS MQTT session whose private key stays in the
// SPE (psa.Signer), renews its certificate by re-attestation before it
// expires, publishes telemetry, and carries out firmware-update jobs:
// resumable download, hand-over to the SPE's firmware-update service, reboot
// through the bootloader, self-test, then accept (or reject and let the
// bootloader revert), and a fresh attestation to report the outcome.
//
// Every key operation goes through the SPE over package psa: the agent must
// never generate, hold, export or log a private key, never install an image
// the SPE has not verified, and never report an update as done before the
// image was accepted and re-attested. Its update state is persisted in its
// directory, so a crash or a power cut resumes where it stopped.
package agent
