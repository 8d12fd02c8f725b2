package fleet

import (
	"context"
	"crypto/tls"
	"flag"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rampart/deviceproto"
)

var (
	enrollCostFlag   = flag.Bool("fleet.enrollcost", false, "run TestEnrollCost: the server's CPU per enrollment over HTTPS, per connection style, against its cryptography")
	enrollCostRounds = flag.Int("fleet.enrollrounds", 3, "TestEnrollCost: rounds (each runs every connection style once)")
	enrollCostOnly   = flag.String("fleet.enrollstyle", "", "TestEnrollCost: measure only the connection styles whose name contains this (e.g. kept-alive, to profile one)")
)

// enrollStyle is how the load generator's devices reach the enrollment
// listener.
type enrollStyle struct {
	name string
	// client returns the HTTP client device i of a round uses, and a
	// function to call once it is done with it.
	client func(i int) (*http.Client, func())
}

// enrollStyles: the load test's (32 kept-alive connections shared by every
// device), a real device's (one new connection for its nonce and its
// submission, full TLS handshake), and a device that resumes an earlier
// TLS session (a renewal, or a retry after a refusal).
func enrollStyles(f *fixture, workers, n int) []enrollStyle {
	shared := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.pool}, MaxIdleConnsPerHost: workers}}
	caches := make([]tls.ClientSessionCache, n)
	for i := range caches {
		caches[i] = tls.NewLRUClientSessionCache(1)
	}
	perDevice := func(cache tls.ClientSessionCache) (*http.Client, func()) {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.pool, ClientSessionCache: cache}, MaxIdleConnsPerHost: 1}
		return &http.Client{Timeout: 60 * time.Second, Transport: tr}, tr.CloseIdleConnections
	}
	return []enrollStyle{
		{"kept-alive (32 connections)", func(int) (*http.Client, func()) { return shared, func() {} }},
		{"one connection per device, full handshake", func(int) (*http.Client, func()) { return perDevice(nil) }},
		{"one connection per device, resumed session", func(i int) (*http.Client, func()) { return perDevice(caches[i]) }},
	}
}

// TestEnrollCost measures the server's CPU per enrollment end to end (the
// server in a child process; its CPU from /proc) for each connection
// style, in rounds that run every style in turn on the same devices (each
// enrollment supersedes the device's previous certificate), next to the
// cryptography that defines the work (token verify, CSR verify,
// certificate signature) measured in the same run. It prints, per style,
// the median server CPU per enrollment, its ratio to the cryptography
// (goal <= 2), the rate that CPU allows on dedicated cores, and the wall
// rate on the shared cores; it asserts nothing about time.
//
//	go test ./fleet -run TestEnrollCost -fleet.enrollcost -fleet.devices 1000 -v
func TestEnrollCost(t *testing.T) {
	if !*enrollCostFlag {
		t.Skip("enrollment cost: run with -fleet.enrollcost")
	}
	n := min(*loadDevices, 2000)
	ensureFiles(t, int64(*loadWorkers+256), "the enrollment workers")
	f := prepareFixture(t, "sqlite")
	appendConfig(t, f.cfgPath, loadLimits)
	child := f.startChild()
	srvPID := child.Process.Pid
	if st, body := f.api("POST", "/api/v1/releases", adminToken, string(f.release)); st != 201 {
		t.Fatalf("register release: %d %s", st, body)
	}
	var devs []*device
	for len(devs) < n {
		devs = append(devs, f.newDevices(min(1000, n-len(devs)))...)
	}
	csrs := precomputeCSRs(t, devs)
	styles := enrollStyles(f, *loadWorkers, n)
	// A first round, not counted, gives every device a certificate and a
	// TLS session to resume.
	if _, _, err := enrollWith(f, devs, csrs, *loadWorkers, styles[2]); err != nil {
		t.Fatal(err)
	}
	styles = slices.DeleteFunc(styles, func(s enrollStyle) bool { return !strings.Contains(s.name, *enrollCostOnly) })
	cores := float64(runtime.GOMAXPROCS(0))
	t.Logf("load average before: %s; %d devices, %d workers", loadAvg(), n, *loadWorkers)
	srvUS := make([][]float64, len(styles))
	rates := make([][]float64, len(styles))
	var cryptoUS []float64
	for range *enrollCostRounds {
		_, c := cryptoBound(t, devs[0])
		cryptoUS = append(cryptoUS, us(c))
		for i, s := range styles {
			cpu0 := cpuTicks(t, srvPID)
			rate, ok, err := enrollWith(f, devs, csrs, *loadWorkers, s)
			cpu1 := cpuTicks(t, srvPID)
			if err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			srvUS[i] = append(srvUS[i], 1e6*ticksSec(cpu1-cpu0)/float64(ok))
			rates[i] = append(rates[i], rate)
		}
	}
	crypto := medianOf(cryptoUS)
	t.Logf("server cryptography per enrollment (token verify + CSR verify + certificate sign): %.0f µs CPU (median of %d)", crypto, len(cryptoUS))
	for i, s := range styles {
		u := medianOf(srvUS[i])
		t.Logf("%s: server %.0f µs CPU per enrollment = %.2f× its cryptography (goal <= 2×); %.0f/s on %.0f dedicated cores (derived); %.0f/s end to end on the shared cores (medians of %d rounds)",
			s.name, u, u/crypto, 1e6*cores/u, cores, medianOf(rates[i]), len(srvUS[i]))
	}
	t.Logf("load average after: %s", loadAvg())
}

// enrollWith enrolls every device once, workers at a time, each through
// the style's client; it returns the wall rate and how many succeeded.
func enrollWith(f *fixture, devs []*device, csrs [][]byte, workers int, s enrollStyle) (float64, int, error) {
	var next, okN atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < len(devs); i = int(next.Add(1)) - 1 {
				hc, done := s.client(i)
				cl := &deviceproto.Client{URL: f.enrollURL, HTTP: hc}
				if _, err := enrollOne(context.Background(), cl, devs[i], csrs[i]); err != nil {
					firstErr.CompareAndSwap(nil, err)
				} else {
					okN.Add(1)
				}
				done()
			}
		}()
	}
	wg.Wait()
	err, _ := firstErr.Load().(error)
	return float64(okN.Load()) / time.Since(start).Seconds(), int(okN.Load()), err
}

func medianOf(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
