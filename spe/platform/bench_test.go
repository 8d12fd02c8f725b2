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

	"rampart/psa"
	"rampart/psaclient"
)

var benchLevels = flag.Bool("spe.bench", false, "run TestIsolationCost: round trip and ECDSA sign rate at levels 1, 2 and 3, interleaved, with ratios")

// levelBench is one SPE at a level with a client and a signing key.
type levelBench struct {
	c   *psaclient.Client
	key psa.KeyID
}

func newLevelBench(t *testing.T, level int) *levelBench {
	t.Helper()
	devDir, stateDir := newDevice(t)
	provisionDevice(t, devDir, stateDir)
	e := startLevel(t, level, devDir, stateDir)
	c, err := psaclient.NewClient(e.dial(t))
	if err != nil {
		t.Fatal(err)
	}
	key, err := c.GenerateKey(psa.KeyAttributes{Type: psa.KeyTypeECCKeyPair(psa.ECCFamilySECPR1), Bits: 256,
		Usage: psa.UsageSignHash, Algorithm: psa.AlgECDSA(psa.AlgSHA256)})
	if err != nil {
		t.Fatal(err)
	}
	return &levelBench{c: c, key: key}
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
// of 16 bytes) and the ECDSA P-256 sign rate through the SPE's socket at
// levels 1, 2 and 3, in interleaved rounds (so a change of the machine's
// load hits every level), and reports the medians and the ratios to level
// 1. No timing is asserted: the figures are for docs/spe-isolation.md.
//
//	go test ./spe/platform -run TestIsolationCost -spe.bench -v
func TestIsolationCost(t *testing.T) {
	if !*benchLevels {
		t.Skip("a benchmark: run with -spe.bench")
	}
	levels := []int{1, 2, 3}
	benches := map[int]*levelBench{}
	for _, l := range levels {
		benches[l] = newLevelBench(t, l)
	}
	const rounds = 5
	rt, sg := map[int][]float64{}, map[int][]float64{}
	for range rounds {
		for _, l := range levels {
			r := testing.Benchmark(benches[l].roundTrip)
			s := testing.Benchmark(benches[l].sign)
			rt[l] = append(rt[l], float64(r.NsPerOp()))
			sg[l] = append(sg[l], float64(s.NsPerOp()))
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	var b strings.Builder
	fmt.Fprintf(&b, "load average %s", load)
	fmt.Fprintf(&b, "level  round trip (median of %d)  ratio  ECDSA P-256 signs/s  ratio\n", rounds)
	for _, l := range levels {
		r, s := median(rt[l]), median(sg[l])
		fmt.Fprintf(&b, "%5d  %26v  %5.2f  %19.0f  %5.2f\n", l, time.Duration(r), r/median(rt[1]), 1e9/s, median(sg[1])/s)
	}
	t.Log("\n" + b.String())
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}
