// Package sim runs many Rampart devices in one process (`rampart sim`):
// each with its own simulated flash and bootloader, its own in-process SPE
// (spe/platform, provisioned by spe/provision) and the same device agent
// as `rampart agent`, against a real fleet server (in-process here, or any
// reachable one). It injects faults (a flaky network, a power cut during an
// update, a tampered image, a skewed clock) and reports how many devices
// onboarded and reported, and what the server cost.
//
// It is a test harness: it holds the manufacturer and release keys of the
// fleet it creates, so it must never be pointed at a production fleet's
// keys, and it never weakens a device or server check to make a run pass.
package sim
