package demo

import (
	"crypto"
	"crypto/rand"
	"io"
	"path/filepath"

	"rampart/internal/secfile"
)

// State carries what earlier steps produced to later ones.
type State struct {
	opts Options
	rand io.Reader

	signKey  crypto.Signer // the manufacturer's firmware signing key
	firmware map[string][]byte
	images   map[string][]byte // signed images by name ("v1", "v2", ...)

	// passed records, by step name, the steps that have passed so far, so
	// that the certify step states only what the demo actually showed.
	passed map[string]bool

	// With Options.Serve: the console to print, and how to stop the fleet
	// left running.
	served     *ConsoleInfo
	stopServed func()
}

func newState(o Options) *State {
	r := o.Rand
	if r == nil {
		r = rand.Reader
	}
	return &State{opts: o, rand: r, firmware: map[string][]byte{}, images: map[string][]byte{}, passed: map[string]bool{}}
}

// write stores a file inside the demo directory and returns its path. Some
// are private keys: every file is 0600 in 0700 directories (secfile).
func (s *State) write(name string, data []byte) (string, error) {
	p := filepath.Join(s.opts.Dir, name)
	if err := secfile.MkdirAll(filepath.Dir(p)); err != nil {
		return "", err
	}
	return p, secfile.WriteFile(p, data)
}
