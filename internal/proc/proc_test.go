package proc

import (
	"os"
	"testing"
	"time"
)

func TestSelf(t *testing.T) {
	pid := os.Getpid()
	// Burn a little CPU so the counters move.
	x := 0
	for i := range 20_000_000 {
		x += i
	}
	_ = x
	if CPU() <= 0 {
		t.Fatalf("CPU() = %v, want > 0", CPU())
	}
	if MaxRSS() < 1<<20 {
		t.Fatalf("MaxRSS() = %d bytes, want at least 1 MiB", MaxRSS())
	}
	ticks, err := CPUTicks(pid)
	if err != nil || ticks < 0 {
		t.Fatalf("CPUTicks = %d, %v", ticks, err)
	}
	rss, err := RSSKB(pid)
	if err != nil || rss < 1024 || rss*1024 > MaxRSS()+1<<20 {
		t.Fatalf("RSSKB = %d, %v (peak %d bytes)", rss, err, MaxRSS())
	}
	if n, err := OpenFileLimit(pid); err != nil || n < 3 {
		t.Fatalf("OpenFileLimit = %d, %v", n, err)
	}
}

func TestGonePID(t *testing.T) {
	const gone = 1 << 30 // above pid_max
	if _, err := CPUTicks(gone); err == nil {
		t.Error("CPUTicks of a missing process: no error")
	}
	if _, err := RSSKB(gone); err == nil {
		t.Error("RSSKB of a missing process: no error")
	}
	if _, err := OpenFileLimit(gone); err == nil {
		t.Error("OpenFileLimit of a missing process: no error")
	}
}

// TestThreadCPU: the threads' CPU of this process grows while it works
// and is of the order of getrusage's figure; an absent process is an
// error.
func TestThreadCPU(t *testing.T) {
	before, err := ThreadCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for start := time.Now(); time.Since(start) < 30*time.Millisecond; {
		x++
	}
	after, err := ThreadCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after <= before || x == 0 {
		t.Fatalf("thread CPU %v then %v after 30 ms of work", before, after)
	}
	if self := CPU(); after > 2*self+time.Second {
		t.Fatalf("thread CPU %v, far above getrusage's %v", after, self)
	}
	if _, err := ThreadCPU(1 << 30); err == nil {
		t.Fatal("no error for a process that does not exist")
	}
}
