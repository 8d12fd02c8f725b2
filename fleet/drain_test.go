package fleet

import (
	"context"
	"crypto/tls"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"rampart/deviceproto"
	"rampart/fleet/store"
)

// TestDrainLosesNothingAcked: devices publish QoS 1 telemetry as fast as
// they can while the server drains. Each MQTT 5 client (paho.golang) is
// told DISCONNECT 0x9C (use another server) naming the other node, and
// every message acknowledged before that is in the store afterwards.
func TestDrainLosesNothingAcked(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		devs := f.newDevices(4)
		for _, d := range devs {
			if err := d.enroll(false); err != nil {
				t.Fatal(err)
			}
		}
		var (
			mu       sync.Mutex
			acked    = map[string][]int{}
			told     = map[string]*paho.Disconnect{}
			wg       sync.WaitGroup
			flowing  = make(chan struct{})
			flowOnce sync.Once
		)
		for _, d := range devs {
			// Ends the publisher's wait when the session ends (paho keeps
			// a publish in flight for resending on a next connection).
			ended, end := context.WithCancel(context.Background())
			defer end()
			c, _, err := mqttConnectWith(f, d, func(cfg *paho.ClientConfig) {
				cfg.OnServerDisconnect = func(p *paho.Disconnect) {
					mu.Lock()
					told[d.id] = p
					mu.Unlock()
					end()
				}
				cfg.OnClientError = func(error) { end() }
			})
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					pctx, cancel := context.WithTimeout(ended, time.Minute) // against hangs
					pr, err := c.Publish(pctx, &paho.Publish{Topic: deviceproto.TelemetryTopic(d.id), QoS: 1,
						Payload: []byte(`{"values":{"seq":` + strconv.Itoa(i) + `}}`)})
					cancel()
					if err != nil || pr.ReasonCode != 0 {
						return // the session ended: nothing from here on was acknowledged
					}
					mu.Lock()
					acked[d.id] = append(acked[d.id], i)
					if len(acked[d.id]) >= 20 && len(acked) == len(devs) && !slices.ContainsFunc(devs, func(x *device) bool { return len(acked[x.id]) < 20 }) {
						flowOnce.Do(func() { close(flowing) })
					}
					mu.Unlock()
				}
			}()
		}
		select {
		case <-flowing:
		case <-time.After(2 * time.Minute): // against hangs
			t.Fatal("telemetry did not flow")
		}
		f.srv.opts.PeerMQTT = func() []string { return []string{"node-b.test:8883"} }
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		began := time.Now()
		if err := f.srv.Drain(ctx); err != nil {
			t.Fatalf("drain: %v", err)
		}
		took := time.Since(began)
		wg.Wait()

		db, err := store.Open(context.Background(), f.srv.cfg.Database, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		total := 0
		for _, d := range devs {
			mu.Lock()
			p := told[d.id]
			vals := acked[d.id]
			mu.Unlock()
			if p == nil || p.ReasonCode != 0x9C || p.Properties == nil || p.Properties.ServerReference != "node-b.test:8883" {
				t.Fatalf("device %s: server DISCONNECT %+v, want 0x9C referring to node-b.test:8883", d.id, p)
			}
			pts, err := db.Points(context.Background(), store.PointQuery{DeviceID: d.id, Metric: "seq"})
			if err != nil {
				t.Fatal(err)
			}
			have := map[int]bool{}
			for _, pt := range pts {
				have[int(pt.Value)] = true
			}
			for _, v := range vals {
				if !have[v] {
					t.Fatalf("device %s: acknowledged message %d lost in the drain", d.id, v)
				}
			}
			total += len(vals)
		}
		t.Logf("%d messages acknowledged by %d devices before the drain, all in the store; the drain took %v", total, len(devs), took.Round(time.Millisecond))
	})
}

// TestEnrollmentAnswerEndpoints: a certificate comes with the MQTT
// endpoints devices may use: this node's own listener when nothing is
// advertised, else the advertised endpoints and the other nodes'.
func TestEnrollmentAnswerEndpoints(t *testing.T) {
	f := newFixture(t, "sqlite")
	d := f.newDevices(1)[0]
	nonce, err := d.client().Nonce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := deviceproto.NewCSR(d.key, nil, "")
	b, _ := deviceproto.Binding(nonce, &d.key.PublicKey)
	tok, _ := d.attest(context.Background(), b)
	a, err := d.client().SubmitAnswer(context.Background(), false, csr, nonce, tok)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.MQTT, []string{f.mqttAddr}) || a.MQTTErr != nil {
		t.Fatalf("endpoints %q (%v), want this node's %s", a.MQTT, a.MQTTErr, f.mqttAddr)
	}
	s := &Server{opts: Options{AdvertiseMQTT: []string{"lb.fleet.example:8883", "node-a.fleet.example:8883"},
		PeerMQTT: func() []string { return []string{"node-b.fleet.example:8883", "node-a.fleet.example:8883"} }}}
	if got := s.mqttEndpoints(); !slices.Equal(got, []string{"lb.fleet.example:8883", "node-a.fleet.example:8883", "node-b.fleet.example:8883"}) {
		t.Fatalf("advertised and peers: %q", got)
	}
	if _, err := New(f.srv.cfg, Options{Rand: f.srv.opts.Rand, AdvertiseMQTT: []string{"no-port"}}); err == nil {
		t.Fatal("a malformed advertised endpoint accepted")
	}
}

// mqttConnectWith is mqttConnect (MQTT 5, the device's certificate and id)
// with the client configuration adjusted by set.
func mqttConnectWith(f *fixture, d *device, set func(*paho.ClientConfig)) (*paho.Client, *paho.Connack, error) {
	conn, err := tls.Dial("tcp", f.mqttAddr, &tls.Config{RootCAs: f.pool, Certificates: []tls.Certificate{d.tlsCert()}, ServerName: "127.0.0.1"})
	if err != nil {
		return nil, nil, err
	}
	cfg := paho.ClientConfig{Conn: conn, PacketTimeout: time.Minute}
	set(&cfg)
	c := paho.NewClient(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ca, err := c.Connect(ctx, &paho.Connect{ClientID: d.id, KeepAlive: 30, CleanStart: true})
	if err != nil {
		conn.Close()
		return nil, ca, err
	}
	return c, ca, nil
}
