package flash

import "fmt"

// Fault arms a power cut: the CutBefore'th write or erase (counting from 1
// after SetFault) does not complete and the power goes off. With Tear the cut
// operation is partly applied: a prefix of TearNum/TearDen of its bytes
// (rounded down, whole bytes) is written or erased, as when power fails in
// the middle of programming.
type Fault struct {
	CutBefore int
	Tear      bool
	TearNum   int
	TearDen   int
}

func (f *Fault) tearLen(n int) int {
	if f.TearDen <= 0 || f.TearNum < 0 || f.TearNum > f.TearDen {
		return n / 2
	}
	return n * f.TearNum / f.TearDen
}

// SetFault arms f and resets the operation count; a nil f disarms.
func (d *Device) SetFault(f *Fault) {
	d.fault = f
	d.ops = 0
}

// Ops is the number of writes and erases attempted since the last SetFault or
// PowerOn, including one cut by a fault.
func (d *Device) Ops() int { return d.ops }

// PoweredOff reports whether a fault has cut the power.
func (d *Device) PoweredOff() bool { return d.off }

// PowerOn restores power after a cut, disarms the fault and resets the count.
func (d *Device) PowerOn() {
	d.off = false
	d.fault = nil
	d.ops = 0
}

// step counts one operation and reports whether it is the one to cut.
func (d *Device) step() bool {
	d.ops++
	return d.fault != nil && d.fault.CutBefore > 0 && d.ops == d.fault.CutBefore
}

func (d *Device) cut(op string, off uint32) error {
	d.off = true
	return fmt.Errorf("%w during %s at %#x (operation %d)", ErrPowerCut, op, off, d.ops)
}
