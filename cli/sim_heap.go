package cli

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"

	"rampart/internal/secfile"
)

// heapOnSignal writes a heap profile (after a GC, so it shows what is
// live) to path.1, path.2, ... each time the process receives SIGUSR1,
// until stop is called. It is how a device process of a long sharded run
// is asked what holds its memory without stopping it (`rampart sim
// --heapprofile FILE`; device processes write FILE.proc<N>.<k>).
func heapOnSignal(path string) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	done := make(chan struct{})
	go func() {
		for k := 1; ; k++ {
			select {
			case <-ch:
			case <-done:
				return
			}
			writeHeapProfile(fmt.Sprintf("%s.%d", path, k))
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}

func writeHeapProfile(path string) {
	runtime.GC()
	f, err := secfile.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		fmt.Fprintf(os.Stderr, "heap profile: %v\n", err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		fmt.Fprintf(os.Stderr, "heap profile: %v\n", err)
	}
}
