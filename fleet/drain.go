package fleet

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Draining a node (docs/fleet-server.md, "Draining and health"): what
// `rampart server` does on SIGTERM so that a rolling upgrade loses no
// device and nothing acknowledged.

// drainState is the server's part of a drain.
type drainState struct {
	draining                    atomic.Bool
	enrollStopped, adminStopped stopOnce
}

// stopOnce runs a listener's shutdown once, remembering its result.
type stopOnce struct {
	once sync.Once
	err  error
}

// Draining reports whether Drain has begun (/readyz then answers 503).
func (s *Server) Draining() bool { return s.drain.draining.Load() }

// Drain is the graceful end of a node that has peers: /readyz turns 503
// (draining) at once; the enrollment listener stops accepting and finishes
// the requests in flight; the MQTT broker stops accepting, writes every
// acknowledgement owed for telemetry it read (each after its commit), then
// sends MQTT 5 devices DISCONNECT 0x9C (use another server) naming another
// node when one is known, and closes MQTT 3.1.1 connections; the admin
// listener, which answered /readyz meanwhile, finishes its requests; then
// Shutdown stops the rest (campaigns, the telemetry writer's last batch,
// the store). When ctx ends first the remaining steps are cut short (as
// Shutdown's are) and its error is returned.
func (s *Server) Drain(ctx context.Context) error {
	if !s.drain.draining.CompareAndSwap(false, true) {
		return s.Shutdown(ctx)
	}
	began := time.Now()
	s.log.Info("draining: not ready any more; no new connections", "devices", s.broker.Connected())
	enrollDone := make(chan error, 1)
	go func() { enrollDone <- s.stopHTTP(ctx, s.enrollSrv, &s.drain.enrollStopped) }()
	errs := []error{s.broker.Drain(ctx, s.referrals())}
	errs = append(errs, <-enrollDone, s.stopHTTP(ctx, s.adminSrv, &s.drain.adminStopped))
	errs = append(errs, s.Shutdown(ctx))
	err := errors.Join(errs...)
	s.log.Info("drained", "took", time.Since(began).Round(time.Millisecond).String(), "ok", err == nil)
	return err
}

// stopHTTP shuts an HTTP listener down once (Drain, then Shutdown).
func (s *Server) stopHTTP(ctx context.Context, srv *http.Server, o *stopOnce) error {
	if srv == nil {
		return nil
	}
	o.once.Do(func() { o.err = srv.Shutdown(ctx) })
	return o.err
}

// referrals are the endpoints a draining node refers its MQTT 5 devices
// to: the other live nodes' when known, else the advertised ones (the
// broker leaves out its own address).
func (s *Server) referrals() []string {
	if s.opts.PeerMQTT != nil {
		if l := s.opts.PeerMQTT(); len(l) > 0 {
			return l
		}
	}
	return s.opts.AdvertiseMQTT
}

// mqttEndpoints is the endpoint list of the enrollment answer: the
// advertised endpoints and the other live nodes', or this node's own MQTT
// listener when there are none and it names one address (a listener on
// every address, 0.0.0.0 or [::], tells a device nothing; it keeps the
// address it was configured with).
func (s *Server) mqttEndpoints() []string {
	if s.node != nil {
		// In a cluster: every live node's, this node's (as bound) first.
		return slices.Compact(advertisable(s.MQTTEndpoints()))
	}
	l := slices.Clone(s.opts.AdvertiseMQTT)
	if s.opts.PeerMQTT != nil {
		l = append(l, s.opts.PeerMQTT()...)
	}
	if len(l) == 0 && s.broker != nil {
		if host, _, err := net.SplitHostPort(s.broker.Addr()); err == nil {
			if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
				l = append(l, s.broker.Addr())
			}
		}
	}
	out := l[:0]
	for _, e := range l {
		if e = strings.TrimSpace(e); e != "" && !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}
