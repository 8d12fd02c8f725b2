// Package campaign runs firmware update campaigns on the fleet server: it
// selects target devices by filter, splits them into phases, publishes the
// job message of the device protocol (package deviceproto, docs/agent.md),
// signed by the fleet's job signer for each device, over MQTT (again
// whenever the device connects while its job is in flight: jobs.go), serves
// the image over HTTPS with Range requests from content-addressed URLs,
// follows every device's progress from what the device and the server
// observe (downloads, re-enrollment by attestation, the retained outcome
// report), and pauses a campaign by itself when failures cross a phase's
// threshold.
//
// A device counts as updated only when verified: its outcome report carries
// an attestation token, signed by its endorsed key, over the challenge its
// job carried (made by the server, one per notification), whose software
// measurement is the release's, and the device re-enrolled by attestation
// (with a server nonce) after it was notified. Everything is persisted in
// the fleet store, so a server restart loses no progress.
//
// Several servers may share one database (Config.Leader, nodes.go): each
// takes device events and operator actions into the store with
// conditional writes and reads what the others wrote every tick; the one
// holding the store lease LeaseName (Keeper) evaluates, its writes fenced
// by the lease's epoch.
//
// It must never count a device as updated on its word alone, never publish
// an unsigned job or one for an image it has not verified against the
// release keys, never hold a private key other than the job signer's (which
// it is given), never store a download key in clear (it is sealed under
// Config.KeySecret, keystore.go), and never write an evaluator's decision
// unfenced or a device's change unconditionally when it shares the
// database with other nodes.
package campaign
