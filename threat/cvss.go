package threat

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// ErrCVSS is wrapped by every error about a CVSS vector.
var ErrCVSS = errors.New("invalid CVSS 3.1 vector")

// Score is a CVSS 3.1 vector with the scores computed from it by the
// equations of the FIRST CVSS v3.1 specification, section 7.
type Score struct {
	Vector string `json:"vector"`
	// Base, Temporal and Environmental are the rounded-up scores (0.0-10.0).
	// Temporal and Environmental equal what the spec gives when their
	// metrics are absent (all "Not Defined").
	Base          float64 `json:"base"`
	Temporal      float64 `json:"temporal"`
	Environmental float64 `json:"environmental"`
	// Impact and Exploitability are the base sub-scores, unrounded.
	Impact         float64 `json:"impact"`
	Exploitability float64 `json:"exploitability"`
	Severity       string  `json:"severity"`
}

type metricDef struct {
	name   string
	values map[string]float64
	base   bool
}

// Weights from the specification's Table 16. PR depends on scope and is
// handled in prWeight; "X" (Not Defined) is valid only for non-base metrics.
var cvssMetrics = []metricDef{
	{"AV", map[string]float64{"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}, true},
	{"AC", map[string]float64{"L": 0.77, "H": 0.44}, true},
	{"PR", map[string]float64{"N": 0.85, "L": 0.62, "H": 0.27}, true},
	{"UI", map[string]float64{"N": 0.85, "R": 0.62}, true},
	{"S", map[string]float64{"U": 0, "C": 0}, true},
	{"C", map[string]float64{"H": 0.56, "L": 0.22, "N": 0}, true},
	{"I", map[string]float64{"H": 0.56, "L": 0.22, "N": 0}, true},
	{"A", map[string]float64{"H": 0.56, "L": 0.22, "N": 0}, true},
	{"E", map[string]float64{"X": 1, "H": 1, "F": 0.97, "P": 0.94, "U": 0.91}, false},
	{"RL", map[string]float64{"X": 1, "U": 1, "W": 0.97, "T": 0.96, "O": 0.95}, false},
	{"RC", map[string]float64{"X": 1, "C": 1, "R": 0.96, "U": 0.92}, false},
	{"CR", map[string]float64{"X": 1, "H": 1.5, "M": 1, "L": 0.5}, false},
	{"IR", map[string]float64{"X": 1, "H": 1.5, "M": 1, "L": 0.5}, false},
	{"AR", map[string]float64{"X": 1, "H": 1.5, "M": 1, "L": 0.5}, false},
	{"MAV", map[string]float64{"X": 0, "N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}, false},
	{"MAC", map[string]float64{"X": 0, "L": 0.77, "H": 0.44}, false},
	{"MPR", map[string]float64{"X": 0, "N": 0.85, "L": 0.62, "H": 0.27}, false},
	{"MUI", map[string]float64{"X": 0, "N": 0.85, "R": 0.62}, false},
	{"MS", map[string]float64{"X": 0, "U": 0, "C": 0}, false},
	{"MC", map[string]float64{"X": 0, "H": 0.56, "L": 0.22, "N": 0}, false},
	{"MI", map[string]float64{"X": 0, "H": 0.56, "L": 0.22, "N": 0}, false},
	{"MA", map[string]float64{"X": 0, "H": 0.56, "L": 0.22, "N": 0}, false},
}

const cvssPrefix = "CVSS:3.1/"

// maxVectorLen bounds a vector: all 22 metrics with their longest values fit
// in well under 200 bytes.
const maxVectorLen = 256

// ParseCVSS parses a CVSS 3.1 vector string ("CVSS:3.1/AV:N/...") and
// computes its scores. All eight base metrics are required; temporal and
// environmental metrics are optional; each metric may appear once.
func ParseCVSS(vector string) (*Score, error) {
	if len(vector) > maxVectorLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrCVSS, maxVectorLen)
	}
	if !strings.HasPrefix(vector, cvssPrefix) {
		if strings.HasPrefix(vector, "CVSS:") {
			v, _, _ := strings.Cut(vector, "/")
			return nil, fmt.Errorf("%w: version %q is not supported (want %q)", ErrCVSS, v, strings.TrimSuffix(cvssPrefix, "/"))
		}
		return nil, fmt.Errorf("%w: %q must start with %q", ErrCVSS, clip(vector), cvssPrefix)
	}
	vals := map[string]string{}
	for _, part := range strings.Split(vector[len(cvssPrefix):], "/") {
		name, val, ok := strings.Cut(part, ":")
		if !ok || name == "" || val == "" {
			return nil, fmt.Errorf("%w: %q is not METRIC:VALUE", ErrCVSS, clip(part))
		}
		def := findMetric(name)
		if def == nil {
			return nil, fmt.Errorf("%w: unknown metric %q", ErrCVSS, clip(name))
		}
		if _, ok := def.values[val]; !ok {
			return nil, fmt.Errorf("%w: metric %s has no value %q (valid: %s)", ErrCVSS, name, clip(val), validValues(def))
		}
		if _, dup := vals[name]; dup {
			return nil, fmt.Errorf("%w: metric %s given twice", ErrCVSS, name)
		}
		vals[name] = val
	}
	var missing []string
	for _, m := range cvssMetrics {
		if _, ok := vals[m.name]; !ok {
			if m.base {
				missing = append(missing, m.name)
				continue
			}
			vals[m.name] = "X"
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: missing base metric(s) %s", ErrCVSS, strings.Join(missing, ", "))
	}
	s := score(vals)
	s.Vector = vector
	return s, nil
}

func findMetric(name string) *metricDef {
	for i := range cvssMetrics {
		if cvssMetrics[i].name == name {
			return &cvssMetrics[i]
		}
	}
	return nil
}

func validValues(def *metricDef) string {
	var vs []string
	for _, k := range "NALPHURCXMFOTW" {
		if _, ok := def.values[string(k)]; ok {
			vs = append(vs, string(k))
		}
	}
	return strings.Join(vs, ", ")
}

func w(vals map[string]string, name string) float64 {
	return findMetric(name).values[vals[name]]
}

// prWeight is Privileges Required, whose weight depends on scope (Table 16).
func prWeight(pr string, changed bool) float64 {
	switch {
	case pr == "L" && changed:
		return 0.68
	case pr == "H" && changed:
		return 0.5
	}
	return findMetric("PR").values[pr]
}

// modified returns the modified metric's value, or the base metric's when
// the modified one is Not Defined.
func modified(vals map[string]string, m, base string) string {
	if v := vals[m]; v != "X" {
		return v
	}
	return vals[base]
}

func score(vals map[string]string) *Score {
	changed := vals["S"] == "C"
	iss := 1 - (1-w(vals, "C"))*(1-w(vals, "I"))*(1-w(vals, "A"))
	var impact float64
	if changed {
		impact = 7.52*(iss-0.029) - 3.25*math.Pow(iss-0.02, 15)
	} else {
		impact = 6.42 * iss
	}
	expl := 8.22 * w(vals, "AV") * w(vals, "AC") * prWeight(vals["PR"], changed) * w(vals, "UI")
	var base float64
	switch {
	case impact <= 0:
		base = 0
	case changed:
		base = Roundup(math.Min(1.08*(impact+expl), 10))
	default:
		base = Roundup(math.Min(impact+expl, 10))
	}
	tf := w(vals, "E") * w(vals, "RL") * w(vals, "RC")
	temporal := Roundup(base * tf)

	mChanged := modified(vals, "MS", "S") == "C"
	weight := func(m, b string) float64 { return findMetric(b).values[modified(vals, m, b)] }
	miss := math.Min(1-
		(1-w(vals, "CR")*weight("MC", "C"))*
			(1-w(vals, "IR")*weight("MI", "I"))*
			(1-w(vals, "AR")*weight("MA", "A")), 0.915)
	var mImpact float64
	if mChanged {
		mImpact = 7.52*(miss-0.029) - 3.25*math.Pow(miss*0.9731-0.02, 13)
	} else {
		mImpact = 6.42 * miss
	}
	mExpl := 8.22 * weight("MAV", "AV") * weight("MAC", "AC") * prWeight(modified(vals, "MPR", "PR"), mChanged) * weight("MUI", "UI")
	var env float64
	switch {
	case mImpact <= 0:
		env = 0
	case mChanged:
		env = Roundup(Roundup(math.Min(1.08*(mImpact+mExpl), 10)) * tf)
	default:
		env = Roundup(Roundup(math.Min(mImpact+mExpl, 10)) * tf)
	}
	return &Score{Base: base, Temporal: temporal, Environmental: env, Impact: math.Max(impact, 0), Exploitability: expl, Severity: Severity(base)}
}

// Roundup is the specification's Roundup (Appendix A): the smallest number,
// to one decimal place, equal to or higher than its input, computed on
// integers so that 4.000000000000001 rounds to 4.0 and not to 4.1.
func Roundup(x float64) float64 {
	i := int64(math.Round(x * 100000))
	if i%10000 == 0 {
		return float64(i) / 100000
	}
	return float64(i/10000+1) / 10
}

// Severity is the qualitative rating of a score (the specification's Table 14).
func Severity(s float64) string {
	switch {
	case s == 0:
		return "None"
	case s < 4:
		return "Low"
	case s < 7:
		return "Medium"
	case s < 9:
		return "High"
	}
	return "Critical"
}
