package zone

import (
	"fmt"
	"math/bits"
	"strings"
)

// genSPU writes spu_config.h for Nordic's SPU (nRF5340): which flash and RAM
// regions are Non-secure, the NSC windows and the Non-secure peripheral IDs.
func genSPU(l *Layout) string {
	d := l.Project.Device
	var b strings.Builder
	b.WriteString(header(l, "nRF SPU attribution (nRF5340 PS, SPU chapter)"))
	b.WriteString("\n#ifndef SPU_CONFIG_H\n#define SPU_CONFIG_H\n\n")
	b.WriteString("/* Bit i set: SPU region i is Non-secure (PERM.SECATTR = 0); clear: Secure. */\n")
	nsc := map[bool]int{}
	for _, m := range d.Memories {
		reg := d.IDAURAMRegion
		kind := "RAM"
		if m.ROM {
			reg, kind = d.IDAUFlashRegion, "FLASH"
		}
		if reg == 0 {
			continue
		}
		n := int((m.Size + reg - 1) / reg)
		ns := make([]uint32, (n+31)/32)
		for _, pt := range l.Project.Partitions {
			if pt.Memory != m || pt.Security != NonSecure {
				continue
			}
			for i := pt.Offset / reg; i*reg < pt.Offset+pt.Size && int(i) < n; i++ {
				ns[i/32] |= 1 << (i % 32)
			}
		}
		fmt.Fprintf(&b, "#define SPU_%s_REGION_SIZE   0x%X\n#define SPU_%s_REGIONS       %d\n", kind, reg, kind, n)
		for w, v := range ns {
			fmt.Fprintf(&b, "#define SPU_%s_NS_MASK%d      0x%08XU\n", kind, w, v)
		}
		for _, pt := range l.Project.Partitions {
			if pt.Memory != m || pt.Security != NSC {
				continue
			}
			k := nsc[m.ROM]
			nsc[m.ROM]++
			region := (pt.Offset + pt.Size - 1) / reg
			fmt.Fprintf(&b, "/* %s: NSC window of 0x%X bytes at the top of region %d */\n", cComment(pt.Name), pt.Size, region)
			fmt.Fprintf(&b, "#define SPU_%sNSC%d_REGION   %d\n#define SPU_%sNSC%d_SIZE     %d  /* 1 = 32 bytes ... 8 = 4096 bytes */\n",
				kind, k, region, kind, k, bits.Len64(pt.Size)-5)
		}
		b.WriteString("\n")
	}
	b.WriteString("/* Non-secure peripherals: PERIPHID[id].PERM.SECATTR = 0 (id = address bits 19:12). */\n")
	var ids []string
	for _, per := range d.Peripherals {
		if l.PeripheralSecurity[per.Name] == NonSecure && per.HasNS {
			ids = append(ids, fmt.Sprintf("%d /* %s */", (per.NS>>12)&0xFF, cComment(per.Name)))
		}
	}
	fmt.Fprintf(&b, "#define SPU_NS_PERIPHERAL_IDS { %s }\n#define SPU_NS_PERIPHERAL_COUNT %d\n", strings.Join(ids, ", "), len(ids))
	b.WriteString("\n#endif\n")
	return b.String()
}
