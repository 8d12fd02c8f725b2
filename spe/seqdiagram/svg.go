package seqdiagram

import (
	"fmt"
	"html"
	"strings"
	"unicode/utf8"
)

// Layout of the SVG, in pixels.
const (
	colWidth   = 230
	margin     = 20
	headHeight = 36
	rowHeight  = 30
	fontSize   = 12
)

// xmlText escapes s for XML text, replacing what XML 1.0 does not allow
// (control characters, invalid UTF-8, U+FFFE and U+FFFF) with '?'.
func xmlText(s string) string {
	return html.EscapeString(strings.Map(func(r rune) rune {
		if r == utf8.RuneError || (r < 0x20 && r != '\t') || r == 0xfffe || r == 0xffff {
			return '?'
		}
		return r
	}, s))
}

// SVG returns the diagram as a self-contained SVG document.
func (d *Diagram) SVG() string {
	width := 2*margin + colWidth*len(d.Lifelines)
	top := margin + headHeight
	height := top + rowHeight*(len(d.Messages)+1) + margin
	x := func(i int) int { return margin + colWidth*i + colWidth/2 }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="%d">`+"\n", width, height, width, height, fontSize)
	b.WriteString(`<defs><marker id="head" markerWidth="10" markerHeight="8" refX="9" refY="4" orient="auto"><path d="M0,0 L10,4 L0,8 z" fill="#333"/></marker></defs>` + "\n")
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/>`+"\n", width, height)
	for i, l := range d.Lifelines {
		fill := map[string]string{"client": "#e8f0fe", "spm": "#fde7c9", "partition": "#dff5e1"}[l.Kind]
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" rx="4" fill="%s" stroke="#333"/>`+"\n", x(i)-colWidth/2+8, margin, colWidth-16, headHeight-8, fill)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", x(i), margin+headHeight/2+2, xmlText(l.Label))
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999" stroke-dasharray="4 4"/>`+"\n", x(i), top-8, x(i), height-margin)
	}
	for k, m := range d.Messages {
		y := top + rowHeight*(k+1)
		x1, x2 := x(m.From), x(m.To)
		dash := ""
		if m.Reply {
			dash = ` stroke-dasharray="6 3"`
		}
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"%s marker-end="url(#head)"/>`+"\n", x1, y, x2, y, dash)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", (x1+x2)/2, y-5, xmlText(m.Label))
	}
	b.WriteString("</svg>\n")
	return b.String()
}
