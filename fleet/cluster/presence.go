package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// A node that dies cannot delete its devices' presence entries. Holder
// already reads an entry whose node is not in the registry as absent; the
// sweep deletes such entries, so that the bucket holds only live sessions:
// one live node (the first by name, so that the nodes do not all do it)
// sweeps when it sees a node leave the registry, and every
// presenceSweepEvery in any case (entries of a node that died while no
// other ran).

// presenceSweepEvery is the period of the sweep on the sweeping node.
const presenceSweepEvery = time.Minute

// SweepPresence deletes the presence entries whose node is not in the
// registry, and returns how many. The entries are read first and the
// registry after: a node writes its registry entry before any presence
// entry, so an entry read before a registry that lacks its node is a dead
// node's. Each delete is conditional on the entry's revision: a session
// that started again meanwhile keeps its entry.
func (n *Node) SweepPresence(ctx context.Context) (int, error) {
	w, err := n.presence.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return 0, fmt.Errorf("cluster: presence sweep: %w", err)
	}
	type entry struct {
		key  string
		node string
		rev  uint64
	}
	var entries []entry
	for e := range w.Updates() {
		if e == nil {
			break // the entries present when the watch began
		}
		var v presenceValue
		if json.Unmarshal(e.Value(), &v) == nil {
			entries = append(entries, entry{e.Key(), v.Node, e.Revision()})
		}
	}
	w.Stop()
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	live, err := n.Nodes(ctx)
	if err != nil {
		return 0, err
	}
	alive := func(name string) bool {
		return slices.ContainsFunc(live, func(ni NodeInfo) bool { return ni.Name == name })
	}
	deleted := 0
	for _, e := range entries {
		if alive(e.node) {
			continue
		}
		err := n.presence.Delete(ctx, e.key, jetstream.LastRevision(e.rev))
		switch {
		case err == nil:
			deleted++
		case isRevisionConflict(err):
		default:
			return deleted, fmt.Errorf("cluster: presence sweep: %w", err)
		}
	}
	return deleted, nil
}

// sweeper reports whether this node is the one that sweeps: the first
// live node by name.
func (n *Node) sweeper(live []NodeInfo) bool {
	return len(live) > 0 && live[0].Name == n.cfg.Node
}

// maybeSweep runs the sweep after a heartbeat when this node sweeps and a
// node left the registry since the last heartbeat, or the period passed.
func (n *Node) maybeSweep(ctx context.Context, before, now []NodeInfo) {
	if !n.sweeper(now) {
		return
	}
	left := slices.ContainsFunc(before, func(b NodeInfo) bool {
		return !slices.ContainsFunc(now, func(a NodeInfo) bool { return a.Name == b.Name })
	})
	left = n.sweepDue.Swap(false) || left
	if !left && time.Since(n.lastSweep) < presenceSweepEvery {
		return
	}
	if !n.sweeping.CompareAndSwap(false, true) {
		// The last one still runs, and may have read the registry
		// before the node left: sweep again at the next heartbeat.
		if left {
			n.sweepDue.Store(true)
		}
		return
	}
	n.lastSweep = time.Now()
	// Off the heartbeat goroutine: a sweep of many entries must not
	// delay this node's own heartbeat past NodeTTL.
	go func() {
		defer n.sweeping.Store(false)
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		k, err := n.SweepPresence(sctx)
		if err != nil && ctx.Err() == nil {
			n.cfg.Log.Warn("presence sweep", "err", err)
		} else if k > 0 {
			n.cfg.Log.Info("presence entries of nodes gone deleted", "entries", k)
		}
	}()
}
