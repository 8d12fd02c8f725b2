package clustertest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"rampart/internal/proc"
	"rampart/sim"
)

var (
	benchBurst        = flag.Duration("cluster.burst", 10*time.Second, "benchmark: length of the telemetry burst of each configuration")
	benchBaseAgain    = flag.Bool("cluster.base-again", false, "benchmark: run the baseline (one node on PostgreSQL, no cluster) once more at the end, with devices that enrolled before, as every cluster configuration's are")
	benchFailoverOnly = flag.Bool("cluster.failover-only", false, "benchmark: enroll the devices, then only time the failover (no telemetry or reconnection phase; for a large -cluster.devices)")
)

// phaseTimeout bounds a phase in which every one of n devices acts at
// once: 5 minutes, or 200 ms a device for thousands of them on shared
// cores.
func phaseTimeout(n int) time.Duration {
	return max(5*time.Minute, time.Duration(n)*200*time.Millisecond)
}

// benchRow is what one configuration achieved and cost.
type benchRow struct {
	name     string
	nodes    int
	devices  int
	skipped  string // why the configuration did not run
	enrollS  float64
	cpuEnr   time.Duration // all nodes' CPU per enrollment
	msgsS    float64       // telemetry messages acknowledged (= durably stored) a second
	cpuMsg   time.Duration // all nodes' CPU per message
	rssKB    int64         // the largest node's resident memory after the burst
	pgMsg    time.Duration // the PostgreSQL server's CPU per message (every postgres process)
	pgEnr    time.Duration // and per enrollment
	idle0    float64       // the nodes' CPU (cores) idle without devices
	idle1    float64       // and with every device connected and silent
	reconS   float64       // enrolled devices reconnecting at once: sessions a second
	cpuRecon time.Duration // nodes' CPU per reconnection (TLS handshake, session, first publish)
	failover time.Duration // a killed node's devices all connected elsewhere (0: not measured)
	failN    int           // how many devices the killed node held
	failNote string
	perNode  []string // each node's CPU per message
}

// TestClusterBench (-cluster.bench) measures, in one run on this machine:
// one node on PostgreSQL without cluster (the baseline), then clusters of
// 1, 2 and 3 nodes with NATS. For each: enrollments a second and the
// nodes' CPU per enrollment (every device enrolls at once), telemetry
// messages a second acknowledged (each one durably stored in PostgreSQL,
// checked afterwards) and the nodes' CPU per message (every device
// publishing QoS 1 back to back for -cluster.burst), the largest node's
// memory, and with 2+ nodes the failover time of a killed node's devices.
// CPU is utime+stime from /proc/<pid>/stat of the server processes only
// (the devices run in the test process). It prints a table with ratios to
// the baseline.
func TestClusterBench(t *testing.T) {
	if !*bench {
		t.Skip("benchmark: run with -cluster.bench (go test ./fleet/clustertest -run TestClusterBench -cluster.bench -v)")
	}
	ctx := context.Background()
	mfr, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rel, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	n := deviceCount(300)
	devDir := t.TempDir() // the devices outlive each configuration's cluster
	var devs *fleetDevices
	var rows []benchRow
	configs := []struct {
		name  string
		nodes int
		nats  bool
	}{{"postgres, no cluster", 1, false}, {"cluster 1 node", 1, true}, {"cluster 2 nodes", 2, true}, {"cluster 3 nodes", 3, true}}
	if *benchBaseAgain {
		// The first configuration's devices enroll for the first time in
		// their life, the others' are adopted from the one before
		// (fleetDevices.adopt): this row is the baseline in their
		// condition.
		configs = append(configs, struct {
			name  string
			nodes int
			nats  bool
		}{"postgres, no cluster, again", 1, false})
	}
	for _, cf := range configs {
		row := benchRow{name: cf.name, nodes: cf.nodes, devices: n}
		if cf.nats {
			if err := clusterSupported(t); err != nil {
				row.skipped = "missing feature: cluster: section (c17-core)"
				rows = append(rows, row)
				continue
			}
		}
		t.Run(strings.ReplaceAll(cf.name, " ", "_"), func(t *testing.T) {
			c := newCluster(t, clusterOptions{Nodes: cf.nodes, NATS: cf.nats, Mfr: mfr, Release: rel, DeviceDir: devDir})
			c.startAll()
			if devs == nil {
				began := time.Now()
				devs = c.manufacture(ctx, n)
				logf(t, "manufactured %d devices in %s", n, time.Since(began).Round(time.Millisecond))
				// First power-on outside the measurement: the SPE makes the
				// device's TLS key at the agent's first start, once in a
				// device's life, not at each enrollment.
				parallel(4, n, func(i int) {
					sd := devs.devs[i]
					if _, err := sd.d.PowerOn(); err != nil {
						t.Error(err)
						return
					}
					a, err := sd.d.StartAgent(devs.fleets[0], sim.AgentOptions{Interval: time.Hour})
					if err != nil {
						t.Error(err)
						return
					}
					a.Close()
				})
			} else {
				devs = c.adopt(ctx, devs)
			}
			benchOne(t, c, devs, &row)
			devs.stopAll()
			c.stopAll()
		})
		rows = append(rows, row)
	}
	printBench(t, rows)
}

// cpuAll is the CPU time of every running node so far.
func (c *testCluster) cpuAll() time.Duration {
	var d time.Duration
	for _, nd := range c.nodes {
		d += nd.cpu()
	}
	return d
}

// selfCPU is the CPU time of the test process so far: the simulated
// devices and, in a cluster, the NATS servers.
func selfCPU() time.Duration {
	v, _ := proc.CPUTicks(os.Getpid())
	return time.Duration(v) * proc.ClockTick
}

// postgresCPU is the CPU time so far of every process named postgres on
// this machine (the server and its backends): the store's cost, an upper
// bound when other clients use the same server.
func postgresCPU() time.Duration {
	ents, _ := os.ReadDir("/proc")
	var ticks int64
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err != nil || strings.TrimSpace(string(b)) != "postgres" {
			continue
		}
		if v, err := proc.CPUTicks(pid); err == nil {
			ticks += v
		}
	}
	return time.Duration(ticks) * proc.ClockTick
}

func benchOne(t *testing.T, c *testCluster, fd *fleetDevices, row *benchRow) {
	ctx := context.Background()
	// The nodes' own background (heartbeats, leases, compaction) is
	// measured while idle and taken out of each phase's CPU, so that the
	// cost per operation does not grow with the node count for that alone.
	idleRate := func() float64 {
		c0, t0 := c.cpuAll(), time.Now()
		time.Sleep(3 * time.Second)
		return float64(c.cpuAll()-c0) / float64(time.Since(t0))
	}
	net := func(cpu time.Duration, took time.Duration, rate float64) time.Duration {
		return max(0, cpu-time.Duration(rate*float64(took)))
	}
	row.idle0 = idleRate()
	// Enrollment: every device at once.
	stopPerf := c.perfPhase(t, row.name, "enroll")
	cpu0, pg0, self0, began := c.cpuAll(), postgresCPU(), selfCPU(), time.Now()
	fd.start(0, len(fd.devs))
	if bad := fd.waitAll(phaseTimeout(len(fd.devs)), fd.devs, func(sd *simDevice) bool { return sd.id() != "" }); len(bad) > 0 {
		t.Fatalf("%d devices not enrolled within %s", len(bad), phaseTimeout(len(fd.devs)))
	}
	took := time.Since(began)
	stopPerf()
	row.enrollS = float64(len(fd.devs)) / took.Seconds()
	row.cpuEnr = net(c.cpuAll()-cpu0, took, row.idle0) / time.Duration(len(fd.devs))
	row.pgEnr = (postgresCPU() - pg0) / time.Duration(len(fd.devs))
	logf(t, "%s: %d enrollments in %s; the test process (devices, NATS servers) used %.2f cores meanwhile, the nodes %.2f",
		row.name, len(fd.devs), took.Round(time.Millisecond), float64(selfCPU()-self0)/float64(took), float64(c.cpuAll()-cpu0)/float64(took))
	fd.onboarded(phaseTimeout(len(fd.devs)))
	time.Sleep(time.Second) // let the first publishes and the connects settle
	if *benchFailoverOnly {
		benchFailover(t, c, fd, row)
		return
	}
	row.idle1 = idleRate() // devices connected, silent

	// Telemetry: every device back to back.
	per0 := make([]time.Duration, len(c.nodes))
	for i, nd := range c.nodes {
		per0[i] = nd.cpu()
	}
	cpu1, acked0, pg1 := c.cpuAll(), fd.acked(), postgresCPU()
	bctx, stop := context.WithTimeout(ctx, *benchBurst)
	stopPerf = c.perfPhase(t, row.name, "telemetry")
	began = time.Now()
	msgs := fd.burst(bctx, 0)()
	took = time.Since(began)
	stopPerf()
	stop()
	if msgs == 0 {
		t.Fatal("no telemetry acknowledged")
	}
	row.msgsS = float64(msgs) / took.Seconds()
	row.cpuMsg = net(c.cpuAll()-cpu1, took, row.idle1) / time.Duration(msgs)
	row.pgMsg = (postgresCPU() - pg1) / time.Duration(msgs)
	for i, nd := range c.nodes {
		row.perNode = append(row.perNode, fmt.Sprintf("%s %s", nd.name, ((nd.cpu()-per0[i])/time.Duration(msgs)).Round(100*time.Nanosecond)))
		if kb, err := proc.RSSKB(nd.pid()); err == nil && kb > row.rssKB {
			row.rssKB = kb
		}
	}
	logf(t, "%s: %d messages in %s (%d acknowledged before)", row.name, msgs, took.Round(time.Millisecond), acked0)
	stored := fd.checkAckedStored(ctx, c.store())
	logf(t, "%s: all %d acknowledged messages found in PostgreSQL", row.name, stored)

	// Reconnection: every agent stops and starts again (enrolled: a TLS
	// handshake with its certificate, the MQTT session, one publish), what
	// a node's devices cost the others when it fails.
	for _, sd := range fd.devs {
		sd.stop()
	}
	cpu2, began := c.cpuAll(), time.Now()
	dials := map[*simDevice]int64{}
	for _, sd := range fd.devs {
		dials[sd] = sd.dials.Load()
	}
	for _, sd := range fd.devs {
		fd.startOne(sd, sd.home)
	}
	if bad := fd.waitAll(phaseTimeout(len(fd.devs)), fd.devs, func(sd *simDevice) bool {
		return sd.connected() && sd.dials.Load() > dials[sd] && sd.agent.Load().Published() > 0
	}); len(bad) > 0 {
		t.Fatalf("%d devices not reconnected within %s", len(bad), phaseTimeout(len(fd.devs)))
	}
	took = time.Since(began)
	row.reconS = float64(len(fd.devs)) / took.Seconds()
	row.cpuRecon = net(c.cpuAll()-cpu2, took, row.idle0) / time.Duration(len(fd.devs))
	logf(t, "%s: %d reconnections in %s", row.name, len(fd.devs), took.Round(time.Millisecond))

	benchFailover(t, c, fd, row)
}

// benchFailover kills -9 the last node and times until all of its devices
// are connected to the others (up to 2 minutes, so that a failover
// slower than the 10 s goal is measured too). It also logs where the time
// went: when each device came back (quantiles), the dials it took, and
// the CPU the surviving nodes and the test process (the simulated
// devices, the NATS servers) used meanwhile.
func benchFailover(t *testing.T, c *testCluster, fd *fleetDevices, row *benchRow) {
	if len(c.nodes) < 2 {
		return
	}
	victim := len(c.nodes) - 1
	var victims []*simDevice
	for _, sd := range fd.devs {
		if sd.node(c) == victim {
			victims = append(victims, sd)
		}
	}
	row.failN = len(victims)
	c.measured(t, func() {
		var fs failoverSample
		fs.begin(c, victim, victims)
		c.nodes[victim].kill()
		back := fs.wait(c, 2*time.Minute)
		fs.end(c)
		logf(t, "failover: %s", fs.report())
		if back {
			row.failover = fs.took
			return
		}
		row.failNote = fmt.Sprintf("%d of %d not failed over in 2 minutes", fs.missing, len(victims))
		if fs.missing == len(victims) {
			row.failNote = "missing feature: device failover (c17-dev)"
		}
	})
}

func printBench(t *testing.T, rows []benchRow) {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "configuration\tnodes\tdevices\tenroll/s\t×base\tCPU/enroll\t×base\tPG CPU/enroll\tmsgs/s\t×base\tCPU/msg\t×base\tPG CPU/msg\treconn/s\tCPU/reconn\tidle CPU %%\tmax RSS MiB\tfailover\t\n")
	base := rows[0]
	ratio := func(a, b float64) string {
		if b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", a/b)
	}
	for _, r := range rows {
		if r.skipped != "" {
			fmt.Fprintf(w, "%s\t%d\t%d\t-\t\t-\t\t-\t-\t\t-\t\t-\t-\t-\t-\t-\t%s\t\n", r.name, r.nodes, r.devices, r.skipped)
			continue
		}
		fo := "-"
		switch {
		case r.failover > 0:
			fo = fmt.Sprintf("%s for %d devices", r.failover.Round(time.Millisecond), r.failN)
		case r.failNote != "":
			fo = r.failNote
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%.1f\t%s\t%s\t%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%.0f\t%s\t%.1f/%.1f\t%.0f\t%s\t\n", r.name, r.nodes, r.devices,
			r.enrollS, ratio(r.enrollS, base.enrollS), r.cpuEnr.Round(10*time.Microsecond), ratio(float64(r.cpuEnr), float64(base.cpuEnr)), r.pgEnr.Round(10*time.Microsecond),
			r.msgsS, ratio(r.msgsS, base.msgsS), r.cpuMsg.Round(100*time.Nanosecond), ratio(float64(r.cpuMsg), float64(base.cpuMsg)),
			r.pgMsg.Round(100*time.Nanosecond), r.reconS, r.cpuRecon.Round(10*time.Microsecond), 100*r.idle0, 100*r.idle1, float64(r.rssKB)/1024, fo)
	}
	w.Flush()
	for _, r := range rows {
		if len(r.perNode) > 0 {
			fmt.Fprintf(&b, "%s: CPU per message by node: %s\n", r.name, strings.Join(r.perNode, ", "))
		}
	}
	fmt.Fprintf(&b, "(idle CPU %%: the nodes' CPU while idle without devices / with every device connected and silent, taken out of the phases' CPU before dividing)\n")
	fmt.Fprintf(&b, "(CPU = utime+stime of the rampart server processes from /proc/<pid>/stat; the devices run in the test process on the same %d CPUs; load average at the end: %s)\n",
		runtime.NumCPU(), loadavg())
	fmt.Print(b.String())
}

// loadavg is /proc/loadavg's first three fields: how busy the machine was
// (other processes share it).
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
