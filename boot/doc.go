// Package boot is Rampart's bootloader: it reads a flash map, decides from
// MCUboot's image trailers whether to upgrade, revert or just boot, moves
// images between slots so that a power cut at any point can be resumed,
// validates every image before it boots it (hash, signature against the
// provisioned keys, dependencies, version and security counter), keeps the
// security counters in a monotonic one-time-programmable model, and hands a
// boot record for each booted image to attestation. It also owns the
// device directory, a simulated device kept in files (flash, flash map, boot
// keys, counters: [CreateDevice], [OpenDevice]), which `rampart boot` and the
// SPE (spe/platform) both use.
//
// Everything in a slot or trailer is hostile input: the package never boots
// an image it has not validated, never lowers a security counter and never
// trusts a trailer's claims beyond choosing what to try.
package boot
