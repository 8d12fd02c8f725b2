// Package fwu is the SPE's Firmware Update service in the shape of PSA FWU
// 1.0 (SID 0xA0): a component is one of the bootloader's images; a
// candidate is streamed in order into that image's secondary slot, verified
// with the image package and the device's boot keys at finish, staged for a
// test boot at install, and then the bootloader (package boot) takes over:
// it tests the candidate, which is accepted (confirmed) or rejected and
// reverted. Component states follow the PSA machine: READY, WRITING,
// CANDIDATE, STAGED, TRIAL, REJECTED, UPDATED, FAILED; they are persisted
// and reconciled with what the bootloader did at each boot.
//
// It must never stage an image that does not verify with the provisioned
// boot keys or that the bootloader would refuse (a revoked release key, a
// next key no rotation has activated: docs/boot.md §7a), never write outside the component's secondary slot, and never
// accept blocks out of order or for an unknown component.
package fwu
