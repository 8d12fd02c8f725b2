package clustertest

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"rampart/internal/proc"
)

// failoverSample follows the devices of a killed node until each is
// connected to another, noting when each came back, and what the
// failover cost: the surviving nodes' CPU and the test process's (the
// simulated devices and the NATS servers run there, on the same cores).
type failoverSample struct {
	victim  int
	devs    []*simDevice
	dials0  []int64
	back    []time.Duration // per device, 0 until seen connected elsewhere
	began   time.Time
	took    time.Duration
	missing int

	nodeCPU0, selfCPU0 time.Duration
	nodeCPU, selfCPU   time.Duration
	dials              int64

	pg pgSample
}

// pgSample is what PostgreSQL did for the test's database meanwhile,
// sampled every 200 ms: how many of its queries ran at once (the nodes
// hold at most 16 connections each) and the oldest running one.
type pgSample struct {
	stop    context.CancelFunc
	done    chan struct{}
	samples int
	active  int           // sum over samples
	peak    int           // most at once
	oldest  time.Duration // the longest-running query seen
}

func (p *pgSample) start(dsn string) {
	ctx, cancel := context.WithCancel(context.Background())
	p.stop, p.done = cancel, make(chan struct{})
	go func() {
		defer close(p.done)
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return
		}
		defer db.Close()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			var n int
			var oldest float64
			err := db.QueryRowContext(ctx, `SELECT count(*), coalesce(extract(epoch FROM max(now() - query_start)), 0)
				FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()`).Scan(&n, &oldest)
			if err != nil {
				continue
			}
			p.samples++
			p.active += n
			p.peak = max(p.peak, n)
			p.oldest = max(p.oldest, time.Duration(oldest*float64(time.Second)))
		}
	}()
}

func (p *pgSample) end() {
	if p.stop != nil {
		p.stop()
		<-p.done
	}
}

func (p *pgSample) String() string {
	if p.samples == 0 {
		return "PostgreSQL not sampled"
	}
	return fmt.Sprintf("PostgreSQL queries running at once: mean %.1f, peak %d, oldest %s (%d samples)",
		float64(p.active)/float64(p.samples), p.peak, p.oldest.Round(time.Millisecond), p.samples)
}

func (fs *failoverSample) begin(c *testCluster, victim int, devs []*simDevice) {
	fs.victim, fs.devs = victim, devs
	fs.back = make([]time.Duration, len(devs))
	for _, sd := range devs {
		fs.dials0 = append(fs.dials0, sd.dials.Load())
	}
	fs.nodeCPU0, fs.selfCPU0 = fs.survivorsCPU(c), proc.CPU()
	fs.pg.start(c.dsn)
	fs.began = time.Now()
}

// survivorsCPU is the CPU so far of every running node but the victim.
func (fs *failoverSample) survivorsCPU(c *testCluster) time.Duration {
	var d time.Duration
	for i, nd := range c.nodes {
		if i != fs.victim && nd.running() {
			d += nd.cpu()
		}
	}
	return d
}

// wait polls every 20 ms until every device is connected to another
// node, or timeout; it reports whether all came back.
func (fs *failoverSample) wait(c *testCluster, timeout time.Duration) bool {
	deadline := fs.began.Add(timeout)
	for {
		fs.missing = 0
		for i, sd := range fs.devs {
			if fs.back[i] > 0 {
				continue
			}
			if sd.connected() && sd.node(c) != fs.victim {
				fs.back[i] = time.Since(fs.began)
				continue
			}
			fs.missing++
		}
		if fs.missing == 0 {
			fs.took = slices.Max(fs.back)
			return true
		}
		if time.Now().After(deadline) {
			fs.took = time.Since(fs.began)
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (fs *failoverSample) end(c *testCluster) {
	fs.pg.end()
	fs.nodeCPU = fs.survivorsCPU(c) - fs.nodeCPU0
	fs.selfCPU = proc.CPU() - fs.selfCPU0
	for i, sd := range fs.devs {
		fs.dials += sd.dials.Load() - fs.dials0[i]
	}
}

// report is one line: the quantiles of the devices' return, the dials
// per device, and the cores the survivors and the test process kept busy.
func (fs *failoverSample) report() string {
	var back []time.Duration
	for _, d := range fs.back {
		if d > 0 {
			back = append(back, d)
		}
	}
	slices.Sort(back)
	q := func(p float64) time.Duration {
		if len(back) == 0 {
			return 0
		}
		return back[min(len(back)-1, int(p*float64(len(back))))].Round(time.Millisecond)
	}
	n := max(1, len(fs.devs)-fs.missing)
	secs := fs.took.Seconds()
	return fmt.Sprintf("%d of %d devices back in %s (p10 %s, p50 %s, p90 %s, p99 %s); %.2f dials a device; survivors' CPU %s (%.2f cores, %s a device); test process CPU %s (%.2f cores: devices and NATS); %s; load %s",
		len(back), len(fs.devs), fs.took.Round(time.Millisecond), q(0.1), q(0.5), q(0.9), q(0.99),
		float64(fs.dials)/float64(len(fs.devs)), fs.nodeCPU.Round(time.Millisecond), fs.nodeCPU.Seconds()/secs,
		(fs.nodeCPU / time.Duration(n)).Round(10*time.Microsecond), fs.selfCPU.Round(time.Millisecond), fs.selfCPU.Seconds()/secs, &fs.pg, loadavg())
}

// eachWithin polls cond every 20 ms for every device of devs until each
// has held it once, or until within after began. It returns the devices
// that never did and when the last of the others first did. A device in
// the middle of an update renews its certificate after the install,
// which ends its session for a moment wherever it is; all devices
// connected at one instant is therefore not what "every device came back"
// means while a campaign runs, but each one connected at some moment.
func eachWithin(devs []*simDevice, began time.Time, within time.Duration, cond func(*simDevice) bool) (late []*simDevice, last time.Duration) {
	back := make([]bool, len(devs))
	for left := len(devs); ; {
		for i, sd := range devs {
			if !back[i] && cond(sd) {
				back[i], left = true, left-1
				last = time.Since(began)
			}
		}
		if left == 0 || time.Since(began) > within {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i, sd := range devs {
		if !back[i] {
			late = append(late, sd)
		}
	}
	return late, last
}
