//go:build !linux

package spe

import "errors"

// Profile is what a sandboxed partition process may still do (Linux only).
type Profile int

// The profiles (see sandbox_linux.go).
const (
	WithFiles Profile = iota
	NoFiles
)

// Sandbox is Linux only: elsewhere partition processes run without it.
func Sandbox() error { return SandboxProfile(WithFiles) }

// SandboxProfile is Linux only.
func SandboxProfile(Profile) error { return errors.New("spe: sandbox: only on Linux") }
