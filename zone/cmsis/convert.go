package cmsis

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"rampart/zone"
)

type importer struct {
	notes        []string
	r            *xRzone
	a            *xAzone
	rfile, afile string
	// alias name -> (merged memory, security of that alias in the file)
	alias map[string]aliasInfo
}

type aliasInfo struct {
	mem *zone.Memory
	sec zone.Security
	ns  bool // the Non-secure alias of an S/NS pair
}

func (im *importer) run() (*zone.Project, error) {
	d, err := im.device()
	if err != nil {
		return nil, err
	}
	p := &zone.Project{Name: strings.TrimSuffix(baseName(im.afile), ".azone"), File: im.afile, Device: d, UnassignedSecure: true}
	defer func() { p.Notes = im.notes }()
	for _, c := range im.a.Configure {
		if strings.EqualFold(c.Mode, "MPU") {
			p.Mode = "mpu"
		}
	}
	if !d.TrustZone && p.Mode == "" {
		p.Mode = "mpu"
	}
	if err := im.memories(d); err != nil {
		return nil, err
	}
	if err := im.partitions(p); err != nil {
		return nil, err
	}
	if err := im.zones(p); err != nil {
		return nil, err
	}
	return p, nil
}

func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

// processor picks the core the zones are for (their Pname), else the first
// TrustZone core, else the first.
func (im *importer) processor() (*xProcessor, error) {
	ps := im.r.Device.Processors
	if len(ps) == 0 {
		return nil, fmt.Errorf("cmsis: %s: <device> has no <processor> (CMSIS-Zone Z403): %w", im.rfile, ErrFormat)
	}
	for _, z := range im.a.Zones {
		for i := range ps {
			if z.Pname != "" && ps[i].Pname == z.Pname {
				return &ps[i], nil
			}
		}
	}
	for i := range ps {
		if isTZ(ps[i].Dtz) {
			return &ps[i], nil
		}
	}
	return &ps[0], nil
}

func isTZ(v string) bool { return v == "TZ" || v == "1" }

func (im *importer) device() (*zone.Device, error) {
	proc, err := im.processor()
	if err != nil {
		return nil, err
	}
	d := &zone.Device{Name: im.r.Device.Dname, Vendor: im.r.Device.Dvendor, Core: proc.Dcore,
		TrustZone: isTZ(proc.Dtz), File: im.rfile,
		Sources: []string{"CMSIS-Zone resource file " + baseName(im.rfile)}}
	if d.Name == "" {
		return nil, fmt.Errorf("cmsis: %s: <device Dname> is missing (CMSIS-Zone Z401): %w", im.rfile, ErrFormat)
	}
	atoi := func(attr, v string, def int) (int, error) {
		if v == "" {
			return def, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 496 {
			return 0, fmt.Errorf("cmsis: %s: <processor %s=%q>: want 0..496: %w", im.rfile, attr, v, ErrFormat)
		}
		return n, nil
	}
	if d.Interrupts, err = atoi("DnumInterrupts", proc.DnumInterrupts, 0); err != nil {
		return nil, err
	}
	if d.SAURegions, err = atoi("DnumSauRegions", proc.DnumSauRegions, 0); err != nil {
		return nil, err
	}
	if d.TrustZone && (proc.DnumInterrupts == "" || proc.DnumSauRegions == "") {
		return nil, fmt.Errorf("cmsis: %s: a TrustZone processor needs DnumInterrupts and DnumSauRegions (CMSIS-Zone Z408): %w", im.rfile, ErrFormat)
	}
	if d.SAURegions > 8 {
		return nil, fmt.Errorf("cmsis: %s: DnumSauRegions=%d (Armv8-M has at most 8): %w", im.rfile, d.SAURegions, ErrFormat)
	}
	if d.MPURegions, err = atoi("DnumMpuRegions", proc.DnumMpuRegions, 8); err != nil {
		return nil, err
	}
	if d.MPURegions > 16 {
		return nil, fmt.Errorf("cmsis: %s: DnumMpuRegions=%d (at most 16): %w", im.rfile, d.MPURegions, ErrFormat)
	}
	switch {
	case proc.Dmpu == "MPU" || proc.Dmpu == "1":
		d.MPU = zone.MPUv7M
		if armv8(proc.Dcore) {
			d.MPU = zone.MPUv8M
		}
	default:
		d.MPU, d.MPURegions = zone.MPUNone, 0
	}
	for i, s := range im.r.Resources.SAU {
		where := fmt.Sprintf("<sau_init><region> %d", i)
		start, err := num(im.rfile, where, "start", s.Start)
		if err != nil {
			return nil, err
		}
		size, err := num(im.rfile, where, "size", s.Size)
		if err != nil {
			return nil, err
		}
		sec, err := security(im.rfile, where, s.Security)
		if err != nil {
			return nil, err
		}
		if sec == zone.Secure {
			return nil, fmt.Errorf("cmsis: %s: %s: a SAU region is n or c, not s: %w", im.rfile, where, ErrFormat)
		}
		if sec == zone.Unset {
			sec = zone.NonSecure
		}
		d.SAUInit = append(d.SAUInit, zone.FixedRegion{Name: s.Info, Start: start, Size: size, Security: sec})
	}
	if err := im.peripherals(d); err != nil {
		return nil, err
	}
	return d, nil
}

func armv8(core string) bool {
	for _, c := range []string{"M23", "M33", "M35P", "M55", "M85", "M52"} {
		if strings.HasSuffix(core, c) {
			return true
		}
	}
	return false
}

func (im *importer) peripherals(d *zone.Device) error {
	var all []xPeriph
	for _, g := range im.r.Resources.Groups {
		for _, p := range g.Peripherals {
			if p.Group == "" {
				p.Group = g.Name
			}
			all = append(all, p)
		}
	}
	all = append(all, im.r.Resources.Peripherals...)
	if len(all) > MaxElements {
		return fmt.Errorf("cmsis: %s: %d peripherals, limit %d: %w", im.rfile, len(all), MaxElements, zone.ErrTooLarge)
	}
	for _, xp := range all {
		where := fmt.Sprintf("<peripheral name=%q>", xp.Name)
		if xp.Name == "" {
			return fmt.Errorf("cmsis: %s: <peripheral> without a name: %w", im.rfile, ErrFormat)
		}
		per := &zone.Peripheral{Name: xp.Name, Group: xp.Group}
		start, hasStart, err := optNum(im.rfile, where, "start", xp.Start)
		if err != nil {
			return err
		}
		startS, hasS, err := optNum(im.rfile, where, "start_s", xp.StartS)
		if err != nil {
			return err
		}
		if v, ok, err := optNum(im.rfile, where, "start_ns", xp.StartNS); err != nil {
			return err
		} else if ok {
			start, hasStart = v, true
		}
		switch {
		case hasStart && hasS:
			per.NS, per.S, per.HasNS, per.HasS = start, startS, true, true
		case hasStart:
			per.NS, per.S, per.HasNS, per.HasS = start, start, true, true
		case hasS:
			per.S, per.HasS = startS, true
		default:
			return fmt.Errorf("cmsis: %s: %s has no start address: %w", im.rfile, where, ErrFormat)
		}
		if per.Size, _, err = optNum(im.rfile, where, "size", xp.Size); err != nil {
			return err
		}
		irqs, setups := xp.Interrupts, xp.Setup
		var walk func([]xSlot, int) error
		walk = func(ss []xSlot, depth int) error {
			if depth > 8 {
				return fmt.Errorf("cmsis: %s: %s: slots nested deeper than 8: %w", im.rfile, where, ErrFormat)
			}
			for _, s := range ss {
				irqs = append(irqs, s.Interrupts...)
				setups = append(setups, s.Setup...)
				if err := walk(s.Slots, depth+1); err != nil {
					return err
				}
			}
			return nil
		}
		if err := walk(xp.Slots, 0); err != nil {
			return err
		}
		if len(irqs)+len(setups) > MaxElements {
			return fmt.Errorf("cmsis: %s: %s: too many interrupts or setups: %w", im.rfile, where, zone.ErrTooLarge)
		}
		for _, x := range irqs {
			n, err := strconv.Atoi(strings.TrimSpace(x.IRQn))
			if err != nil || n < 0 || n >= 496 {
				return fmt.Errorf("cmsis: %s: %s <interrupt irqn=%q>: want 0..495: %w", im.rfile, where, x.IRQn, ErrFormat)
			}
			name := x.Name
			if name == "" {
				name = xp.Name
			}
			per.Interrupts = append(per.Interrupts, zone.Interrupt{Name: name, IRQ: n})
		}
		for _, s := range setups {
			v, err := num(im.rfile, where+" <setup>", "value", s.Value)
			if err != nil {
				return err
			}
			kind := "security"
			if s.Privilege != "" {
				kind = "privilege"
			}
			per.Setup = append(per.Setup, zone.Setup{Register: s.Name, Value: v, Kind: kind})
		}
		if prev := d.Peripheral(per.Name); prev != nil {
			if prev.S != per.S || prev.NS != per.NS || prev.Size != per.Size {
				// Vendor data bug (STM32L5xx_DFP lists LPTIM2 as a second LPTIM3): keep both, renamed.
				old := per.Name
				per.Name = fmt.Sprintf("%s@%08X", per.Name, per.NS)
				im.notes = append(im.notes, fmt.Sprintf("%s lists two different peripherals named %s; the second is called %s", baseName(im.rfile), old, per.Name))
				if d.Peripheral(per.Name) != nil {
					return fmt.Errorf("cmsis: %s: peripheral %s is described more than twice: %w", im.rfile, old, ErrFormat)
				}
				d.Peripherals = append(d.Peripherals, per)
				continue
			}
			im.notes = append(im.notes, fmt.Sprintf("%s lists peripheral %s twice with the same addresses; merged", baseName(im.rfile), per.Name))
			for _, irq := range per.Interrupts {
				if !hasIRQ(prev.Interrupts, irq.IRQ) {
					prev.Interrupts = append(prev.Interrupts, irq)
				}
			}
			continue
		}
		d.Peripherals = append(d.Peripherals, per)
	}
	maxIRQ, maxName := -1, ""
	for _, per := range d.Peripherals {
		for _, irq := range per.Interrupts {
			if irq.IRQ > maxIRQ {
				maxIRQ, maxName = irq.IRQ, irq.Name
			}
		}
	}
	if maxIRQ >= d.Interrupts {
		if d.Interrupts > 0 {
			im.notes = append(im.notes, fmt.Sprintf("%s: DnumInterrupts=%d but %s uses IRQ %d; counting %d interrupts", baseName(im.rfile), d.Interrupts, maxName, maxIRQ, maxIRQ+1))
		}
		d.Interrupts = maxIRQ + 1
	}
	return nil
}

func hasIRQ(list []zone.Interrupt, n int) bool {
	for _, i := range list {
		if i.IRQ == n {
			return true
		}
	}
	return false
}

type rawMem struct {
	x        xMemory
	start    uint64
	phys     uint64
	size     uint64
	sec      zone.Security
	explicit bool // physical attribute given
}

// memories merges CMSIS-Zone's per-alias memories (Flash_S, Flash_NS) into
// zone.Memory values keyed by physical address.
func (im *importer) memories(d *zone.Device) error {
	list := append([]xMemory(nil), im.r.Resources.Memories...)
	// .azone <partition><memory> without a parent redefine or add resource memories.
	for _, m := range im.a.Memories {
		if m.Parent != "" || m.Start == "" {
			continue
		}
		replaced := false
		for i := range list {
			if list[i].Name == m.Name {
				list[i], replaced = m, true
			}
		}
		if !replaced {
			list = append(list, m)
		}
	}
	groups := map[uint64][]rawMem{}
	var order []uint64
	for _, xm := range list {
		where := fmt.Sprintf("<memory name=%q>", xm.Name)
		if xm.Name == "" {
			return fmt.Errorf("cmsis: %s: <memory> without a name: %w", im.rfile, ErrFormat)
		}
		start, err := num(im.rfile, where, "start", xm.Start)
		if err != nil {
			return err
		}
		size, err := num(im.rfile, where, "size", xm.Size)
		if err != nil {
			return err
		}
		phys, explicit, err := optNum(im.rfile, where, "physical", xm.Physical)
		if err != nil {
			return err
		}
		if !explicit {
			phys = start
		}
		sec, err := security(im.rfile, where, xm.Security)
		if err != nil {
			return err
		}
		if _, ok := groups[phys]; !ok {
			order = append(order, phys)
		}
		groups[phys] = append(groups[phys], rawMem{x: xm, start: start, phys: phys, size: size, sec: sec, explicit: explicit})
	}
	sort.Slice(order, func(i, j int) bool { return order[i] < order[j] })
	im.alias = map[string]aliasInfo{}
	for _, ph := range order {
		g := groups[ph]
		m := &zone.Memory{Name: g[0].x.Name, Physical: ph, Size: g[0].size, Access: g[0].x.Access,
			ROM: strings.EqualFold(g[0].x.Type, "ROM")}
		if len(g) == 1 {
			m.S, m.NS, m.HasS, m.HasNS = g[0].start, g[0].start, true, true
			m.Security = g[0].sec
			im.alias[m.Name] = aliasInfo{mem: m, sec: g[0].sec}
		} else {
			// The secure alias is the one marked s or c; the other is Non-secure.
			for _, rm := range g {
				if rm.size != m.Size {
					return fmt.Errorf("cmsis: %s: memories %s and %s share physical 0x%X but differ in size: %w", im.rfile, g[0].x.Name, rm.x.Name, ph, ErrFormat)
				}
				if rm.sec == zone.Secure || rm.sec == zone.NSC {
					m.S, m.HasS = rm.start, true
					im.alias[rm.x.Name] = aliasInfo{mem: m, sec: rm.sec}
				} else {
					m.NS, m.HasNS = rm.start, true
					im.alias[rm.x.Name] = aliasInfo{mem: m, sec: rm.sec, ns: true}
					m.Name = rm.x.Name
				}
				if strings.Contains(rm.x.Access, "x") {
					m.Access = rm.x.Access
				}
				if strings.EqualFold(rm.x.Type, "ROM") {
					m.ROM = true
				}
			}
			if !m.HasS || !m.HasNS {
				return fmt.Errorf("cmsis: %s: memories at physical 0x%X: cannot tell the secure alias from the non-secure one: %w", im.rfile, ph, ErrFormat)
			}
			for _, rm := range g {
				if rm.x.Name != m.Name {
					m.Aliases = append(m.Aliases, rm.x.Name)
				}
			}
		}
		d.Memories = append(d.Memories, m)
	}
	// MPCs set the block size of the memories they cover (the largest wins).
	for _, mpc := range im.r.Resources.MPCs {
		where := fmt.Sprintf("<mpc name=%q>", mpc.Name)
		start, err := num(im.rfile, where, "start", mpc.Start)
		if err != nil {
			return err
		}
		size, err := num(im.rfile, where, "size", mpc.Size)
		if err != nil {
			return err
		}
		blk, err := num(im.rfile, where, "blk_size", mpc.BlkSize)
		if err != nil {
			return err
		}
		if blk == 0 || blk&(blk-1) != 0 {
			return fmt.Errorf("cmsis: %s: %s blk_size=0x%X is not a power of two: %w", im.rfile, where, blk, ErrFormat)
		}
		for _, m := range d.Memories {
			if m.Physical < start+size && start < m.Physical+m.Size && blk > m.Block {
				m.Block = blk
			}
		}
	}
	return nil
}

func (im *importer) partitions(p *zone.Project) error {
	for _, xm := range im.a.Memories {
		if xm.Parent == "" {
			continue // a resource memory redefinition, handled in memories
		}
		where := fmt.Sprintf("<partition><memory name=%q>", xm.Name)
		ai, ok := im.alias[xm.Parent]
		if !ok {
			return fmt.Errorf("cmsis: %s: %s: parent %q is not a memory of %s (CMSIS-Zone Z201): %w", im.afile, where, xm.Parent, baseName(im.rfile), zone.ErrReference)
		}
		off, _, err := optNum(im.afile, where, "offset", xm.Offset)
		if err != nil {
			return err
		}
		size, err := num(im.afile, where, "size", xm.Size)
		if err != nil {
			return err
		}
		sec, err := security(im.afile, where, xm.Security)
		if err != nil {
			return err
		}
		if sec == zone.Unset {
			sec = ai.sec // the parent alias's attribute (Flash_S "c" makes a veneer partition NSC)
		}
		if sec == zone.Unset && ai.ns {
			sec = zone.NonSecure
		}
		pt := &zone.Partition{Name: xm.Name, MemoryName: ai.mem.Name, Offset: off, Size: size, Security: sec,
			Access: xm.Access, Startup: boolAttr(xm.Startup)}
		switch xm.Privilege {
		case "p", "u":
			pt.Privilege = xm.Privilege
		}
		p.Partitions = append(p.Partitions, pt)
	}
	return nil
}

func (im *importer) zones(p *zone.Project) error {
	implicit := map[string]bool{}
	for _, xz := range im.a.Zones {
		where := fmt.Sprintf("<zone name=%q>", xz.Name)
		if len(xz.Assign) > MaxElements {
			return fmt.Errorf("cmsis: %s: %s: too many assignments: %w", im.afile, where, zone.ErrTooLarge)
		}
		sec, err := security(im.afile, where, xz.Security)
		if err != nil {
			return err
		}
		z := &zone.Zone{Name: xz.Name, Security: sec, Kind: zone.ZoneSecurity}
		if p.Mode == "mpu" || sec == zone.Unset {
			z.Kind = zone.ZoneMPU
		}
		if sec == zone.NSC {
			return fmt.Errorf("cmsis: %s: %s: a zone is s or n, not c: %w", im.afile, where, ErrFormat)
		}
		switch xz.Privilege {
		case "p", "u":
			z.Privilege = xz.Privilege
		}
		for _, as := range xz.Assign {
			switch {
			case as.Memory != "":
				if p.Partition(as.Memory) == nil {
					// A whole resource memory assigned directly: an implicit partition.
					ai, ok := im.alias[as.Memory]
					if !ok {
						return fmt.Errorf("cmsis: %s: %s: <assign memory=%q> names no partition or memory (CMSIS-Zone Z201): %w", im.afile, where, as.Memory, zone.ErrReference)
					}
					if !implicit[as.Memory] {
						implicit[as.Memory] = true
						s := ai.sec
						if s == zone.Unset && ai.ns {
							s = zone.NonSecure
						}
						p.Partitions = append(p.Partitions, &zone.Partition{Name: as.Memory, MemoryName: ai.mem.Name, Size: ai.mem.Size, Security: s})
					}
				}
				z.Partitions = append(z.Partitions, as.Memory)
			case as.Peripheral != "":
				z.Peripherals = append(z.Peripherals, as.Peripheral)
			}
		}
		p.Zones = append(p.Zones, z)
	}
	return nil
}
