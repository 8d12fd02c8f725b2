//go:build !cgo

package mcubootoracle

import (
	"errors"

	"rampart/flash"
)

// Oracle is unavailable without cgo.
type Oracle struct{ LogLevel int }

// Open fails without cgo: MCUboot is loaded through dlopen.
func Open(Config) (*Oracle, error) {
	return nil, errors.Join(ErrNoSource, errors.New("mcubootoracle: built without cgo"))
}

// OpenCopy fails without cgo.
func OpenCopy(Config, int) (*Oracle, error) { return Open(Config{}) }

// Config is the zero Config.
func (o *Oracle) Config() Config { return Config{} }

// Path is empty.
func (o *Oracle) Path() string { return "" }

// Boot is never reached.
func (o *Oracle) Boot(*flash.Device, []Area, []byte, []uint32, int) (Result, error) {
	return Result{}, errors.New("mcubootoracle: built without cgo")
}

// SetDecryptKey is never reached.
func (o *Oracle) SetDecryptKey([]byte) error {
	return errors.New("mcubootoracle: built without cgo")
}

// SetRAM is never reached.
func (o *Oracle) SetRAM(uint32, uint32) error { return errors.New("mcubootoracle: built without cgo") }

// RAM is nil.
func (o *Oracle) RAM() []byte { return nil }

// SigMemoStats is zero.
func (o *Oracle) SigMemoStats() (hits, misses uint64) { return 0, 0 }

// KXMemoStats is zero.
func (o *Oracle) KXMemoStats() (hits, misses uint64) { return 0, 0 }
