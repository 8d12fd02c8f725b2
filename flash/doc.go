// Package flash models a NOR flash device for the bootloader and its tests:
// sectors of configurable sizes, erase before write, a write alignment of 1 to
// 32 bytes, an erased value of 0xFF or 0x00, and refusal of a second write to
// bytes already programmed. A device lives in memory or is backed by a file so
// that its contents persist across runs.
//
// A [Fault] cuts power before the Nth write or erase (optionally tearing that
// operation), the way MCUboot's simulator does, so callers can prove that an
// update survives a power cut at every point.
//
// The package knows nothing of images, slots or trailers, and it must never
// silently accept an operation a real flash part would refuse.
package flash
