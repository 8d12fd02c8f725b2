// Package agent is Rampart's device agent (`rampart agent`): the non-secure
// application of a Linux-class device. It enrolls with the fleet by
// attestation, holds a mutual-TLS MQTT session whose private key stays in the
// SPE (psaclient.Signer), renews its certificate by re-attestation before it
// expires, publishes telemetry, and carries out firmware-update jobs:
// resumable download, hand-over to the SPE's firmware-update service, reboot
// through the bootloader, re-attestation and self-test, then accept (or
// reject and let the bootloader revert), and a fresh attestation over the
// fleet's challenge to report the outcome. It speaks the device protocol
// of package deviceproto (enrollment, jobs, progress, outcomes, topics) and
// imports no fleet package: a device links none of the server.
//
// A job is acted on only if the fleet's job signer signed it for this
// device (deviceproto.VerifyJob), it has not expired, it was not issued
// before the last job taken (jobs.go), and its URL is https to a fleet
// endpoint: whoever can put a
// message on the device's jobs topic, the broker included, is as hostile as
// the network.
//
// Every key operation goes through the SPE over package psaclient: the
// agent must never generate, hold, export or log a private key, never
// install an image the SPE has not verified, never act on a job it has not
// verified, and never report an update as done before the image was
// re-attested and accepted, whatever the bootloader's update mode. Its
// update state is persisted in its directory, so a crash or a power cut
// resumes where it stopped.
package agent
