package zone

import (
	"sort"
	"strings"
)

// SAU geometry (Armv8-M: RBAR.BADDR and RLAR.LADDR are bits [31:5]).
const sauGranule = 32

type sauCand struct {
	lo, hi uint64 // [lo, hi)
	nsc    bool
	names  []string
	line   int
}

// computeSAU builds the SAU regions from the device's fixed regions and the
// non-secure and NSC partitions, checks their 32-byte granularity and fits
// them into the device's region budget, merging adjacent ranges of the same
// kind when needed.
func (a *analyzer) computeSAU() {
	d := a.p.Device
	var cs []sauCand
	for _, f := range d.SAUInit {
		name := f.Name
		if name == "" {
			name = "sau_init"
		}
		c := sauCand{lo: f.Start, hi: f.Start + f.Size, nsc: f.Security == NSC, names: []string{name}, line: f.Line}
		if f.Start%sauGranule != 0 || f.Size%sauGranule != 0 || f.Size == 0 {
			a.errf("Z-SAU-ALIGN", f.Line, "device.sau_init["+name+"]", "0x%08X size 0x%X: SAU regions start and end on 32-byte boundaries", f.Start, f.Size)
		}
		cs = append(cs, c)
	}
	for _, pt := range a.p.Partitions {
		if pt.Memory == nil || pt.Size == 0 || (pt.Security != NonSecure && pt.Security != NSC) {
			continue
		}
		lo := pt.Start()
		c := sauCand{lo: lo, hi: lo + pt.Size, nsc: pt.Security == NSC, names: []string{pt.Name}, line: pt.Line}
		if lo%sauGranule != 0 || pt.Size%sauGranule != 0 {
			a.errf("Z-SAU-ALIGN", pt.Line, "partitions["+pt.Name+"]", "%s range 0x%08X..0x%08X: the SAU needs start and size multiples of 32 bytes", pt.Security, lo, lo+pt.Size-1)
		}
		cs = append(cs, c)
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].lo < cs[j].lo })
	// Overlapping ranges of one kind collapse into one region; of two kinds they conflict.
	var merged []sauCand
	for _, c := range cs {
		if n := len(merged); n > 0 && c.lo < merged[n-1].hi {
			last := &merged[n-1]
			if last.nsc != c.nsc {
				a.errf("Z-SAU-CONFLICT", c.line, "partitions", "%s overlaps %s, and one is nsc while the other is non-secure", strings.Join(c.names, "+"), strings.Join(last.names, "+"))
			}
			last.hi = max(last.hi, c.hi)
			last.names = append(last.names, c.names...)
			continue
		}
		merged = append(merged, c)
	}
	budget := d.SAURegions
	if len(merged) > budget {
		var fit []sauCand
		for _, c := range merged {
			if n := len(fit); n > 0 && fit[n-1].hi == c.lo && fit[n-1].nsc == c.nsc {
				fit[n-1].hi = c.hi
				fit[n-1].names = append(fit[n-1].names, c.names...)
				continue
			}
			fit = append(fit, c)
		}
		if len(fit) < len(merged) {
			a.warnf("Z-SAU-MERGED", 0, "sau", "%d ranges need SAU regions; adjacent ones were merged into %d", len(merged), len(fit))
		}
		merged = fit
	}
	if len(merged) > budget {
		var list []string
		for _, c := range merged {
			list = append(list, strings.Join(c.names, "+"))
		}
		a.errf("Z110", 0, "sau", "%d SAU regions needed (%s) but device %s has %d: make non-secure ranges adjacent so they merge", len(merged), strings.Join(list, ", "), d.Name, budget)
	}
	for _, c := range merged {
		a.l.SAU = append(a.l.SAU, SAURegion{Start: c.lo, Limit: c.hi - 1, NSC: c.nsc, Names: c.names})
	}
}

// checkMPC checks the block granularity of memory protection controllers (or
// SPU regions): a block is either Secure or Non-secure, so a block may not
// hold both a non-secure partition and a secure one. A non-secure partition
// that does not end on a block boundary makes the unassigned rest of its
// block non-secure too (a warning).
func (a *analyzer) checkMPC() {
	d := a.p.Device
	for _, m := range d.Memories {
		blk := m.Block
		if d.IDAU == IDAUNRFSPU || d.IDAU == IDAUSAML11 {
			continue // checked by the IDAU's own rules
		}
		if blk == 0 {
			continue
		}
		a.checkBlocks(m, blk, "Z-MPC-BLOCK", "MPC block")
	}
}

func (a *analyzer) checkBlocks(m *Memory, blk uint64, code, what string) {
	var ns, sec []*Partition
	for _, pt := range a.p.Partitions {
		if pt.Memory != m || pt.Size == 0 || pt.Offset+pt.Size > m.Size {
			continue
		}
		if pt.Security == NonSecure {
			ns = append(ns, pt)
		} else {
			sec = append(sec, pt)
		}
	}
	for _, n := range ns {
		lo := n.Physical() &^ (blk - 1)
		hi := (n.Physical() + n.Size + blk - 1) &^ (blk - 1)
		conflict := false
		for _, s := range sec {
			if s.Physical() < hi && s.Physical()+s.Size > lo {
				conflict = true
				a.errf(code, n.Line, "partitions["+n.Name+"]", "non-secure partition shares a %s of 0x%X bytes with %s partition %s: align the boundary to 0x%X", what, blk, s.Security, s.Name, blk)
			}
		}
		if !conflict && (n.Physical()%blk != 0 || (n.Physical()+n.Size)%blk != 0) {
			a.warnf(code, n.Line, "partitions["+n.Name+"]", "not aligned to the %s size 0x%X: the unassigned rest of its first or last block becomes non-secure too", what, blk)
		}
	}
}
