package cli

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rampart/adminapi"
	"rampart/fleet/store"
	"rampart/ownership"
	"rampart/sim"
)

// TestFleetOwnershipCLI runs the whole exchange of two operators with the
// CLI against two real servers: the buyer's owner key, the seller's
// extension, the buyer's import (its ticket; a replayed import refused
// with exit status 1), the seller's release with the device's data
// exported, the factory's offline first hop, and the audit entries.
func TestFleetOwnershipCLI(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a", "b", "dev"} {
		if err := os.Mkdir(filepath.Join(dir, n), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	a, err := sim.StartFleet(sim.FleetOptions{Dir: filepath.Join(dir, "a")})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := sim.StartFleet(sim.FleetOptions{Dir: filepath.Join(dir, "b"), Manufacturer: a.Mfr, Release: a.Release})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	fw, err := a.SignFirmware("1.0.0", 4096)
	if err != nil {
		t.Fatal(err)
	}
	d, err := sim.Manufacture(filepath.Join(dir, "dev"), 0, a, fw)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, f := range []*sim.Fleet{a, b} {
		if err := f.Endorse(ctx, []*sim.Device{d}); err != nil {
			t.Fatal(err)
		}
	}
	imp, err := a.IssueVoucher(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	id := imp.DeviceID
	env := func(f *sim.Fleet) map[string]string {
		ca := filepath.Join(f.Dir, "ca.pem")
		if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Server.CA().Certificate().Raw}), 0o600); err != nil {
			t.Fatal(err)
		}
		return map[string]string{"RAMPART_FLEET_URL": f.AdminURL, "RAMPART_FLEET_TOKEN": sim.AdminToken, "RAMPART_FLEET_CA": ca}
	}
	envA, envB := env(a), env(b)
	path := func(n string) string { return filepath.Join(dir, n) }

	code, out, errs := runCLI(t, envB, "fleet", "ownership", "key")
	if code != 0 || !strings.Contains(out, "BEGIN PUBLIC KEY") {
		t.Fatalf("key: %d %s %s", code, out, errs)
	}
	os.WriteFile(path("buyer.pem"), []byte(out), 0o600)
	if code, _, errs := runCLI(t, envA, "fleet", "ownership", "extend", id, "--to", path("buyer.pem"), "-o", path("v")); code != 0 {
		t.Fatalf("extend: %d %s", code, errs)
	}
	if code, _, errs := runCLI(t, envB, "fleet", "ownership", "import", path("v"), "-o", path("t")); code != 0 || !strings.Contains(errs, id) {
		t.Fatalf("import: %d %s", code, errs)
	}
	if code, _, errs := runCLI(t, envB, "fleet", "ownership", "import", path("v"), "-o", path("t2")); code != ExitFailure || !strings.Contains(errs, "replayed") {
		t.Fatalf("replayed import: %d %s", code, errs)
	}
	code, out, errs = runCLI(t, envA, "fleet", "ownership", "release", id, "--voucher", path("v"), "--ticket", path("t"), "--export", path("export.json"))
	if code != 0 || !strings.Contains(out, "released by transfer-") {
		t.Fatalf("release: %d %s %s", code, out, errs)
	}
	var exp adminapi.DeviceExport
	eb, err := os.ReadFile(path("export.json"))
	if err != nil || json.Unmarshal(eb, &exp) != nil || exp.Device.ID != id || len(exp.Audit) == 0 {
		t.Fatalf("export: %v %s", err, eb)
	}
	if code, _, _ := runCLI(t, envA, "fleet", "ownership", "release", id, "--voucher", path("v"), "--ticket", path("t")); code != ExitFailure {
		t.Fatalf("a second release: exit %d, want %d", code, ExitFailure)
	}

	// The factory's first hop, offline, verifies from the manufacturer key.
	mder, _ := x509.MarshalPKCS8PrivateKey(a.Mfr)
	fleetPEM(t, path("mfr.pem"), "PRIVATE KEY", mder)
	inst := hex.EncodeToString(d.Endorse.InstanceID)
	if code, _, errs := runCLI(t, nil, "fleet", "ownership", "issue", "--key", path("mfr.pem"), "--instance", inst, "--to", path("buyer.pem"), "-o", path("hop0")); code != 0 {
		t.Fatalf("issue: %d %s", code, errs)
	}
	v0, _ := os.ReadFile(path("hop0"))
	if _, got, err := ownership.Verify(v0, ownership.Policy{Manufacturers: map[string]*ecdsa.PublicKey{"sim": &a.Mfr.PublicKey}, Device: d.Endorse.InstanceID,
		Owner: b.Server.Transfer().OwnerKey()}); err != nil || got.Serial != 1 {
		t.Fatalf("issued voucher: %v", err)
	}

	for f, actions := range map[*sim.Fleet][]string{a: {"ownership.import", "ownership.extend", "ownership.release"}, b: {"ownership.import"}} {
		log, err := f.Server.Store().AuditLog(ctx, store.AuditFilter{Subject: id, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range actions {
			found := false
			for _, e := range log {
				found = found || e.Action == want
			}
			if !found {
				t.Errorf("no audit entry %s", want)
			}
		}
	}
}
