package cluster

import (
	"context"
	"errors"
)

// A rolling upgrade runs two releases in one cluster for a while. The
// previous release (protocol 0: no protocol field in its registry entry)
// sends jobs, disconnects and superseded certificates on core NATS
// subjects rampart.<cluster>.<kind> and records used enrollment nonces in
// the nonce bucket (UseOnce); this release sends them on the bus stream
// and records nonces in the store's used_nonces table, in the
// enrollment's own transaction. Neither path is seen by the other
// release, so while any node of the previous release is live (as of this
// node's last heartbeat) this node also:
//
//   - reads the core subjects (onDevice; it always does) and sends a
//     copy of each bus message there (copyForOlder), marked Copy so that
//     the nodes of this release, which read the bus, skip it;
//   - records each nonce in the nonce bucket as well (UseOnceWithOlder),
//     so that a nonce used at a node of either release is refused by
//     the other.
//
// Once no such node is live, both cost nothing. The window this leaves:
// a node of the previous release that starts while the others already
// run this one is seen at their next heartbeat (Config.Heartbeat), and a
// nonce this release used before then is not in the bucket
// (docs/scale-out.md, Mixed versions).

// protocol is what this release speaks between nodes: the bus stream
// and nonces in the store.
const protocol = 1

// anyOlder reports whether any of the live nodes runs the previous
// release.
func anyOlder(all []NodeInfo) bool {
	for _, o := range all {
		if o.Protocol < protocol {
			return true
		}
	}
	return false
}

// OlderLive reports whether a node of the previous release was live at
// the last heartbeat.
func (n *Node) OlderLive() bool { return n.older.Load() }

// copyForOlder sends m for deviceID on the core subject of kind, where
// the previous release listens, while one of its nodes is live. A failed
// copy is logged: the bus message went out, and the previous release's
// nodes catch up as they always did (the store, a job published again at
// the device's next connection).
func (n *Node) copyForOlder(kind, deviceID string, m message) {
	if !n.older.Load() {
		return
	}
	m.Device, m.Copy = deviceID, true
	if err := n.publish(kind, m); err != nil {
		n.cfg.Log.Warn("copy for the previous release's nodes not sent", "kind", kind, "device", deviceID, "err", err)
	}
}

// UseOnceWithOlder records key in the nonce bucket, as the previous
// release does (UseOnce), while one of its nodes is live; otherwise it
// does nothing (the store records the use). ErrUsed when a node of
// either release recorded it there before.
func (n *Node) UseOnceWithOlder(ctx context.Context, key string) error {
	if !n.older.Load() {
		return nil
	}
	err := n.UseOnce(ctx, key)
	if err != nil && !errors.Is(err, ErrUsed) {
		n.cfg.Log.Warn("nonce not recorded for the previous release's nodes", "err", err)
	}
	return err
}
