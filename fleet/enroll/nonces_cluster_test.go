package enroll

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"rampart/deviceproto"
	"rampart/fleet/cluster"
	"rampart/fleet/cluster/natstest"
)

// kvNonces is the used-nonce set of a cluster node, as fleet wires it.
type kvNonces struct{ n *cluster.Node }

func (k kvNonces) Use(ctx context.Context, id [16]byte, _ time.Time) error {
	err := k.n.UseOnce(ctx, hex.EncodeToString(id[:]))
	if errors.Is(err, cluster.ErrUsed) {
		return ErrNonceReplayed
	}
	return err
}

// TestNoncesSingleUseAcrossNodes: two nodes sharing the nonce key and the
// used set of a real three-server NATS cluster: a nonce one node issues is
// accepted by the other, once, and never again by either.
func TestNoncesSingleUseAcrossNodes(t *testing.T) {
	nc := natstest.Start(t, 3)
	ctx := context.Background()
	join := func(name string, url string) *cluster.Node {
		n, err := cluster.Connect(ctx, cluster.Config{URLs: []string{url}, Node: name, Replicas: 3, NonceTTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	key := make([]byte, 32)
	rand.Read(key)
	c := &testClock{t: time.Now()}
	a, err := newNonces(time.Minute, 100, c.now, rand.Reader, key, kvNonces{join("a", nc.URLs()[0])})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newNonces(time.Minute, 100, c.now, rand.Reader, key, kvNonces{join("b", nc.URLs()[1])})
	n, _, err := a.issue()
	if err != nil {
		t.Fatal(err)
	}
	id, exp, ref := b.check(n)
	if ref != nil {
		t.Fatalf("b refuses a's nonce: %v", ref)
	}
	if ref := b.use(ctx, id, exp); ref != nil {
		t.Fatalf("first use on b: %v", ref)
	}
	for name, x := range map[string]*nonces{"a": a, "b": b} {
		id, exp, ref := x.check(n)
		if ref != nil {
			t.Fatal(ref)
		}
		if ref := x.use(ctx, id, exp); ref == nil || ref.Code != deviceproto.CodeNonceReplayed {
			t.Fatalf("replay on %s: %v, want %s", name, ref, deviceproto.CodeNonceReplayed)
		}
	}
}
