package crypto

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"rampart/psaclient"
	"rampart/spe"
)

// testSPE is a running SPE with the crypto service on a real Unix socket.
type testSPE struct {
	srv  *spe.Server
	svc  *Service
	sock string
	dir  string
}

// startSPE starts an SPE whose state lives in dir ("" for a fresh temp dir)
// and which maps peers with identify (nil: every peer is client -1).
func startSPE(t testing.TB, dir string, identify func(uid, pid int) (int32, error)) *testSPE {
	t.Helper()
	return startSPEWith(t, dir, identify, Limits{})
}

// startSPEWith is startSPE with the service's limits.
func startSPEWith(t testing.TB, dir string, identify func(uid, pid int) (int32, error), lim Limits) *testSPE {
	t.Helper()
	return startSPEOptions(t, dir, identify, Options{Limits: lim})
}

// startSPEOptions is startSPE with the service's options (StateDir is set here).
func startSPEOptions(t testing.TB, dir string, identify func(uid, pid int) (int32, error), opt Options) *testSPE {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	if identify == nil {
		identify = func(int, int) (int32, error) { return -1, nil }
	}
	opt.StateDir = filepath.Join(dir, "state")
	svc, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	srv := spe.New(spe.Options{Identify: identify})
	if err := svc.Register(srv); err != nil {
		t.Fatal(err)
	}
	if err := srv.RegisterStatus(); err != nil {
		t.Fatal(err)
	}
	// Unix socket paths are limited to 108 bytes; t.TempDir can be long.
	sockDir, err := os.MkdirTemp("", "spe")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "run", "spe.sock")
	if err := srv.Listen(sock); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		srv.Shutdown()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &testSPE{srv: srv, svc: svc, sock: sock, dir: dir}
}

func (e *testSPE) dial(t testing.TB) *psaclient.Client {
	t.Helper()
	c, err := psaclient.Dial(e.sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitFor polls cond until it holds or a few seconds pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// localClient returns a psaclient.Client on an in-process session for client.
func localClient(t testing.TB, srv *spe.Server, client int32) *psaclient.Client {
	t.Helper()
	l, err := srv.Local(client)
	if err != nil {
		t.Fatal(err)
	}
	c, err := psaclient.NewClient(l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
