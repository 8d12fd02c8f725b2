package spe_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"rampart/ipc"
	"rampart/spe"
)

// TestLogsWhyACallFailed: a service that records the cause of a failure
// (Message.Fail) has it logged by the SPE with the service and client, and
// so has a panic; the caller still sees only the status.
func TestLogsWhyACallFailed(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	srv := spe.New(spe.Options{Logf: func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, fmt.Sprintf(format, args...))
	}})
	m := spe.PartitionManifest{FrameworkVersion: "1.1", Name: "LOGTEST", Type: spe.ApplicationRoT, Services: []spe.ServiceManifest{
		{Name: "FAILS", SID: 0x7000_0001, Version: 1, Stateless: true, NonSecureClients: true},
		{Name: "CALLER_ERROR", SID: 0x7000_0002, Version: 1, Stateless: true, NonSecureClients: true},
		{Name: "PANICS", SID: 0x7000_0003, Version: 1, Stateless: true, NonSecureClients: true},
	}}
	err := srv.Register(m, map[string]spe.Handler{
		"FAILS": spe.HandlerFunc(func(m *spe.Message) ipc.Status {
			return m.Fail(ipc.ErrServiceFailure, errors.New("attestation: no boot measurements"))
		}),
		"CALLER_ERROR": spe.HandlerFunc(func(m *spe.Message) ipc.Status { return ipc.ErrInvalidArgument }),
		"PANICS":       spe.HandlerFunc(func(m *spe.Message) ipc.Status { panic("service bug") }),
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := srv.Local(-3)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for sid, want := range map[uint32]ipc.Status{0x7000_0001: ipc.ErrServiceFailure, 0x7000_0002: ipc.ErrInvalidArgument, 0x7000_0003: ipc.ErrServiceFailure} {
		rep, err := c.RoundTrip(&ipc.Request{Kind: ipc.KindStateless, SID: sid, Version: 1, Type: 5})
		if err != nil || rep.Status != want {
			t.Fatalf("sid %#x: %v %v, want %v", sid, rep, err, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	got := strings.Join(lines, "\n")
	if len(lines) != 2 || !strings.Contains(got, "spe: FAILS: call 5 from client -3: attestation: no boot measurements") ||
		!strings.Contains(got, "spe: PANICS: call 5 from client -3 panicked: service bug") {
		t.Fatalf("log:\n%s", got)
	}
}
