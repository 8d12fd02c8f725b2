package cli

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"rampart/ipc"
	"rampart/psaclient"
)

// TestSpeServeAllServices runs `rampart spe serve` at isolation levels 1,
// 2 and 3 and reaches storage, attestation, lifecycle and the sensor
// partition over the real socket.
func TestSpeServeAllServices(t *testing.T) {
	for _, level := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("level%d", level), func(t *testing.T) { speServeAllServices(t, level) })
	}
}

func speServeAllServices(t *testing.T, level int) {
	spe := startSpeServeWith(t, "spe-svc", map[string]any{"isolation": level})
	sock := spe.sock
	dial := func() ipc.Transport {
		c, err := ipc.Dial(sock)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	its := psaclient.NewITS(dial())
	if err := its.Set(3, []byte("over the socket"), 0); err != nil {
		t.Fatal(err)
	}
	if got, err := its.Get(3, 5, 100); err != nil || string(got) != "the socket" {
		t.Fatalf("its get: %q %v", got, err)
	}
	its.Close()
	ps := psaclient.NewPS(dial())
	if err := ps.Set(3, []byte("sealed"), 0); err != nil {
		t.Fatal(err)
	}
	if got, err := ps.Get(3, 0, 100); err != nil || string(got) != "sealed" {
		t.Fatalf("ps get: %q %v", got, err)
	}
	ps.Close()
	at := psaclient.NewAttestation(dial())
	if _, err := at.Token(make([]byte, 32)); !errors.Is(err, ipc.ErrServiceFailure) {
		t.Fatalf("token from an unprovisioned SPE: %v", err)
	}
	at.Close()
	lc := psaclient.NewLifecycle(dial())
	if err := lc.Set(0x2000); !errors.Is(err, ipc.ErrNotPermitted) {
		t.Fatalf("non-secure lifecycle change: %v", err)
	}
	lc.Close()
	code, out, errs := run(t, "spe", "status", "--socket", sock)
	if level > 1 && (!strings.Contains(out, "PROCESS") || !strings.Contains(out, "prot")) {
		t.Errorf("status lacks the partition processes at level %d: %q", level, out)
	}
	for _, want := range []string{"RAMPART_SP_SENSOR", "RAMPART_SP_ITS", "RAMPART_SP_PS", "RAMPART_SP_INITIAL_ATTESTATION", "RAMPART_SP_LIFECYCLE", "RAMPART_SP_AUDIT_LOG"} {
		if code != ExitOK || !strings.Contains(out, want) {
			t.Fatalf("status lacks %s: %d %q %q", want, code, out, errs)
		}
	}
	spe.stop(t)
	if !strings.Contains(spe.stderr.String(), fmt.Sprintf("isolation level %d", level)) {
		t.Errorf("serve did not say its level: %s", spe.stderr)
	}
}

func TestSpeClientList(t *testing.T) {
	env := func(v string) *Env { return &Env{Getenv: func(string) string { return v }} }
	if ids, err := speClientList(env(" -1, -2,0x7 "), "X"); err != nil || len(ids) != 3 || ids[0] != -1 || ids[2] != 7 {
		t.Fatalf("%v %v", ids, err)
	}
	for _, bad := range []string{"0", "x", "-1,,y", "99999999999"} {
		if _, err := speClientList(env(bad), "X"); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if ids, err := speClientList(env(""), "X"); err != nil || ids != nil {
		t.Fatalf("empty: %v %v", ids, err)
	}
}
