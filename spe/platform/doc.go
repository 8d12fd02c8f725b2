// Package platform assembles a complete Rampart SPE from one state
// directory (and, optionally, a bootloader device directory): the hardware
// unique key, the crypto, ITS, PS, initial attestation, audit log,
// lifecycle and firmware update services, registered on one spe.Server.
// `rampart spe serve`, `rampart spe provision`, tests and the device
// simulator all build their SPE here, so the wiring lives in one place.
//
// It must never start the key-holding services on a decommissioned device
// (that would mint a new hardware unique key), and never hand a service's
// secrets to another: each service gets only the store and keys it needs.
package platform
