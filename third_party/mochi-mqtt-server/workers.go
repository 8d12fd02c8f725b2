// rampart patch 2: a pool of goroutines that run the deep work of client
// connections (CONNECT handling, packet decoding and handling, session
// clean-up), so that the goroutine a connection keeps while idle has small
// frames and its stack shrinks. Not part of upstream mochi-mqtt.

package mqtt

import (
	"runtime"
	"sync/atomic"
)

// workerJob is one call run on a worker; done receives its result.
type workerJob struct {
	fn   func() error
	done chan error
}

var (
	// workQueue is unbuffered: a send succeeds only when a worker is
	// waiting, otherwise onWorker starts one. A job may block (a hook
	// waiting for a commit, a client sending half a packet), so the
	// pool is never a fixed size: it would serialise or deadlock.
	workQueue   = make(chan workerJob)
	idleWorkers atomic.Int32
)

// maxIdleWorkers bounds the workers kept waiting (their stacks are deep);
// a worker finding this many others idle exits.
func maxIdleWorkers() int32 { return int32(4 * runtime.GOMAXPROCS(0)) }

// onWorker runs fn on a pooled goroutine and returns its result; the
// caller waits, parked with its own (small) stack.
func onWorker(fn func() error) error {
	job := workerJob{fn: fn, done: make(chan error, 1)}
	select {
	case workQueue <- job:
	default:
		go worker(job)
	}
	return <-job.done
}

func worker(job workerJob) {
	for {
		job.done <- job.fn()
		if idleWorkers.Add(1) > maxIdleWorkers() {
			idleWorkers.Add(-1)
			return
		}
		job = <-workQueue
		idleWorkers.Add(-1)
	}
}
