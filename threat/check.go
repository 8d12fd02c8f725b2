package threat

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Severities of a finding.
const (
	SevError   = "error"
	SevWarning = "warning"
)

// Rule describes one kind of finding; SARIF reports list them.
type Rule struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Short string `json:"short"`
}

// Rules are every check [Check] makes, in a stable order.
var Rules = []Rule{
	{"TM000", "invalid-file", "The file is not a well-formed model: YAML syntax, an unknown field, a wrong type or an invalid CVSS vector."},
	{"TM001", "missing-field", "A required field is missing or empty."},
	{"TM002", "invalid-value", "A field has a value outside its allowed set or form."},
	{"TM003", "duplicate-id", "Two items share one ID; IDs are unique across the whole model."},
	{"TM004", "dangling-reference", "A reference names no item, or an item of the wrong kind."},
	{"TM005", "cycle", "Trust boundaries or requirement refinements form a cycle."},
	{"TM010", "asset-not-threatened", "An asset is affected by no threat and has no justification."},
	{"TM011", "threat-not-dispositioned", "A threat is neither mitigated by an objective nor given a justified disposition."},
	{"TM012", "objective-not-realised", "A security objective is realised by no requirement."},
	{"TM013", "requirement-not-traced", "A requirement realises no objective or names no evidence."},
	{"TM014", "policy-not-upheld", "An organisational policy is upheld by no objective."},
	{"TM020", "requirement-not-mapped", "A requirement maps to no PSA Certified Level 1 requirement."},
	{"TM021", "agent-unused", "A threat agent appears in no threat."},
}

// Finding is one result of [Check].
type Finding struct {
	Rule     string `json:"rule"`
	Severity string `json:"severity"`
	File     string `json:"file"`
	Pos      Pos    `json:"pos"`
	// Subject is the ID of the item the finding is about, if any.
	Subject string `json:"subject,omitempty"`
	Msg     string `json:"message"`
}

func (f Finding) String() string {
	return fmt.Sprintf("%s: %s %s: %s", location(f.File, f.Pos), f.Severity, f.Rule, f.Msg)
}

// RuleByID returns the rule with id.
func RuleByID(id string) Rule {
	for _, r := range Rules {
		if r.ID == id {
			return r
		}
	}
	return Rule{ID: id, Name: id}
}

// Errors counts the findings of severity error.
func Errors(fs []Finding) int {
	n := 0
	for _, f := range fs {
		if f.Severity == SevError {
			n++
		}
	}
	return n
}

var idPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,63}$`) })

// Item kinds in the ID index.
const (
	kAsset       = "asset"
	kAgent       = "threat agent"
	kSurface     = "attack surface"
	kThreat      = "threat"
	kObjective   = "objective"
	kRequirement = "requirement"
	kAssumption  = "assumption"
	kPolicy      = "policy"
	kBoundary    = "trust boundary"
	kComponent   = "component"
	kFlow        = "data flow"
)

type checker struct {
	m   *Model
	out []Finding
	ids map[string]string // ID -> kind
}

func (c *checker) add(rule, sev string, p Pos, subject, format string, args ...any) {
	c.out = append(c.out, Finding{Rule: rule, Severity: sev, File: c.m.File, Pos: p, Subject: subject, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) required(p Pos, subject, field, value string) {
	if strings.TrimSpace(value) == "" {
		c.add("TM001", SevError, p, subject, "%s: %s is required", orItem(subject), field)
	}
}

func orItem(s string) string {
	if s == "" {
		return "item"
	}
	return s
}

func (c *checker) oneOf(p Pos, subject, field, value string, allowed []string) {
	if value == "" {
		c.required(p, subject, field, value)
		return
	}
	if !slices.Contains(allowed, value) {
		c.add("TM002", SevError, p, subject, "%s: %s %q is not one of %s", orItem(subject), field, value, strings.Join(allowed, ", "))
	}
}

func (c *checker) define(id string, p Pos, kind string) {
	if id == "" {
		c.add("TM001", SevError, p, "", "%s without an id", kind)
		return
	}
	if !idPattern().MatchString(id) {
		c.add("TM002", SevError, p, id, "id %q must start with a letter and use only letters, digits, '.', '_' and '-' (at most 64)", clip(id))
	}
	if prev, dup := c.ids[id]; dup {
		c.add("TM003", SevError, p, id, "id %q is already used by a %s", id, prev)
		return
	}
	c.ids[id] = kind
}

// ref checks that r names an item of one of the kinds.
func (c *checker) ref(subject, field string, r Ref, kinds ...string) {
	k, ok := c.ids[r.ID]
	if !ok {
		c.add("TM004", SevError, r.Pos, subject, "%s: %s names %q, which is not defined", orItem(subject), field, r.ID)
		return
	}
	if !slices.Contains(kinds, k) {
		c.add("TM004", SevError, r.Pos, subject, "%s: %s names %q, a %s, where a %s is expected", orItem(subject), field, r.ID, k, strings.Join(kinds, " or "))
	}
}

func (c *checker) refs(subject, field string, rs []Ref, kinds ...string) {
	seen := map[string]bool{}
	for _, r := range rs {
		if seen[r.ID] {
			c.add("TM003", SevWarning, r.Pos, subject, "%s: %s lists %q twice", orItem(subject), field, r.ID)
		}
		seen[r.ID] = true
		c.ref(subject, field, r, kinds...)
	}
}

// Check verifies a loaded model: required fields and allowed values, unique
// IDs, references that resolve to items of the right kind, no cycles, and
// coverage (every asset threatened or justified, every threat mitigated or
// dispositioned, every objective realised, every requirement traced). The
// findings are sorted by position; the model passes when [Errors] is zero.
func Check(m *Model) []Finding {
	c := &checker{m: m, ids: map[string]string{}}
	c.defineAll()
	c.fields()
	c.references()
	c.cycles()
	c.coverage()
	sort.SliceStable(c.out, func(i, j int) bool {
		a, b := c.out[i].Pos, c.out[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return c.out
}

func (c *checker) defineAll() {
	m := c.m
	for _, x := range m.Boundaries {
		c.define(x.ID, x.Pos, kBoundary)
	}
	for _, x := range m.Components {
		c.define(x.ID, x.Pos, kComponent)
	}
	for _, x := range m.Flows {
		c.define(x.ID, x.Pos, kFlow)
	}
	for _, x := range m.Assets {
		c.define(x.ID, x.Pos, kAsset)
	}
	for _, x := range m.Agents {
		c.define(x.ID, x.Pos, kAgent)
	}
	for _, x := range m.Surfaces {
		c.define(x.ID, x.Pos, kSurface)
	}
	for _, x := range m.Threats {
		c.define(x.ID, x.Pos, kThreat)
	}
	for _, x := range m.Assumptions {
		c.define(x.ID, x.Pos, kAssumption)
	}
	for _, x := range m.Policies {
		c.define(x.ID, x.Pos, kPolicy)
	}
	for _, x := range m.Objectives {
		c.define(x.ID, x.Pos, kObjective)
	}
	for _, x := range m.Requirements {
		c.define(x.ID, x.Pos, kRequirement)
	}
}

func (c *checker) fields() {
	m := c.m
	top := Pos{Line: 1, Column: 1}
	c.required(m.Lines["title"], "", "title", m.Title)
	if m.Lines["toe"] == (Pos{}) {
		c.add("TM001", SevError, top, "", "toe (the target of evaluation) is required")
	} else {
		c.required(m.TOE.Pos, "toe", "name", m.TOE.Name)
		c.required(m.TOE.Pos, "toe", "description", m.TOE.Description)
	}
	for name, n := range map[string]int{"assets": len(m.Assets), "threat_agents": len(m.Agents), "threats": len(m.Threats), "objectives": len(m.Objectives), "requirements": len(m.Requirements)} {
		if n == 0 {
			p := m.Lines[name]
			if p == (Pos{}) {
				p = top
			}
			c.add("TM001", SevError, p, "", "%s: at least one is required", name)
		}
	}
	for _, b := range m.Boundaries {
		c.required(b.Pos, b.ID, "name", b.Name)
	}
	for _, x := range m.Components {
		c.required(x.Pos, x.ID, "name", x.Name)
		c.oneOf(at(x.Lines, "kind", x.Pos), x.ID, "kind", x.Kind, []string{KindProcess, KindDatastore, KindExternal, KindPeripheral})
		if x.Zone != "" {
			c.oneOf(x.Lines["zone"], x.ID, "zone", x.Zone, []string{ZoneSecure, ZoneNonSecure})
		}
	}
	for _, f := range m.Flows {
		if f.From.ID == "" {
			c.required(f.Pos, f.ID, "from", "")
		}
		if f.To.ID == "" {
			c.required(f.Pos, f.ID, "to", "")
		}
	}
	for _, a := range m.Assets {
		c.required(a.Pos, a.ID, "name", a.Name)
		c.oneOf(at(a.Lines, "kind", a.Pos), a.ID, "kind", a.Kind, []string{AssetDevice, AssetApplication})
		if a.Lines["needs"] == (Pos{}) {
			c.add("TM001", SevError, a.Pos, a.ID, "%s: needs (confidentiality, integrity, authenticity) are required", a.ID)
		} else {
			n := a.Needs
			c.oneOf(at(n.Lines, "confidentiality", n.Pos), a.ID, "needs.confidentiality", n.Confidentiality, needLevels)
			c.oneOf(at(n.Lines, "integrity", n.Pos), a.ID, "needs.integrity", n.Integrity, needLevels)
			c.oneOf(at(n.Lines, "authenticity", n.Pos), a.ID, "needs.authenticity", n.Authenticity, needLevels)
		}
	}
	for _, a := range m.Agents {
		c.required(a.Pos, a.ID, "name", a.Name)
		c.oneOf(at(a.Lines, "access", a.Pos), a.ID, "access", a.Access, accessLevels)
	}
	for _, s := range m.Surfaces {
		c.required(s.Pos, s.ID, "name", s.Name)
	}
	for _, t := range m.Threats {
		c.required(t.Pos, t.ID, "title", t.Title)
		if len(t.STRIDE) == 0 {
			c.add("TM001", SevError, at(t.Lines, "stride", t.Pos), t.ID, "%s: stride (one or more categories) is required", t.ID)
		}
		for _, s := range t.STRIDE {
			c.oneOf(at(t.Lines, "stride", t.Pos), t.ID, "stride", s, strideCategories)
		}
		c.required(t.Pos, t.ID, "cvss", t.CVSS)
		if len(t.Assets) == 0 {
			c.add("TM001", SevError, at(t.Lines, "assets", t.Pos), t.ID, "%s: assets (those the threat affects) are required", t.ID)
		}
		if len(t.Agents) == 0 {
			c.add("TM001", SevError, at(t.Lines, "agents", t.Pos), t.ID, "%s: agents (who carries out the threat) are required", t.ID)
		}
		if t.Status != "" {
			c.oneOf(t.Lines["status"], t.ID, "status", t.Status, statuses)
		}
	}
	for _, s := range m.Assumptions {
		c.required(s.Pos, s.ID, "title", s.Title)
	}
	for _, s := range m.Policies {
		c.required(s.Pos, s.ID, "title", s.Title)
	}
	for _, o := range m.Objectives {
		c.required(o.Pos, o.ID, "title", o.Title)
	}
	for _, r := range m.Requirements {
		c.required(r.Pos, r.ID, "title", r.Title)
		for _, p := range r.PSA {
			if _, ok := PSARequirementByID(p.ID); !ok {
				c.add("TM002", SevError, p.Pos, r.ID, "%s: psa names %q, which is not a PSA Certified Level 1 requirement (R1.1 to R7.1)", r.ID, p.ID)
			}
		}
		for _, e := range r.Evidence {
			c.oneOf(at(e.Lines, "kind", e.Pos), r.ID, "evidence kind", e.Kind, evidenceKinds)
			c.required(e.Pos, r.ID, "evidence ref", e.Ref)
		}
	}
}

// at returns the position of field in lines, or def when it is absent.
func at(lines map[string]Pos, field string, def Pos) Pos {
	if p, ok := lines[field]; ok {
		return p
	}
	return def
}

func (c *checker) references() {
	m := c.m
	for _, b := range m.Boundaries {
		if b.Parent != nil {
			c.ref(b.ID, "parent", *b.Parent, kBoundary)
		}
	}
	for _, x := range m.Components {
		if x.Boundary != nil {
			c.ref(x.ID, "boundary", *x.Boundary, kBoundary)
		}
		c.refs(x.ID, "holds", x.Holds, kAsset)
		c.refs(x.ID, "protects", x.Protects, kAsset)
	}
	for _, f := range m.Flows {
		if f.From.ID != "" {
			c.ref(f.ID, "from", f.From, kComponent)
		}
		if f.To.ID != "" {
			c.ref(f.ID, "to", f.To, kComponent)
		}
		c.refs(f.ID, "assets", f.Assets, kAsset)
	}
	for _, s := range m.Surfaces {
		c.refs(s.ID, "components", s.Components, kComponent)
	}
	for _, t := range m.Threats {
		c.refs(t.ID, "agents", t.Agents, kAgent)
		c.refs(t.ID, "surfaces", t.Surfaces, kSurface)
		c.refs(t.ID, "assets", t.Assets, kAsset)
		c.refs(t.ID, "mitigated_by", t.MitigatedBy, kObjective)
		c.refs(t.ID, "relies_on", t.ReliesOn, kAssumption, kPolicy)
	}
	for _, o := range m.Objectives {
		c.refs(o.ID, "upholds", o.Upholds, kPolicy)
	}
	for _, r := range m.Requirements {
		c.refs(r.ID, "realises", r.Realises, kObjective)
		c.refs(r.ID, "refines", r.Refines, kRequirement)
		c.refs(r.ID, "implemented_by", r.ImplementedBy, kComponent)
	}
}

// cycles reports cycles among boundary parents and requirement refinements.
func (c *checker) cycles() {
	edges := map[string][]Ref{}
	var order []string
	for _, b := range c.m.Boundaries {
		if b.Parent != nil {
			edges[b.ID] = []Ref{*b.Parent}
		}
		order = append(order, b.ID)
	}
	for _, r := range c.m.Requirements {
		edges[r.ID] = append(edges[r.ID], r.Refines...)
		order = append(order, r.ID)
	}
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var visit func(id string)
	visit = func(id string) {
		color[id] = grey
		stack = append(stack, id)
		for _, e := range edges[id] {
			switch color[e.ID] {
			case grey:
				i := slices.Index(stack, e.ID)
				cyc := append(slices.Clone(stack[i:]), e.ID)
				c.add("TM005", SevError, e.Pos, id, "%s: cycle %s", id, strings.Join(cyc, " -> "))
			case white:
				if _, ok := c.ids[e.ID]; ok {
					visit(e.ID)
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[id] = black
	}
	for _, id := range order {
		if color[id] == white {
			visit(id)
		}
	}
}

func (c *checker) coverage() {
	m := c.m
	threatened := map[string]bool{}
	usedAgents := map[string]bool{}
	for _, t := range m.Threats {
		for _, a := range t.Assets {
			threatened[a.ID] = true
		}
		for _, a := range t.Agents {
			usedAgents[a.ID] = true
		}
	}
	for _, a := range m.Assets {
		if !threatened[a.ID] && strings.TrimSpace(a.Justification) == "" {
			c.add("TM010", SevError, a.Pos, a.ID, "%s: asset is affected by no threat; add a threat or a justification", a.ID)
		}
	}
	for _, a := range m.Agents {
		if !usedAgents[a.ID] {
			c.add("TM021", SevWarning, a.Pos, a.ID, "%s: threat agent appears in no threat", a.ID)
		}
	}
	for _, t := range m.Threats {
		switch {
		case t.Status == "":
			c.add("TM011", SevError, t.Pos, t.ID, "%s: status is required (one of %s)", t.ID, strings.Join(statuses, ", "))
		case t.Status == StatusControlled && len(t.MitigatedBy) == 0:
			c.add("TM011", SevError, t.Pos, t.ID, "%s: a controlled threat must name the objectives that mitigate it (mitigated_by)", t.ID)
		case t.Status != StatusControlled && strings.TrimSpace(t.Justification) == "":
			c.add("TM011", SevError, at(t.Lines, "status", t.Pos), t.ID, "%s: status %s needs a justification", t.ID, t.Status)
		}
	}
	realised := map[string]bool{}
	for _, r := range m.Requirements {
		for _, o := range r.Realises {
			realised[o.ID] = true
		}
	}
	upheld := map[string]bool{}
	for _, o := range m.Objectives {
		if !realised[o.ID] {
			c.add("TM012", SevError, o.Pos, o.ID, "%s: objective is realised by no requirement", o.ID)
		}
		for _, p := range o.Upholds {
			upheld[p.ID] = true
		}
	}
	for _, p := range m.Policies {
		if !upheld[p.ID] {
			c.add("TM014", SevError, p.Pos, p.ID, "%s: policy is upheld by no objective", p.ID)
		}
	}
	for _, r := range m.Requirements {
		if len(r.Realises) == 0 {
			c.add("TM013", SevError, r.Pos, r.ID, "%s: requirement realises no objective", r.ID)
		}
		if len(r.Evidence) == 0 {
			c.add("TM013", SevError, r.Pos, r.ID, "%s: requirement names no evidence (what implements or demonstrates it)", r.ID)
		}
		if len(r.PSA) == 0 {
			c.add("TM020", SevWarning, r.Pos, r.ID, "%s: requirement maps to no PSA Certified Level 1 requirement", r.ID)
		}
	}
}
