package fleet

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"time"

	"rampart/deviceproto"
)

// peerCacheTTL is how long the other nodes' MQTT endpoints are reused
// before the registry is read again: enrollment answers and drains ask
// for them, and one registry read per enrollment would put a NATS round
// trip on the enrollment path; the registry itself changes at most at
// heartbeat pace.
const peerCacheTTL = 5 * time.Second

// wirePeers connects the scale-out options (drain.go) to the cluster:
// the other live nodes' MQTT endpoints, for the enrollment answer and a
// draining node's Server Reference, and the bus's state, for /readyz.
// Options set by the caller are kept.
func (s *Server) wirePeers() {
	if s.opts.PeerMQTT == nil {
		var mu sync.Mutex
		var cached []string
		var at time.Time
		s.opts.PeerMQTT = func() []string {
			mu.Lock()
			defer mu.Unlock()
			if now := time.Now(); now.Sub(at) > peerCacheTTL {
				cached, at = s.readPeerMQTT(), now
			}
			return slices.Clone(cached)
		}
	}
	if s.opts.Ready == nil {
		s.opts.Ready = func(context.Context) error {
			if !s.node.Connected() {
				return errors.New("cluster: not connected to NATS")
			}
			return nil
		}
	}
}

// readPeerMQTT reads the registry for the MQTT endpoints the other live
// nodes advertise (none when the registry cannot be read: the caller then
// falls back to the configured ones).
func (s *Server) readPeerMQTT() []string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	nodes, err := s.node.Nodes(ctx)
	if err != nil {
		s.log.Warn("cluster: cannot read the node registry for peers' MQTT endpoints", "err", err.Error())
		return nil
	}
	var l []string
	for _, n := range nodes {
		if n.Name != s.node.Name() {
			l = append(l, advertisable(n.MQTT)...)
		}
	}
	return l
}

// advertisable keeps the configured endpoints a device can dial: the
// cluster section defaults its advertised MQTT endpoint to the listen
// address, which may be a wildcard (0.0.0.0:8883) or an ephemeral port
// (127.0.0.1:0, tests); those are left out rather than handed to devices.
func advertisable(l []string) []string {
	var out []string
	for _, e := range l {
		host, _, err := net.SplitHostPort(e)
		if err != nil || host == "" {
			continue
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			continue
		}
		if _, err := deviceproto.FormatEndpoints([]string{e}); err == nil {
			out = append(out, e)
		}
	}
	return out
}
