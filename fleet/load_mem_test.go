package fleet

// The child server's Go runtime memory figures for the load test: a
// handler on the default mux, which the child serves when
// RAMPART_FLEET_TEST_CHILD_PPROF names an address (runChild). Test-only.

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"time"
)

const memStatsPath = "/debug/rampart/memstats"

// childMem is the child's memory after a full garbage collection and
// returning the free pages to the operating system (debug.FreeOSMemory),
// so that the RSS read right after it is the live memory plus the
// runtime's own.
type childMem struct {
	HeapInuse, StackInuse, HeapSys, Sys uint64
	Goroutines                          int
}

func init() {
	http.HandleFunc(memStatsPath, func(w http.ResponseWriter, _ *http.Request) {
		debug.FreeOSMemory()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		json.NewEncoder(w).Encode(childMem{m.HeapInuse, m.StackInuse, m.HeapSys, m.Sys, runtime.NumGoroutine()})
	})
}

// freeLoopbackAddr is a loopback address with a port free right now.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// fetchChildMem asks the child at addr for its memory figures.
func fetchChildMem(addr string) (childMem, error) {
	var m childMem
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get("http://" + addr + memStatsPath)
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return m, fmt.Errorf("%s: %s", memStatsPath, resp.Status)
	}
	return m, json.NewDecoder(resp.Body).Decode(&m)
}
