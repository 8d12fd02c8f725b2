// Package fleet is Rampart's fleet server (`rampart server`): one process
// that admits devices by attestation (fleet/enroll) and gives them short-lived
// certificates from the fleet CA (fleet/ca), runs the mutual-TLS MQTT broker
// (fleet/broker), stores telemetry (fleet/telemetry), tracks each device's
// lifecycle, and serves the admin API (fleet/api), all on one store
// (fleet/store, SQLite or PostgreSQL).
//
// This package only reads the configuration and wires the parts together
// with New, Start, Ready and Shutdown. It must never log or persist the CA
// passphrase or an API token, and never start serving before the store has
// been migrated and the CA unlocked.
package fleet
