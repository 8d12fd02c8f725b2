// Package broker is the fleet's MQTT broker (3.1.1 and 5, embedded
// mochi-mqtt) with mutual TLS: a device's identity is the common name of its
// fleet certificate, its client identifier must equal it, and it may publish
// and subscribe only under devices/<its id>/. Telemetry published to
// devices/<id>/telemetry is handed to a Sink without waiting; a QoS 1
// message is acknowledged once the Sink reports it durable, so a
// connection can have many messages in flight (session.go).
//
// It must never admit a connection whose certificate is foreign, expired,
// revoked, or belongs to a device that is not active; never acknowledge
// telemetry as received before it is stored, nor QoS 1 messages out of the
// order they arrived in; and it must drop a device's connection as soon as
// the fleet revokes it (Disconnect).
package broker
