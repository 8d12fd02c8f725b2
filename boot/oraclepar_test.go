package boot

import (
	"flag"
	"slices"
	"sync"
	"testing"

	"rampart/boot/internal/mcubootoracle"
)

var oracleParallel = flag.Bool("oracle.parallel", true, "differential test: run the scenarios of a sweep in parallel (go test's -parallel, GOMAXPROCS by default, at a time), each with its own copies of MCUboot's library")

// parallelScenario marks a differential scenario's subtest parallel (with
// -oracle.parallel). A scenario's cut runs already share its workers, but
// its uncut run, images and set-up run alone, and most scenarios are
// short: one scenario at a time kept about one core of two busy.
func parallelScenario(t *testing.T) {
	if *oracleParallel {
		t.Parallel()
	}
}

// libPool hands out copies of MCUboot's library, per configuration.
// MCUboot keeps its state in globals, so two boots at the same time (the
// workers of one scenario, or two scenarios running in parallel) each
// need their own copy: dlopen maps one instance per file.
var libPool struct {
	sync.Mutex
	busy map[mcubootoracle.Config][]bool
}

// acquireLib returns a copy of cfg's library that nothing else uses until
// t ends.
func acquireLib(t testing.TB, cfg mcubootoracle.Config) (*mcubootoracle.Oracle, error) {
	libPool.Lock()
	if libPool.busy == nil {
		libPool.busy = map[mcubootoracle.Config][]bool{}
	}
	b := libPool.busy[cfg]
	k := slices.Index(b, false)
	if k < 0 {
		k, b = len(b), append(b, false)
	}
	b[k] = true
	libPool.busy[cfg] = b
	libPool.Unlock()
	t.Cleanup(func() {
		libPool.Lock()
		libPool.busy[cfg][k] = false
		libPool.Unlock()
	})
	if k == 0 {
		return mcubootoracle.Open(cfg)
	}
	return mcubootoracle.OpenCopy(cfg, k)
}

// countsMu guards the sweep totals that parallel scenarios add to.
var countsMu sync.Mutex

func (c *diffCounts) add(d *diffCounts) {
	countsMu.Lock()
	defer countsMu.Unlock()
	c.scenarios += d.scenarios
	c.cutPoints += d.cutPoints
	c.singles += d.singles
	c.chains += d.chains
	c.boots += d.boots
	c.ran += d.ran
	c.bricked += d.bricked
}
