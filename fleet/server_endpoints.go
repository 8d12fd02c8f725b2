package fleet

import (
	"context"
	"errors"
	"net"
	"net/url"
	"slices"
	"sync"
	"time"

	"rampart/deviceproto"
	"rampart/fleet/cluster"
)

// A node's device endpoints in a cluster (docs/scale-out.md, "Rolling
// upgrade"; docs/agent.md, "Reconnecting and endpoints"):
//
//   - the enrollment answer names this node's advertised MQTT endpoints
//     (cluster.advertise.mqtt) and those of the other live nodes (the
//     node registry, read at most every peerRefresh);
//   - a draining node refers its MQTT 5 devices to another live node;
//   - the job signer certifies the advertised enrollment endpoint of this
//     node and of every node live when it starts, so a device may resume a
//     download from another node; jobs name this node's advertised
//     enrollment endpoint;
//   - /readyz also needs the NATS connection up.

// peerRefresh bounds how often the node registry is read for the
// endpoints of the other nodes (an enrollment answer reads a copy).
const peerRefresh = 2 * time.Second

// errBusDown: /readyz while the NATS connection is down.
var errBusDown = errors.New("fleet: not connected to NATS")

// clusterOptions fills the scale-out options a clustered configuration
// implies, where the caller left them unset.
func (s *Server) clusterOptions(ctx context.Context) {
	cl := s.cfg.Cluster
	if len(s.opts.AdvertiseMQTT) == 0 {
		s.opts.AdvertiseMQTT = slices.Clone(cl.Advertise.MQTT)
	}
	if s.opts.PeerMQTT == nil {
		p := &peers{node: s.node}
		s.opts.PeerMQTT = p.mqtt
	}
	if s.opts.Ready == nil {
		s.opts.Ready = func(context.Context) error {
			if !s.node.Connected() {
				return errBusDown
			}
			return nil
		}
	}
	enroll := []string{cl.Advertise.Enroll}
	if l, err := s.node.Nodes(ctx); err == nil {
		for _, n := range l {
			enroll = append(enroll, n.Enroll)
		}
	} else {
		s.log.Warn("node registry not read: the job signer certifies this node's enrollment endpoint only", "err", err)
	}
	for _, e := range enroll {
		if usableURL(e) && !slices.Contains(s.opts.ImageEndpoints, e) {
			s.opts.ImageEndpoints = append(s.opts.ImageEndpoints, e)
		}
	}
}

// imageBase is the base URL of the image URLs in jobs: this node's
// advertised enrollment endpoint in a cluster, its listener otherwise.
func (s *Server) imageBase() string {
	if s.cfg.Clustered() && usableURL(s.cfg.Cluster.Advertise.Enroll) {
		return s.cfg.Cluster.Advertise.Enroll
	}
	return s.EnrollURL()
}

// peers caches the other live nodes' MQTT endpoints.
type peers struct {
	node *cluster.Node
	mu   sync.Mutex
	at   time.Time
	list []string
}

func (p *peers) mqtt() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.at) < peerRefresh {
		return p.list
	}
	p.at = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	l, err := p.node.Nodes(ctx)
	if err != nil {
		return p.list // the last known, until the registry answers
	}
	var out []string
	for _, n := range l {
		if n.Name != p.node.Name() {
			out = append(out, n.MQTT...)
		}
	}
	p.list = out
	return out
}

// usableEndpoint reports whether a device can dial e (host:port): not an
// unspecified address or port 0 (a listener's address advertised by
// default: 0.0.0.0, [::], or a port the system picks).
func usableEndpoint(e string) bool {
	host, port, err := net.SplitHostPort(e)
	if err != nil || port == "0" || deviceproto.CheckEndpoint(e) != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsUnspecified()
}

// usableURL is usableEndpoint for an https://host:port URL.
func usableURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "https" && usableEndpoint(deviceproto.Endpoint(u))
}
