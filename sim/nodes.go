package sim

import (
	"context"
	"fmt"
	"strings"
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

// Restart stops the first node and starts it again on the same data and
// the same addresses, as an upgrade or a crash followed by a restart
// would: its devices reconnect to it. Further nodes keep running.
func (f *Fleet) Restart() error {
	addrs := map[string]string{"enroll": strings.TrimPrefix(f.EnrollURL, "https://"), "admin": strings.TrimPrefix(f.AdminURL, "https://"), "mqtt": f.MQTTAddr}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := f.Server.Shutdown(ctx)
	cancel()
	if err != nil {
		return err
	}
	text := strings.Replace(f.nodes.cfgText, `listen: {enroll: "127.0.0.1:0", admin: "127.0.0.1:0", mqtt: "127.0.0.1:0"}`,
		fmt.Sprintf(`listen: {enroll: %q, admin: %q, mqtt: %q}`, addrs["enroll"], addrs["admin"], addrs["mqtt"]), 1)
	cfg, err := fleet.ParseConfig(f.nodes.cfgPath, []byte(text))
	if err != nil {
		return err
	}
	var srv *fleet.Server
	for try := 0; ; try++ { // the old listeners' ports may take a moment to free
		if srv, err = fleet.New(cfg, f.nodes.opts); err != nil {
			return err
		}
		if err = srv.Start(); err == nil {
			break
		}
		srv.Shutdown(context.Background())
		if try == 50 {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	<-srv.Ready()
	f.nodes.mu.Lock()
	for i, s := range f.nodes.list {
		if s == f.Server {
			f.nodes.list[i] = srv
		}
	}
	f.nodes.mu.Unlock()
	f.Server = srv
	f.roots = srv.CA().Pool()
	return nil
}
