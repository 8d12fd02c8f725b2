package image

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// dumpLineLength is the width of dumpinfo's frames.
const dumpLineLength = 60

// dumpPrinter prints to w and keeps the first write error.
type dumpPrinter struct {
	w   io.Writer
	err error
}

func (p *dumpPrinter) f(format string, a ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, a...)
	}
}

func dumpHex(v uint64) string { return "0x" + strconv.FormatUint(v, 16) }

// writeText prints dumpinfo's human-readable layout: the header, the
// payload frame, each TLV area and, when present, the trailer.
func (d *DumpInfo) writeText(w io.Writer) error {
	p := &dumpPrinter{w: w}
	p.f("Printing content of signed image: %s \n\n", d.Filename)
	d.textHeader(p)
	h := d.Header
	off := uint64(h.HdrSize)
	p.f("%s\n", dumpFrame("Payload (offset: "+dumpHex(off)+")", "FW image (size: "+dumpHex(uint64(h.ImgSize))+" Bytes)"))
	off += uint64(h.ImgSize)
	if d.Protected != nil {
		textTLVArea(p, "Protected TLV area", off, d.Protected)
		off += uint64(h.ProtectTLVSize)
	}
	textTLVArea(p, "TLV area", off, d.Unprotected)
	if d.Trailer != nil {
		d.textTrailer(p)
	}
	p.f("%s\n", dumpRow("End of Image "))
	return p.err
}

func (d *DumpInfo) textHeader(p *dumpPrinter) {
	p.f("%s\n", dumpRow("Image header (offset: 0x0)"))
	h := d.Header
	flags := dumpHex(uint64(h.Flags))
	if h.Flags != 0 {
		var parts []string
		for _, n := range h.Flags.Names() {
			parts = append(parts, n+" ("+dumpFlagHex(n)+")")
		}
		flags = strings.Join(parts, "\n"+strings.Repeat(" ", 20))
	}
	for _, kv := range [][2]string{{"magic", dumpHex(uint64(h.Magic))}, {"load_addr", dumpHex(uint64(h.LoadAddr))},
		{"hdr_size", dumpHex(uint64(h.HdrSize))}, {"protected_tlv_size", dumpHex(uint64(h.ProtectTLVSize))},
		{"img_size", dumpHex(uint64(h.ImgSize))}, {"flags", flags}, {"version", h.Ver.String()}} {
		p.f("%s:%s%s\n", kv[0], strings.Repeat(" ", 19-len(kv[0])), kv[1])
	}
	p.f("%s\n", strings.Repeat("#", dumpLineLength))
}

// textTLVArea prints a TLV area at offset off, each value as hex bytes,
// eight a line.
func textTLVArea(p *dumpPrinter, title string, off uint64, a *TLVArea) {
	p.f("%s\n", dumpRow(title+" (offset: "+dumpHex(off)+")"))
	p.f("magic:     %s\n", dumpHex(uint64(a.Magic)))
	p.f("area size: %s\n", dumpHex(uint64(a.TLVTot)))
	ind := strings.Repeat(" ", dumpLineLength/8)
	for _, t := range a.TLVs {
		p.f("%s %s\n", ind, strings.Repeat("-", 45))
		p.f("%s type: %s (%s)\n", ind, TLVName(t.Type), dumpHex(uint64(t.Type)))
		p.f("%s len:  %s\n", ind, dumpHex(uint64(len(t.Value))))
		line := ind + " data: "
		for j, c := range t.Value {
			line += fmt.Sprintf("0x%02x ", c)
			if (j+1)%8 == 0 && j+1 != len(t.Value) {
				p.f("%s\n", line)
				line = strings.Repeat(" ", len(ind)+7)
			}
		}
		p.f("%s\n", line)
	}
	p.f("%s\n", strings.Repeat("#", dumpLineLength))
}

func (d *DumpInfo) textTrailer(p *dumpPrinter) {
	t := d.Trailer
	p.f("%s\n", dumpRow("Image trailer (offset: unknown)"))
	p.f("(Note: some fields may not be used, depending on the update \nstrategy)\n\n")
	p.f("swap status: (len: unknown)\n")
	if d.KeyFieldLen != 0 {
		p.f("enc. keys:   (len: %s, if BOOT_SWAP_SAVE_ENCTLV is unset)\n", dumpHex(uint64(d.KeyFieldLen)))
	} else {
		p.f("enc. keys:   Image not encrypted\n")
	}
	if !t.MagicValid {
		p.f("Warning: the trailer magic value is invalid!\n")
	} else {
		size := "unknown"
		if t.SwapSize != 0xffffffff {
			size = dumpHex(uint64(t.SwapSize)) + " octal: " + strconv.FormatUint(uint64(t.SwapSize), 10)
		}
		p.f("swap size:   %s\n", size)
		p.f("swap_info:   %s\n", dumpStatus(t.SwapInfo))
		p.f("copy_done:   %s\n", dumpStatus(t.CopyDone))
		p.f("image_ok:    %s\n", dumpStatus(t.ImageOK))
	}
	var m strings.Builder
	for i, c := range t.Magic {
		fmt.Fprintf(&m, "0x%02x ", c)
		if i == BootMagicSize/2-1 {
			m.WriteString("\n             ")
		}
	}
	p.f("boot magic:  %s\n\n", m.String())
}

func dumpRow(s string) string {
	s = "#### " + s + " "
	return s + strings.Repeat("#", max(0, dumpLineLength-len(s)))
}

func dumpFlagHex(name string) string {
	for f := Flags(1); f != 0; f <<= 1 {
		if n := f.Names(); len(n) == 1 && n[0] == name {
			return dumpHex(uint64(f))
		}
	}
	return "?"
}

func dumpStatus(b byte) string {
	names := map[byte]string{1: "SET", 2: "BAD", 3: "UNSET", 4: "ANY"}
	if n, ok := names[b]; ok {
		return fmt.Sprintf("%s (0x%x)", n, b)
	}
	return fmt.Sprintf("INVALID (0x%x)", b)
}

func dumpFrame(header, content string) string {
	hd := "#### " + header + " "
	lines := []string{hd + strings.Repeat("#", dumpLineLength-len(hd))}
	blank := "|" + strings.Repeat(" ", dumpLineLength-2) + "|"
	lines = append(lines, blank)
	offset := (dumpLineLength - len(content)) / 2
	pre := "|" + strings.Repeat(" ", offset-1)
	post := strings.Repeat(" ", dumpLineLength-len(pre)-len(content)-1) + "|"
	lines = append(lines, pre+content+post, blank, strings.Repeat("#", dumpLineLength))
	return strings.Join(lines, "\n")
}
