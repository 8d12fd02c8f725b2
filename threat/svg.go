package threat

import (
	"fmt"
	"html"
	"math"
	"slices"
	"sort"
	"strings"
)

// The diagrams are SVG written by hand (no dependency): boxes laid out in
// columns, trust boundaries as nested dashed frames, data flows as arrows.

const (
	boxW   = 176.0
	boxH   = 48.0
	gap    = 22.0
	pad    = 16.0
	titleH = 24.0
)

type rect struct{ x, y, w, h float64 }

func (r rect) cx() float64 { return r.x + r.w/2 }
func (r rect) cy() float64 { return r.y + r.h/2 }

func esc(s string) string { return html.EscapeString(s) }

// fit shortens s to about n characters for a box label.
func fit(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

type svgBuf struct {
	strings.Builder
	labels []rect // flow labels placed so far, to avoid overlaps
}

func overlaps(a, b rect) bool {
	return a.x < b.x+b.w && b.x < a.x+a.w && a.y < b.y+b.h && b.y < a.y+a.h
}

// freeSpot returns the first candidate position whose label box of width w
// overlaps no label placed so far, or the first candidate if none is free.
func (b *svgBuf) freeSpot(cands [][2]float64, w float64) (float64, float64) {
	for _, c := range cands {
		r := rect{c[0] - w/2, c[1] - 8, w, 16}
		free := true
		for _, l := range b.labels {
			if overlaps(r, l) {
				free = false
				break
			}
		}
		if free {
			b.labels = append(b.labels, r)
			return c[0], c[1]
		}
	}
	b.labels = append(b.labels, rect{cands[0][0] - w/2, cands[0][1] - 8, w, 16})
	return cands[0][0], cands[0][1]
}

func (b *svgBuf) f(format string, args ...any) { fmt.Fprintf(&b.Builder, format, args...) }

const svgDefs = `<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#37474f"/></marker>` +
	`<marker id="arrow-x" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#c62828"/></marker></defs>`

// node is a laid-out box or boundary frame.
type dfdLayout struct {
	boxes  map[string]rect // component ID -> box
	frames []frame
	w, h   float64
}

type frame struct {
	id, name string
	r        rect
	depth    int
}

// sizeOf computes the size of boundary b's frame: its own components as a
// column, then its child boundaries side by side.
func (l *dfdLayout) measure(m *Model, b string, kids map[string][]string, comps map[string][]string, seen map[string]bool) (float64, float64) {
	if seen[b] {
		return 0, 0 // a cycle; Check reports it
	}
	seen[b] = true
	defer delete(seen, b)
	w, h := 0.0, 0.0
	if n := len(comps[b]); n > 0 {
		w = boxW
		h = float64(n)*boxH + float64(n-1)*gap
	}
	for _, k := range kids[b] {
		kw, kh := l.measure(m, k, kids, comps, seen)
		if w > 0 {
			w += gap
		}
		w += kw
		h = math.Max(h, kh)
	}
	return w + 2*pad, h + 2*pad + titleH
}

func (l *dfdLayout) place(m *Model, b string, x, y float64, depth int, kids map[string][]string, comps map[string][]string, names map[string]string, seen map[string]bool) float64 {
	if seen[b] {
		return 0
	}
	w, h := l.measure(m, b, kids, comps, map[string]bool{})
	seen[b] = true
	l.frames = append(l.frames, frame{id: b, name: names[b], r: rect{x, y, w, h}, depth: depth})
	cx, cy := x+pad, y+pad+titleH
	if len(comps[b]) > 0 {
		for i, c := range comps[b] {
			l.boxes[c] = rect{cx, cy + float64(i)*(boxH+gap), boxW, boxH}
		}
		cx += boxW + gap
	}
	for _, k := range kids[b] {
		kw := l.place(m, k, cx, cy, depth+1, kids, comps, names, seen)
		cx += kw + gap
	}
	return w
}

func layoutDFD(m *Model) *dfdLayout {
	l := &dfdLayout{boxes: map[string]rect{}}
	known := map[string]bool{}
	names := map[string]string{}
	for _, b := range m.Boundaries {
		known[b.ID] = true
		names[b.ID] = b.Name
	}
	kids := map[string][]string{}
	var roots []string
	for _, b := range m.Boundaries {
		if b.Parent != nil && known[b.Parent.ID] && b.Parent.ID != b.ID {
			kids[b.Parent.ID] = append(kids[b.Parent.ID], b.ID)
		} else {
			roots = append(roots, b.ID)
		}
	}
	comps := map[string][]string{}
	var loose []string
	internal := map[string]bool{} // boundaries holding a non-external component
	for _, c := range m.Components {
		if c.Boundary != nil && known[c.Boundary.ID] {
			comps[c.Boundary.ID] = append(comps[c.Boundary.ID], c.ID)
			if c.Kind != KindExternal {
				for _, b := range boundaryChain(m, c.ID) {
					internal[b] = true
				}
			}
		} else {
			loose = append(loose, c.ID)
		}
	}
	// Children facing the outside go last (rightmost, next to the column
	// of external entities): order them by flows that leave their parent.
	for p, ks := range kids {
		sort.SliceStable(ks, func(i, j int) bool { return outward(m, ks[i], p) < outward(m, ks[j], p) })
		kids[p] = ks
	}
	x, y := 12.0, 12.0
	maxH := 0.0
	seen := map[string]bool{}
	var outside []string
	for _, r := range roots {
		if !internal[r] {
			outside = append(outside, r)
			continue
		}
		w := l.place(m, r, x, y, 0, kids, comps, names, seen)
		_, h := l.measure(m, r, kids, comps, map[string]bool{})
		maxH = math.Max(maxH, h)
		x += w + 3*gap
	}
	if x > 12 {
		x += 80 // room for the flows to and from the outside and their labels
	}
	// The last column stacks external-only boundaries and loose components.
	cy, colW := y, 0.0
	for _, r := range outside {
		w := l.place(m, r, x, cy, 0, kids, comps, names, seen)
		_, h := l.measure(m, r, kids, comps, map[string]bool{})
		cy += h + gap
		colW = math.Max(colW, w)
	}
	for _, c := range loose {
		l.boxes[c] = rect{x + pad, cy + pad, boxW, boxH}
		cy += boxH + gap + pad
		colW = math.Max(colW, boxW+2*pad)
	}
	maxH = math.Max(maxH, cy-y)
	l.w, l.h = x+colW+12, y+maxH+12
	return l
}

// outward counts the flows with one end inside boundary b (or its
// descendants) and the other outside parent p.
func outward(m *Model, b, p string) int {
	n := 0
	for _, f := range m.Flows {
		a, c := boundaryChain(m, f.From.ID), boundaryChain(m, f.To.ID)
		if (slices.Contains(a, b) && !slices.Contains(c, p)) || (slices.Contains(c, b) && !slices.Contains(a, p)) {
			n++
		}
	}
	return n
}

// boundaryChain returns the boundary IDs enclosing component c, innermost first.
func boundaryChain(m *Model, c string) []string {
	parent := map[string]string{}
	for _, b := range m.Boundaries {
		if b.Parent != nil {
			parent[b.ID] = b.Parent.ID
		}
	}
	var chain []string
	for _, x := range m.Components {
		if x.ID == c && x.Boundary != nil {
			for b, n := x.Boundary.ID, 0; b != "" && n < 64; b, n = parent[b], n+1 {
				chain = append(chain, b)
			}
		}
	}
	return chain
}

// Crossings returns the trust boundaries a flow crosses: those enclosing
// exactly one of its ends.
func Crossings(m *Model, f Flow) []string {
	a, b := boundaryChain(m, f.From.ID), boundaryChain(m, f.To.ID)
	in := func(xs []string, s string) bool {
		for _, x := range xs {
			if x == s {
				return true
			}
		}
		return false
	}
	var out []string
	for _, x := range a {
		if !in(b, x) {
			out = append(out, x)
		}
	}
	for _, x := range b {
		if !in(a, x) {
			out = append(out, x)
		}
	}
	return out
}

// edge draws an arrow from box a to box b, curving out to the right when
// both are in one column.
func edge(b *svgBuf, a, c rect, label string, crossing bool, offset float64, seq int) {
	color, marker, dash := "#37474f", "arrow", ""
	if crossing {
		color, marker, dash = "#c62828", "arrow-x", ` stroke-dasharray="6 3"`
	}
	var cands [][2]float64
	if math.Abs(a.cx()-c.cx()) < 1 {
		x1, y1 := a.x+a.w, a.cy()
		x2, y2 := c.x+c.w, c.cy()
		bulge := 26 + math.Abs(y2-y1)/6 + math.Abs(offset)*2
		b.f(`<path d="M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="none" stroke="%s" stroke-width="1.5"%s marker-end="url(#%s)"/>`,
			x1, y1, x1+bulge, y1, x2+bulge, y2, x2+2, y2, color, dash, marker)
		for _, d := range []float64{0, 18, -18, 36, -36} {
			cands = append(cands, [2]float64{x1 + bulge*0.75, (y1+y2)/2 + d})
		}
	} else {
		x1, y1 := clipToRect(a, c.cx(), c.cy())
		x2, y2 := clipToRect(c, a.cx(), a.cy())
		// Shift flows that share a pair of boxes apart, perpendicular to
		// their direction, so that both directions stay visible.
		if offset != 0 {
			dx, dy := x2-x1, y2-y1
			n := math.Hypot(dx, dy)
			ox, oy := -dy/n*offset, dx/n*offset
			x1, y1, x2, y2 = x1+ox, y1+oy, x2+ox, y2+oy
		}
		b.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1.5"%s marker-end="url(#%s)"/>`, x1, y1, x2, y2, color, dash, marker)
		// Spread labels along their lines (golden-ratio steps by flow
		// number) so that labels of neighbouring lines rarely collide.
		t0 := 0.3 + 0.4*math.Mod(float64(seq)*0.618, 1)
		for _, t := range []float64{t0, 0.5, 0.35, 0.65, 0.25, 0.75, 0.2, 0.8} {
			cands = append(cands, [2]float64{x1 + (x2-x1)*t, y1 + (y2-y1)*t})
		}
	}
	w := 7.0*float64(len(label)) + 8
	lx, ly := b.freeSpot(cands, w)
	b.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="16" rx="3" fill="#fff" stroke="%s" stroke-width="0.6"/>`, lx-w/2, ly-8, w, color)
	b.f(`<text x="%.1f" y="%.1f" font-size="10.5" text-anchor="middle" fill="%s">%s</text>`, lx, ly+4, color, esc(label))
}

// flowOffsets spreads flows between the same two components: the k-th of n
// such flows is shifted by (k-(n-1)/2)*8 pixels. A flow's direction decides
// the sign, so A->B and B->A separate.
func flowOffsets(fs []Flow) []float64 {
	type pair struct{ a, b string }
	key := func(f Flow) pair {
		if f.From.ID < f.To.ID {
			return pair{f.From.ID, f.To.ID}
		}
		return pair{f.To.ID, f.From.ID}
	}
	count := map[pair]int{}
	for _, f := range fs {
		count[key(f)]++
	}
	seen := map[pair]int{}
	out := make([]float64, len(fs))
	for i, f := range fs {
		k := key(f)
		n := count[k]
		if n < 2 {
			continue
		}
		off := (float64(seen[k]) - float64(n-1)/2) * 8
		if f.From.ID != k.a { // the perpendicular flips with the direction
			off = -off
		}
		out[i] = off
		seen[k]++
	}
	return out
}

// clipToRect returns where the segment from r's centre towards (tx, ty)
// leaves r.
func clipToRect(r rect, tx, ty float64) (float64, float64) {
	cx, cy := r.cx(), r.cy()
	dx, dy := tx-cx, ty-cy
	if dx == 0 && dy == 0 {
		return cx, cy
	}
	sx, sy := math.Inf(1), math.Inf(1)
	if dx != 0 {
		sx = (r.w / 2) / math.Abs(dx)
	}
	if dy != 0 {
		sy = (r.h / 2) / math.Abs(dy)
	}
	s := math.Min(sx, sy)
	return cx + dx*s, cy + dy*s
}

var kindStyle = map[string]struct{ fill, stroke, shape string }{
	KindProcess:    {"#ffffff", "#37474f", "rounded"},
	KindDatastore:  {"#fffde7", "#8d6e00", "store"},
	KindExternal:   {"#eceff1", "#455a64", "square"},
	KindPeripheral: {"#f3e5f5", "#6a1b9a", "square"},
}

func drawBox(b *svgBuf, r rect, id, name, kind, extraStroke string) {
	st, ok := kindStyle[kind]
	if !ok {
		st = kindStyle[KindProcess]
	}
	stroke := st.stroke
	width := 1.4
	if extraStroke != "" {
		stroke, width = extraStroke, 3
	}
	b.f(`<g><title>%s: %s (%s)</title>`, esc(id), esc(name), esc(kind))
	switch st.shape {
	case "rounded":
		b.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" rx="10" fill="%s" stroke="%s" stroke-width="%.1f"/>`, r.x, r.y, r.w, r.h, st.fill, stroke, width)
	case "store":
		b.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" stroke="none"/>`, r.x, r.y, r.w, r.h, st.fill)
		b.f(`<path d="M%.1f,%.1f h%.1f M%.1f,%.1f h%.1f" stroke="%s" stroke-width="%.1f"/>`, r.x, r.y, r.w, r.x, r.y+r.h, r.w, stroke, width+0.6)
	default:
		b.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" stroke="%s" stroke-width="%.1f"/>`, r.x, r.y, r.w, r.h, st.fill, stroke, width)
	}
	b.f(`<text x="%.1f" y="%.1f" font-size="10" fill="#607d8b" text-anchor="middle">%s</text>`, r.cx(), r.y+17, esc(id))
	b.f(`<text x="%.1f" y="%.1f" font-size="12" fill="#212121" text-anchor="middle">%s</text></g>`, r.cx(), r.y+34, esc(fit(name, 26)))
}

// DataFlowSVG draws the data-flow diagram with its trust boundaries. Flows
// that cross a trust boundary are drawn red and dashed.
func DataFlowSVG(m *Model) string {
	l := layoutDFD(m)
	var b svgBuf
	b.f(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" font-family="Helvetica, Arial, sans-serif" role="img" aria-label="Data-flow diagram with trust boundaries">`, l.w, l.h, l.w, l.h)
	b.f("%s", svgDefs)
	for _, f := range l.frames {
		fill := []string{"#fafafa", "#f1f8e9", "#e3f2fd", "#fff3e0"}[f.depth%4]
		b.f(`<g><title>trust boundary %s</title><rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" rx="6" fill="%s" stroke="#c62828" stroke-width="1.6" stroke-dasharray="8 4"/>`, esc(f.id), f.r.x, f.r.y, f.r.w, f.r.h, fill)
		b.f(`<text x="%.1f" y="%.1f" font-size="11" font-weight="bold" fill="#b71c1c">%s</text></g>`, f.r.x+8, f.r.y+16, esc(frameTitle(f)))
	}
	comps := map[string]Component{}
	for _, c := range m.Components {
		comps[c.ID] = c
	}
	for _, c := range m.Components {
		if r, ok := l.boxes[c.ID]; ok {
			drawBox(&b, r, c.ID, c.Name, c.Kind, "")
		}
	}
	offsets := flowOffsets(m.Flows)
	for i, f := range m.Flows {
		a, ok1 := l.boxes[f.From.ID]
		c, ok2 := l.boxes[f.To.ID]
		if !ok1 || !ok2 || f.From.ID == f.To.ID {
			continue
		}
		edge(&b, a, c, f.ID, len(Crossings(m, f)) > 0, offsets[i], i)
	}
	b.f(`</svg>`)
	return b.String()
}

func frameTitle(f frame) string {
	n := int(f.r.w / 6.6)
	if t := f.name + " (" + f.id + ")"; len([]rune(t)) <= n {
		return t
	}
	return fit(f.name, n)
}

// PartitionSVG draws the partition advice as a component diagram: three
// columns (outside, non-secure, secure) and the flows between components.
// A component whose declared zone contradicts the advice is outlined in orange.
func PartitionSVG(m *Model, ps []Placement) string {
	cols := []struct{ side, title, fill, stroke string }{
		{SideExternal, "Outside the device", "#f5f5f5", "#757575"},
		{SideNonSecure, "Non-secure side (NSPE)", "#e3f2fd", "#1565c0"},
		{SideSecure, "Secure side (SPE)", "#fdecea", "#c62828"},
	}
	const colGap = 120.0
	boxes := map[string]rect{}
	maxN := 1
	for ci, col := range cols {
		n := 0
		for _, p := range ps {
			if p.Advice == col.side {
				boxes[p.Component] = rect{12 + float64(ci)*(boxW+2*pad+colGap) + pad, 12 + titleH + pad + float64(n)*(boxH+gap), boxW, boxH}
				n++
			}
		}
		maxN = max(maxN, n)
	}
	colH := titleH + 2*pad + float64(maxN)*(boxH+gap) - gap
	w := 12 + 3*(boxW+2*pad) + 2*colGap + 80 // room for curves on the right
	h := colH + 24 + 12
	var b svgBuf
	b.f(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" font-family="Helvetica, Arial, sans-serif" role="img" aria-label="Partition advice: components on the Secure and Non-secure sides">`, w, h, w, h)
	b.f("%s", svgDefs)
	for ci, col := range cols {
		x := 12 + float64(ci)*(boxW+2*pad+colGap)
		b.f(`<rect x="%.1f" y="12" width="%.1f" height="%.1f" rx="8" fill="%s" stroke="%s" stroke-width="1.6"/>`, x, boxW+2*pad, colH, col.fill, col.stroke)
		b.f(`<text x="%.1f" y="30" font-size="13" font-weight="bold" fill="%s" text-anchor="middle">%s</text>`, x+pad+boxW/2, col.stroke, esc(col.title))
	}
	kinds := map[string]string{}
	for _, c := range m.Components {
		kinds[c.ID] = c.Kind
	}
	for _, p := range ps {
		extra := ""
		if p.Conflict {
			extra = "#ef6c00"
		}
		drawBox(&b, boxes[p.Component], p.Component, p.Name, kinds[p.Component], extra)
	}
	side := map[string]string{}
	for _, p := range ps {
		side[p.Component] = p.Advice
	}
	offsets := flowOffsets(m.Flows)
	for i, f := range m.Flows {
		a, ok1 := boxes[f.From.ID]
		c, ok2 := boxes[f.To.ID]
		if !ok1 || !ok2 || f.From.ID == f.To.ID {
			continue
		}
		edge(&b, a, c, f.ID, side[f.From.ID] != side[f.To.ID], offsets[i], i)
	}
	b.f(`</svg>`)
	return b.String()
}

// Severity colours, shared by the matrix and the HTML badges.
var severityColor = map[string]string{
	"Critical": "#8e0000", "High": "#d84315", "Medium": "#f9a825", "Low": "#2e7d32", "None": "#607d8b",
}

// RiskMatrixSVG draws a 5x5 matrix, likelihood (CVSS exploitability) across
// and impact (CVSS impact) up, with each threat's ID in its cell.
func RiskMatrixSVG(m *Model) string {
	const cell, left, top = 150.0, 92.0, 16.0
	cells := map[[2]int][]Threat{}
	for _, t := range m.Threats {
		if t.Score == nil {
			continue
		}
		l, i := MatrixCell(t.Score)
		cells[[2]int{l, i}] = append(cells[[2]int{l, i}], t)
	}
	w, h := left+5*cell+16, top+5*cell+64
	var b svgBuf
	b.f(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" font-family="Helvetica, Arial, sans-serif" role="img" aria-label="Risk matrix">`, w, h, w, h)
	heat := []string{"#c8e6c9", "#e6ee9c", "#fff59d", "#ffcc80", "#ef9a9a", "#e57373"}
	for l := 0; l < 5; l++ {
		for i := 0; i < 5; i++ {
			x, y := left+float64(l)*cell, top+float64(4-i)*cell
			k := (l + i + 1) * 5 / 9
			if k > 5 {
				k = 5
			}
			b.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" stroke="#fff" stroke-width="2"/>`, x, y, cell, cell, heat[k])
			ts := cells[[2]int{l, i}]
			for j, t := range ts {
				if j == 6 && len(ts) > 7 {
					b.f(`<text x="%.1f" y="%.1f" font-size="11" fill="#212121">+%d more</text>`, x+6, y+18+float64(j)*17, len(ts)-6)
					break
				}
				col := severityColor[t.Score.Severity]
				b.f(`<g><title>%s: %s (CVSS %.1f %s, %s)</title><rect x="%.1f" y="%.1f" width="%.1f" height="14" rx="3" fill="%s"/><text x="%.1f" y="%.1f" font-size="10.5" fill="#fff">%s %.1f</text></g>`,
					esc(t.ID), esc(t.Title), t.Score.Base, t.Score.Severity, esc(t.Status), x+5, y+6+float64(j)*17, cell-10, col, x+9, y+17+float64(j)*17, esc(fit(t.ID, 18)), t.Score.Base)
			}
		}
	}
	for k := 0; k < 5; k++ {
		b.f(`<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle" fill="#424242">%s</text>`, left+float64(k)*cell+cell/2, top+5*cell+16, levelNames[k])
		b.f(`<text x="%.1f" y="%.1f" font-size="11" text-anchor="end" fill="#424242">%s</text>`, left-6, top+float64(4-k)*cell+cell/2+4, levelNames[k])
	}
	b.f(`<text x="%.1f" y="%.1f" font-size="12" font-weight="bold" text-anchor="middle" fill="#212121">Likelihood (CVSS exploitability sub-score) →</text>`, left+2.5*cell, top+5*cell+40)
	b.f(`<text transform="translate(14 %.1f) rotate(-90)" font-size="12" font-weight="bold" text-anchor="middle" fill="#212121">Impact (CVSS impact sub-score) →</text>`, top+2.5*cell)
	b.f(`</svg>`)
	return b.String()
}
