package clustertest

import (
	"crypto/x509"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// progress logs, every period until stopped, the phase a long run is in
// and how many of its devices are enrolled and connected, and how many on
// newCA once one is set: a 10,000-device run lasts most of an hour, and a
// run stopped part-way (a deadline, a failure) still reports how far it
// got from its log.
type progress struct {
	t      testing.TB
	fd     *fleetDevices
	nd     *node
	start  time.Time
	phase  atomic.Value // string
	newCA  atomic.Pointer[x509.Certificate]
	stop   chan struct{}
	wg     sync.WaitGroup
	period time.Duration
}

func startProgress(t testing.TB, fd *fleetDevices, nd *node, period time.Duration) *progress {
	p := &progress{t: t, fd: fd, nd: nd, start: time.Now(), stop: make(chan struct{}), period: period}
	p.phase.Store("start")
	p.wg.Add(1)
	go p.run()
	t.Cleanup(p.end)
	return p
}

// set names the phase the run entered, and logs it at once.
func (p *progress) set(phase string) {
	p.phase.Store(phase)
	p.log()
}

func (p *progress) run() {
	defer p.wg.Done()
	tick := time.NewTicker(p.period)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
			p.log()
		}
	}
}

func (p *progress) log() {
	up, n := 0, len(p.fd.devs)
	for _, sd := range p.fd.devs {
		if sd != nil && sd.id() != "" && sd.connected() {
			up++
		}
	}
	onNew := ""
	if ca := p.newCA.Load(); ca != nil {
		onNew = ", on the new CA " + strconv.Itoa(moved(p.fd, ca))
	}
	logf(p.t, "progress [%s] +%s: %d of %d enrolled and connected%s; server CPU %s; load average %s",
		p.phase.Load(), time.Since(p.start).Round(time.Second), up, n, onNew, p.nd.cpu().Round(time.Millisecond), loadavg())
}

func (p *progress) end() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	p.wg.Wait()
}

// signedBy caches whether a device certificate was signed by a CA: the
// benchmark polls every device's certificate every 200 ms, and at 10,000
// devices checking every signature each time would take most of a core
// of the machine the server is measured on. A device's certificate changes
// once per re-enrollment, so the cache hits almost always.
var signedBy sync.Map // [2]*x509.Certificate{cert, ca} -> bool

func isSignedBy(c, ca *x509.Certificate) bool {
	k := [2]*x509.Certificate{c, ca}
	if v, ok := signedBy.Load(k); ok {
		return v.(bool)
	}
	ok := c.CheckSignatureFrom(ca) == nil
	signedBy.Store(k, ok)
	return ok
}
