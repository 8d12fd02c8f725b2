package sim

import (
	"context"
	"sync"
	"time"

	"rampart/fleet"
)

// nodes are the server nodes of a simulated fleet: the first, which
// StartFleet starts, and those StartNode adds on the same data directory
// and SQLite database (so the same CA). It stands in for the cluster's
// node registry: every node's PeerMQTT lists the MQTT endpoints of the
// nodes still serving, so an enrollment answer names them all and a
// draining node refers its devices to another. A test of devices failing
// over between nodes needs nothing more; a real cluster runs its nodes on
// PostgreSQL and NATS (docs/scale-out.md).
type nodes struct {
	opts             fleet.Options
	cfgPath, cfgText string

	mu   sync.Mutex
	list []*fleet.Server
}

func (n *nodes) add(s *fleet.Server) {
	n.mu.Lock()
	n.list = append(n.list, s)
	n.mu.Unlock()
}

// mqtt is PeerMQTT: the MQTT endpoints of the nodes not draining.
func (n *nodes) mqtt() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, s := range n.list {
		if !s.Draining() {
			out = append(out, s.MQTTAddr())
		}
	}
	return out
}

func (n *nodes) closeOthers(first *fleet.Server) {
	n.mu.Lock()
	list := append([]*fleet.Server(nil), n.list...)
	n.mu.Unlock()
	for _, s := range list {
		if s != first {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			s.Shutdown(ctx)
			cancel()
		}
	}
}

// StartNode starts one more server node of the fleet, on 127.0.0.1 ports
// of its own, sharing the first node's data directory and database. It is
// shut down by Close.
func (f *Fleet) StartNode() (*fleet.Server, error) {
	cfg, err := fleet.ParseConfig(f.nodes.cfgPath, []byte(f.nodes.cfgText))
	if err != nil {
		return nil, err
	}
	srv, err := fleet.New(cfg, f.nodes.opts)
	if err != nil {
		return nil, err
	}
	if err := srv.Start(); err != nil {
		srv.Shutdown(context.Background())
		return nil, err
	}
	<-srv.Ready()
	f.nodes.add(srv)
	return srv, nil
}
