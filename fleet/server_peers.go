package fleet

import (
	"context"
	"errors"
	"net"

	"rampart/deviceproto"
)

// wirePeers connects the scale-out options (drain.go) to the cluster:
// the other live nodes' MQTT endpoints (from the registry's last
// heartbeat, read without a round trip), for a draining node's Server
// Reference, and the bus's state, for /readyz.
// Options set by the caller are kept.
func (s *Server) wirePeers() {
	if s.opts.PeerMQTT == nil {
		s.opts.PeerMQTT = func() []string { return advertisable(s.node.PeerMQTT()) }
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
