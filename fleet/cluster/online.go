package cluster

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// onlineWatch mirrors the presence bucket in memory (device ID to node),
// from one watch: its snapshot, then every change. A console that asks
// who is online every second then reads memory, not the whole bucket.
// It starts at the first question, so a node nobody asks pays nothing.
type onlineWatch struct {
	ready   chan struct{} // closed when the snapshot is in
	mu      sync.Mutex
	holders map[string]string
	err     error // the watch could not start
	stop    context.CancelFunc
}

// Online returns the devices that have a session on any live node: the
// presence entries whose node is in the registry (a dead node's entries
// are not believed, as in Holder). The first call starts the mirror and
// waits for its snapshot (or ctx).
func (n *Node) Online(ctx context.Context) ([]string, error) {
	n.onlineOnce.Do(n.startOnline)
	w := n.online
	select {
	case <-w.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if w.err != nil {
		return nil, w.err
	}
	var live []string
	if seen := n.seen.Load(); seen != nil {
		for _, ni := range *seen {
			live = append(live, ni.Name)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.holders))
	for dev, node := range w.holders {
		if slices.Contains(live, node) {
			out = append(out, dev)
		}
	}
	return out, nil
}

func (n *Node) startOnline() {
	ctx, cancel := context.WithCancel(context.Background())
	w := &onlineWatch{ready: make(chan struct{}), holders: map[string]string{}, stop: cancel}
	n.online = w
	kw, err := n.presence.WatchAll(ctx)
	if err != nil {
		w.err = fmt.Errorf("cluster: online devices: %w", err)
		close(w.ready)
		return
	}
	go w.follow(kw)
}

// follow applies the watch's entries until it ends (Close).
func (w *onlineWatch) follow(kw jetstream.KeyWatcher) {
	defer kw.Stop()
	snapshot := true
	for e := range kw.Updates() {
		if e == nil { // the end of the snapshot
			if snapshot {
				snapshot = false
				close(w.ready)
			}
			continue
		}
		w.apply(e)
	}
	if snapshot {
		close(w.ready)
	}
}

// apply records one presence entry or its deletion.
func (w *onlineWatch) apply(e jetstream.KeyValueEntry) {
	dev, err := hex.DecodeString(strings.TrimPrefix(e.Key(), "d"))
	if err != nil || !strings.HasPrefix(e.Key(), "d") {
		return // not a presence key
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var v presenceValue
	if e.Operation() != jetstream.KeyValuePut || json.Unmarshal(e.Value(), &v) != nil || v.Node == "" {
		delete(w.holders, string(dev))
		return
	}
	w.holders[string(dev)] = v.Node
}

// stopOnline ends the mirror, if it was started (Close).
func (n *Node) stopOnline() {
	n.onlineOnce.Do(func() {}) // no mirror starts after Close
	if n.online != nil {
		n.online.stop()
	}
}
