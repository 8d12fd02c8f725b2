package zone

import (
	"fmt"
	"html"
	"sort"
	"strings"
)

type mapRow struct {
	name, zone, memory string
	start, phys, size  uint64
	sec                Security
}

func mapRows(l *Layout) []mapRow {
	var rows []mapRow
	for _, pt := range orderedPartitions(l) {
		if pt.Memory == nil {
			continue
		}
		rows = append(rows, mapRow{name: pt.Name, zone: l.PartitionZone[pt.Name], memory: pt.Memory.Name,
			start: pt.Start(), phys: pt.Physical(), size: pt.Size, sec: pt.Security})
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].phys < rows[j].phys })
	return rows
}

func human(n uint64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

func mdCell(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}

// genMarkdown writes the layout as Markdown tables.
func genMarkdown(l *Layout) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Memory map of %s (%s)\n\n", mdCell(l.Project.Name), mdCell(l.Project.Device.Name))
	b.WriteString("| partition | zone | security | memory | address | physical | size |\n|---|---|---|---|---|---|---|\n")
	for _, r := range mapRows(l) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | 0x%08X | 0x%08X | 0x%X (%s) |\n", mdCell(r.name), mdCell(r.zone), r.sec, mdCell(r.memory), r.start, r.phys, r.size, human(r.size))
	}
	if len(l.SAU) > 0 {
		b.WriteString("\n## SAU regions\n\n| region | start | end (last block) | NSC | covers |\n|---|---|---|---|---|\n")
		for i, r := range l.SAU {
			fmt.Fprintf(&b, "| %d | 0x%08X | 0x%08X | %d | %s |\n", i, r.Start, r.End(), btoi(r.NSC), mdCell(strings.Join(r.Names, ", ")))
		}
	}
	var pers []string
	for n := range l.PeripheralZone {
		pers = append(pers, n)
	}
	sort.Strings(pers)
	if len(pers) > 0 {
		b.WriteString("\n## Peripherals\n\n| peripheral | zone | security | interrupts |\n|---|---|---|---|\n")
		for _, n := range pers {
			per := l.Project.Device.Peripheral(n)
			var irqs []string
			if per != nil {
				for _, i := range per.Interrupts {
					irqs = append(irqs, fmt.Sprintf("%d %s", i.IRQ, i.Name))
				}
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", mdCell(n), mdCell(l.PeripheralZone[n]), l.PeripheralSecurity[n], mdCell(strings.Join(irqs, ", ")))
		}
	}
	if fm := l.Project.FlashMap; fm != nil {
		b.WriteString("\n## Flash map\n\n| id | area | role | image | offset | size |\n|---|---|---|---|---|---|\n")
		for _, a := range fm.Areas {
			fmt.Fprintf(&b, "| %d | %s | %s | %d | 0x%X | 0x%X (%s) |\n", a.ID, mdCell(a.Name), a.Role, a.Image, a.Offset, a.Size, human(a.Size))
		}
	}
	return b.String()
}

var svgFill = map[Security]string{Secure: "#d9534f", NonSecure: "#5cb85c", NSC: "#f0ad4e"}

// genSVG draws each memory as a column, its partitions as boxes coloured by
// security (red Secure, green Non-secure, orange NSC, grey unassigned),
// heights proportional to size with a minimum so small ones stay legible.
func genSVG(l *Layout) string {
	mems := l.Project.Device.Memories
	const colW, gap, top, colH = 300, 40, 60, 520
	w := len(mems)*(colW+gap) + gap
	if w < 400 {
		w = 400
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", w, top+colH+60)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15" font-weight="bold">%s on %s</text>`+"\n", gap, html.EscapeString(l.Project.Name), html.EscapeString(l.Project.Device.Name))
	fmt.Fprintf(&b, `<text x="%d" y="44">red: secure, orange: non-secure callable, green: non-secure, grey: unassigned (secure); dashed: flash map areas</text>`+"\n", gap)
	for i, m := range mems {
		x := gap + i*(colW+gap)
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#e6e6e6" stroke="#333"/>`+"\n", x, top, colW, colH)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold">%s (%s)</text>`+"\n", x, top+colH+18, html.EscapeString(m.Name), human(m.Size))
		fmt.Fprintf(&b, `<text x="%d" y="%d">phys 0x%08X</text>`+"\n", x, top+colH+34, m.Physical)
		var parts []*Partition
		for _, pt := range l.Project.Partitions {
			if pt.Memory == m && pt.Size > 0 && pt.Offset+pt.Size <= m.Size {
				parts = append(parts, pt)
			}
		}
		sort.Slice(parts, func(a, c int) bool { return parts[a].Offset < parts[c].Offset })
		// y grows downwards; addresses grow upwards, as in reference manuals.
		box := func(off, size uint64) (y, h int) {
			y = top + colH - int(float64(off+size)/float64(m.Size)*colH)
			h = int(float64(size) / float64(m.Size) * colH)
			if h < 14 {
				h = 14
				y = min(y, top+colH-h)
			}
			return y, h
		}
		var labels strings.Builder
		for _, pt := range parts {
			y, h := box(pt.Offset, pt.Size)
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s" stroke="#222"><title>%s 0x%08X size 0x%X</title></rect>`+"\n",
				x, y, colW, h, svgFill[pt.Security], html.EscapeString(pt.Name), pt.Start(), pt.Size)
			fmt.Fprintf(&labels, `<text x="%d" y="%d">%s %s @0x%08X</text>`+"\n", x+4, y+h/2+4, html.EscapeString(pt.Name), human(pt.Size), pt.Start())
		}
		// The bootloader's flash areas, as a dashed strip on the right of their memory.
		if fm := l.Project.FlashMap; fm != nil {
			for _, a := range fm.Areas {
				if l.Project.Device.Memory(a.Memory) != m || a.Offset+a.Size > m.Size || a.Size == 0 {
					continue
				}
				y, h := box(a.Offset, a.Size)
				fmt.Fprintf(&b, `<rect x="%d" y="%d" width="70" height="%d" fill="#ffffff" fill-opacity="0.6" stroke="#1f4e9c" stroke-dasharray="4 2"><title>%s (%s) offset 0x%X size 0x%X</title></rect>`+"\n",
					x+colW-70, y, h, html.EscapeString(a.Name), a.Role, a.Offset, a.Size)
				fmt.Fprintf(&labels, `<text x="%d" y="%d" font-size="9" fill="#1f4e9c">%s</text>`+"\n", x+colW-67, y+h/2+3, html.EscapeString(a.Name))
			}
		}
		b.WriteString(labels.String())
	}
	b.WriteString("</svg>\n")
	return b.String()
}
