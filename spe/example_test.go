package spe_test

import (
	"fmt"

	"rampart/ipc"
	"rampart/spe"
)

// A new RoT Service plugs in with a manifest entry and a handler. The
// handler sees the caller's client ID as the SPE established it, never as
// the caller claims it.
func ExampleServer_Register() {
	srv := spe.New(spe.Options{})
	manifest := spe.PartitionManifest{
		FrameworkVersion: "1.1", Name: "EXAMPLE", Type: spe.ApplicationRoT,
		Services: []spe.ServiceManifest{{
			Name: "WHOAMI", SID: 0x00001234, Version: 1, VersionPolicy: spe.Strict,
			Stateless: true, NonSecureClients: true,
		}},
	}
	whoami := spe.HandlerFunc(func(m *spe.Message) ipc.Status {
		return m.Write(0, []byte(fmt.Sprintf("client %d", m.Client)))
	})
	if err := srv.Register(manifest, map[string]spe.Handler{"WHOAMI": whoami}); err != nil {
		panic(err)
	}
	session, _ := srv.Local(-7)
	defer session.Close()
	rep, _ := session.RoundTrip(&ipc.Request{Kind: ipc.KindStateless, SID: 0x1234, Version: 1, OutSize: []uint32{32}})
	fmt.Println(rep.Status, string(rep.Out[0]))
	// Output: PSA_SUCCESS client -7
}
