// Package ownership is the format of Rampart's ownership vouchers and
// onboarding tickets (docs/ownership-and-rotation.md): who may own a device,
// proven by a chain of signatures that starts at the device's manufacturer
// and ends at its current owner.
//
// A voucher is a chain of hops. The first hop is signed by the
// manufacturer's endorsement key (the key the fleet already trusts for the
// device's endorsement) and names the first owner's public key; every later
// hop is signed by the owner the hop before named, and names the next one.
// Each hop is bound to one device (its instance ID), to the hop before (its
// hash) and carries a serial that strictly increases along the chain, so a
// hop cannot be moved to another device, dropped from the chain, or an old
// chain replayed to a verifier that remembers the last serial it accepted.
// A ticket is the final owner's signed statement of where the device must
// go (its enrollment URL and CA certificates), checked against the voucher.
//
// Both the fleet server and the device agent read these formats, so the
// package must never import either side (nor the SPE); it holds no state and
// does no I/O. It must never report a voucher valid whose every signature,
// binding and serial it has not checked.
package ownership
