package zone

import "sort"

// checkFlashMap checks the bootloader's areas: inside their memory, not
// overlapping, on sector boundaries, slots of one image of equal size, and
// every code partition inside a primary slot (after the image header) so the
// bootloader verifies it.
func (a *analyzer) checkFlashMap() {
	fm := a.p.FlashMap
	d := a.p.Device
	type span struct {
		lo, hi uint64
		a      *FlashArea
	}
	byMem := map[*Memory][]span{}
	sizes := map[[2]int]uint64{} // (image, role primary=0/secondary=1) -> size
	boot := 0
	for _, ar := range fm.Areas {
		f := "flash_map.areas[" + ar.Name + "]"
		m := d.Memory(ar.Memory)
		if m == nil {
			a.errf("Z-REF", ar.Line, f+".memory", "device %s has no memory %q", d.Name, ar.Memory)
			continue
		}
		if ar.Size == 0 || ar.Offset+ar.Size > m.Size {
			a.errf("Z-FLASH-RANGE", ar.Line, f, "0x%X size 0x%X is outside memory %s (size 0x%X)", ar.Offset, ar.Size, m.Name, m.Size)
			continue
		}
		sector := fm.Sector
		if sector == 0 {
			sector = m.Sector
		}
		if sector != 0 && (ar.Offset%sector != 0 || ar.Size%sector != 0) {
			a.errf("Z-FLASH-SECTOR", ar.Line, f, "offset 0x%X and size 0x%X must be multiples of the 0x%X-byte erase sector", ar.Offset, ar.Size, sector)
		}
		switch ar.Role {
		case "bootloader":
			boot++
		case "primary", "secondary":
			k := [2]int{ar.Image, 0}
			if ar.Role == "secondary" {
				k[1] = 1
			}
			if _, dup := sizes[k]; dup {
				a.errf("Z-FLASH-SLOT", ar.Line, f, "image %d has two %s slots", ar.Image, ar.Role)
			}
			sizes[k] = ar.Size
			if ar.Size <= fm.HeaderSize+fm.TrailerSize {
				a.errf("Z-FLASH-SLOT", ar.Line, f, "slot of 0x%X bytes cannot hold the 0x%X-byte header and 0x%X-byte trailer", ar.Size, fm.HeaderSize, fm.TrailerSize)
			}
		}
		byMem[m] = append(byMem[m], span{ar.Offset, ar.Offset + ar.Size, ar})
	}
	if boot > 1 {
		a.errf("Z-FLASH-SLOT", fm.Line, "flash_map", "%d bootloader areas (want at most one)", boot)
	}
	for k, sz := range sizes {
		if k[1] == 1 {
			if p, ok := sizes[[2]int{k[0], 0}]; !ok {
				a.errf("Z-FLASH-SLOT", fm.Line, "flash_map", "image %d has a secondary slot but no primary", k[0])
			} else if p != sz {
				a.errf("Z-FLASH-SLOT", fm.Line, "flash_map", "image %d: primary (0x%X) and secondary (0x%X) slots differ in size", k[0], p, sz)
			}
		}
	}
	for _, spans := range byMem {
		sort.Slice(spans, func(i, j int) bool { return spans[i].lo < spans[j].lo })
		for i := 1; i < len(spans); i++ {
			if spans[i].lo < spans[i-1].hi {
				a.errf("Z-FLASH-OVERLAP", spans[i].a.Line, "flash_map.areas["+spans[i].a.Name+"]", "overlaps area %s", spans[i-1].a.Name)
			}
		}
	}
	// Code partitions in a flash-map memory must sit inside a primary slot.
	for _, pt := range a.p.Partitions {
		if pt.Memory == nil || !pt.Executable() || pt.Size == 0 {
			continue
		}
		spans, ok := byMem[pt.Memory]
		if !ok {
			continue
		}
		inside := false
		for _, s := range spans {
			if s.a.Role == "bootloader" && pt.Offset < s.hi && pt.Offset+pt.Size > s.lo {
				if pt.Security == NonSecure {
					a.errf("Z-FLASH-BOOT", pt.Line, "partitions["+pt.Name+"]", "non-secure partition overlaps the bootloader area %s", s.a.Name)
				}
				inside = true
			}
			if s.a.Role == "primary" && pt.Offset >= s.lo+fm.HeaderSize && pt.Offset+pt.Size <= s.hi-fm.TrailerSize {
				inside = true
			}
		}
		if !inside {
			a.warnf("Z-FLASH-CODE", pt.Line, "partitions["+pt.Name+"]", "code partition is not inside a primary slot (after its 0x%X-byte header, before its trailer): the bootloader will not verify it", fm.HeaderSize)
		}
	}
}
