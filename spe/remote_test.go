package spe_test

import (
	"encoding/binary"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"rampart/ipc"
	"rampart/spe"
)

const (
	hostileSID                 = 0x7000
	hostileID            int32 = 0x3001
	hostileForged              = 1 // calls as a partition the process does not host
	hostileUndeclared          = 2 // calls the status service, not among its dependencies
	hostileDeclared            = 3 // calls ECHO, its dependency
	hostileGarbage             = 4 // writes a malformed link frame
	hostileHang                = 5 // never answers
	hostileEnvVariable         = "RAMPART_SPE_HOSTILE_PARTITION"
	hostileProbeDeadline       = 10 * time.Second
)

var hostileManifest = spe.PartitionManifest{FrameworkVersion: "1.1", Name: "HOSTILE", Type: spe.ApplicationRoT,
	Services:     []spe.ServiceManifest{{Name: "HOSTILE", SID: hostileSID, Version: 1, Stateless: true, NonSecureClients: true}},
	Dependencies: []uint32{echoSID}}

// TestHostilePartition runs a partition process that misbehaves: it may
// not call as another partition, nor beyond its dependencies, and a
// malformed frame costs it its link (its caller gets SERVICE_FAILURE) and
// a restart.
func TestHostilePartition(t *testing.T) {
	ts := startServer(t, spe.Options{})
	r, err := ts.srv.StartRemote(spe.RemoteOptions{Name: "hostile", Manifests: []spe.PartitionManifest{hostileManifest}, CallTimeout: 2 * time.Second,
		Partitions: map[int32]*spe.PartitionManifest{hostileID: &hostileManifest},
		Command: func() *exec.Cmd {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHostilePartitionHelper$")
			cmd.Env = append(os.Environ(), hostileEnvVariable+"=1")
			cmd.Stderr = os.Stderr
			return cmd
		}})
	if err != nil {
		t.Fatal(err)
	}
	c := ts.dial(t)
	ask := func(op int32) ipc.Status {
		rep, err := c.RoundTrip(&ipc.Request{Kind: ipc.KindStateless, SID: hostileSID, Version: 1, Type: op, OutSize: []uint32{4}})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Status != ipc.Success {
			return rep.Status
		}
		return ipc.Status(int32(binary.LittleEndian.Uint32(rep.Out[0])))
	}
	if st := ask(hostileForged); st != ipc.ErrConnectionRefused {
		t.Errorf("a call as a partition the process does not host: %v", st)
	}
	if st := ask(hostileUndeclared); st != ipc.ErrConnectionRefused {
		t.Errorf("a call beyond the dependencies: %v", st)
	}
	if st := ask(hostileDeclared); st != ipc.Success {
		t.Errorf("a call to a dependency: %v", st)
	}
	pid := r.PID()
	if st := ask(hostileGarbage); st != ipc.ErrServiceFailure {
		t.Errorf("a malformed link frame: %v, want SERVICE_FAILURE", st)
	}
	deadline := time.Now().Add(hostileProbeDeadline)
	for r.Restarts() < 1 || r.PID() == 0 || r.PID() == pid {
		if time.Now().After(deadline) {
			t.Fatal("the process was not restarted after its malformed frame")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := ask(hostileDeclared); st != ipc.Success {
		t.Errorf("after the restart: %v", st)
	}
	// A process that never answers is killed at the call's deadline.
	pid = r.PID()
	start := time.Now()
	if st := ask(hostileHang); st != ipc.ErrServiceFailure {
		t.Errorf("a call that never ends: %v, want SERVICE_FAILURE", st)
	}
	if d := time.Since(start); d > hostileProbeDeadline {
		t.Errorf("the hung call took %v", d)
	}
	for r.Restarts() < 2 || r.PID() == 0 || r.PID() == pid {
		if time.Since(start) > hostileProbeDeadline {
			t.Fatal("the hung process was not restarted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := ask(hostileDeclared); st != ipc.Success {
		t.Errorf("after the second restart: %v", st)
	}
}

func TestHostilePartitionHelper(t *testing.T) {
	if os.Getenv(hostileEnvVariable) != "1" {
		t.Skip("the hostile partition process of TestHostilePartition")
	}
	conn, err := net.FileConn(os.NewFile(3, "spm-link"))
	if err != nil {
		t.Fatal(err)
	}
	link := spe.NewPartitionLink(conn, ipc.Limits{})
	if _, err := link.Hello(); err != nil {
		t.Fatal(err)
	}
	status := func(c ipc.Transport, req *ipc.Request) ipc.Status {
		rep, err := c.RoundTrip(req)
		if err != nil {
			return ipc.ErrCommunicationFailure
		}
		return rep.Status
	}
	srv := spe.New(spe.Options{})
	err = srv.Register(hostileManifest, map[string]spe.Handler{"HOSTILE": spe.HandlerFunc(func(m *spe.Message) ipc.Status {
		var st ipc.Status
		switch m.Type {
		case hostileForged:
			st = status(link.Caller(0x3999), &ipc.Request{Kind: ipc.KindStateless, SID: echoSID, Version: 1})
		case hostileUndeclared:
			st = status(link.Caller(hostileID), &ipc.Request{Kind: ipc.KindStateless, SID: spe.StatusSID, Version: 1, OutSize: []uint32{1 << 12}})
		case hostileDeclared:
			st = status(link.Caller(hostileID), &ipc.Request{Kind: ipc.KindStateless, SID: echoSID, Version: 1})
		case hostileHang:
			select {}
		case hostileGarbage:
			conn.Write([]byte{16, 0, 0, 0, 99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
			time.Sleep(hostileProbeDeadline)
		}
		return m.Write(0, binary.LittleEndian.AppendUint32(nil, uint32(st)))
	})})
	link.Serve(srv, err)
}
