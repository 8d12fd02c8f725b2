// Package storage is the SPE's atomic object store: named objects kept as
// files in one directory, each replaced as a whole (write a temporary file,
// fsync it, rename it over the old one, fsync the directory), so that after a
// power cut at any step a reader finds the old object or the new one, never a
// mix. It is the backing of the Internal Trusted Storage (package its) and
// Protected Storage (package ps) services, which add the PSA semantics.
//
// Every step can be interrupted by an injected Fault, so tests can prove the
// old-or-new property at each write, fsync and rename. Destroy overwrites every
// object before unlinking it, for decommissioning.
//
// FlashStore offers the same Backend on the flash model (package flash): a
// log-structured store in two banks of an area of the device, where each
// change is one CRC-checked record and a compaction commits by writing the
// new bank's header last. Sealed objects (PutSealed) bind a secret to the
// hardware unique key.
//
// The package must never expose a half-written object, never follow names
// that leave its directory, never write to flash that is not erased, and
// never keep an object after Destroy.
package storage
