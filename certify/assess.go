package certify

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"rampart/image"
	"rampart/spe"
	"rampart/threat"
	"rampart/zone"
)

// Evidence results.
const (
	OK       = "ok"        // found and satisfies the requirement
	Fails    = "fails"     // found and contradicts it (or is invalid)
	NotFound = "not found" // named but absent, or the setting is missing
	Claim    = "claim"     // a statement in the threat model, not checked
)

// Statuses of a requirement.
const (
	Met           = "met"
	Partly        = "partly"
	NotMet        = "not met"
	NotApplicable = "not applicable"
)

// Evidence is one thing certify looked at.
type Evidence struct {
	Source string `json:"source"` // file or file:line
	Found  string `json:"found"`
	Result string `json:"result"`
}

// Result is the answer to one Level 1 requirement.
type Result struct {
	threat.PSARequirement
	Status   string     `json:"status"`
	Answer   string     `json:"answer"`
	Evidence []Evidence `json:"evidence"`
	TracedBy []string   `json:"traced_by"`
}

// Source is one file the project names.
type Source struct {
	Role   string `json:"role"`
	Path   string `json:"path"`
	Status string `json:"status"` // "found", "not named", "not found", or "invalid: ..."
}

// Assessment is the whole self-assessment.
type Assessment struct {
	Project string         `json:"project"`
	Name    string         `json:"name"`
	Sources []Source       `json:"sources"`
	Results []Result       `json:"results"`
	Summary map[string]int `json:"summary"`
}

// Failed reports whether any requirement is not met (partly counts as a
// failure only when strict).
func (a *Assessment) Failed(strict bool) bool {
	return a.Summary[NotMet] > 0 || (strict && a.Summary[Partly] > 0)
}

// inputs are the project's files, opened once.
type inputs struct {
	p        *Project
	model    *threat.Model
	modelErr error
	findings []threat.Finding
	device   *configDoc
	signing  *configDoc
	zoneEv   Evidence
	speEv    Evidence
	speLevel int // the SPE configuration's isolation level, 0 when none loaded
	sources  []Source
}

// Assess inspects the files p names and answers every Level 1 requirement.
func Assess(p *Project) *Assessment {
	in := &inputs{p: p}
	in.open()
	a := &Assessment{Project: p.File, Name: p.Name, Sources: in.sources, Summary: map[string]int{}}
	for _, req := range threat.PSALevel1 {
		r := in.answer(req)
		a.Summary[r.Status]++
		a.Results = append(a.Results, r)
	}
	return a
}

func (in *inputs) source(role, path string, err error, missing bool) {
	s := Source{Role: role, Path: path, Status: "found"}
	switch {
	case path == "":
		s.Status = "not named"
	case missing:
		s.Status = "not found"
	case err != nil:
		s.Status = "invalid: " + err.Error()
	}
	in.sources = append(in.sources, s)
}

func (in *inputs) open() {
	p := in.p
	// Threat model.
	if p.ThreatModel != "" {
		m, err := threat.Load(p.path(p.ThreatModel))
		in.model, in.modelErr = m, err
		if m != nil {
			in.findings = threat.Check(m)
		}
		in.source("threat_model", p.ThreatModel, err, errors.Is(err, fs.ErrNotExist))
	} else {
		in.source("threat_model", "", nil, false)
	}
	// Zone configuration: loaded and checked by the zone package.
	in.zoneEv = in.openZone()
	// Image signing and device: settings certify reads (docs/certify.md).
	if p.ImageSigning != "" {
		in.signing = openConfig("image_signing", p.path(p.ImageSigning), p.ImageSigning)
		in.source("image_signing", p.ImageSigning, in.signing.err, in.signing.missing)
	} else {
		in.source("image_signing", "", nil, false)
	}
	if p.Device != "" {
		in.device = openConfig("device", p.path(p.Device), p.Device)
		in.source("device", p.Device, in.device.err, in.device.missing)
	} else {
		in.source("device", "", nil, false)
	}
	// SPE configuration: validated by the spe package.
	in.speEv = in.openSPE()
}

func (in *inputs) openZone() Evidence {
	p := in.p
	what := "TrustZone isolation of the Secure side"
	if p.Zone == "" {
		in.source("zone", "", nil, false)
		return Evidence{Source: "rampart.yaml", Found: what + ": no zone configuration named in the project", Result: NotFound}
	}
	path := p.path(p.Zone)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		in.source("zone", p.Zone, nil, true)
		return Evidence{Source: p.Zone, Found: what + ": file not found", Result: NotFound}
	}
	proj, err := zone.LoadProject(path)
	if err != nil {
		in.source("zone", p.Zone, err, false)
		return Evidence{Source: p.Zone, Found: fmt.Sprintf("%s: the zone file does not load: %v", what, err), Result: Fails}
	}
	l := zone.Analyze(proj)
	if err := l.Err(); err != nil {
		in.source("zone", p.Zone, err, false)
		return Evidence{Source: p.Zone, Found: fmt.Sprintf("%s: the zone layout has errors: %v", what, err), Result: Fails}
	}
	in.source("zone", p.Zone, nil, false)
	var sec, ns, mpu int
	for _, z := range proj.Zones {
		switch {
		case z.Kind == zone.ZoneMPU:
			mpu++
		case z.Security.IsSecureSide():
			sec++
		default:
			ns++
		}
	}
	ev := Evidence{Source: p.Zone, Found: fmt.Sprintf("%s: %d secure and %d non-secure zone(s), %d MPU sub-zone(s), %d SAU region(s); layout checks clean (device %s)",
		what, sec, ns, mpu, len(l.SAU), proj.Device.Name), Result: OK}
	if sec == 0 || ns == 0 {
		ev.Result = Fails
		ev.Found = fmt.Sprintf("%s: the zone file has %d secure and %d non-secure zone(s); both are needed", what, sec, ns)
	}
	return ev
}

func (in *inputs) openSPE() Evidence {
	p := in.p
	what := "SPE clients identified by kernel credentials"
	if p.SPE == "" {
		in.source("spe", "", nil, false)
		return Evidence{Source: "rampart.yaml", Found: what + ": no SPE configuration named in the project", Result: NotFound}
	}
	path := p.path(p.SPE)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		in.source("spe", p.SPE, nil, true)
		return Evidence{Source: p.SPE, Found: what + ": file not found", Result: NotFound}
	}
	c, err := spe.LoadConfig(path)
	if err != nil {
		in.source("spe", p.SPE, err, false)
		return Evidence{Source: p.SPE, Found: fmt.Sprintf("%s: %v", what, err), Result: Fails}
	}
	in.source("spe", p.SPE, nil, false)
	in.speLevel = c.Level()
	return Evidence{Source: p.SPE, Found: fmt.Sprintf("%s: %d client rule(s), each mapping a uid/pid to a negative client ID; unknown peers are refused", what, len(c.Clients)), Result: OK}
}

// signingKey inspects the image-signing key: its type decides R1.1.
func (in *inputs) signingKey() Evidence {
	d := in.signing
	what := "image signing key"
	if !d.usable() {
		return d.unavailable("image_signing", what)
	}
	n := d.lookup("key")
	if n == nil {
		return Evidence{Source: d.file, Found: what + ": setting key not found", Result: NotFound}
	}
	rel := n.Value
	if !filepath.IsAbs(rel) {
		rel = filepath.Join(filepath.Dir(in.p.ImageSigning), rel)
	}
	data, err := readLimited(in.p.path(rel))
	if errors.Is(err, fs.ErrNotExist) {
		return Evidence{Source: d.at(n), Found: fmt.Sprintf("%s: key file %s not found", what, rel), Result: NotFound}
	}
	if err != nil {
		return Evidence{Source: d.at(n), Found: fmt.Sprintf("%s: %v", what, err), Result: Fails}
	}
	k, err := image.ParseKeyPEM(data)
	if err != nil {
		return Evidence{Source: d.at(n), Found: fmt.Sprintf("%s: %s: %v", what, rel, err), Result: Fails}
	}
	t, err := image.KeyTypeOf(k)
	if err != nil {
		return Evidence{Source: d.at(n), Found: fmt.Sprintf("%s: %s: %v", what, rel, err), Result: Fails}
	}
	desc := map[image.KeyType]string{
		image.KeyECDSAP256: "ECDSA P-256", image.KeyECDSAP384: "ECDSA P-384", image.KeyEd25519: "Ed25519",
		image.KeyRSA2048: "RSA-2048", image.KeyRSA3072: "RSA-3072",
	}[t]
	if desc == "" {
		return Evidence{Source: d.at(n), Found: fmt.Sprintf("%s: %s is a %s key, which cannot sign images", what, rel, t), Result: Fails}
	}
	return Evidence{Source: d.at(n), Found: fmt.Sprintf("images signed with %s (key %s), verified by the bootloader before boot", desc, rel), Result: OK}
}

func (in *inputs) securityCounter() Evidence {
	d := in.signing
	what := "security counter"
	if !d.usable() {
		return d.unavailable("image_signing", what)
	}
	n := d.lookup("security_counter")
	if n == nil {
		return Evidence{Source: d.file, Found: what + ": setting security_counter not found (images carry no anti-rollback counter)", Result: NotFound}
	}
	if n.Value == "auto" || (n.ShortTag() == "!!int" && !strings.HasPrefix(n.Value, "-")) {
		return Evidence{Source: d.at(n), Found: fmt.Sprintf("images carry a security counter (security_counter: %s) checked against the bootloader's monotonic counter", n.Value), Result: OK}
	}
	return Evidence{Source: d.at(n), Found: fmt.Sprintf("%s: %q is neither auto nor a non-negative integer", what, n.Value), Result: Fails}
}
