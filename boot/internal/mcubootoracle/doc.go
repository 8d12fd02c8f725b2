// Package mcubootoracle runs MCUboot's own bootloader (boot_go from
// mcu-tools/mcuboot's bootutil, with its simulator's C support) over
// Rampart's flash model, as a differential oracle for package boot's tests.
//
// Nothing of MCUboot is copied into the project: Build compiles MCUboot's
// sources from the vendor tree (../shared/vendor/mcuboot, or
// $RAMPART_MCUBOOT) with gcc into a shared library for one MCUboot
// configuration (upgrade mode, BOOT_MAX_ALIGN, BOOT_MAX_IMG_SECTORS, image
// count, signature type, encrypted images with ECIES-P256, ECIES-X25519,
// AES-KW or RSA-OAEP key exchange and AES-128 or AES-256; the last two need
// MCUboot's mbedTLS backend, built against the mbedTLS 3 tree
// $RAMPART_MBEDTLS3 names), cached by a hash of its inputs, and Open loads it
// with dlopen. MCUboot's flash callbacks read, write and erase a
// *flash.Device, so both bootloaders see the same map, write alignment and
// erased value, and a write MCUboot makes that the model refuses is
// reported.
//
// With Config.SigMemo, MCUboot's bootutil_verify_sig is wrapped so that a
// (key, digest, signature) it has verified once gets the same answer again
// without TinyCrypt's arithmetic (csrc/sigmemo.c): the answer is still
// MCUboot's.
//
// It is test-only: no product code may import it, and it never decides
// anything itself; it only reports what MCUboot did.
package mcubootoracle
