package threat

import (
	"fmt"
	"strings"
)

// Sides of the partition advice.
const (
	SideSecure    = "secure"
	SideNonSecure = "non-secure"
	SideExternal  = "external"
)

// Placement is the advice for one component.
type Placement struct {
	Component string   `json:"component"`
	Name      string   `json:"name"`
	Kind      string   `json:"kind"`
	Advice    string   `json:"advice"`
	Declared  string   `json:"declared,omitempty"`
	Reasons   []string `json:"reasons"`
	// Conflict is set when the component declares a zone other than the advice.
	Conflict bool `json:"conflict,omitempty"`
}

// Partition advises, for every component, whether it belongs on the Secure
// side: those that protect an asset, or hold a general device asset (keys,
// identity, credentials, firmware, configuration) whose confidentiality or
// integrity need is high. Components that only hold application data stay in
// the non-secure side and reach secrets through secure services; external
// components are outside the device.
func Partition(m *Model) []Placement {
	assets := map[string]Asset{}
	for _, a := range m.Assets {
		assets[a.ID] = a
	}
	var out []Placement
	for _, c := range m.Components {
		p := Placement{Component: c.ID, Name: c.Name, Kind: c.Kind, Declared: c.Zone}
		switch {
		case c.Kind == KindExternal:
			p.Advice = SideExternal
			p.Reasons = []string{"external entity, outside the device"}
		default:
			for _, r := range c.Protects {
				p.Reasons = append(p.Reasons, "protects "+r.ID)
			}
			for _, r := range c.Holds {
				a, ok := assets[r.ID]
				if ok && a.Kind == AssetDevice && (a.Needs.Confidentiality == "high" || a.Needs.Integrity == "high") {
					p.Reasons = append(p.Reasons, fmt.Sprintf("holds %s (device asset, %s)", r.ID, highNeeds(a.Needs)))
				}
			}
			if len(p.Reasons) > 0 {
				p.Advice = SideSecure
				break
			}
			p.Advice = SideNonSecure
			var held []string
			for _, r := range c.Holds {
				held = append(held, r.ID)
			}
			if len(held) > 0 {
				p.Reasons = []string{"holds only application data or low-need assets (" + strings.Join(held, ", ") + "): protect it through secure services"}
			} else {
				p.Reasons = []string{"holds and protects no asset"}
			}
		}
		if c.Zone != "" && p.Advice != SideExternal && c.Zone != p.Advice {
			p.Conflict = true
		}
		out = append(out, p)
	}
	return out
}

func highNeeds(n Needs) string {
	var hs []string
	if n.Confidentiality == "high" {
		hs = append(hs, "confidentiality high")
	}
	if n.Integrity == "high" {
		hs = append(hs, "integrity high")
	}
	return strings.Join(hs, ", ")
}

// PartitionText renders the advice as an aligned text table.
func PartitionText(ps []Placement) string {
	var b strings.Builder
	for _, side := range []string{SideSecure, SideNonSecure, SideExternal} {
		title := map[string]string{SideSecure: "Secure side (SPE)", SideNonSecure: "Non-secure side (NSPE)", SideExternal: "Outside the device"}[side]
		fmt.Fprintf(&b, "%s\n", title)
		n := 0
		for _, p := range ps {
			if p.Advice != side {
				continue
			}
			n++
			mark := ""
			if p.Conflict {
				mark = fmt.Sprintf("  CONFLICT: declared %s", p.Declared)
			}
			fmt.Fprintf(&b, "  %-14s %-34s %s%s\n", p.Component, clip(p.Name), strings.Join(p.Reasons, "; "), mark)
		}
		if n == 0 {
			b.WriteString("  (none)\n")
		}
	}
	return b.String()
}

// PartitionMermaid renders the advice as a Mermaid flowchart with the data
// flows between components.
func PartitionMermaid(m *Model, ps []Placement) string {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	id := func(s string) string { return strings.NewReplacer(".", "_", "-", "_").Replace(s) }
	for _, side := range []string{SideSecure, SideNonSecure, SideExternal} {
		title := map[string]string{SideSecure: "Secure side (SPE)", SideNonSecure: "Non-secure side (NSPE)", SideExternal: "Outside the device"}[side]
		fmt.Fprintf(&b, "  subgraph %s[\"%s\"]\n", id("side-"+side), title)
		for _, p := range ps {
			if p.Advice == side {
				fmt.Fprintf(&b, "    %s[\"%s<br/>%s\"]\n", id(p.Component), mermaidText(p.Component), mermaidText(p.Name))
			}
		}
		b.WriteString("  end\n")
	}
	for _, f := range m.Flows {
		label := f.ID
		if f.Protocol != "" {
			label += ": " + f.Protocol
		}
		fmt.Fprintf(&b, "  %s -->|\"%s\"| %s\n", id(f.From.ID), mermaidText(label), id(f.To.ID))
	}
	return b.String()
}

func mermaidText(s string) string {
	return strings.NewReplacer(`"`, "#quot;", "<", "#lt;", ">", "#gt;").Replace(s)
}
