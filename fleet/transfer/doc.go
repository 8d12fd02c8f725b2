// Package transfer is the fleet server's side of ownership transfer
// (docs/ownership-and-rotation.md): the fleet's owner key, importing a
// device with a voucher chain that ends at that key (and answering with the
// onboarding ticket the device will need), extending a voucher to a buyer,
// releasing a device (the signed transfer message that tells it to leave)
// and, when the device acknowledges with an attestation over the
// transfer's challenge, revoking it here.
//
// It must never record a voucher it has not verified from the device's
// manufacturer endorsement key to this fleet's owner key, accept a voucher
// whose serial is not newer than one the fleet already used for the device,
// release a device to anyone but the owner the extended voucher names, nor
// revoke a released device on anything but an acknowledgement attested by
// the device's endorsed key.
package transfer
