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
	// Root is, for a Secure component, the root of trust it belongs to:
	// RootPSA when it holds or protects a device asset (keys, identity,
	// firmware, configuration), RootApplication when it protects only
	// application assets (a partition the product maker writes).
	Root string `json:"root,omitempty"`
	// Level is the SPE isolation level the component needs
	// (docs/spe-isolation.md), with the reason.
	Level       int    `json:"isolation_level,omitempty"`
	LevelReason string `json:"isolation_reason,omitempty"`
}

// Roots of trust of the Secure components.
const (
	RootPSA         = "psa-rot"
	RootApplication = "application-rot"
)

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
			p.Root = RootApplication
			for _, r := range c.Protects {
				p.Reasons = append(p.Reasons, "protects "+r.ID)
				if assets[r.ID].Kind == AssetDevice {
					p.Root = RootPSA
				}
			}
			for _, r := range c.Holds {
				a, ok := assets[r.ID]
				if ok && a.Kind == AssetDevice && (a.Needs.Confidentiality == "high" || a.Needs.Integrity == "high") {
					p.Reasons = append(p.Reasons, fmt.Sprintf("holds %s (device asset, %s)", r.ID, highNeeds(a.Needs)))
					p.Root = RootPSA
				}
			}
			if len(p.Reasons) > 0 {
				p.Advice = SideSecure
				break
			}
			p.Root = ""
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
	adviseLevels(out)
	return out
}

// adviseLevels gives each Secure component the isolation level it needs:
// the PSA RoT needs level 2 as soon as an application RoT partition runs
// beside it (a bug in the product maker's partition must not reach the
// root keys), level 1 otherwise; an application RoT partition needs level
// 2 alone, level 3 beside another (each kept from the other's data).
func adviseLevels(ps []Placement) {
	var apps []string
	for _, p := range ps {
		if p.Advice == SideSecure && p.Root == RootApplication {
			apps = append(apps, p.Component)
		}
	}
	for i := range ps {
		p := &ps[i]
		if p.Advice != SideSecure {
			continue
		}
		switch {
		case p.Root == RootPSA && len(apps) == 0:
			p.Level, p.LevelReason = 1, "PSA RoT, and no application RoT partition beside it"
		case p.Root == RootPSA:
			p.Level, p.LevelReason = 2, "PSA RoT: keep its assets from the application RoT partitions ("+strings.Join(apps, ", ")+")"
		case len(apps) == 1:
			p.Level, p.LevelReason = 2, "application RoT: kept from the PSA RoT's assets"
		default:
			p.Level, p.LevelReason = 3, "application RoT beside other application RoT partitions: kept from each other"
		}
	}
}

// IsolationLevel is the SPE isolation level the advice needs: the highest
// any Secure component needs (1 when none is Secure).
func IsolationLevel(ps []Placement) int {
	level := 1
	for _, p := range ps {
		level = max(level, p.Level)
	}
	return level
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
			level := ""
			if p.Level > 0 {
				level = fmt.Sprintf(" [%s, level %d]", p.Root, p.Level)
			}
			fmt.Fprintf(&b, "  %-14s %-34s %s%s%s\n", p.Component, clip(p.Name), strings.Join(p.Reasons, "; "), level, mark)
		}
		if n == 0 {
			b.WriteString("  (none)\n")
		}
	}
	fmt.Fprintf(&b, "SPE isolation level needed: %d (\"isolation\": %d in the SPE configuration, docs/spe-isolation.md)\n", IsolationLevel(ps), IsolationLevel(ps))
	for _, p := range ps {
		if p.Level > 1 {
			fmt.Fprintf(&b, "  %-14s level %d: %s\n", p.Component, p.Level, p.LevelReason)
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
