package crypto

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"rampart/internal/proc"
	"rampart/internal/shmring"
	"rampart/ipc"
	"rampart/psa"
	"rampart/psaclient"
)

// TestSignClients measures ECDSA P-256 signing through an SPE in another
// process (as `rampart spe serve` runs) against signing in-process, with
// one and with two concurrent clients (each client its own connection and
// key; in-process, as many goroutines), over the shared-memory lane and
// over the socket alone, and the empty call's round trip on each against
// a bare echo of the same bytes between two processes (Unix socket, and a
// shmring lane). Each round runs every measurement in turn, so SPE and
// baselines see the same load; the medians of the rounds and of the
// per-round ratios are printed with the goal (rate >= 0.8 of in-process),
// the CPU each costs per operation (client and SPE processes together:
// what the lane's spinning costs the machine) and the load average. It
// asserts nothing about time.
//
//	go test ./spe/crypto -run TestSignClients -perf -v
func TestSignClients(t *testing.T) {
	if !*perf {
		t.Skip("pass -perf to measure")
	}
	speSock, echoSock := startHelperProcess(t, "spe"), startHelperProcess(t, "echo")
	spePID := helperPIDs[speSock]
	t.Logf("load average before: %s; lane spin %v", loadAverage(), shmring.SpinFromEnv())
	const ops = 2000 // per client per round
	shm, sock := ipc.DialOptions{}, ipc.DialOptions{Socket: true}
	for _, clients := range []int{1, 2} {
		m := map[string][]float64{}
		cpu := map[string][]float64{}
		run := func(name string, setup func(*testing.T) func(), pid int) float64 {
			wall, c := perClientCPU(t, clients, ops, setup, pid)
			m[name], cpu[name] = append(m[name], wall), append(cpu[name], c)
			return wall
		}
		var rateShm, rateSock, rttShm, rttSock []float64
		for r := 0; r < *perfRounds; r++ {
			l := run("in-process", inProcessSigner, 0)
			ss := run("sign shm", func(t *testing.T) func() { return speSigner(t, speSock, shm) }, spePID)
			so := run("sign socket", func(t *testing.T) func() { return speSigner(t, speSock, sock) }, spePID)
			cs := run("empty call shm", func(t *testing.T) func() { return emptyCaller(t, speSock, shm) }, spePID)
			co := run("empty call socket", func(t *testing.T) func() { return emptyCaller(t, speSock, sock) }, spePID)
			es := run("shm echo", func(t *testing.T) func() { return shmEchoCaller(t, echoSock) }, helperPIDs[echoSock])
			eo := run("socket echo", func(t *testing.T) func() { return echoCaller(t, echoSock) }, helperPIDs[echoSock])
			rateShm, rateSock = append(rateShm, l/ss), append(rateSock, l/so)
			rttShm, rttSock = append(rttShm, cs/eo), append(rttSock, co/eo)
			_ = es
		}
		for _, name := range []string{"in-process", "sign shm", "sign socket", "empty call shm", "empty call socket", "shm echo", "socket echo"} {
			t.Logf("%d client(s): %-17s %6.1f µs/op wall, %6.1f µs CPU/op (both processes)", clients, name, med(m[name]), med(cpu[name]))
		}
		t.Logf("%d client(s): sign shm's waits for a reply: %s", clients, laneWaits.take())
		t.Logf("%d client(s): rate ÷ in-process: shm %.2f, socket %.2f (goal >= 0.8); empty call ÷ socket echo: shm %.2f, socket %.2f (medians of %d rounds of %d ops a client)",
			clients, med(rateShm), med(rateSock), med(rttShm), med(rttSock), len(rateShm), ops)
	}
	t.Logf("load average after: %s", loadAverage())
}

// perClientCPU is perClient and the CPU time it cost this process and the
// process pid (0: none), per operation, in µs.
func perClientCPU(t *testing.T, n, ops int, setup func(*testing.T) func(), pid int) (wall, cpu float64) {
	t.Helper()
	c0, p0 := selfCPU(), procCPU(pid)
	wall = perClient(t, n, ops, setup)
	return wall, float64((selfCPU()-c0)+(procCPU(pid)-p0)) / 1e3 / float64(n*ops)
}

// selfCPU is this process's user and system time in ns.
func selfCPU() int64 { return int64(proc.CPU()) }

// procCPU is the time on CPU of every thread of process pid, in ns (0
// when it cannot be read).
func procCPU(pid int) int64 {
	d, _ := proc.ThreadCPU(pid)
	return int64(d)
}

// laneWaits sums the lane waits of speSigner's connections over shared
// memory: met spinning, slept, and moves off the SPE's CPU.
var laneWaits waitSums

type waitSums struct {
	sync.Mutex
	conns []*ipc.Conn
}

// take reports the sums and forgets the connections.
func (lw *waitSums) take() string {
	lw.Lock()
	defer lw.Unlock()
	var spun, slept, moved uint64
	for _, c := range lw.conns {
		a, b, m := c.LaneWaits()
		spun, slept, moved = spun+a, slept+b, moved+m
	}
	lw.conns = nil
	return fmt.Sprintf("spun %d, slept %d, moved off the SPE's CPU %d", spun, slept, moved)
}

// speSigner is one client of the SPE at sock with its own P-256 key.
func speSigner(t *testing.T, sock string, opt ipc.DialOptions) func() {
	conn, err := ipc.DialWith(sock, opt)
	if err != nil {
		t.Fatal(err)
	}
	if conn.SharedMemory() {
		laneWaits.Lock()
		laneWaits.conns = append(laneWaits.conns, conn)
		laneWaits.Unlock()
	}
	c, err := psaclient.NewClient(conn)
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
func emptyCaller(t *testing.T, sock string, opt ipc.DialOptions) func() {
	c, err := ipc.DialWith(sock, opt)
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
