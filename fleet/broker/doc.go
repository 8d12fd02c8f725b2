// Package broker is the fleet's MQTT broker (3.1.1 and 5, embedded
// mochi-mqtt) with mutual TLS: a device's identity is the common name of its
// fleet certificate, its client identifier must equal it, and it may use
// only its own topics under devices/<id>/ (policy.go: the ACL, applied to
// every path a message can take: PUBLISH, Will, retained messages, $SYS,
// shared subscriptions, MQTT 5 properties), within per-device quotas
// (quota.go). Telemetry published to devices/<id>/telemetry is handed to a
// Sink without waiting; a QoS 1 message is acknowledged once the Sink
// reports it durable, so a connection can have many messages in flight
// (session.go).
//
// It must never admit a connection whose certificate is foreign, expired,
// revoked, or belongs to a device that is not active; never keep a session
// past its certificate's expiry or its replacement by renewal
// (credentials.go); never publish, retain or deliver a device's message
// outside the device's own topics, nor let a device publish on its jobs
// topic; never acknowledge telemetry as received before it is stored, nor
// QoS 1 messages out of the order they arrived in; never write a device's
// payload to the log; and it must drop a device's connection, without its
// Will, as soon as the fleet revokes it (Disconnect).
package broker
