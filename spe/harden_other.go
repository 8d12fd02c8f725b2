//go:build !linux

package spe

// HardenProcess does nothing outside Linux.
func HardenProcess() error { return nil }
