package spe_test

import (
	"os"
	"os/exec"
	"runtime"
	"testing"

	"rampart/ipc"
	"rampart/spe"
)

// TestClientProcessKilledMidCall: a real client process is killed (SIGKILL)
// while its call is running inside a service. Once the call returns, the SPE
// holds nothing of it: no session, no handle, no goroutine.
func TestClientProcessKilledMidCall(t *testing.T) {
	ts := startServer(t, spe.Options{})
	base := runtime.NumGoroutine()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDyingClientHelper$")
	cmd.Env = append(os.Environ(), "RAMPART_SPE_DYING_SOCK="+ts.sock)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() }) // never leave the helper behind
	<-ts.entered                             // the helper's call is inside the service now
	if st := ts.srv.Stats(); st.Sessions != 1 || st.Handles != 1 {
		t.Fatalf("before the kill: %+v", st)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	close(ts.release)
	waitFor(t, "the dead client's session and handle to be freed", func() bool {
		st := ts.srv.Stats()
		return st.Sessions == 0 && st.Handles == 0
	})
	waitFor(t, "goroutines to exit", func() bool { return runtime.NumGoroutine() <= base })
}

// TestDyingClientHelper is the client process of
// TestClientProcessKilledMidCall; it does nothing unless started by it.
func TestDyingClientHelper(t *testing.T) {
	sock := os.Getenv("RAMPART_SPE_DYING_SOCK")
	if sock == "" {
		t.Skip("helper process of TestClientProcessKilledMidCall")
	}
	c, err := ipc.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := c.RoundTrip(&ipc.Request{Kind: ipc.KindConnect, SID: echoSID, Version: 1}); err != nil || rep.Status != ipc.Success {
		t.Fatal(err)
	}
	c.RoundTrip(&ipc.Request{Kind: ipc.KindStateless, SID: blockSID, Version: 1, OutSize: []uint32{64}})
	select {} // killed before the call returns
}
