package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A NATS user given fewer subjects than a node uses (docs/security.md §8)
// is refused them one at a time, asynchronously: the server answers a
// denied publish or subscription with an error the client reports to its
// error handler, and a request on a denied subject just times out. Left
// at that, a node would start and then fail in ways that name no cause
// (a KV write timing out, the online mirror stalling once its watch needs
// flow control). So the node records every permission violation
// (permissionLog), and Connect tries each kind of subject once
// (probePermissions): a node missing one does not start, and says which.

// permissionLog records the permission violations the server reports on
// a connection.
type permissionLog struct {
	mu     sync.Mutex
	denied []string
}

// handler is the connection's error handler: permission violations are
// recorded and logged as errors naming what to grant; others are logged.
func (p *permissionLog) handler(log func(msg string, args ...any)) nats.ErrHandler {
	return func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if !errors.Is(err, nats.ErrPermissionViolation) {
			log("NATS error", "err", err)
			return
		}
		p.mu.Lock()
		if len(p.denied) < 16 {
			p.denied = append(p.denied, err.Error())
		}
		p.mu.Unlock()
		log("NATS refused this node a subject: grant its NATS user the subjects of docs/security.md §8", "err", err)
	}
}

// err is the violations recorded so far, nil if none.
func (p *permissionLog) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.denied) == 0 {
		return nil
	}
	return fmt.Errorf("cluster: the NATS servers refuse this node subjects it needs (grant its NATS user the subjects of docs/security.md §8): %v", p.denied)
}

// explainDenied returns err with the permission violations recorded, if
// any: a request on a denied subject fails with a timeout only.
func (n *Node) explainDenied(err error) error {
	if errors.Is(err, nats.ErrPermissionViolation) {
		return err // it says so already
	}
	if perr := n.denied.err(); perr != nil {
		return errors.Join(perr, err)
	}
	return err
}

// deniedNow is the permission violation the server reported last, if it
// names subject ("" for any): the client records it as it reads it, so
// after a flush it holds a denial of what was sent before the flush. (The
// error handler, and so permissionLog, runs later, on its own goroutine.)
func (n *Node) deniedNow(subject string) error {
	err := n.nc.LastError()
	if err == nil || !errors.Is(err, nats.ErrPermissionViolation) || subject != "" && !strings.Contains(err.Error(), `"`+subject+`"`) {
		return nil
	}
	return fmt.Errorf("cluster: the NATS servers refuse this node a subject it needs (grant its NATS user the subjects of docs/security.md §8): %w", err)
}

// probeKey is the key the permission probe publishes to in each bucket;
// no device ID or node name has its form.
const probeKey = "_probe"

// probePermissions uses each kind of subject a node needs once: a write
// to each bucket it writes, a publish under the cluster's prefix and a
// flow-control answer to the presence watch (the online mirror's). The
// bucket writes expect a last sequence no key has, so that JetStream
// stores nothing: only the server's permission check sees them.
// Subscriptions are checked where they are made (subscribe). The server
// reports a denial before it answers the flush that ends the probe.
func (n *Node) probePermissions(ctx context.Context) error {
	var errs []error
	for _, bucket := range []string{"presence", "nonces"} {
		m := &nats.Msg{Subject: "$KV." + n.cfg.Cluster + "-" + bucket + "." + probeKey, Header: nats.Header{}}
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "9223372036854775807")
		if err := n.nc.PublishMsg(m); err != nil {
			errs = append(errs, err)
		}
	}
	if err := n.nc.Publish(n.prefix+"probe", nil); err != nil {
		errs = append(errs, err)
	}
	if err := n.nc.Publish("$JS.FC.KV_"+n.cfg.Cluster+"-presence."+probeKey, nil); err != nil {
		errs = append(errs, err)
	}
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := n.nc.FlushWithContext(fctx); err != nil {
		errs = append(errs, err)
	}
	if perr := n.deniedNow(""); perr != nil {
		return perr
	}
	if perr := n.denied.err(); perr != nil {
		return perr
	}
	return errors.Join(errs...)
}
