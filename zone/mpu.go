package zone

import "sort"

// computeMPU builds and checks the MPU regions of every MPU zone (and, in an
// MPU-only project, of every zone).
func (a *analyzer) computeMPU() {
	d := a.p.Device
	for _, z := range a.p.Zones {
		if z.Kind != ZoneMPU && a.p.Mode != "mpu" {
			continue
		}
		f := "zones[" + z.Name + "]"
		if d.MPU == MPUNone || d.MPURegions == 0 {
			a.errf("Z111", z.Line, f, "device %s has no MPU for MPU zone %s", d.Name, z.Name)
			continue
		}
		var regs []MPURegion
		for _, n := range z.Partitions {
			pt := a.p.Partition(n)
			if pt == nil || pt.Memory == nil {
				continue
			}
			acc := pt.Access
			if acc == "" {
				acc = pt.Memory.Access
			}
			regs = append(regs, MPURegion{Name: pt.Name, Start: pt.Start(), Size: pt.Size, Access: acc})
		}
		var devs []MPURegion
		for _, n := range z.Peripherals {
			per := d.Peripheral(n)
			if per == nil || per.Size == 0 {
				continue
			}
			addr := per.NS
			if (z.Security.IsSecureSide() && per.HasS) || !per.HasNS {
				addr = per.S
			}
			devs = append(devs, MPURegion{Name: per.Name, Start: addr, Size: per.Size, Access: "rw", Device: true})
		}
		regs = mergeAdjacent(append(regs, devs...), d.MPU)
		budget := d.MPURegions
		if z.Security == NonSecure && d.MPURegionsNS > 0 {
			budget = d.MPURegionsNS
		}
		switch d.MPU {
		case MPUv8M:
			for _, r := range regs {
				if r.Start%32 != 0 || r.Size%32 != 0 {
					a.errf("Z-MPU-ALIGN", z.Line, f, "%s 0x%08X size 0x%X: Armv8-M MPU regions start and end on 32-byte boundaries", r.Name, r.Start, r.Size)
				}
			}
			sort.Slice(regs, func(i, j int) bool { return regs[i].Start < regs[j].Start })
			for i := 1; i < len(regs); i++ {
				if regs[i].Start < regs[i-1].Start+regs[i-1].Size {
					a.errf("Z-MPU-OVERLAP", z.Line, f, "%s overlaps %s: Armv8-M MPU regions may not overlap", regs[i].Name, regs[i-1].Name)
				}
			}
		case MPUv7M:
			for i := range regs {
				if !encodeV7(&regs[i]) {
					r := regs[i]
					roundV7(&regs[i])
					// CMSIS-Zone Z112 rounds up too; the extra bytes become accessible to the zone.
					a.warnf("Z112", z.Line, f, "%s 0x%08X size 0x%X is not an Armv7-M MPU region (a power of two >= 32 aligned to its size, or 1/8 subregions of one >= 256 bytes): rounded up to 0x%08X..0x%08X, which grants the zone 0x%X bytes it was not assigned", r.Name, r.Start, r.Size, regs[i].Start, regs[i].Limit(), regs[i].Size-r.Size)
				}
			}
		}
		if len(regs) > budget {
			a.errf("Z110", z.Line, f, "zone %s needs %d MPU regions, the %s MPU has %d", z.Name, len(regs), d.MPU, budget)
		}
		a.l.MPU[z.Name] = regs
	}
}

// mergeAdjacent joins ranges that touch and have the same access and memory
// type, when the result is still a valid region for the MPU type.
func mergeAdjacent(rs []MPURegion, t MPUType) []MPURegion {
	sort.Slice(rs, func(i, j int) bool { return rs[i].Start < rs[j].Start })
	var out []MPURegion
	for _, r := range rs {
		if n := len(out); n > 0 && out[n-1].Start+out[n-1].Size == r.Start && out[n-1].Access == r.Access && out[n-1].Device == r.Device {
			c := out[n-1]
			c.Size += r.Size
			c.Name += "+" + r.Name
			if t != MPUv7M || encodeV7(&c) {
				out[n-1] = c
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

// encodeV7 finds the smallest Armv7-M region (power of two, aligned to its
// size, with subregions when >= 256 bytes) that covers r exactly.
func encodeV7(r *MPURegion) bool {
	lo, hi := r.Start, r.Start+r.Size
	if r.Size == 0 {
		return false
	}
	for k := uint(5); k <= 32; k++ {
		size := uint64(1) << k
		base := lo &^ (size - 1)
		if base+size < hi {
			continue
		}
		if lo == base && hi == base+size {
			r.Base, r.SizeLog2, r.SRD, r.SizeField = base, k, 0, k-1
			return true
		}
		if k < 8 {
			continue
		}
		sub := size / 8
		if lo%sub != 0 || hi%sub != 0 {
			continue
		}
		var srd uint8
		for i := range uint64(8) {
			s := base + i*sub
			if s < lo || s >= hi {
				srd |= 1 << i
			}
		}
		r.Base, r.SizeLog2, r.SRD, r.SizeField = base, k, srd, k-1
		return true
	}
	return false
}

// roundV7 replaces r by the smallest Armv7-M region (with subregions) that
// covers it.
func roundV7(r *MPURegion) {
	lo, hi := r.Start, r.Start+r.Size
	for k := uint(5); k <= 32; k++ {
		size := uint64(1) << k
		base := lo &^ (size - 1)
		if base+size < hi {
			continue
		}
		sub := size
		if k >= 8 {
			sub = size / 8
		}
		nlo := lo &^ (sub - 1)
		nhi := (hi + sub - 1) &^ (sub - 1)
		c := MPURegion{Name: r.Name, Start: nlo, Size: nhi - nlo, Access: r.Access, Device: r.Device}
		if encodeV7(&c) {
			*r = c
			return
		}
	}
}
