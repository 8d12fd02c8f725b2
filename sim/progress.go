package sim

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	prog "rampart/internal/progress"
)

// progress shows the run's state while it goes on (internal/progress: a
// redrawn line on a terminal, a plain line a second otherwise).
type progress struct {
	w                                           *prog.Line
	n                                           int
	manufactured, onboarded, reporting, updated atomic.Int64
	done                                        chan struct{}
	wg                                          sync.WaitGroup
	start                                       time.Time
}

func newProgress(w io.Writer, n int) *progress {
	p := &progress{n: n, done: make(chan struct{}), start: time.Now()}
	if w == nil {
		return p
	}
	p.w = prog.New(w)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				p.w.Done(p.text())
				return
			case <-t.C:
				p.draw()
			}
		}
	}()
	return p
}

func (p *progress) draw() { p.w.Update(p.text()) }

func (p *progress) text() string {
	return fmt.Sprintf("%6.1fs  manufactured %d/%d  onboarded %d/%d  reporting %d/%d  updated %d",
		time.Since(p.start).Seconds(), p.manufactured.Load(), p.n, p.onboarded.Load(), p.n, p.reporting.Load(), p.n, p.updated.Load())
}

func (p *progress) stop() {
	select {
	case <-p.done:
	default:
		close(p.done)
	}
	p.wg.Wait()
}
