package threat

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// SARIF 2.1.0 output for CI code scanning. Only the properties used are
// modelled; see the OASIS SARIF 2.1.0 specification.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name  string      `json:"name"`
	Rules []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	ShortDescription     sarifText      `json:"shortDescription"`
	DefaultConfiguration sarifConfig    `json:"defaultConfiguration"`
	Properties           map[string]any `json:"properties,omitempty"`
}

type sarifConfig struct {
	Level string `json:"level"`
}

type sarifResult struct {
	RuleID     string          `json:"ruleId"`
	RuleIndex  int             `json:"ruleIndex"`
	Level      string          `json:"level"`
	Message    sarifText       `json:"message"`
	Locations  []sarifLocation `json:"locations"`
	Properties map[string]any  `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           sarifRegion   `json:"region"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn,omitempty"`
}

// Residual-risk rules: one per disposition other than "controlled". A
// controlled threat is not reported; the others are, so that a reviewer
// sees every risk the model leaves open.
var riskRules = []Rule{
	{"TR100", "risk-accepted", "A threat is accepted: its risk remains."},
	{"TR101", "risk-suppressed", "A threat is suppressed: its likelihood is reduced but not removed."},
	{"TR102", "risk-transferred", "A threat is transferred to another party."},
	{"TR103", "risk-out-of-scope", "A threat is declared out of scope."},
}

var riskRuleByStatus = map[string]string{
	StatusAccepted: "TR100", StatusSuppressed: "TR101", StatusTransferred: "TR102", StatusOutOfScope: "TR103",
}

func sarifURI(file string) string {
	if filepath.IsAbs(file) {
		return "file://" + filepath.ToSlash(file)
	}
	return filepath.ToSlash(filepath.Clean(file))
}

func sarifLoc(file string, p Pos) []sarifLocation {
	r := sarifRegion{StartLine: p.Line, StartColumn: p.Column}
	if r.StartLine < 1 {
		r.StartLine, r.StartColumn = 1, 0
	}
	return []sarifLocation{{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: sarifURI(file)}, Region: r}}}
}

// WriteLoadErrorSARIF writes a SARIF log whose results are the problems of
// a model that failed to load, so CI shows them on the right lines.
func WriteLoadErrorSARIF(w io.Writer, le *LoadError) error {
	m := &Model{}
	a := &Analysis{Model: m}
	for _, p := range le.Problems {
		msg := p.Msg
		if p.Field != "" {
			msg = p.Field + ": " + msg
		}
		a.Findings = append(a.Findings, Finding{Rule: "TM000", Severity: SevError, File: p.File, Pos: p.Pos, Msg: msg})
	}
	return writeSARIF(w, a)
}

func writeSARIF(w io.Writer, a *Analysis) error {
	var rules []sarifRule
	index := map[string]int{}
	for _, r := range Rules {
		level := "error"
		if strings.HasPrefix(r.ID, "TM02") {
			level = "warning"
		}
		index[r.ID] = len(rules)
		rules = append(rules, sarifRule{ID: r.ID, Name: r.Name, ShortDescription: sarifText{r.Short}, DefaultConfiguration: sarifConfig{level}})
	}
	for _, r := range riskRules {
		index[r.ID] = len(rules)
		rules = append(rules, sarifRule{ID: r.ID, Name: r.Name, ShortDescription: sarifText{r.Short}, DefaultConfiguration: sarifConfig{"note"},
			Properties: map[string]any{"tags": []string{"security", "threat-model"}}})
	}
	results := []sarifResult{}
	for _, f := range a.Findings {
		results = append(results, sarifResult{RuleID: f.Rule, RuleIndex: index[f.Rule], Level: f.Severity, Message: sarifText{f.Msg}, Locations: sarifLoc(f.File, f.Pos)})
	}
	for _, t := range a.Model.Threats {
		id, ok := riskRuleByStatus[t.Status]
		if !ok {
			continue
		}
		level := "note"
		props := map[string]any{"threat": t.ID}
		msg := fmt.Sprintf("%s %s (%s): %s", t.ID, t.Status, t.Title, strings.TrimSpace(t.Justification))
		if t.Score != nil {
			props["security-severity"] = fmt.Sprintf("%.1f", t.Score.Base)
			props["cvss"] = t.CVSS
			msg = fmt.Sprintf("%s %s, CVSS %.1f %s (%s): %s", t.ID, t.Status, t.Score.Base, t.Score.Severity, t.Title, strings.TrimSpace(t.Justification))
			if t.Score.Base >= 7 {
				level = "warning"
			}
		}
		results = append(results, sarifResult{RuleID: id, RuleIndex: index[id], Level: level, Message: sarifText{msg}, Locations: sarifLoc(a.Model.File, t.Pos), Properties: props})
	}
	log := sarifLog{
		Schema:  "https://json.schemastore.org/sarif-2.1.0.json",
		Version: "2.1.0",
		Runs: []sarifRun{{
			Tool:    sarifTool{Driver: sarifDriver{Name: "rampart-threat", Rules: rules}},
			Results: results,
		}},
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(log)
}
