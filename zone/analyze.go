package zone

import (
	"fmt"
	"regexp"
	"sort"
	"sync"
)

// cLvalue is what a vendor setup register may look like: it is written into
// generated C, so nothing else is accepted.
var cLvalue = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\[[0-9]{1,4}\])?((->|\.)[A-Za-z_][A-Za-z0-9_]*(\[[0-9]{1,4}\])?){0,4}$`)
})

// analyzer collects diagnostics while Analyze runs.
type analyzer struct {
	l *Layout
	p *Project
}

func (a *analyzer) diag(sev Severity, code string, line int, field, format string, args ...any) {
	a.l.Diagnostics = append(a.l.Diagnostics, Diagnostic{Severity: sev, Level: sev.String(), Code: code,
		File: a.p.File, Line: line, Field: field, Message: fmt.Sprintf(format, args...)})
}

func (a *analyzer) errf(code string, line int, field, format string, args ...any) {
	a.diag(Error, code, line, field, format, args...)
}

func (a *analyzer) warnf(code string, line int, field, format string, args ...any) {
	a.diag(Warning, code, line, field, format, args...)
}

// Analyze resolves and checks a project and computes its layout. It never
// fails outright: problems are diagnostics, and Layout.Err reports whether
// any of them is an error. Analyze fills in Partition.Memory and resolves
// every partition's Security.
func Analyze(p *Project) *Layout {
	l := &Layout{Project: p, PeripheralZone: map[string]string{}, PeripheralSecurity: map[string]Security{},
		PartitionZone: map[string]string{}, MPU: map[string][]MPURegion{}, IRQNames: map[int]string{}}
	a := &analyzer{l: l, p: p}
	d := p.Device
	if d == nil {
		a.errf("Z-DEVICE", 0, "device", "no device description")
		return l
	}
	tz := p.Mode != "mpu"
	if tz && !d.TrustZone {
		a.errf("Z-DEVICE", 0, "mode", "device %s has no TrustZone: use mode: mpu", d.Name)
	}
	for _, n := range p.Notes {
		a.warnf("Z-IMPORT", 0, "", "%s", n)
	}
	a.checkDevice()
	a.checkZones()
	a.resolvePartitions()
	a.checkPartitions()
	if tz && d.TrustZone {
		a.checkSecurityAssignment()
		a.peripheralsAndInterrupts()
		switch {
		case d.SAURegions > 0:
			a.computeSAU()
		case d.IDAU == IDAUNRFSPU:
			a.checkNRFSPU()
		case d.IDAU == IDAUSAML11:
			a.checkSAML11()
		default:
			a.errf("Z-IDAU", d.Line, "device.idau", "device %s has no SAU regions and no known IDAU kind: nothing can make memory Non-secure", d.Name)
		}
		a.checkMPC()
	} else {
		a.peripheralsMPUOnly()
	}
	a.computeMPU()
	if p.FlashMap != nil {
		a.checkFlashMap()
	}
	sort.SliceStable(l.Diagnostics, func(i, j int) bool {
		if l.Diagnostics[i].Severity != l.Diagnostics[j].Severity {
			return l.Diagnostics[i].Severity < l.Diagnostics[j].Severity
		}
		return l.Diagnostics[i].Line < l.Diagnostics[j].Line
	})
	return l
}

// checkDevice checks the device description itself: memories, aliases, peripherals.
func (a *analyzer) checkDevice() {
	d := a.p.Device
	names := map[string]bool{}
	for _, m := range d.Memories {
		for _, n := range append([]string{m.Name}, m.Aliases...) {
			if names[n] {
				a.errf("Z-DEVICE", m.Line, "memories["+n+"]", "memory name %q is used twice", n)
			}
			names[n] = true
		}
		for _, alias := range [][2]any{{m.HasS, m.S}, {m.HasNS, m.NS}} {
			if alias[0].(bool) && alias[1].(uint64)+m.Size > maxAddr {
				a.errf("Z-DEVICE", m.Line, "memories["+m.Name+"]", "0x%X + size 0x%X runs past 4 GiB", alias[1], m.Size)
			}
		}
		if m.MPCBase != 0 && m.Block == 0 {
			a.errf("Z-DEVICE", m.Line, "memories["+m.Name+"].mpc_base", "an MPC needs its block size (block) for the checks")
		}
		if m.Block != 0 && m.Block&(m.Block-1) != 0 {
			a.errf("Z-DEVICE", m.Line, "memories["+m.Name+"].block", "block size 0x%X is not a power of two", m.Block)
		}
	}
	// Overlaps between memories' aliases.
	type span struct {
		lo, hi uint64
		name   string
		line   int
	}
	var spans []span
	for _, m := range d.Memories {
		if m.HasS {
			spans = append(spans, span{m.S, m.S + m.Size, m.Name, m.Line})
		}
		if m.HasNS && (!m.HasS || m.NS != m.S) {
			spans = append(spans, span{m.NS, m.NS + m.Size, m.Name, m.Line})
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].lo < spans[j].lo })
	for i := 1; i < len(spans); i++ {
		if spans[i].lo < spans[i-1].hi {
			a.errf("Z-DEVICE", spans[i].line, "memories["+spans[i].name+"]", "overlaps memory %s (0x%08X..0x%08X)", spans[i-1].name, spans[i-1].lo, spans[i-1].hi-1)
		}
	}
	pn := map[string]bool{}
	irqs := map[int]string{}
	for _, per := range d.Peripherals {
		if pn[per.Name] {
			a.errf("Z-DEVICE", per.Line, "peripherals["+per.Name+"]", "peripheral name used twice")
		}
		pn[per.Name] = true
		for _, s := range per.Setup {
			if !cLvalue().MatchString(s.Register) {
				a.errf("Z-DEVICE", per.Line, "peripherals["+per.Name+"].setup", "register %q is not a C register name like GTZC_TZSC->SECCFGR1", s.Register)
			}
		}
		for _, irq := range per.Interrupts {
			if d.Interrupts > 0 && irq.IRQ >= d.Interrupts {
				a.errf("Z-IRQ-RANGE", per.Line, "peripherals["+per.Name+"].interrupts", "IRQ %d (%s) is beyond the device's %d interrupts", irq.IRQ, irq.Name, d.Interrupts)
			}
			irqs[irq.IRQ] = per.Name
			a.l.IRQNames[irq.IRQ] = irq.Name
		}
	}
}

func (a *analyzer) checkZones() {
	seen := map[string]bool{}
	for _, z := range a.p.Zones {
		if seen[z.Name] {
			a.errf("Z-ZONE", z.Line, "zones["+z.Name+"]", "zone name used twice")
		}
		seen[z.Name] = true
		if z.Kind == ZoneMPU && z.Parent != "" {
			pz := a.p.Zone(z.Parent)
			switch {
			case pz == nil:
				a.errf("Z-REF", z.Line, "zones["+z.Name+"].parent", "no zone named %q", z.Parent)
			case pz.Kind != ZoneSecurity:
				a.errf("Z-ZONE", z.Line, "zones["+z.Name+"].parent", "parent %q is not a security zone", z.Parent)
			default:
				if z.Security == Unset {
					z.Security = pz.Security
				} else if z.Security != pz.Security {
					a.errf("Z-ZONE", z.Line, "zones["+z.Name+"].security", "is %s but its parent %s is %s", z.Security, pz.Name, pz.Security)
				}
			}
		}
	}
	if a.p.Mode != "mpu" && len(a.p.Zones) > 0 && len(a.p.SecurityZones(Secure)) == 0 {
		a.errf("Z-ZONE", 0, "zones", "no secure zone: a TrustZone project needs one for the secure image")
	}
}

// resolvePartitions binds partitions to memories and resolves their security.
func (a *analyzer) resolvePartitions() {
	d := a.p.Device
	// The security zone of each partition, for Unset partitions.
	zoneOf := map[string]*Zone{}
	for _, z := range a.p.Zones {
		if z.Kind != ZoneSecurity {
			continue
		}
		for _, n := range z.Partitions {
			if _, ok := zoneOf[n]; !ok {
				zoneOf[n] = z
			}
		}
	}
	seen := map[string]bool{}
	for _, pt := range a.p.Partitions {
		f := "partitions[" + pt.Name + "]"
		if seen[pt.Name] {
			a.errf("Z-PART", pt.Line, f, "partition name used twice")
		}
		seen[pt.Name] = true
		m := d.Memory(pt.MemoryName)
		if m == nil {
			a.errf("Z-REF", pt.Line, f+".memory", "device %s has no memory %q", d.Name, pt.MemoryName)
			continue
		}
		pt.Memory = m
		if pt.Security == Unset && m.Security != Unset {
			pt.Security = m.Security
		}
		if pt.Security == Unset {
			if z := zoneOf[pt.Name]; z != nil {
				pt.Security = z.Security
			}
		}
		if pt.Security == Unset {
			pt.Security = Secure
		}
	}
}

func (a *analyzer) checkPartitions() {
	type span struct {
		lo, hi uint64
		p      *Partition
	}
	byMem := map[*Memory][]span{}
	for _, pt := range a.p.Partitions {
		m := pt.Memory
		if m == nil {
			continue
		}
		f := "partitions[" + pt.Name + "]"
		if pt.Size == 0 {
			a.errf("Z101", pt.Line, f+".size", "size is zero")
			continue
		}
		if pt.Offset+pt.Size > m.Size || pt.Offset >= m.Size {
			a.errf("Z103", pt.Line, f, "0x%X..0x%X is outside memory %s (size 0x%X)", pt.Offset, pt.Offset+pt.Size-1, m.Name, m.Size)
			continue
		}
		if _, ok := m.AddressFor(pt.Security, pt.Offset); !ok {
			a.errf("Z-SEC-MEMORY", pt.Line, f+".security", "memory %s has no %s alias", m.Name, aliasName(pt.Security))
		}
		switch {
		case m.Security == NonSecure && pt.Security != NonSecure,
			m.Security == Secure && pt.Security != Secure,
			m.Security == NSC && pt.Security == NonSecure:
			a.errf("Z-SEC-MEMORY", pt.Line, f+".security", "%s partition in memory %s, which is %s only", pt.Security, m.Name, memRestriction(m.Security))
		}
		if pt.Security == NSC && !pt.Executable() {
			a.errf("Z-NSC-CODE", pt.Line, f, "an NSC partition holds SG veneers and must be executable code memory (memory %s is not)", m.Name)
		}
		byMem[m] = append(byMem[m], span{pt.Offset, pt.Offset + pt.Size, pt})
	}
	for _, spans := range byMem {
		sort.Slice(spans, func(i, j int) bool { return spans[i].lo < spans[j].lo })
		for i := 1; i < len(spans); i++ {
			for j := 0; j < i; j++ {
				if spans[i].lo < spans[j].hi {
					code := "Z108"
					if spans[i].hi <= spans[j].hi {
						code = "Z107"
					}
					a.errf(code, spans[i].p.Line, "partitions["+spans[i].p.Name+"]", "overlaps partition %s in memory %s (offsets 0x%X..0x%X)", spans[j].p.Name, spans[j].p.Memory.Name, spans[j].lo, spans[j].hi-1)
				}
			}
		}
	}
}

func aliasName(s Security) string {
	if s == NonSecure {
		return "non-secure"
	}
	return "secure"
}

func memRestriction(s Security) string {
	if s == NSC {
		return "secure or nsc"
	}
	return s.String()
}

// checkSecurityAssignment: each partition in exactly one security zone of
// its own state; NSC in a secure zone.
func (a *analyzer) checkSecurityAssignment() {
	count := map[string]int{}
	for _, z := range a.p.Zones {
		for i, n := range z.Partitions {
			pt := a.p.Partition(n)
			f := "zones[" + z.Name + "].partitions"
			ln := lineAt(z.PartitionLines, i, z.Line)
			if pt == nil {
				a.errf("Z201", ln, f, "no partition named %q", n)
				continue
			}
			if z.Kind != ZoneSecurity {
				if z.Security != Unset && pt.Security.IsSecureSide() != z.Security.IsSecureSide() {
					a.errf("Z-ZONE-SECURITY", ln, f, "%s partition %s in MPU zone %s of the %s world", pt.Security, pt.Name, z.Name, z.Security)
				}
				continue
			}
			count[n]++
			if count[n] == 2 {
				a.errf("Z-PART-TWICE", ln, f, "partition %s is already in security zone %s", n, a.l.PartitionZone[n])
			}
			if count[n] == 1 {
				a.l.PartitionZone[n] = z.Name
			}
			if pt.Security.IsSecureSide() != (z.Security == Secure) {
				a.errf("Z-ZONE-SECURITY", ln, f, "%s partition %s cannot be in %s zone %s", pt.Security, pt.Name, z.Security, z.Name)
			}
		}
	}
	for _, pt := range a.p.Partitions {
		if count[pt.Name] == 0 && pt.Memory != nil {
			a.warnf("Z-PART-UNASSIGNED", pt.Line, "partitions["+pt.Name+"]", "not assigned to any security zone")
		}
	}
	hasNS := len(a.p.SecurityZones(NonSecure)) > 0
	hasNSC := false
	for _, pt := range a.p.Partitions {
		hasNSC = hasNSC || pt.Security == NSC
	}
	if hasNS && !hasNSC {
		a.warnf("Z-NSC-MISSING", 0, "partitions", "no nsc partition: the non-secure image cannot call secure functions")
	}
}

func lineAt(lines []int, i, def int) int {
	if i < len(lines) && lines[i] > 0 {
		return lines[i]
	}
	return def
}
