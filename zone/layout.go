package zone

import "sort"

// Layout is a checked project: every partition resolved and placed, the SAU
// regions, the interrupt targets and the MPU regions computed, and the
// diagnostics found on the way.
type Layout struct {
	Project     *Project
	Diagnostics []Diagnostic

	SAU []SAURegion // in region-number order (sorted by start)
	// ITNS holds NVIC_ITNS words: bit i of word w set = IRQ 32*w+i targets Non-secure.
	ITNS []uint32
	// IRQNames names the interrupts the device description knows (for comments).
	IRQNames map[int]string
	// PeripheralZone maps a peripheral to its security zone ("" = unassigned, Secure).
	PeripheralZone map[string]string
	// PeripheralSecurity is the resolved state of every peripheral.
	PeripheralSecurity map[string]Security
	// PartitionZone maps a partition to its security zone.
	PartitionZone map[string]string
	// MPU maps an MPU zone (or a security zone with MPU sub-zones) to its regions.
	MPU map[string][]MPURegion
}

// SAURegion is one SAU region in CMSIS terms.
type SAURegion struct {
	Start uint64 // SAU_INIT_STARTn (32-byte aligned)
	Limit uint64 // last byte covered (inclusive)
	NSC   bool
	Names []string // what it covers (partitions, fixed regions)
}

// End is SAU_INIT_ENDn as CMSIS writes it: the base of the last 32-byte block.
func (r SAURegion) End() uint64 { return r.Limit &^ 0x1F }

// MPURegion is one MPU region of a zone.
type MPURegion struct {
	Name   string
	Start  uint64
	Size   uint64
	Access string // rwx subset
	Device bool   // peripheral (device memory type)
	// Armv7-M encoding: the region is Base..Base+2^(SizeLog2) with subregions
	// disabled by SRD; SizeField is RASR.SIZE = log2 - 1.
	Base      uint64
	SizeLog2  uint
	SRD       uint8
	SizeField uint
}

// Limit is the last byte of the region.
func (r MPURegion) Limit() uint64 { return r.Start + r.Size - 1 }

// Err returns a *CheckError when the layout has errors, else nil.
func (l *Layout) Err() error {
	var errs []Diagnostic
	for _, d := range l.Diagnostics {
		if d.Severity == Error {
			errs = append(errs, d)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &CheckError{Diagnostics: errs}
}

// Warnings returns the warning diagnostics.
func (l *Layout) Warnings() []Diagnostic {
	var w []Diagnostic
	for _, d := range l.Diagnostics {
		if d.Severity == Warning {
			w = append(w, d)
		}
	}
	return w
}

// Zone returns the zone named name, or nil.
func (p *Project) Zone(name string) *Zone {
	for _, z := range p.Zones {
		if z.Name == name {
			return z
		}
	}
	return nil
}

// Partition returns the partition named name, or nil.
func (p *Project) Partition(name string) *Partition {
	for _, pt := range p.Partitions {
		if pt.Name == name {
			return pt
		}
	}
	return nil
}

// Memory returns the memory named name (or one of its aliases), or nil.
func (d *Device) Memory(name string) *Memory {
	for _, m := range d.Memories {
		if m.Name == name {
			return m
		}
		for _, a := range m.Aliases {
			if a == name {
				return m
			}
		}
	}
	return nil
}

// Peripheral returns the peripheral named name, or nil.
func (d *Device) Peripheral(name string) *Peripheral {
	for _, p := range d.Peripherals {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Start is the partition's address in the alias of its security state.
// It is valid after Analyze resolved the partition.
func (p *Partition) Start() uint64 {
	if p.Memory == nil {
		return 0
	}
	a, _ := p.Memory.AddressFor(p.Security, p.Offset)
	return a
}

// Physical is the partition's physical address.
func (p *Partition) Physical() uint64 {
	if p.Memory == nil {
		return 0
	}
	return p.Memory.Physical + p.Offset
}

// Executable reports whether the partition holds code.
func (p *Partition) Executable() bool {
	if p.Access != "" {
		return containsRune(p.Access, 'x')
	}
	return p.Memory != nil && p.Memory.Executable()
}

func containsRune(s string, r rune) bool {
	for _, c := range s {
		if c == r {
			return true
		}
	}
	return false
}

// ZonePartitions returns the partitions of zone z, in address order.
func (l *Layout) ZonePartitions(z *Zone) []*Partition {
	var out []*Partition
	for _, n := range z.Partitions {
		if p := l.Project.Partition(n); p != nil && p.Memory != nil {
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start() < out[j].Start() })
	return out
}

// SecurityZones returns the project's security zones of state s.
func (p *Project) SecurityZones(s Security) []*Zone {
	var out []*Zone
	for _, z := range p.Zones {
		if z.Kind == ZoneSecurity && z.Security == s {
			out = append(out, z)
		}
	}
	return out
}
