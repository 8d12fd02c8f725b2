// Package lifecycle keeps the device's PSA security lifecycle state (PSA
// Security Model: assembly and test, PSA RoT provisioning, secured, non-PSA-RoT
// debug, recoverable PSA RoT debug, decommissioned), allows only the
// transitions the model allows, persists the state atomically, and on
// decommissioning runs the destroyers the platform registered (HUK, keys,
// ITS, PS, IAK) so nothing can be recovered. It is also the SPE's lifecycle
// service (get for every client, transitions for the clients allowed).
//
// It must never move to a state the transition table does not allow, never
// leave decommissioned, and never report decommissioned before the state has
// been recorded (destruction runs after, and again at every start, so a power
// cut cannot stop it).
package lifecycle
