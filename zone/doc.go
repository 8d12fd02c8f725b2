// Package zone is Rampart's Architect stage: it partitions a TrustZone
// microcontroller's resources (memories, peripherals, interrupts) into Secure,
// Non-secure, Non-secure-callable and MPU-protected zones, as Arm's CMSIS-Zone
// does, checks the partition against the hardware's rules (SAU, MPU, MPC,
// IDAU granularity and budgets) and generates the configuration that makes it
// real: a CMSIS partition header, linker scripts, layout headers, a TF-M style
// flash layout, a Zephyr devicetree overlay, a flash map, an SVG memory map and
// a Markdown table.
//
// A [Project] is loaded from YAML ([LoadProject], [ParseProject]) or built by
// the zone/cmsis importer from CMSIS-Zone .rzone/.azone files; [Analyze]
// checks it and computes a [Layout]; [Generate] turns a clean Layout into
// files.
//
// Every input to this package is an untrusted file: loaders bound sizes and
// counts and report errors as file:line. The package must never write files
// itself (generators return bytes; the caller decides where they go), never
// run external tools, and never emit configuration for a project whose checks
// found an error.
package zone
