package demo

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"rampart/certify"
	"rampart/image"
	"rampart/threat"
)

// zoneProject is the demo's TrustZone layout (the zone part's AN505 example):
// the Architect stage's input for the simulated device.
//
//go:embed project/zone.yaml
var zoneProject []byte

func certifySteps() []Step {
	return []Step{
		{"Certify: write the demo's project (threat model, zone layout, signing, device and SPE settings from what the demo showed) and self-assess it for PSA Certified Level 1", stepCertify},
	}
}

// showed reports whether a step whose name starts with prefix has passed.
func (s *State) showed(prefix string) bool {
	for name, ok := range s.passed {
		if ok && strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

func yesNo(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func stepCertify(s *State) (string, error) {
	if s.signKey == nil {
		return "", errors.New("no signing key: the keygen step failed")
	}
	model, err := threat.Template(threat.DefaultTemplate)
	if err != nil {
		return "", err
	}
	pub, err := image.MarshalPublicKeyPEM(s.signKey.Public())
	if err != nil {
		return "", err
	}
	// Each device setting is true only when an earlier step showed it; the
	// rest are properties of this build that no step can contradict: the
	// simulated device has no debug port and no passwords, draws randomness
	// from the OS, and its PS always encrypts.
	lifecycle := "assembly-and-test"
	if s.showed("Factory: provision the SPE") {
		lifecycle = "secured"
	}
	attested := s.showed("Attest:")
	mtls := s.showed("Onboard by attestation")
	device := fmt.Sprintf(`lifecycle: %s
debug: disabled
trng: true
attestation:
  enabled: %s
storage:
  ps_encryption: true
  its: true
audit_log:
  enabled: true
  access: secure-only
network:
  tls: "%s"
  server_authentication: %s
  client_certificate: %s
passwords: none
erase_on_decommission: %s
`, lifecycle, yesNo(attested), map[bool]string{true: "1.2", false: "none"}[mtls], yesNo(mtls), yesNo(mtls),
		yesNo(s.showed("Decommission a device")))
	files := map[string][]byte{
		"project/rampart.yaml": []byte(`rampart_project: 1
name: Rampart demo device
threat_model: threat-model.yaml
zone: zone.yaml
image_signing: image-signing.yaml
device: device.yaml
spe: spe.json
not_applicable:
  R6.1: The device takes no externally applied configuration; its only remote input is firmware, which is signed (R1.1).
`),
		"project/threat-model.yaml":    model,
		"project/zone.yaml":            zoneProject,
		"project/keys/signing.pub.pem": pub,
		"project/image-signing.yaml":   []byte("key: keys/signing.pub.pem\nsecurity_counter: 1\n"),
		"project/device.yaml":          []byte(device),
		"project/spe.json":             []byte(`{"socket": "spe.sock", "state_dir": "spe-state", "clients": [{"name": "agent", "uid": 1000, "client_id": -1}]}` + "\n"),
	}
	var projectPath string
	for name, data := range files {
		p, err := s.write(name, data)
		if err != nil {
			return "", err
		}
		if name == "project/rampart.yaml" {
			projectPath = p
		}
	}
	proj, err := certify.LoadProject(projectPath)
	if err != nil {
		return "", err
	}
	a := certify.Assess(proj)
	var md bytes.Buffer
	if err := certify.Write(&md, a, "md"); err != nil {
		return "", err
	}
	report, err := s.write("project/certify.md", md.Bytes())
	if err != nil {
		return "", err
	}
	var lines []string
	for _, r := range a.Results {
		lines = append(lines, fmt.Sprintf("%-5s %-14s %s", r.ID, r.Status, r.Summary))
	}
	lines = append(lines, fmt.Sprintf("summary: %s; report %s", a.SummaryText(), report))
	lines = append(lines, "reproduce (run the demo with --keep): rampart certify --project "+filepath.Clean(projectPath))
	detail := strings.Join(lines, "\n")
	if a.Failed(false) {
		return "", fmt.Errorf("certify: a Level 1 requirement is not met:\n%s", detail)
	}
	return detail, nil
}
