//go:build !linux

package spe

import "errors"

// Sandbox is Linux only: elsewhere partition processes run without it.
func Sandbox() error { return errors.New("spe: sandbox: only on Linux") }
