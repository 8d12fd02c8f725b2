package certify

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"rampart/threat"
)

// configChecks returns the evidence certify gathers from the configuration
// files for requirement id (docs/certify.md lists them).
func (in *inputs) configChecks(id string) []Evidence {
	d := in.device
	b := func(key, what string) Evidence { return d.boolSetting("device", key, what) }
	switch id {
	case "R1.1":
		return []Evidence{in.signingKey()}
	case "R1.2":
		return []Evidence{in.securityCounter()}
	case "R2.1":
		return []Evidence{b("attestation.enabled", "unique initial attestation key and attestation service")}
	case "R2.2":
		return []Evidence{b("storage.ps_encryption", "protected storage encrypted and bound to the device")}
	case "R2.3":
		return []Evidence{b("trng", "true random number generator seeds key and nonce generation")}
	case "R3.1":
		return []Evidence{b("network.server_authentication", "the device authenticates the server")}
	case "R3.2":
		return []Evidence{d.enumSetting("device", "network.tls", "communication encrypted with TLS", []string{"1.2", "1.3"}, []string{"none"})}
	case "R3.3":
		return []Evidence{b("network.client_certificate", "TLS client authentication with a device certificate")}
	case "R4.1":
		return []Evidence{
			b("attestation.enabled", "attestation tokens report the device's state"),
			d.enumSetting("device", "lifecycle", "lifecycle state in the field", []string{"secured"},
				[]string{"assembly-and-test", "psa-rot-provisioning", "non-psa-rot-debug", "recoverable-psa-rot-debug", "decommissioned"}),
		}
	case "R4.2":
		return []Evidence{d.enumSetting("device", "debug", "debug access in the field", []string{"locked", "disabled"}, []string{"open"})}
	case "R4.3":
		return []Evidence{b("audit_log.enabled", "security events are logged")}
	case "R4.4":
		return []Evidence{d.enumSetting("device", "audit_log.access", "log access restricted", []string{"authenticated", "secure-only"}, []string{"any"})}
	case "R4.6":
		return []Evidence{in.zoneEv, in.speEv, in.partitionEvidence(), in.isolationEvidence()}
	case "R5.1":
		return []Evidence{d.enumSetting("device", "passwords", "passwords are unique per device, with no universal default", []string{"per-device"}, []string{"default"})}
	case "R6.1":
		return []Evidence{b("signed_configuration", "external configuration is signed and verified")}
	case "R7.1":
		return []Evidence{b("erase_on_decommission", "decommissioning erases user data and destroys keys")}
	}
	return nil // R4.5, R5.2, R5.3: only the threat model's trace
}

// partitionEvidence compares the zones the threat model's components
// declare with the partition advice (threat.Partition): a component that
// protects an asset or holds a sensitive device asset must be Secure.
func (in *inputs) partitionEvidence() Evidence {
	what := "threat model's components on the side the partition advice gives"
	if in.model == nil {
		return Evidence{Source: orDash(in.p.ThreatModel), Found: what + ": no threat model loaded", Result: NotFound}
	}
	var conflicts []string
	secure := 0
	for _, p := range threat.Partition(in.model) {
		if p.Conflict {
			conflicts = append(conflicts, fmt.Sprintf("%s is declared %s but %s", p.Component, p.Declared, strings.Join(p.Reasons, ", ")))
		}
		if p.Advice == threat.SideSecure {
			secure++
		}
	}
	switch {
	case len(conflicts) > 0:
		return Evidence{Source: in.p.ThreatModel, Found: what + ": " + strings.Join(conflicts, "; "), Result: Fails}
	case secure == 0:
		return Evidence{Source: in.p.ThreatModel, Found: what + ": no component is advised Secure (no component holds or protects an asset)", Result: NotFound}
	}
	return Evidence{Source: in.p.ThreatModel, Found: fmt.Sprintf("%s: %d component(s) advised Secure, no declared zone contradicts the advice", what, secure), Result: OK}
}

// isolationEvidence compares the SPE's configured isolation level with the
// level the threat model's partition advice needs (threat.IsolationLevel,
// docs/spe-isolation.md).
func (in *inputs) isolationEvidence() Evidence {
	what := "SPE isolation level"
	if in.speLevel == 0 {
		return Evidence{Source: orDash(in.p.SPE), Found: what + ": no SPE configuration loaded", Result: NotFound}
	}
	if in.model == nil {
		return Evidence{Source: in.p.SPE, Found: fmt.Sprintf("%s: %d configured; no threat model loaded to say which level is needed", what, in.speLevel), Result: NotFound}
	}
	ps := threat.Partition(in.model)
	need := threat.IsolationLevel(ps)
	var why []string
	for _, p := range ps {
		if p.Level == need && need > 1 {
			why = append(why, p.Component+": "+p.LevelReason)
		}
	}
	found := fmt.Sprintf("%s: %d configured in %s, %d needed by the threat model's partition advice", what, in.speLevel, in.p.SPE, need)
	if len(why) > 0 {
		found += " (" + strings.Join(why, "; ") + ")"
	}
	if in.speLevel < need {
		return Evidence{Source: in.p.SPE, Found: found, Result: Fails}
	}
	return Evidence{Source: in.p.SPE, Found: found, Result: OK}
}

// autoNotApplicable returns why a requirement does not apply according to
// the device configuration (a device without passwords).
func (in *inputs) autoNotApplicable(id string) string {
	if id != "R5.1" && id != "R5.2" {
		return ""
	}
	if n := in.device.lookup("passwords"); n != nil && n.Value == "none" {
		return fmt.Sprintf("the device uses no passwords (%s: passwords: none)", in.device.at(n))
	}
	return ""
}

// trace returns the threat model's requirements mapped to id, as evidence.
func (in *inputs) trace(id string) (ids []string, ev []Evidence, proven bool) {
	if in.model == nil {
		what := "threat model"
		switch {
		case in.p.ThreatModel == "":
			ev = append(ev, Evidence{Source: "rampart.yaml", Found: what + ": none named in the project", Result: NotFound})
		case errors.Is(in.modelErr, fs.ErrNotExist):
			ev = append(ev, Evidence{Source: in.p.ThreatModel, Found: what + ": file not found", Result: NotFound})
		default:
			ev = append(ev, Evidence{Source: in.p.ThreatModel, Found: fmt.Sprintf("%s: does not load: %v", what, in.modelErr), Result: Fails})
		}
		return nil, ev, false
	}
	if n := threat.Errors(in.findings); n > 0 {
		ev = append(ev, Evidence{Source: in.p.ThreatModel, Found: fmt.Sprintf("threat model: %d check error(s) (run rampart threat check)", n), Result: Fails})
	}
	proven = threat.Errors(in.findings) == 0
	anyFile := false
	for _, r := range in.model.Requirements {
		mapped := false
		for _, p := range r.PSA {
			mapped = mapped || p.ID == id
		}
		if !mapped {
			continue
		}
		ids = append(ids, r.ID)
		ev = append(ev, Evidence{Source: fmt.Sprintf("%s:%d", in.p.ThreatModel, r.Pos.Line), Found: fmt.Sprintf("%s: %s (realises %s)", r.ID, r.Title, refIDs(r.Realises)), Result: OK})
		for _, e := range r.Evidence {
			if e.Kind == "mechanism" {
				ev = append(ev, Evidence{Source: fmt.Sprintf("%s:%d", in.p.ThreatModel, e.Pos.Line), Found: fmt.Sprintf("%s names the mechanism %q (not checked)", r.ID, e.Ref), Result: Claim})
				continue
			}
			if e.Kind == "config" && in.isProjectConfig(e.Ref) {
				continue // inspected above, setting by setting
			}
			anyFile = true
			path := filepath.Join(filepath.Dir(in.p.ThreatModel), e.Ref)
			if filepath.IsAbs(e.Ref) {
				path = e.Ref
			}
			if _, err := os.Stat(in.p.path(path)); err != nil {
				ev = append(ev, Evidence{Source: path, Found: fmt.Sprintf("%s evidence (%s) named by %s: not found", e.Kind, e.Ref, r.ID), Result: NotFound})
				proven = false
			} else {
				ev = append(ev, Evidence{Source: path, Found: fmt.Sprintf("%s evidence named by %s exists", e.Kind, r.ID), Result: OK})
			}
		}
	}
	if len(ids) == 0 {
		ev = append(ev, Evidence{Source: in.p.ThreatModel, Found: "no requirement of the threat model maps to " + id, Result: NotFound})
		return nil, ev, false
	}
	return ids, ev, proven && anyFile
}

// isProjectConfig reports whether ref names one of the configuration files
// the project names (compared by file name).
func (in *inputs) isProjectConfig(ref string) bool {
	for _, c := range []string{in.p.Zone, in.p.ImageSigning, in.p.Device, in.p.SPE} {
		if c != "" && filepath.Base(c) == filepath.Base(ref) {
			return true
		}
	}
	return false
}

func refIDs(rs []threat.Ref) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.ID)
	}
	return strings.Join(s, ", ")
}

func count(ev []Evidence, result string) int {
	n := 0
	for _, e := range ev {
		if e.Result == result {
			n++
		}
	}
	return n
}

// answer decides the status of one requirement from its evidence:
//   - not applicable: the project (or the device configuration) says why;
//   - not met: a setting contradicts the requirement; or the requirement has
//     configuration checks and none of them passes (a threat-model statement
//     alone does not make it partly met); or nothing supports it at all;
//   - met: every configuration check passes (for requirements that have
//     them), or, for those answered only by the threat model, the model is
//     clean, traces the requirement, and every file it names exists;
//   - partly: anything in between.
func (in *inputs) answer(req threat.PSARequirement) Result {
	r := Result{PSARequirement: req, TracedBy: []string{}}
	if why, ok := in.p.NotApplicable[req.ID]; ok {
		r.Status, r.Answer = NotApplicable, "Not applicable: "+why
		r.Evidence = []Evidence{{Source: fmt.Sprintf("%s:%d", filepath.Base(in.p.File), in.p.Lines["not_applicable."+req.ID]), Found: why, Result: OK}}
		return r
	}
	if why := in.autoNotApplicable(req.ID); why != "" {
		r.Status, r.Answer = NotApplicable, "Not applicable: "+why
		r.Evidence = []Evidence{{Source: in.device.file, Found: why, Result: OK}}
		return r
	}
	checks := in.configChecks(req.ID)
	ids, tev, proven := in.trace(req.ID)
	if ids != nil {
		r.TracedBy = ids
	}
	r.Evidence = append(append([]Evidence(nil), checks...), tev...)
	okChecks := count(checks, OK)
	switch {
	case count(checks, Fails) > 0:
		r.Status = NotMet
	case len(checks) > 0 && okChecks == len(checks):
		r.Status = Met
	case len(checks) == 0 && proven:
		r.Status = Met
	case okChecks > 0 || (len(checks) == 0 && len(ids) > 0):
		r.Status = Partly
	default:
		r.Status = NotMet
	}
	r.Answer = answerText(r.Status, r.Evidence)
	return r
}

func answerText(status string, ev []Evidence) string {
	var ok, other, claims []string
	for _, e := range ev {
		switch e.Result {
		case OK:
			ok = append(ok, e.Found)
		case Fails, NotFound:
			other = append(other, e.Found)
		case Claim:
			claims = append(claims, e.Found)
		}
	}
	if len(other) == 0 && len(claims) > 0 {
		other = []string{"proof beyond the threat model's statements (" + strings.Join(claims, "; ") + ")"}
	}
	switch status {
	case Met:
		return "Yes: " + strings.Join(ok, "; ") + "."
	case Partly:
		return "Partly: " + strings.Join(ok, "; ") + ". Missing: " + strings.Join(other, "; ") + "."
	}
	if len(other) == 0 {
		other = []string{"no evidence"}
	}
	return "No: " + strings.Join(other, "; ") + "."
}
