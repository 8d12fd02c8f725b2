package zone

// checkNRFSPU applies Nordic nRF5340's SPU rules: flash and RAM are split
// into fixed regions (16 KiB and 8 KiB) each Secure or Non-secure; an NSC
// window of 32..4096 bytes (a power of two) sits at the top of one Secure
// flash or RAM region (SPU FLASHNSC/RAMNSC).
func (a *analyzer) checkNRFSPU() {
	d := a.p.Device
	nscPerKind := map[bool]int{}
	for _, m := range d.Memories {
		reg := d.IDAURAMRegion
		if m.ROM {
			reg = d.IDAUFlashRegion
		}
		if reg == 0 {
			continue
		}
		a.checkBlocks(m, reg, "Z-SPU-REGION", "SPU region")
		for _, pt := range a.p.Partitions {
			if pt.Memory != m || pt.Security != NSC {
				continue
			}
			f := "partitions[" + pt.Name + "]"
			nscPerKind[m.ROM]++
			if pt.Size < 32 || pt.Size > 4096 || pt.Size&(pt.Size-1) != 0 {
				a.errf("Z-SPU-NSC", pt.Line, f+".size", "SPU NSC size 0x%X: must be a power of two from 32 to 4096 bytes", pt.Size)
			}
			if (pt.Offset+pt.Size)%reg != 0 {
				a.errf("Z-SPU-NSC", pt.Line, f, "SPU NSC windows sit at the top of a 0x%X-byte region: end 0x%X is not on a region boundary", reg, pt.Offset+pt.Size)
			}
		}
	}
	for rom, n := range nscPerKind {
		if n > 2 {
			kind := "RAM"
			if rom {
				kind = "flash"
			}
			a.errf("Z-SPU-NSC", 0, "partitions", "%d %s NSC partitions: the SPU has 2 (FLASHNSC/RAMNSC[0..1])", n, kind)
		}
	}
}

// checkSAML11 applies Microchip SAM L11's fuse-set IDAU: each memory is
// Secure from its start up to a boundary and Non-secure above it; the NSC
// part is the top of the Secure part, in 32-byte units; boundaries are
// multiples of the device's granules (flash and data flash 256 bytes, RAM 128).
func (a *analyzer) checkSAML11() {
	d := a.p.Device
	for _, m := range d.Memories {
		gran := d.IDAURAMRegion
		if m.ROM {
			gran = d.IDAUFlashRegion
		}
		var topSecure, lowNS uint64 = 0, m.Size
		var nsc *Partition
		for _, pt := range a.p.Partitions {
			if pt.Memory != m || pt.Size == 0 {
				continue
			}
			end := pt.Offset + pt.Size
			if pt.Security == NonSecure {
				lowNS = min(lowNS, pt.Offset)
			} else {
				topSecure = max(topSecure, end)
			}
			if pt.Security == NSC {
				if nsc != nil {
					a.errf("Z-SAML11", pt.Line, "partitions["+pt.Name+"]", "only one NSC range per memory (ANSC/BNSC)")
				}
				nsc = pt
				if pt.Size%32 != 0 || pt.Offset%32 != 0 {
					a.errf("Z-SAML11", pt.Line, "partitions["+pt.Name+"]", "NSC size and offset are counted in 32-byte units")
				}
			}
		}
		if topSecure > lowNS {
			a.errf("Z-SAML11", m.Line, "memories["+m.Name+"]", "secure partitions must all sit below the non-secure ones (secure up to 0x%X, non-secure from 0x%X)", topSecure, lowNS)
		}
		if gran != 0 && topSecure%gran != 0 {
			a.errf("Z-SAML11", m.Line, "memories["+m.Name+"]", "the secure/non-secure boundary 0x%X is not a multiple of 0x%X", topSecure, gran)
		}
		if nsc != nil && nsc.Offset+nsc.Size != topSecure {
			a.errf("Z-SAML11", nsc.Line, "partitions["+nsc.Name+"]", "the NSC range must be the top of the secure part (ends at 0x%X, secure part ends at 0x%X)", nsc.Offset+nsc.Size, topSecure)
		}
	}
}
