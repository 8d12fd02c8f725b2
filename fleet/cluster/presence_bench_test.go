package cluster_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"rampart/fleet/cluster"
	"rampart/fleet/cluster/natstest"
)

// BenchmarkPresence compares, in one run, recording sessions' starts and
// ends one at a time (SessionStarted, SessionEnded: a write, and a read
// and a conditional delete) with batches of 100 (SessionsChanged). The
// NATS servers run in this process, so cpu-µs/session is the whole cost,
// client and servers:
//
//	go test ./fleet/cluster -run '^$' -bench BenchmarkPresence -benchtime 2000x
func BenchmarkPresence(b *testing.B) {
	c := natstest.Start(b, 3)
	ctx := context.Background()
	n, err := cluster.Connect(ctx, cluster.Config{URLs: c.URLs(), Node: "bench", Replicas: 3})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	started := time.Now()
	b.Run("one-by-one", func(b *testing.B) {
		c0 := cpu()
		for i := range b.N {
			d := fmt.Sprintf("one-%d", i)
			if err := n.SessionStarted(ctx, d, started); err != nil {
				b.Fatal(err)
			}
			if err := n.SessionEnded(ctx, d, started); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cpu()-c0)/float64(b.N)/1e3, "cpu-µs/session")
	})
	b.Run("batched-100", func(b *testing.B) {
		c0 := cpu()
		for i := 0; i < b.N; i += 100 {
			var ups, downs []cluster.PresenceChange
			for j := i; j < min(i+100, b.N); j++ {
				d := fmt.Sprintf("batch-%d", j)
				ups = append(ups, cluster.PresenceChange{Device: d, Started: started, Up: true})
				downs = append(downs, cluster.PresenceChange{Device: d, Started: started})
			}
			// Starts and ends in separate batches: each is written (a
			// session within one batch would not be written at all).
			if err := n.SessionsChanged(ctx, ups); err != nil {
				b.Fatal(err)
			}
			if err := n.SessionsChanged(ctx, downs); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cpu()-c0)/float64(b.N)/1e3, "cpu-µs/session")
	})
}
