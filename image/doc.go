// Package image implements the MCUboot firmware image format as imgtool 2.4
// writes it and MCUboot's bootutil checks it: a 32-byte header, the firmware
// body, a protected TLV area covered by the image hash, an unprotected TLV area
// holding the hash, key identification and signatures, and an optional
// trailer at the end of the slot.
//
// The package parses ([Parse]), builds and signs ([Sign]), verifies
// ([Image.Verify], [Verify]), encrypts and decrypts (AES-CTR with ECIES-P256,
// ECIES-X25519 or RSA-OAEP key wrapping) such images, and encodes signing keys
// the way MCUboot embeds them ([PublicKeyBytes], [KeyHash]). It also writes
// what imgtool's other commands print, byte for byte, so that a command line
// only parses flags and formats: signed images as Intel HEX ([SignHex]),
// dumpinfo ([DumpInfo]) and the key encodings of getpub, getpubhash and
// getpriv. The bootloader,
// the Secure Processing Environment's firmware-update service and the fleet
// server all build on it; docs/image-format.md is its written specification,
// including exactly which bytes verification does not cover.
//
// Every input is hostile: Parse checks every length against its area before
// use and names the field it rejects. The package must never trust a claim in
// an image (a key hash, a security counter, a trailer flag) before the hash
// and a signature by a caller-supplied key have been checked, never read a
// security counter from the unprotected area, and never open a file or a
// connection: callers hand it bytes, keys, an io.Reader for randomness and an
// io.Writer for output.
package image
