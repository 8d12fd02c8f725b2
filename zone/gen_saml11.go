package zone

import (
	"fmt"
	"strings"
)

// genSAML11 writes saml11_fuses.h: the IDAU field values of the SAM L11 NVM
// user row, in the units the data sheet counts them in (DS60001513 §30.6.12:
// AS and DS in 256-byte rows, ANSC in 32 bytes, RS in 128 bytes). The boot
// region (BOOTPROT, BS, BNSC) is not used: the application starts at 0.
func genSAML11(l *Layout) string {
	d := l.Project.Device
	var b strings.Builder
	b.WriteString(header(l, "SAM L11 IDAU fuse values"))
	b.WriteString("\n#ifndef SAML11_FUSES_H\n#define SAML11_FUSES_H\n\n")
	b.WriteString("/* Field values, not bit positions: place them in the NVM user row with the\n * device pack's FUSES_ macros. Secure sizes count from the start of each memory. */\n")
	b.WriteString("#define SAML11_FUSE_BOOTPROT 0\n#define SAML11_FUSE_BS       0\n#define SAML11_FUSE_BNSC     0\n")
	for _, m := range d.Memories {
		var secure, nsc uint64
		for _, pt := range l.Project.Partitions {
			if pt.Memory != m || pt.Security == NonSecure {
				continue
			}
			secure = max(secure, pt.Offset+pt.Size)
			if pt.Security == NSC {
				nsc += pt.Size
			}
		}
		switch {
		case !m.ROM:
			fmt.Fprintf(&b, "#define SAML11_FUSE_RS       %d   /* %s: secure RAM 0x%X bytes in 128-byte units */\n", secure/0x80, cComment(m.Name), secure)
		case m.Physical == 0x00400000:
			fmt.Fprintf(&b, "#define SAML11_FUSE_DS       %d   /* %s: secure data flash 0x%X bytes in rows */\n", secure/0x100, cComment(m.Name), secure)
		default:
			fmt.Fprintf(&b, "#define SAML11_FUSE_AS       %d   /* %s: secure application 0x%X bytes in rows, NSC included */\n", secure/0x100, cComment(m.Name), secure)
			fmt.Fprintf(&b, "#define SAML11_FUSE_ANSC     %d   /* NSC 0x%X bytes in 32-byte units, top of AS */\n", nsc/0x20, nsc)
		}
	}
	var ns []string
	for _, per := range d.Peripherals {
		if l.PeripheralSecurity[per.Name] == NonSecure {
			ns = append(ns, per.Name)
		}
	}
	fmt.Fprintf(&b, "\n/* Non-secure peripherals (set their PAC NONSEC fuse bits): %s */\n", cComment(strings.Join(ns, ", ")))
	b.WriteString("\n#endif\n")
	return b.String()
}
