package zone

import (
	"strconv"
)

// peripheralsAndInterrupts assigns every peripheral and interrupt to exactly
// one security state and computes the NVIC ITNS words.
func (a *analyzer) peripheralsAndInterrupts() {
	d := a.p.Device
	// Peripherals.
	for _, z := range a.p.Zones {
		if z.Kind != ZoneSecurity {
			continue
		}
		for i, name := range z.Peripherals {
			ln := lineAt(z.PeripheralLines, i, z.Line)
			f := "zones[" + z.Name + "].peripherals"
			per := d.Peripheral(name)
			if per == nil {
				a.errf("Z202", ln, f, "device %s has no peripheral %q", d.Name, name)
				continue
			}
			if prev, ok := a.l.PeripheralZone[name]; ok {
				if prev == z.Name {
					a.warnf("Z-PERIPH-TWICE", ln, f, "peripheral %s is listed twice in zone %s", name, prev)
				} else {
					a.errf("Z-PERIPH-TWICE", ln, f, "peripheral %s is already assigned to zone %s", name, prev)
				}
				continue
			}
			a.l.PeripheralZone[name] = z.Name
			a.l.PeripheralSecurity[name] = z.Security
			if z.Security == NonSecure && !per.HasNS {
				a.errf("Z-PERIPH-ALIAS", ln, f, "peripheral %s has no non-secure address", name)
			}
			if z.Security == Secure && !per.HasS {
				a.errf("Z-PERIPH-ALIAS", ln, f, "peripheral %s has no secure address", name)
			}
		}
	}
	for _, per := range d.Peripherals {
		if _, ok := a.l.PeripheralZone[per.Name]; ok {
			continue
		}
		a.l.PeripheralSecurity[per.Name] = Secure
		if !a.p.UnassignedSecure {
			a.errf("Z-PERIPH-UNASSIGNED", 0, "peripherals", "peripheral %s is in no zone (list it in a zone, or set unassigned: secure)", per.Name)
		}
	}
	// Interrupts: those of peripherals follow them; explicit ones must agree.
	nIRQ := d.Interrupts
	target := map[int]Security{}
	owner := map[int]string{} // IRQ -> the peripheral that decided its target
	byName := map[string]int{}
	// Assigned peripherals decide first; an unassigned (default Secure)
	// peripheral sharing a line with an assigned one does not override it.
	for pass := 0; pass < 2; pass++ {
		for _, per := range d.Peripherals {
			_, assigned := a.l.PeripheralZone[per.Name]
			if assigned != (pass == 0) {
				continue
			}
			ps := a.l.PeripheralSecurity[per.Name]
			for _, irq := range per.Interrupts {
				byName[irq.Name] = irq.IRQ
				if irq.IRQ >= nIRQ {
					nIRQ = irq.IRQ + 1
				}
				prev, taken := owner[irq.IRQ]
				switch {
				case !taken:
					owner[irq.IRQ] = per.Name
					target[irq.IRQ] = ps
				case pass == 0 && prev != per.Name && target[irq.IRQ] != ps:
					a.errf("Z-IRQ-MISMATCH", per.Line, "peripherals", "IRQ %d is shared by %s (%s) and %s (%s): a shared interrupt line has one target state", irq.IRQ, prev, target[irq.IRQ], per.Name, ps)
				}
			}
		}
	}
	explicit := map[int]string{}
	for _, z := range a.p.Zones {
		if z.Kind != ZoneSecurity {
			continue
		}
		for i, ref := range z.Interrupts {
			ln := lineAt(z.InterruptLines, i, z.Line)
			f := "zones[" + z.Name + "].interrupts"
			irq, ok := byName[ref]
			if !ok {
				n, err := strconv.Atoi(ref)
				if err != nil || n < 0 || n >= 496 || (d.Interrupts > 0 && n >= d.Interrupts) {
					a.errf("Z203", ln, f, "no interrupt %q on device %s", ref, d.Name)
					continue
				}
				irq = n
			}
			if prev, ok := explicit[irq]; ok {
				a.errf("Z-IRQ-TWICE", ln, f, "IRQ %d is already assigned to zone %s", irq, prev)
				continue
			}
			explicit[irq] = z.Name
			if per, ok := owner[irq]; ok {
				if ps := a.l.PeripheralSecurity[per]; ps != z.Security {
					a.errf("Z-IRQ-MISMATCH", ln, f, "IRQ %d belongs to peripheral %s, which is %s, but zone %s is %s: a peripheral and its interrupt must be in the same security state", irq, per, ps, z.Name, z.Security)
				}
			}
			target[irq] = z.Security
			if irq >= nIRQ {
				nIRQ = irq + 1
			}
		}
	}
	words := (nIRQ + 31) / 32
	a.l.ITNS = make([]uint32, words)
	for irq, s := range target {
		if s == NonSecure {
			a.l.ITNS[irq/32] |= 1 << (irq % 32)
		}
	}
}

// peripheralsMPUOnly checks references in an MPU-only project, where a
// peripheral may be shared by several zones.
func (a *analyzer) peripheralsMPUOnly() {
	d := a.p.Device
	for _, z := range a.p.Zones {
		for i, name := range z.Peripherals {
			if d.Peripheral(name) == nil {
				a.errf("Z202", lineAt(z.PeripheralLines, i, z.Line), "zones["+z.Name+"].peripherals", "device %s has no peripheral %q", d.Name, name)
			}
		}
		for i, n := range z.Partitions {
			if a.p.Partition(n) == nil {
				a.errf("Z201", lineAt(z.PartitionLines, i, z.Line), "zones["+z.Name+"].partitions", "no partition named %q", n)
			}
		}
	}
}
