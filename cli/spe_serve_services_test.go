package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"rampart/psa"
	"rampart/spe/ipc"
)

// TestSpeServeAllServices runs `rampart spe serve` and reaches storage,
// attestation and lifecycle over the real socket.
func TestSpeServeAllServices(t *testing.T) {
	dir, err := os.MkdirTemp("", "spe-svc")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "run", "spe.sock")
	cfg := speWriteConfig(t, dir, sock)
	done := make(chan int, 1)
	var serveErr bytes.Buffer
	go func() {
		env := &Env{Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &serveErr, Getenv: func(string) string { return "" }}
		done <- Main([]string{"spe", "serve", "--config", cfg}, env)
	}()
	deadline := time.Now().Add(5 * time.Second)
	// Ready means accepting connections: the socket file appears at bind,
	// before listen, so its existence alone is not enough.
	for {
		if c, err := ipc.Dial(sock); err == nil {
			c.Close()
			break
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d: %s", code, serveErr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("spe serve did not accept connections")
		}
		time.Sleep(5 * time.Millisecond)
	}
	dial := func() ipc.Transport {
		c, err := ipc.Dial(sock)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	its := psa.NewITS(dial())
	if err := its.Set(3, []byte("over the socket"), 0); err != nil {
		t.Fatal(err)
	}
	if got, err := its.Get(3, 5, 100); err != nil || string(got) != "the socket" {
		t.Fatalf("its get: %q %v", got, err)
	}
	its.Close()
	ps := psa.NewPS(dial())
	if err := ps.Set(3, []byte("sealed"), 0); err != nil {
		t.Fatal(err)
	}
	if got, err := ps.Get(3, 0, 100); err != nil || string(got) != "sealed" {
		t.Fatalf("ps get: %q %v", got, err)
	}
	ps.Close()
	at := psa.NewAttestation(dial())
	if _, err := at.Token(make([]byte, 32)); !errors.Is(err, ipc.ErrServiceFailure) {
		t.Fatalf("token from an unprovisioned SPE: %v", err)
	}
	at.Close()
	lc := psa.NewLifecycle(dial())
	if err := lc.Set(0x2000); !errors.Is(err, ipc.ErrNotPermitted) {
		t.Fatalf("non-secure lifecycle change: %v", err)
	}
	lc.Close()
	code, out, errs := run(t, "spe", "status", "--socket", sock)
	for _, want := range []string{"RAMPART_SP_ITS", "RAMPART_SP_PS", "RAMPART_SP_INITIAL_ATTESTATION", "RAMPART_SP_LIFECYCLE", "RAMPART_SP_AUDIT_LOG"} {
		if code != ExitOK || !strings.Contains(out, want) {
			t.Fatalf("status lacks %s: %d %q %q", want, code, out, errs)
		}
	}
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case code := <-done:
		if code != ExitOK {
			t.Fatalf("serve exit %d: %s", code, serveErr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("spe serve did not stop on SIGTERM")
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
