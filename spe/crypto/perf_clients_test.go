package crypto

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"rampart/ipc"
	"rampart/psa"
	"rampart/psaclient"
)

// TestSignClients measures ECDSA P-256 signing through an SPE in another
// process (as `rampart spe serve` runs) against signing in-process, with
// one and with two concurrent clients (each client its own connection and
// key; in-process, as many goroutines), and the empty call's round trip
// against a bare Unix-socket echo between the same two processes. Each
// round runs the four measurements in turn, so SPE and baseline see the
// same load; the medians of the rounds and of the per-round ratios are
// printed with the goal (rate >= 0.8 of in-process) and the load average.
// It asserts nothing about time.
//
//	go test ./spe/crypto -run TestSignClients -perf -v
func TestSignClients(t *testing.T) {
	if !*perf {
		t.Skip("pass -perf to measure")
	}
	speSock, echoSock := startHelperProcess(t, "spe"), startHelperProcess(t, "echo")
	t.Logf("load average before: %s", loadAverage())
	const ops = 2000 // per client per round
	for _, clients := range []int{1, 2} {
		var spe, local, call, echo, rate, rtt []float64
		for r := 0; r < *perfRounds; r++ {
			s := perClient(t, clients, ops, func(t *testing.T) func() { return speSigner(t, speSock) })
			l := perClient(t, clients, ops, inProcessSigner)
			c := perClient(t, clients, ops, func(t *testing.T) func() { return emptyCaller(t, speSock) })
			e := perClient(t, clients, ops, func(t *testing.T) func() { return echoCaller(t, echoSock) })
			spe, local, call, echo = append(spe, s), append(local, l), append(call, c), append(echo, e)
			rate, rtt = append(rate, l/s), append(rtt, c/e)
		}
		t.Logf("%d client(s): sign through the SPE %.1f µs/op, in-process %.1f µs/op: rate ratio %.2f (goal >= 0.8); "+
			"empty call %.1f µs, Unix-socket echo %.1f µs: time ratio %.2f (medians of %d rounds of %d ops a client)",
			clients, med(spe), med(local), med(rate), med(call), med(echo), med(rtt), len(rate), ops)
	}
	t.Logf("load average after: %s", loadAverage())
}

// perClient runs ops calls on each of n clients at once (each made by
// setup on its own goroutine) and returns the wall time per operation of
// the whole, in µs: with two clients, half the time of one client's call
// means twice the rate.
func perClient(t *testing.T, n, ops int, setup func(*testing.T) func()) float64 {
	t.Helper()
	calls := make([]func(), n)
	for i := range calls {
		calls[i] = setup(t)
	}
	var wg sync.WaitGroup
	start := time.Now()
	for _, call := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range ops {
				call()
			}
		}()
	}
	wg.Wait()
	return float64(time.Since(start).Microseconds()) / float64(n*ops)
}

// speSigner is one client of the SPE at sock with its own P-256 key.
func speSigner(t *testing.T, sock string) func() {
	c, err := psaclient.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	id, err := c.GenerateKey(psa.KeyAttributes{Type: secp, Bits: 256, Usage: psa.UsageSignHash, Algorithm: psa.AlgECDSA(psa.AlgSHA256)})
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("bench"))
	return func() {
		if _, err := c.SignHash(id, psa.AlgECDSA(psa.AlgSHA256), d[:]); err != nil {
			t.Error(err)
		}
	}
}

// inProcessSigner signs with crypto/ecdsa in the test process.
func inProcessSigner(*testing.T) func() {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	d := sha256.Sum256([]byte("bench"))
	return func() { ecdsa.SignASN1(rand.Reader, k, d[:]) }
}

// emptyCaller makes empty calls to the SPE's no-op service at sock.
func emptyCaller(t *testing.T, sock string) func() {
	c, err := ipc.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rep, err := c.RoundTrip(&ipc.Request{Kind: ipc.KindConnect, SID: nopSID, Version: 1})
	if err != nil || rep.Status != ipc.Success {
		t.Fatal(err, rep)
	}
	req := &ipc.Request{Kind: ipc.KindCall, Handle: rep.Handle}
	return func() {
		if rep, err := c.RoundTrip(req); err != nil || rep.Status != ipc.Success {
			t.Error(err)
		}
	}
}

// echoCaller sends an empty call's bytes to the echo server at sock and
// reads a reply of the SPE's reply size.
func echoCaller(t *testing.T, sock string) func() {
	reqLen, repLen := emptyCallFrames()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	req, rep := make([]byte, reqLen), make([]byte, repLen)
	return func() {
		c.Write(req)
		io.ReadFull(c, rep)
	}
}

func med(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// loadAverage is /proc/loadavg's first three fields ("?" elsewhere).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
