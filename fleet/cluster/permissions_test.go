package cluster_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"rampart/fleet/cluster"
	"rampart/fleet/cluster/natstest"
)

// documentedPermissions is the permission list of docs/security.md §8
// (what a node publishes and subscribes to), for the cluster "rampart".
func documentedPermissions(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	const lead = "what a\nnode publishes and subscribes to is"
	text := strings.ReplaceAll(string(b), "\n", " ")
	i := strings.Index(text, strings.ReplaceAll(lead, "\n", " "))
	if i < 0 {
		t.Fatalf("docs/security.md: no sentence beginning %q", lead)
	}
	sentence := text[i:]
	sentence = sentence[:strings.Index(sentence, "(")]
	var out []string
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(sentence, -1) {
		out = append(out, strings.ReplaceAll(m[1], "<name>", "rampart"))
	}
	if len(out) < 4 {
		t.Fatalf("docs/security.md: permission list %q", out)
	}
	return out
}

// natsUser is a user allowed to publish and subscribe to subjects only.
func natsUser(name string, subjects []string) *server.User {
	return &server.User{Username: name, Password: name + "-password", Permissions: &server.Permissions{
		Publish: &server.SubjectPermission{Allow: subjects}, Subscribe: &server.SubjectPermission{Allow: subjects}}}
}

// joinAs connects node name as user (password user-password).
func joinAs(t *testing.T, c *natstest.Cluster, name, user string) (*cluster.Node, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := cluster.Connect(ctx, cluster.Config{URLs: c.URLs(), Node: name, Version: "test", Replicas: 1, Heartbeat: 100 * time.Millisecond,
		Auth: cluster.Auth{User: user, PasswordFile: secretFile(t, user+"-password")}})
	if err == nil {
		t.Cleanup(func() { n.Close() })
	}
	return n, err
}

// TestDocumentedNATSPermissionsSuffice: two nodes whose NATS user may
// publish and subscribe to exactly the subjects docs/security.md §8 lists
// do everything a node does on NATS (every use of NATS is in this
// package): the registry, presence (one at a time and batched, the
// online mirror over a presence bucket of several megabytes, whose
// watch needs flow control, and the sweep), used nonces, the bus (jobs,
// disconnects, superseded certificates) and change notices. The
// campaign lease and the maintenance lease are PostgreSQL's (store
// leases): no NATS permission is involved.
func TestDocumentedNATSPermissionsSuffice(t *testing.T) {
	perms := documentedPermissions(t)
	t.Logf("docs/security.md §8: %v", perms)
	admin := &server.User{Username: "admin", Password: "admin-password"}
	c := natstest.StartWith(t, 1, func(o *server.Options) {
		o.Users = []*server.User{natsUser("node", perms), admin}
	})
	a, err := joinAs(t, c, "a", "node")
	if err != nil {
		t.Fatalf("a node with the documented permissions: %v", err)
	}
	b, err := joinAs(t, c, "b", "node")
	if err != nil {
		t.Fatalf("a node with the documented permissions: %v", err)
	}
	ctx := context.Background()
	eventually(t, 5*time.Second, "two live nodes", func() bool { return a.Live() == 2 && b.Live() == 2 })

	// The bus and the change notices, both ways.
	var mu sync.Mutex
	got := map[string]bool{}
	record := func(what string) { mu.Lock(); got[what] = true; mu.Unlock() }
	for _, n := range []*cluster.Node{a, b} {
		name := n.Name()
		for _, err := range []error{
			n.OnJob(func(id string, _ []byte, _ time.Time) { record(name + " job " + id) }),
			n.OnDisconnect(func(id, _ string) { record(name + " disconnect " + id) }),
			n.OnSuperseded(func(id, _ string, _ time.Duration) { record(name + " superseded " + id) }),
			n.OnChanged(func(what string) { record(name + " changed " + what) }),
		} {
			if err != nil {
				t.Fatalf("%s subscribes: %v", name, err)
			}
		}
	}
	for _, p := range [][2]*cluster.Node{{a, b}, {b, a}} {
		from := p[0]
		if err := from.Job("d-"+from.Name(), []byte("job"), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := from.Disconnect("d-"+from.Name(), "revoked"); err != nil {
			t.Fatal(err)
		}
		if err := from.Superseded("d-"+from.Name(), "serial", 0); err != nil {
			t.Fatal(err)
		}
		if err := from.Changed("trust"); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"b job d-a", "b disconnect d-a", "b superseded d-a", "b changed trust", "a job d-b", "a disconnect d-b", "a superseded d-b", "a changed trust"}
	eventually(t, 10*time.Second, fmt.Sprintf("every bus message and change notice delivered (%v)", want), func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, w := range want {
			if !got[w] {
				return false
			}
		}
		return true
	})

	// Nonces.
	if err := a.UseOnce(ctx, "nonce-1"); err != nil {
		t.Fatal(err)
	}
	if err := b.UseOnce(ctx, "nonce-1"); err != cluster.ErrUsed {
		t.Fatalf("nonce replayed at b: %v, want ErrUsed", err)
	}

	// Presence: a bucket of several megabytes (another client fills it,
	// as a large fleet's sessions would), so that the online mirror's
	// watch crosses the flow control window, then sessions one at a time
	// and batched.
	fillPresence(t, c, 1200, 4096)
	now := time.Now()
	if err := a.SessionStarted(ctx, "dev-a", now); err != nil {
		t.Fatal(err)
	}
	if err := b.SessionsChanged(ctx, []cluster.PresenceChange{{Device: "dev-b", Started: now, Up: true}}); err != nil {
		t.Fatal(err)
	}
	if h, ok, err := b.Holder(ctx, "dev-a"); err != nil || !ok || h != "a" {
		t.Fatalf("holder of dev-a seen by b: %q %v %v", h, ok, err)
	}
	eventually(t, 20*time.Second, "b's online mirror lists dev-a and dev-b", func() bool {
		octx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		on, err := b.Online(octx)
		return err == nil && slices.Contains(on, "dev-a") && slices.Contains(on, "dev-b")
	})
	if err := a.SessionEnded(ctx, "dev-a", now); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SweepPresence(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := b.Holder(ctx, "dev-a"); ok {
		t.Fatal("dev-a still held after its session ended")
	}
}

// fillPresence writes n presence entries of size bytes each (values no
// node would believe) as the unrestricted admin user.
func fillPresence(t *testing.T, c *natstest.Cluster, n, size int) {
	t.Helper()
	nc, err := nats.Connect(c.URLs()[0], nats.UserInfo("admin", "admin-password"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, "rampart-presence")
	if err != nil {
		t.Fatal(err)
	}
	v := bytes.Repeat([]byte{'x'}, size)
	for i := range n {
		if _, err := kv.Put(ctx, fmt.Sprintf("filler%d", i), v); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMissingNATSPermissionRefused: a node whose NATS user lacks any one
// subject of the documented list does not start, and its error names
// the permission violation (rather than a timeout alone).
func TestMissingNATSPermissionRefused(t *testing.T) {
	perms := documentedPermissions(t)
	var users []*server.User
	for i := range perms {
		users = append(users, natsUser(fmt.Sprintf("lacks%d", i), slices.Delete(slices.Clone(perms), i, i+1)))
	}
	c := natstest.StartWith(t, 1, func(o *server.Options) { o.Users = users })
	for i, missing := range perms {
		t.Run(missing, func(t *testing.T) {
			user := fmt.Sprintf("lacks%d", i)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			n, err := cluster.Connect(ctx, cluster.Config{URLs: c.URLs(), Node: "n" + user, Version: "test", Replicas: 1,
				Auth: cluster.Auth{User: user, PasswordFile: secretFile(t, user+"-password")}})
			if err == nil {
				n.Close()
				t.Fatalf("a node lacking %s started", missing)
			}
			if !strings.Contains(err.Error(), "Permissions Violation") || !strings.Contains(err.Error(), "docs/security.md") {
				t.Fatalf("a node lacking %s: %v, want an error naming the permission violation", missing, err)
			}
			t.Logf("lacking %s: %v", missing, err)
		})
	}
}
