package threat

import "sort"

// Analysis is a checked model with the indexes reports need.
type Analysis struct {
	Model     *Model      `json:"model"`
	Findings  []Finding   `json:"findings"`
	Summary   Summary     `json:"summary"`
	PSA       []PSATrace  `json:"psa_level1"`
	Partition []Placement `json:"partition"`

	threatsByAsset     map[string][]string
	threatsByObjective map[string][]string
	reqsByObjective    map[string][]string
}

// Summary counts what a reviewer looks at first.
type Summary struct {
	Assets       int            `json:"assets"`
	Threats      int            `json:"threats"`
	ByStatus     map[string]int `json:"threats_by_status"`
	BySeverity   map[string]int `json:"threats_by_severity"`
	Objectives   int            `json:"objectives"`
	Requirements int            `json:"requirements"`
	Errors       int            `json:"errors"`
	Warnings     int            `json:"warnings"`
	PSAAddressed int            `json:"psa_level1_addressed"`
	PSATotal     int            `json:"psa_level1_total"`
}

// PSATrace lists the model's requirements that answer one Level 1 requirement.
type PSATrace struct {
	PSARequirement
	TracedBy []string `json:"traced_by"`
}

// Analyze checks m and builds the indexes.
func Analyze(m *Model) *Analysis {
	a := &Analysis{
		Model:              m,
		Findings:           Check(m),
		Partition:          Partition(m),
		threatsByAsset:     map[string][]string{},
		threatsByObjective: map[string][]string{},
		reqsByObjective:    map[string][]string{},
	}
	if a.Findings == nil {
		a.Findings = []Finding{}
	}
	s := Summary{Assets: len(m.Assets), Threats: len(m.Threats), Objectives: len(m.Objectives), Requirements: len(m.Requirements),
		ByStatus: map[string]int{}, BySeverity: map[string]int{}}
	for _, t := range m.Threats {
		s.ByStatus[t.Status]++
		if t.Score != nil {
			s.BySeverity[t.Score.Severity]++
		}
		for _, r := range t.Assets {
			a.threatsByAsset[r.ID] = append(a.threatsByAsset[r.ID], t.ID)
		}
		for _, r := range t.MitigatedBy {
			a.threatsByObjective[r.ID] = append(a.threatsByObjective[r.ID], t.ID)
		}
	}
	byPSA := map[string][]string{}
	for _, r := range m.Requirements {
		for _, o := range r.Realises {
			a.reqsByObjective[o.ID] = append(a.reqsByObjective[o.ID], r.ID)
		}
		for _, p := range r.PSA {
			byPSA[p.ID] = append(byPSA[p.ID], r.ID)
		}
	}
	for _, p := range PSALevel1 {
		tr := PSATrace{PSARequirement: p, TracedBy: byPSA[p.ID]}
		if tr.TracedBy == nil {
			tr.TracedBy = []string{}
		} else {
			s.PSAAddressed++
		}
		a.PSA = append(a.PSA, tr)
	}
	s.PSATotal = len(PSALevel1)
	for _, f := range a.Findings {
		if f.Severity == SevError {
			s.Errors++
		} else {
			s.Warnings++
		}
	}
	a.Summary = s
	return a
}

// ThreatsOf returns the IDs of the threats that affect asset id.
func (a *Analysis) ThreatsOf(id string) []string { return a.threatsByAsset[id] }

// ThreatsCounteredBy returns the threats objective id mitigates.
func (a *Analysis) ThreatsCounteredBy(id string) []string { return a.threatsByObjective[id] }

// RequirementsRealising returns the requirements that realise objective id.
func (a *Analysis) RequirementsRealising(id string) []string { return a.reqsByObjective[id] }

// ThreatsBySeverity returns the threats sorted by descending base score,
// then by ID.
func (a *Analysis) ThreatsBySeverity() []Threat {
	ts := append([]Threat(nil), a.Model.Threats...)
	sort.SliceStable(ts, func(i, j int) bool {
		si, sj := baseOf(ts[i]), baseOf(ts[j])
		if si != sj {
			return si > sj
		}
		return ts[i].ID < ts[j].ID
	})
	return ts
}

func baseOf(t Threat) float64 {
	if t.Score == nil {
		return -1
	}
	return t.Score.Base
}

// Level buckets for the risk matrix: five levels of the CVSS base
// sub-scores. Exploitability ranges 0.12-3.89 and impact 0-6.05 (scope
// changed, before the 1.08 factor), each cut into five equal bands.
var levelNames = []string{"Very low", "Low", "Medium", "High", "Very high"}

func bucket(v, max float64) int {
	i := int(v / (max / 5))
	if i > 4 {
		i = 4
	}
	if i < 0 {
		i = 0
	}
	return i
}

// MatrixCell places a threat in the 5x5 risk matrix: likelihood from the
// CVSS exploitability sub-score, impact from the impact sub-score.
func MatrixCell(s *Score) (likelihood, impact int) {
	return bucket(s.Exploitability, 3.9), bucket(s.Impact, 6.1)
}
