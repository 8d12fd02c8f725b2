package platform_test

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"rampart/ipc"
	"rampart/psa"
	"rampart/psaclient"
	"rampart/spe/platform"
)

var benchLevels = flag.Bool("spe.bench", false, "run TestIsolationCost: round trip and ECDSA sign rate at levels 1, 2 and 3, interleaved, with ratios")

// levelBench is one SPE at a level with a client and a signing key.
type levelBench struct {
	c   *psaclient.Client
	key psa.KeyID
	its *psaclient.ITS // its own connection, as a separate ITS client would have
}

func newLevelBench(t *testing.T, level int, socketOnly, noDirect bool) *levelBench {
	t.Helper()
	devDir, stateDir := newDevice(t)
	provisionDevice(t, devDir, stateDir)
	e := startIsolatedWith(t, platform.Isolated{Level: level, Spec: platform.Spec{StateDir: stateDir, DeviceDir: devDir}}, socketOnly)
	conn, err := ipc.DialWith(e.sock, ipc.DialOptions{NoDirect: noDirect})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c, err := psaclient.NewClient(conn)
	if err != nil {
		t.Fatal(err)
	}
	key, err := c.GenerateKey(psa.KeyAttributes{Type: psa.KeyTypeECCKeyPair(psa.ECCFamilySECPR1), Bits: 256,
		Usage: psa.UsageSignHash, Algorithm: psa.AlgECDSA(psa.AlgSHA256)})
	if err != nil {
		t.Fatal(err)
	}
	itsConn, err := ipc.DialWith(e.sock, ipc.DialOptions{NoDirect: noDirect})
	if err != nil {
		t.Fatal(err)
	}
	its := psaclient.NewITS(itsConn)
	t.Cleanup(func() { its.Close() })
	if err := its.Set(1, make([]byte, 16), 0); err != nil {
		t.Fatal(err)
	}
	return &levelBench{c: c, key: key, its: its}
}

// stateless is the round trip of a stateless call: an ITS get of 16 bytes.
func (l *levelBench) stateless(b *testing.B) {
	for b.Loop() {
		if _, err := l.its.Get(1, 0, 16); err != nil {
			b.Fatal(err)
		}
	}
}

// roundTrip is the cheapest call a partition serves: 16 random bytes.
func (l *levelBench) roundTrip(b *testing.B) {
	for b.Loop() {
		if _, err := l.c.GenerateRandom(16); err != nil {
			b.Fatal(err)
		}
	}
}

func (l *levelBench) sign(b *testing.B) {
	digest := sha256.Sum256([]byte("bench"))
	for b.Loop() {
		if _, err := l.c.SignHash(l.key, psa.AlgECDSA(psa.AlgSHA256), digest[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// TestIsolationCost measures, in one run, the round trip (generate_random
// of 16 bytes), a stateless call's round trip (ITS get of 16 bytes) and the ECDSA P-256 sign rate through the SPE at levels 1,
// 2 and 3, with the shared-memory lanes (client to SPM, SPM to partition
// process) and with sockets only, in interleaved rounds (so a change of
// the machine's load hits every case), and reports the medians and the
// ratios to level 1 of the same transport. No timing is asserted: the
// figures are for docs/spe-isolation.md.
//
//	go test ./spe/platform -run TestIsolationCost -spe.bench -v
func TestIsolationCost(t *testing.T) {
	if !*benchLevels {
		t.Skip("a benchmark: run with -spe.bench")
	}
	type bcase struct {
		level    int
		socket   bool
		noDirect bool // through the SPM: no direct lane to the partition's process
	}
	var cases []bcase
	for _, socket := range []bool{false, true} {
		for _, l := range []int{1, 2, 3} {
			cases = append(cases, bcase{l, socket, false})
			if l > 1 && !socket {
				cases = append(cases, bcase{l, socket, true})
			}
		}
	}
	benches := map[bcase]*levelBench{}
	for _, c := range cases {
		benches[c] = newLevelBench(t, c.level, c.socket, c.noDirect)
	}
	load0, _ := os.ReadFile("/proc/loadavg")
	const rounds = 5
	rt, sg, st := map[bcase][]float64{}, map[bcase][]float64{}, map[bcase][]float64{}
	for range rounds {
		for _, c := range cases {
			r := testing.Benchmark(benches[c].roundTrip)
			s := testing.Benchmark(benches[c].sign)
			g := testing.Benchmark(benches[c].stateless)
			rt[c] = append(rt[c], float64(r.NsPerOp()))
			sg[c] = append(sg[c], float64(s.NsPerOp()))
			st[c] = append(st[c], float64(g.NsPerOp()))
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	var b strings.Builder
	fmt.Fprintf(&b, "load average before %s", load0)
	fmt.Fprintf(&b, "load average after  %s", load)
	fmt.Fprintf(&b, "transport  level  round trip (median of %d)  ratio  ECDSA P-256 signs/s  ratio  ITS get (stateless)  ratio\n", rounds)
	for _, c := range cases {
		base := bcase{1, c.socket, false}
		name := "shm"
		switch {
		case c.socket:
			name = "socket"
		case c.noDirect:
			name = "shm-spm"
		}
		r, s, g := median(rt[c]), median(sg[c]), median(st[c])
		fmt.Fprintf(&b, "%-9s  %5d  %26v  %5.2f  %19.0f  %5.2f  %19v  %5.2f\n", name, c.level, time.Duration(r), r/median(rt[base]),
			1e9/s, median(sg[base])/s, time.Duration(g), g/median(st[base]))
	}
	t.Log("\n" + b.String())
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}
