// Package shmring is a shared-memory link for IPC frames between two
// processes: a region (a sealed memfd, mapped shared by both) holds one or
// more lanes, each a request slot and a reply slot of fixed size with a
// sequence word, a length word and a "sleeping" word. A writer copies a
// frame into its slot and bumps the sequence; the reader spins briefly
// (bounded, adaptive, configurable) and then sleeps on the slot's doorbell,
// an eventfd read through the Go poller (a futex wait would hold an OS
// thread and its Go processor for up to the scheduler monitor's 10 ms
// tick), which the writer rings only when the reader said it sleeps.
// A call that finds its peer awake costs no system call at all.
//
// It is used by the SPE's client connections (package ipc: the Unix socket
// stays the handshake, identity and liveness channel) and by the link
// between the partition manager and its partition processes (package spe).
//
// It trusts nothing its peer wrote: a reader copies a frame out of shared
// memory before anyone parses it (the peer can rewrite the slot at any
// time), checks the length word against the slot size, and treats every
// sequence change as one frame. Only the side that creates a region maps
// it with confidence: Create seals the memfd against shrinking and growing,
// and Open refuses a region whose size or seals differ, so a peer cannot
// make the mapping fault (SIGBUS) under the other side. It never parses
// frames and never holds keys.
package shmring
