package campaign

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"rampart/fleet/store"
)

// Keeper holds a store lease for this node while it can: it tries to
// acquire or renew it every Every, for TTL. Its Leader is Config.Leader
// (for the lease LeaseName); any other background loop that must run on
// one node at a time can use one for its own lease.
//
// Leader reports the lease held only until TTL minus Margin after the
// start of the last successful renewal: a node that cannot reach the
// database stops acting as holder before another can take the lease over
// (the store's expiry is at least TTL after that start). The fencing
// epoch covers what clock skew beyond Margin would leave.
type Keeper struct {
	DB     *store.DB
	Name   string // the lease
	Holder string // this node's name
	TTL    time.Duration
	Every  time.Duration
	Margin time.Duration
	// OnAcquire, when set, is called (outside any lock) when the node
	// begins a term: it acquired the lease after not holding it.
	OnAcquire func(epoch int64)
	Now       func() time.Time
	Log       *slog.Logger

	mu    sync.Mutex
	epoch int64
	until time.Time
	stop  context.CancelFunc
	done  chan struct{}
}

// NewKeeper returns a keeper of lease name for holder with the evaluator's
// defaults: renewed every second for three seconds, so that another node
// takes over within about four seconds of this one's death and begins
// evaluating at once (OnAcquire).
func NewKeeper(db *store.DB, name, holder string) *Keeper {
	return &Keeper{DB: db, Name: name, Holder: holder, TTL: 3 * time.Second, Every: time.Second, Margin: 500 * time.Millisecond}
}

func (k *Keeper) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

// Leader reports whether this node holds the lease, and its epoch.
func (k *Keeper) Leader() (int64, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.epoch == 0 || !k.now().Before(k.until) {
		return 0, false
	}
	return k.epoch, true
}

// Tick makes one attempt to acquire or renew the lease.
func (k *Keeper) Tick(ctx context.Context) (store.Lease, error) {
	start := k.now()
	l, err := k.DB.AcquireLease(ctx, k.Name, k.Holder, k.TTL)
	k.mu.Lock()
	prev := k.epoch
	was := prev != 0 && start.Before(k.until)
	switch {
	case err != nil:
		// Unknown: keep what is known, which runs out at until.
	case l.Held:
		k.epoch, k.until = l.Epoch, start.Add(k.TTL-k.Margin)
	default:
		k.epoch, k.until = 0, time.Time{}
	}
	began := err == nil && l.Held && (!was || l.Epoch != prev)
	k.mu.Unlock()
	if began && k.OnAcquire != nil {
		k.OnAcquire(l.Epoch)
	}
	return l, err
}

// Start runs Tick every Every until Close.
func (k *Keeper) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	k.stop, k.done = cancel, make(chan struct{})
	go func() {
		defer close(k.done)
		t := time.NewTicker(k.Every)
		defer t.Stop()
		for {
			tctx, tcancel := context.WithTimeout(ctx, k.Every)
			_, err := k.Tick(tctx)
			tcancel()
			if err != nil && ctx.Err() == nil && k.Log != nil {
				k.Log.Warn("lease not renewed", "lease", k.Name, "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Close stops renewing; with release, the lease is given up at once (a
// node that stops in order), else it runs out at its expiry (a node that
// dies).
func (k *Keeper) Close(release bool) error {
	if k.stop != nil {
		k.stop()
		<-k.done
		k.stop = nil
	}
	k.mu.Lock()
	held := k.epoch != 0
	k.epoch, k.until = 0, time.Time{}
	k.mu.Unlock()
	if !release || !held {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := k.DB.ReleaseLease(ctx, k.Name, k.Holder); err != nil {
		return errors.Join(errors.New("campaign: lease not released (it runs out at its expiry)"), err)
	}
	return nil
}
