package agent

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	j, err := parseJobPayload([]byte(samplePayload))
	if err != nil {
		t.Fatal(err)
	}
	s := &State{DeviceID: "abc", CertDER: []byte{1, 2}, Update: &Update{Job: j, Phase: PhaseStaged, From: "1.0.0"},
		Last:  &Outcome{JobID: "old", OK: true, Result: ResultOK, Version: "1.0.0", Token: []byte{9}},
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
