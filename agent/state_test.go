package agent

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"rampart/deviceproto"
)

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	j := deviceproto.Job{ID: "rollout-2.0.0", Version: "2.0.0", URL: "https://fleet.example:8443/images/5f1d", Size: 4843,
		SHA256: "5f1d4ee3b0b0a4c2c5e0b1e9c2d1a7f0e6d3c2b1a09f8e7d6c5b4a3928170615", Device: "dev-a",
		Nonce: make([]byte, 32), Issued: 1795600000000, Expires: 1796204800000}
	if err := j.Validate(); err != nil {
		t.Fatal(err)
	}
	s := &State{DeviceID: "abc", CertDER: []byte{1, 2}, Update: &Update{Job: j, Phase: PhaseStaged, From: "1.0.0"},
		Last:  &deviceproto.Outcome{JobID: "old", OK: true, Result: deviceproto.ResultOK, Version: "1.0.0", Token: []byte{9}},
		Taken: &TakenJob{ID: j.ID, Issued: j.Issued}}
	if err := s.save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := loadState(dir)
	if err != nil || !reflect.DeepEqual(got, s) {
		t.Fatalf("load(save(x)) = %+v, %v", got, err)
	}
	if fresh, err := loadState(t.TempDir()); err != nil || fresh.DeviceID != "" || fresh.Update != nil {
		t.Fatalf("no state file: %+v %v", fresh, err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, StateFile))
	for i := range len(b) - 1 {
		os.WriteFile(filepath.Join(dir, StateFile), b[:i], 0o600)
		if _, err := loadState(dir); err == nil {
			t.Fatalf("truncated state (%d bytes) accepted", i)
		}
	}
	os.WriteFile(filepath.Join(dir, StateFile), []byte(`{"update":{"job":{"id":"x"},"phase":"staged"}}`), 0o600)
	if _, err := loadState(dir); err == nil {
		t.Fatal("state with an invalid job accepted")
	}
}
