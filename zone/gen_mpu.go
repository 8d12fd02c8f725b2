package zone

import (
	"fmt"
	"sort"
	"strings"
)

// genMPU writes mpu_config.h: per MPU zone, a table of regions in CMSIS's
// ARM_MPU_Region_t shape (Armv8-M: RBAR/RLAR via ARM_MPU_RBAR/ARM_MPU_RLAR;
// Armv7-M: RBAR/RASR via ARM_MPU_RBAR/ARM_MPU_RASR). Attribute index 0 is
// Device memory, 1 normal memory (program it with ARM_MPU_SetMemAttr).
func genMPU(l *Layout) string {
	d := l.Project.Device
	var b strings.Builder
	b.WriteString(header(l, "MPU regions per zone (needs the CMSIS core header for the ARM_MPU_ macros)"))
	b.WriteString("\n#ifndef MPU_CONFIG_H\n#define MPU_CONFIG_H\n\n")
	names := make([]string, 0, len(l.MPU))
	for n := range l.MPU {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, zn := range names {
		regs := l.MPU[zn]
		id := strings.ToUpper(CName(zn))
		priv := false // privileged-only regions for zones marked privileged
		if z := l.Project.Zone(zn); z != nil && z.Privilege == "p" {
			priv = true
		}
		fmt.Fprintf(&b, "/* Zone %s: %d regions */\n#define MPU_%s_REGION_COUNT %d\n#define MPU_%s_REGIONS { \\\n", cComment(zn), len(regs), id, len(regs), id)
		for i, r := range regs {
			ro := btoi(!strings.Contains(r.Access, "w"))
			xn := btoi(!strings.Contains(r.Access, "x") || r.Device)
			attr := 1
			if r.Device {
				attr = 0
			}
			switch d.MPU {
			case MPUv8M:
				fmt.Fprintf(&b, "  { ARM_MPU_RBAR(0x%08XUL, ARM_MPU_SH_NON, %d, %d, %d), ARM_MPU_RLAR(0x%08XUL, %d) }, /* %s */ \\\n",
					r.Start, ro, btoi(!priv), xn, r.Limit()&^0x1F, attr, cComment(r.Name))
			default:
				ap := 3 // full access
				switch {
				case priv && ro == 1:
					ap = 5 // privileged read-only
				case priv:
					ap = 1 // privileged read-write
				case ro == 1:
					ap = 6 // read-only
				}
				tex, c, bb, s := 0, 1, 0, 0
				if r.Device {
					tex, c, bb, s = 0, 0, 1, 1
				}
				fmt.Fprintf(&b, "  { ARM_MPU_RBAR(%d, 0x%08XUL), ARM_MPU_RASR(%d, %d, %d, %d, %d, %d, 0x%02X, %d) }, /* %s: 2^%d bytes */ \\\n",
					i, r.Base, xn, ap, tex, s, c, bb, r.SRD, r.SizeField, cComment(r.Name), r.SizeLog2)
			}
		}
		b.WriteString("}\n\n")
	}
	b.WriteString("#endif\n")
	return b.String()
}
