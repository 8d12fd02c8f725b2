package boot

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"rampart/internal/secfile"
)

// DefaultFuses is how many times one security counter can be raised.
const DefaultFuses = 64

// ErrOTPExhausted is returned when a counter has no unprogrammed fuse row left.
var ErrOTPExhausted = errors.New("boot: otp: counter has no free fuse row")

// Counters models the security counters kept in one-time-programmable
// memory, one per image. Each counter is a bank of fuse rows: raising it
// programs the next blank row with the new value, a programmed row can never
// change, and the counter's value is the largest row programmed. So the
// value can only go up, and each raise consumes a row, as in real OTP.
type Counters struct {
	Banks [][]uint32 `json:"banks"` // programmed rows per image, in order
	Fuses int        `json:"fuses"` // rows per bank
	// KeyFuses are the release-key fuses (keyfuses.go), in the same
	// one-time-programmable block: written by the same atomic save.
	KeyFuses
	path string
}

// NewCounters returns n counters at zero with fuses rows each (0 means DefaultFuses).
func NewCounters(n, fuses int) *Counters {
	if fuses <= 0 {
		fuses = DefaultFuses
	}
	return &Counters{Banks: make([][]uint32, n), Fuses: fuses}
}

// LoadCounters reads counters persisted with [Counters.SaveAs]; later raises
// are written back to the same file.
func LoadCounters(path string) (*Counters, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("boot: otp: %w", err)
	}
	var c Counters
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("boot: otp: %s: %w", path, err)
	}
	if c.Fuses <= 0 || len(c.Banks) > maxImages {
		return nil, fmt.Errorf("boot: otp: %s: fuses %d or %d banks out of range", path, c.Fuses, len(c.Banks))
	}
	for i, b := range c.Banks {
		if len(b) > c.Fuses {
			return nil, fmt.Errorf("boot: otp: %s: banks[%d] has %d rows, more than %d fuses", path, i, len(b), c.Fuses)
		}
	}
	c.path = path
	return &c, nil
}

// SaveAs writes the counters to path and makes it their backing file.
func (c *Counters) SaveAs(path string) error {
	c.path = path
	return c.save()
}

func (c *Counters) save() error {
	if c.path == "" {
		return nil
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	// A new 0600 file renamed over the old one (device state; an older
	// version wrote it 0644), synced: a raised counter survives a power cut.
	if err := secfile.WriteFile(c.path, append(b, '\n')); err != nil {
		return fmt.Errorf("boot: otp: %w", err)
	}
	return nil
}

// Get returns image i's counter (0 for an image with no bank).
func (c *Counters) Get(i int) uint32 {
	if i < 0 || i >= len(c.Banks) {
		return 0
	}
	var v uint32
	for _, r := range c.Banks[i] {
		v = max(v, r)
	}
	return v
}

// Raise raises image i's counter to v. A v not above the current value
// changes nothing (the counter never decreases); raised reports whether a
// fuse row was programmed.
func (c *Counters) Raise(i int, v uint32) (raised bool, err error) {
	if i < 0 || i >= maxImages {
		return false, fmt.Errorf("boot: otp: image index %d out of range", i)
	}
	if v <= c.Get(i) {
		return false, nil
	}
	for len(c.Banks) <= i {
		c.Banks = append(c.Banks, nil)
	}
	if len(c.Banks[i]) >= c.Fuses {
		return false, fmt.Errorf("%w: image %d, %d rows used", ErrOTPExhausted, i, c.Fuses)
	}
	c.Banks[i] = append(c.Banks[i], v)
	return true, c.save()
}

// Clone returns an unbacked copy.
func (c *Counters) Clone() *Counters {
	d := &Counters{Fuses: c.Fuses, Banks: make([][]uint32, len(c.Banks)), KeyFuses: c.KeyFuses}
	for i, b := range c.Banks {
		d.Banks[i] = append([]uint32(nil), b...)
	}
	return d
}
