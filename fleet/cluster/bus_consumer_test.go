package cluster_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"rampart/fleet/cluster"
	"rampart/fleet/cluster/natstest"
)

// busStream is the bus stream of the nodes join makes (cluster "rampart").
const busStream = "rampart-bus"

// TestBusConsumerRecreated: a node's bus consumer that the NATS server
// takes away keeps delivering. Node b receives jobs from node a; then
// b's consumers are taken away in two ways, and a's next jobs must still
// reach b:
//   - deleted on the server (the client library notices and recreates
//     them itself: this passes on the old code too);
//   - their pull requests answered with a terminal status (400 Bad
//     Request), after which the library's ordered consumer stops pulling
//     for good and reports it only to the error handler: on the old code
//     b never received another job, the silent loss that left 73 devices
//     "notified" in a -cluster.long run. The node's own watchdog now sees
//     messages stored past the last it delivered and recreates the
//     consumer from there.
func TestBusConsumerRecreated(t *testing.T) {
	c := natstest.Start(t, 1)
	for _, tc := range []struct {
		name string
		take func(t *testing.T, nc *nats.Conn, pulls *pullRequests)
	}{
		{"deleted", deleteConsumers},
		{"refused", refusePulls},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// An observer sees the pull requests (and their reply
			// inboxes) of every consumer of the bus stream.
			obs, err := nats.Connect(c.URLs()[0])
			if err != nil {
				t.Fatal(err)
			}
			defer obs.Close()
			pulls := watchPulls(t, obs)
			a := join(t, c, "a-"+tc.name, 1)
			b := join(t, c, "b-"+tc.name, 1)
			got := receivedJobs(t, b)
			send := func(i int) string {
				d := fmt.Sprintf("%s-dev-%d", tc.name, i)
				if err := a.Job(d, []byte("job"), time.Now().Add(time.Hour)); err != nil {
					t.Fatalf("job %s: %v", d, err)
				}
				return d
			}
			first := send(0)
			eventually(t, 30*time.Second, "b received the first job", func() bool { return got.has(first) })
			tc.take(t, obs, pulls)
			// Jobs sent after the loss, some at once and one later (a
			// consumer recreated at once may be taken again).
			var after []string
			for i := 1; i <= 5; i++ {
				after = append(after, send(i))
			}
			time.Sleep(2 * time.Second)
			after = append(after, send(6))
			for _, d := range after {
				eventually(t, 60*time.Second, "b received "+d+" sent after its consumer was taken away", func() bool { return got.has(d) })
			}
		})
	}
}

// jobsSeen records the devices whose jobs a node received.
type jobsSeen struct {
	mu   sync.Mutex
	seen map[string]int
}

func (j *jobsSeen) has(d string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.seen[d] > 0
}

func receivedJobs(t *testing.T, n *cluster.Node) *jobsSeen {
	j := &jobsSeen{seen: map[string]int{}}
	if err := n.OnJob(func(d string, _ []byte, _ time.Time) {
		j.mu.Lock()
		j.seen[d]++
		j.mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	return j
}

// pullRequests are the reply subjects of the pull requests sent to the
// bus stream's consumers so far.
type pullRequests struct {
	mu      sync.Mutex
	replies map[string]bool
}

func watchPulls(t *testing.T, nc *nats.Conn) *pullRequests {
	p := &pullRequests{replies: map[string]bool{}}
	_, err := nc.Subscribe("$JS.API.CONSUMER.MSG.NEXT."+busStream+".>", func(m *nats.Msg) {
		p.mu.Lock()
		p.replies[m.Reply] = true
		p.mu.Unlock()
	})
	if err == nil {
		err = nc.Flush()
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// deleteConsumers deletes every consumer of the bus stream on the server.
func deleteConsumers(t *testing.T, nc *nats.Conn, _ *pullRequests) {
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, busStream)
	if err != nil {
		t.Fatal(err)
	}
	deleted := 0
	for name := range st.ListConsumers(ctx).Info() {
		if err := st.DeleteConsumer(ctx, name.Name); err != nil {
			t.Fatalf("delete consumer %s: %v", name.Name, err)
		}
		deleted++
	}
	if deleted == 0 {
		t.Fatal("the bus stream has no consumer to delete")
	}
	t.Logf("deleted %d consumers", deleted)
}

// refusePulls answers every pull request seen so far with the status a
// server sends to a request it will not serve (400 Bad Request): the
// client library's pull subscription takes it as terminal and stops.
func refusePulls(t *testing.T, nc *nats.Conn, p *pullRequests) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.replies) == 0 {
		t.Fatal("no pull request seen")
	}
	for reply := range p.replies {
		m := &nats.Msg{Subject: reply, Header: nats.Header{}}
		m.Header.Set("Status", "400")
		m.Header.Set("Description", "Bad Request")
		if err := nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Logf("refused %d pull requests", len(p.replies))
}
