package spe

import (
	"fmt"
	"sort"
	"sync"

	"rampart/ipc"
)

// Application is an application root-of-trust partition that a product
// maker adds to the SPE at build time (docs/spe-isolation.md, "Adding an
// application partition"): a manifest, a partition ID, and the code that
// builds its handlers. Register it from an init function of its package
// with RegisterApplication; a blank import of that package in the binary
// adds it to every SPE the binary runs, at every isolation level.
type Application struct {
	// ID is the partition's ID: positive, unique, and its client ID when
	// it calls other services (its keys in the crypto service, its objects
	// in ITS, are named by it).
	ID int32
	// Manifest declares its services (type APPLICATION-ROT) and, in
	// Dependencies, the only SIDs its code may call.
	Manifest PartitionManifest
	// New builds the handlers, one per service name of the manifest.
	New func(env AppEnv) (map[string]Handler, error)
}

// AppEnv is what an application partition gets: never the hardware unique
// key, the attestation key or another partition's secrets.
type AppEnv struct {
	// Caller is the partition's session to the partition manager, as its
	// partition ID: it reaches only the manifest's dependencies.
	Caller ipc.Transport
	// StateDir is a directory of the partition's own (0700), for what it
	// keeps outside the SPE's services.
	StateDir string
}

var (
	appsMu sync.Mutex
	apps   = map[string]Application{}
)

// RegisterApplication adds an application partition to the binary. It
// panics on an invalid or duplicate one: a build mistake.
func RegisterApplication(a Application) {
	if err := a.Manifest.Validate(); err != nil {
		panic(err)
	}
	if a.Manifest.Type != ApplicationRoT || a.ID <= 0 || a.New == nil {
		panic(fmt.Sprintf("spe: application partition %q: needs type %s, a positive ID and New", a.Manifest.Name, ApplicationRoT))
	}
	appsMu.Lock()
	defer appsMu.Unlock()
	for _, b := range apps {
		if b.ID == a.ID || b.Manifest.Name == a.Manifest.Name {
			panic(fmt.Sprintf("spe: application partition %q registered twice (ID %d)", a.Manifest.Name, a.ID))
		}
	}
	apps[a.Manifest.Name] = a
}

// Applications returns the registered application partitions by name.
func Applications() []Application {
	appsMu.Lock()
	defer appsMu.Unlock()
	out := make([]Application, 0, len(apps))
	for _, a := range apps {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Manifest.Name < out[j].Manifest.Name })
	return out
}
