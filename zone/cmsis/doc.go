// Package cmsis imports CMSIS-Zone projects: a resource file (.rzone: the
// device's memories, MPCs, peripherals and interrupts) and an assignment file
// (.azone: partitions of memories and zones), turning them into a
// zone.Project that Rampart checks and generates from like its own YAML.
//
// The XML comes from outside and is treated as hostile: sizes and element
// counts are bounded, numbers are parsed strictly, and every error names the
// element and attribute at fault. The package must never resolve external
// entities, fetch schemas or touch any file other than the two it is given.
package cmsis
