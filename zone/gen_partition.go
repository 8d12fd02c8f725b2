package zone

import (
	"fmt"
	"sort"
	"strings"
)

// genPartitionHeader writes partition_<device>.h with the macros of CMSIS's
// partition_ARMCM33.h (SAU_INIT_*, NVIC_INIT_ITNS*, SCB and FPU settings),
// plus rampart_tz_setup(), which applies them with plain register writes so
// the header works without the CMSIS core headers.
func genPartitionHeader(l *Layout) string {
	d := l.Project.Device
	guard := "PARTITION_" + strings.ToUpper(CName(d.Name)) + "_H"
	var b strings.Builder
	b.WriteString(header(l, "CMSIS TrustZone partition setup"))
	fmt.Fprintf(&b, "\n#ifndef %s\n#define %s\n\n", guard, guard)
	b.WriteString("/* Security Attribution Unit: memory the SAU does not cover is Secure. */\n")
	enable, allns := 1, 0
	if d.SAURegions == 0 {
		enable, allns = 0, 1
		b.WriteString("/* This device has no SAU regions: the SAU stays disabled with ALLNS = 1 and its\n * IDAU decides (see spu_config.h or the vendor attribution settings). */\n")
	}
	fmt.Fprintf(&b, "#define SAU_INIT_CTRL          1\n#define SAU_INIT_CTRL_ENABLE   %d\n#define SAU_INIT_CTRL_ALLNS    %d\n", enable, allns)
	max := 8
	if d.SAURegions == 4 {
		max = 4
	}
	fmt.Fprintf(&b, "#define SAU_REGIONS_MAX        %d   /* device %s implements %d */\n\n", max, cComment(d.Name), d.SAURegions)
	for n := 0; n < max; n++ {
		var r SAURegion
		on := n < len(l.SAU)
		if on {
			r = l.SAU[n]
			kind := "Non-secure"
			if r.NSC {
				kind = "Secure, Non-secure callable"
			}
			fmt.Fprintf(&b, "/* SAU region %d: %s: %s */\n", n, kind, cComment(strings.Join(r.Names, ", ")))
		} else {
			fmt.Fprintf(&b, "/* SAU region %d: unused */\n", n)
		}
		nsc := 0
		if r.NSC {
			nsc = 1
		}
		fmt.Fprintf(&b, "#define SAU_INIT_REGION%d      %d\n", n, btoi(on))
		fmt.Fprintf(&b, "#define SAU_INIT_START%d       0x%08X   /* start address */\n", n, r.Start)
		fmt.Fprintf(&b, "#define SAU_INIT_END%d         0x%08X   /* base of the last 32-byte block */\n", n, r.End())
		fmt.Fprintf(&b, "#define SAU_INIT_NSC%d         %d\n\n", n, nsc)
	}
	b.WriteString(`/* System control (values of CMSIS's partition_ARMCM33.h template). */
#define SCB_CSR_AIRCR_INIT           1
#define SCB_CSR_DEEPSLEEPS_VAL       1
#define SCB_AIRCR_SYSRESETREQS_VAL   1
#define SCB_AIRCR_PRIS_VAL           1
#define SCB_AIRCR_BFHFNMINS_VAL      0

/* Floating point: Non-secure code may use the FPU. */
#define TZ_FPU_NS_USAGE              1
#define SCB_NSACR_CP10_11_VAL        3
#define FPU_FPCCR_TS_VAL             0
#define FPU_FPCCR_CLRONRETS_VAL      0
#define FPU_FPCCR_CLRONRET_VAL       1

/* Interrupt targets (NVIC_ITNS): bit set = the interrupt targets Non-secure state. */
`)
	for w, v := range l.ITNS {
		var names []string
		for i := 0; i < 32; i++ {
			if v&(1<<i) != 0 {
				irq := 32*w + i
				n := l.IRQNames[irq]
				if n == "" {
					n = "IRQ"
				}
				names = append(names, fmt.Sprintf("%d %s", irq, n))
			}
		}
		if len(names) > 0 {
			fmt.Fprintf(&b, "/* Non-secure: %s */\n", cComment(strings.Join(names, ", ")))
		}
		fmt.Fprintf(&b, "#define NVIC_INIT_ITNS%d         %d\n#define NVIC_INIT_ITNS%d_VAL     0x%08X\n", w, btoi(v != 0), w, v)
	}
	fmt.Fprintf(&b, "#define RAMPART_NVIC_ITNS_WORDS  %d\n\n", len(l.ITNS))
	genVendorSetup(&b, l)
	b.WriteString(`/* rampart_tz_setup applies the SAU and interrupt-target settings above with plain
 * register writes (Armv8-M SAU at 0xE000EDD0, NVIC_ITNS at 0xE000E380). Call it from
 * Secure state before starting the Non-secure image. */
static inline void rampart_tz_setup(void)
{
  volatile unsigned int *const sau_ctrl = (volatile unsigned int *)0xE000EDD0u;
  volatile unsigned int *const sau_rnr  = (volatile unsigned int *)0xE000EDD8u;
  volatile unsigned int *const sau_rbar = (volatile unsigned int *)0xE000EDDCu;
  volatile unsigned int *const sau_rlar = (volatile unsigned int *)0xE000EDE0u;
  volatile unsigned int *const itns     = (volatile unsigned int *)0xE000E380u;
  (void)sau_rnr; (void)sau_rbar; (void)sau_rlar; (void)itns;
`)
	for n := range l.SAU {
		if n >= max {
			break
		}
		fmt.Fprintf(&b, "  *sau_rnr = %du; *sau_rbar = SAU_INIT_START%d & ~0x1Fu; *sau_rlar = (SAU_INIT_END%d & ~0x1Fu) | (SAU_INIT_NSC%d << 1) | 1u;\n", n, n, n, n)
	}
	for w, v := range l.ITNS {
		if v != 0 {
			fmt.Fprintf(&b, "  itns[%d] = NVIC_INIT_ITNS%d_VAL;\n", w, w)
		}
	}
	b.WriteString("  *sau_ctrl = (SAU_INIT_CTRL_ENABLE << 0) | (SAU_INIT_CTRL_ALLNS << 1);\n")
	b.WriteString("  __asm volatile (\"dsb\\n\\tisb\" ::: \"memory\");\n}\n\n")
	genPlatformSetup(&b, l)
	fmt.Fprintf(&b, "#endif /* %s */\n", guard)
	return b.String()
}

// genPlatformSetup writes rampart_platform_setup(): the attribution settings
// outside the core that the description knows how to make. Arm SIE-200 MPCs
// get their non-secure blocks opened (the block size is read from BLK_CFG at
// run time; the checks used the description's, which must be a multiple of
// it); an IoT Kit / SSE-200 IDAU gets NSCCFG.CODENSC/RAMNSC so that the SAU's
// NSC regions take effect.
func genPlatformSetup(b *strings.Builder, l *Layout) {
	d := l.Project.Device
	var nsccfg uint64
	if d.NSCCFG != 0 {
		for _, pt := range l.Project.Partitions {
			if pt.Security != NSC || pt.Memory == nil {
				continue
			}
			switch pt.Start() >> 28 {
			case 0x1:
				nsccfg |= 1 // CODENSC
			case 0x3:
				nsccfg |= 2 // RAMNSC
			}
		}
	}
	type open struct {
		mpc, base, start, size uint64
		name                   string
	}
	var opens []open
	for _, m := range d.Memories {
		if m.MPCBase == 0 {
			continue
		}
		for _, pt := range l.Project.Partitions {
			if pt.Memory == m && pt.Security == NonSecure {
				opens = append(opens, open{m.MPCBase, m.Physical, pt.Physical(), pt.Size, pt.Name})
			}
		}
	}
	b.WriteString("/* rampart_platform_setup applies the device's attribution settings outside the core\n * (memory protection controllers, IDAU options). Call it from Secure state. */\n")
	if len(opens) > 0 {
		b.WriteString(`static inline void rampart_mpc_open(unsigned int mpc, unsigned int mem_base, unsigned int start, unsigned int size)
{
  /* Arm SIE-200 MPC: BLK_CFG (0x14) gives the block size, BLK_IDX (0x18) selects a LUT word,
   * BLK_LUT (0x1C) holds one bit per block (1 = Non-secure). CTRL.AUTOINC may step BLK_IDX
   * after each LUT access, so the index is written before every access. */
  volatile unsigned int *const r = (volatile unsigned int *)mpc;
  unsigned int blk = 1u << (r[0x14 / 4] + 5);
  for (unsigned int a = start; a < start + size; a += blk) {
    unsigned int n = (a - mem_base) / blk;
    r[0x18 / 4] = n / 32;
    unsigned int lut = r[0x1C / 4];
    r[0x18 / 4] = n / 32;
    r[0x1C / 4] = lut | (1u << (n % 32));
  }
}

`)
	}
	b.WriteString("static inline void rampart_platform_setup(void)\n{\n")
	if nsccfg != 0 {
		fmt.Fprintf(b, "  *(volatile unsigned int *)0x%08Xu |= 0x%Xu; /* NSCCFG: CODENSC=bit 0, RAMNSC=bit 1 */\n", d.NSCCFG, nsccfg)
	}
	for _, o := range opens {
		fmt.Fprintf(b, "  rampart_mpc_open(0x%08Xu, 0x%08Xu, 0x%08Xu, 0x%Xu); /* %s */\n", o.mpc, o.base, o.start, o.size, cComment(o.name))
	}
	b.WriteString("  __asm volatile (\"dsb\\n\\tisb\" ::: \"memory\");\n}\n\n")
}

// genVendorSetup ORs together the vendor register values of Secure
// peripherals (CMSIS-Zone <setup security="s">, e.g. STM32L5 GTZC_TZSC).
func genVendorSetup(b *strings.Builder, l *Layout) {
	regs := map[string]uint64{}
	who := map[string][]string{}
	for _, per := range l.Project.Device.Peripherals {
		if l.PeripheralSecurity[per.Name] != Secure {
			continue
		}
		if _, assigned := l.PeripheralZone[per.Name]; !assigned {
			continue
		}
		for _, s := range per.Setup {
			if s.Kind != "security" {
				continue
			}
			regs[s.Register] |= s.Value
			who[s.Register] = append(who[s.Register], per.Name)
		}
	}
	if len(regs) == 0 {
		return
	}
	keys := make([]string, 0, len(regs))
	for k := range regs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteString("/* Vendor security settings of the Secure peripherals. Needs the device header;\n * define RAMPART_VENDOR_SETUP to compile rampart_vendor_setup(). */\n#ifdef RAMPART_VENDOR_SETUP\nstatic inline void rampart_vendor_setup(void)\n{\n")
	for _, k := range keys {
		fmt.Fprintf(b, "  %s |= 0x%08XU; /* %s */\n", k, regs[k], cComment(strings.Join(who[k], ", ")))
	}
	b.WriteString("}\n#endif\n\n")
}

func btoi(v bool) int {
	if v {
		return 1
	}
	return 0
}
