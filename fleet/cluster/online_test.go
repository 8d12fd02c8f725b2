package cluster_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"rampart/fleet/cluster/natstest"
)

// TestOnlineAcrossNodes: a node's Online lists the devices held by every
// live node (not its own sessions only), follows sessions that start and
// end after it first asked, and drops a node's devices when the node
// leaves the registry, before any sweep deletes its entries.
func TestOnlineAcrossNodes(t *testing.T) {
	c := natstest.Start(t, 1)
	a := join(t, c, "a", 1)
	b := join(t, c, "b", 1)
	ctx := context.Background()
	now := time.Now()
	if err := a.SessionStarted(ctx, "dev-a", now); err != nil {
		t.Fatal(err)
	}
	if err := b.SessionStarted(ctx, "dev-b", now); err != nil {
		t.Fatal(err)
	}
	online := func() []string {
		ids, err := a.Online(ctx)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(ids)
		return ids
	}
	eventually(t, 5*time.Second, "both nodes' devices online", func() bool { return slices.Equal(online(), []string{"dev-a", "dev-b"}) })
	// After the mirror started: a new session, and one that ends.
	if err := b.SessionStarted(ctx, "dev-b2", now); err != nil {
		t.Fatal(err)
	}
	if err := b.SessionEnded(ctx, "dev-b", now); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "dev-b2 online, dev-b gone", func() bool { return slices.Equal(online(), []string{"dev-a", "dev-b2"}) })
	b.Close() // leaves the registry; its entries stay until swept
	eventually(t, 10*time.Second, "b's devices not online once b left", func() bool { return slices.Equal(online(), []string{"dev-a"}) })
}
