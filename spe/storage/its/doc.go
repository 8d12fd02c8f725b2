// Package its is the SPE's Internal Trusted Storage service (PSA ITS 1.0,
// SID 0x70): objects named by (caller's client ID, uid) kept in a
// storage.Backend (files, or the device's flash), so every set is atomic
// across power cuts. Objects carry
// their flags and a SHA-256 digest, so a damaged file reads as DATA_CORRUPT,
// never as wrong data.
//
// ITS is for the SPE's own secrets and small device state: it stores data in
// clear, in an area only the SPE can reach, and relies on that isolation. It
// must never let one client name another client's objects, never accept uid
// 0, and never change or remove a WRITE_ONCE object.
package its
