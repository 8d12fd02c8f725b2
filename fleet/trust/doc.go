// Package trust admits the fleet server's trust inputs: manufacturer
// endorsement lists signed by a trusted manufacturer key, and firmware
// releases (signed MCUboot images verified with a trusted release key),
// whose measurements become the reference values enrollment checks.
//
// It must never admit an endorsement whose signature it has not verified
// with a configured manufacturer key, nor a release whose image signature it
// has not verified with a configured release key.
package trust
