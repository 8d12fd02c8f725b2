// Package deviceproto is the protocol between a Rampart device and its
// fleet: the contract both the device agent and the fleet server implement,
// versioned by its documents (docs/fleet-enrollment.md for enrollment). It
// holds the enrollment messages and their limits, the token binding, the
// refusal codes and their HTTP statuses, the certs-only reply, and the
// device's enrollment client.
//
// It must never hold server or device state (which nonces were issued or
// used is the server's; what a device took is the device's), never import
// either side (agent, fleet/*, spe/*, psa and its client, ipc): a device
// links it without the fleet's CA, store or database drivers, and the fleet
// without the MQTT client or the PSA client. And it must never hand out as
// trusted what it parsed without the checks it documents: a parsed Request's
// token is unverified.
package deviceproto
