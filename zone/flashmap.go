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
	boot, scratch := 0, 0
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
		case "scratch":
			scratch++
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
	if boot == 0 {
		a.warnf("Z-FLASH-BOOT", fm.Line, "flash_map", "no bootloader area: flash_map.yaml for rampart boot is not generated")
	}
	for i := range sizes {
		if i[0] >= len(sizes) {
			a.errf("Z-FLASH-SLOT", fm.Line, "flash_map", "image numbers must count from 0 without gaps (found image %d)", i[0])
		}
	}
	if m := d.Memory(fm.Memory); m != nil {
		if s := a.flashSector(); s != 0 && m.Size%s != 0 {
			a.errf("Z-FLASH-SECTOR", fm.Line, "flash_map.sector", "memory %s (0x%X bytes) is not a whole number of 0x%X-byte sectors", m.Name, m.Size, s)
		}
	} else {
		a.errf("Z-REF", fm.Line, "flash_map.memory", "device %s has no memory %q", d.Name, fm.Memory)
	}
	if fm.Strategy == "swap-scratch" && scratch != 1 {
		a.errf("Z-FLASH-SLOT", fm.Line, "flash_map", "swap-scratch needs one scratch area (found %d)", scratch)
	}
	if boot > 1 {
		a.errf("Z-FLASH-SLOT", fm.Line, "flash_map", "%d bootloader areas (want at most one)", boot)
	}
	for k, sz := range sizes {
		if k[1] == 1 {
			if p, ok := sizes[[2]int{k[0], 0}]; !ok {
				a.errf("Z-FLASH-SLOT", fm.Line, "flash_map", "image %d has a secondary slot but no primary", k[0])
			} else if fm.Strategy == "swap-offset" && sz != p && sz != p+a.flashSector() {
				a.errf("Z-FLASH-SLOT", fm.Line, "flash_map", "image %d: with swap-offset the secondary slot (0x%X) is as large as the primary (0x%X) or one sector larger: the update is written one sector into it", k[0], sz, p)
			} else if fm.Strategy != "swap-move" && fm.Strategy != "swap-offset" && p != sz {
				a.errf("Z-FLASH-SLOT", fm.Line, "flash_map", "image %d: with %s the primary slot (0x%X) is as large as the secondary (0x%X): MCUboot exchanges or copies whole slots", k[0], fm.Strategy, p, sz)
			} else if fm.Strategy == "swap-move" && p != sz && p != sz+a.flashSector() {
				a.errf("Z-FLASH-SLOT", fm.Line, "flash_map", "image %d: with swap-move the primary slot (0x%X) is as large as the secondary (0x%X) or one sector larger", k[0], p, sz)
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

// flashSector is the flash map's sector size, else its memory's.
func (a *analyzer) flashSector() uint64 {
	fm := a.p.FlashMap
	if fm.Sector != 0 {
		return fm.Sector
	}
	if m := a.p.Device.Memory(fm.Memory); m != nil {
		return m.Sector
	}
	return 0
}
