package sim

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/veraison/go-cose"

	"rampart/agent"
	"rampart/deviceproto"
	"rampart/psaclient"
)

// attacker is an enrolled device turned hostile: its own certificate, and
// its TLS key used through its own SPE, as its compromised non-secure
// side can.
type attacker struct {
	id     string
	cert   *x509.Certificate
	signer crypto.Signer
}

func newAttacker(t *testing.T, w *world, d *Device) *attacker {
	t.Helper()
	a, stop := runAgent(t, w, d, AgentOptions{})
	waitFor(t, "the attacker's enrollment", a.Connected)
	stop() // its agent is gone; the attacker holds what it left
	a.Close()
	waitFor(t, "the attacker's agent to leave the broker", func() bool { return w.f.Server.Broker().Connected() == 0 })
	tr, err := d.Platform().Server.Local(-1)
	if err != nil {
		t.Fatal(err)
	}
	c, err := psaclient.NewClient(tr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := psaclient.NewSigner(c, agent.DefaultKeyID)
	if err != nil {
		t.Fatal(err)
	}
	return &attacker{id: a.DeviceID(), cert: a.Certificate(), signer: s}
}

// connectWithWill connects to the broker as the attacker with a retained
// Will on topic, and returns the raw connection (closing it without a
// DISCONNECT makes the broker publish the Will), or nil if the broker
// refused the connection.
func (at *attacker) connectWithWill(t *testing.T, w *world, topic string, will []byte) *tls.Conn {
	t.Helper()
	conn, err := tls.Dial("tcp", w.f.MQTTAddr, &tls.Config{RootCAs: w.f.Roots(), ServerName: "127.0.0.1",
		Certificates: []tls.Certificate{{Certificate: [][]byte{at.cert.Raw}, PrivateKey: at.signer, Leaf: at.cert}}})
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: packets.NewThreadSafeConn(conn)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: at.id, KeepAlive: 30, CleanStart: true,
		WillMessage: &paho.WillMessage{Topic: topic, QoS: 1, Retain: true, Payload: will}}); err != nil {
		conn.Close()
		t.Logf("the broker refused the attacker's CONNECT with a Will on %s: %v", topic, err)
		return nil
	}
	return conn
}

// signAs makes a job message in the signed format with any key and
// certificate: what a forger can build.
func signAs(t *testing.T, key crypto.Signer, cert *x509.Certificate, j deviceproto.Job) []byte {
	t.Helper()
	payload, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	s, err := cose.NewSigner(cose.AlgorithmES256, key)
	if err != nil {
		t.Fatal(err)
	}
	m := cose.NewSign1Message()
	m.Headers.Protected.SetAlgorithm(cose.AlgorithmES256)
	m.Headers.Protected[cose.HeaderLabelContentType] = deviceproto.JobContentType
	m.Headers.Protected[cose.HeaderLabelX5Chain] = cert.Raw
	m.Payload = payload
	if err := m.Sign(rand.Reader, nil, s); err != nil {
		t.Fatal(err)
	}
	b, err := m.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestForgedJobsRefused is issue 15's attack and its variants, against the
// victim's real agent: a second enrolled device puts a job on the victim's
// jobs topic, through a retained Will (the path that skipped the broker's
// ACL) and, so that the defence is shown not to rest on the broker,
// through the broker's own client, which delivers whatever it is given.
// The victim must not act on any of: the unsigned job of the original
// attack; a job signed by the attacker's device key with its fleet-issued
// certificate; the fleet's genuine job for the attacker, replayed to the
// victim; a fleet-signed job whose URL is an https host outside the
// fleet's endpoints; and, once it has taken a newer job, an older genuine
// job of its own (a replay). Each message is seen and refused (the agent's
// refusal count moves), nothing is downloaded from the attacker's server,
// no update starts, the running version and the last outcome are
// unchanged. The genuine job then works.
func TestForgedJobsRefused(t *testing.T) {
	w := newWorld(t)
	victimDev, attackerDev := w.device(t, 0), w.device(t, 1)
	at := newAttacker(t, w, attackerDev)
	var fetched atomic.Int64
	evil := httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		rw.Write(w.v2)
	}))
	defer evil.Close()
	v, stop := runAgent(t, w, victimDev, AgentOptions{})
	defer stop()
	broker := w.f.Server.Broker()
	waitFor(t, "the victim's connection", func() bool { return v.Connected() && broker.Connected() == 1 })
	victim := v.DeviceID()
	signer := w.f.Server.JobSigner()

	evilJob := w.f.Host("evil", "v2.bin", "2.0.0", w.v2)
	evilJob.URL = evil.URL + "/v2.bin"
	running := "1.0.0"
	// refusedBy waits until the victim's refusals reach n (at least n
	// when n is 0 or less: then only the reason is known) with the latest
	// for reason, then checks it did nothing.
	// atLeast: n or more (a retained message is delivered again on each
	// new session).
	atLeast := false
	refusedBy := func(what string, n int64, reason error) {
		t.Helper()
		waitFor(t, what+" refused", func() bool {
			got, last := v.RefusedJobs()
			return (got == n || (n <= 0 && got > 0) || (atLeast && got >= n)) && errors.Is(last, reason)
		})
		if u := v.Pending(); u != nil {
			t.Fatalf("%s: the victim started an update: %+v", what, u)
		}
		if s := v.State(); s.Last != nil && s.Last.JobID != "good" {
			t.Fatalf("%s: the victim reported an outcome: %+v", what, s.Last)
		}
		if ver, _ := v.RunningVersion(); ver != running {
			t.Fatalf("%s: the victim runs %s, want %s", what, ver, running)
		}
		if n := fetched.Load(); n != 0 {
			t.Fatalf("%s: %d requests reached the attacker's image server", what, n)
		}
	}

	// 1. The original attack: an unsigned job in a retained Will on the
	// victim's topic. Whether or not the broker delivers the Will, a
	// forged job sent next through the broker's own client is delivered
	// after it: once the broker dropped the attacker (it publishes the
	// Will before it counts the disconnection), the victim's queue holds
	// the Will, if any, before that message.
	unsigned, _ := json.Marshal(deviceproto.Job{ID: "evil", Version: "2.0.0", URL: evilJob.URL, Size: evilJob.Size, SHA256: evilJob.SHA256})
	before := broker.Connected()
	if conn := at.connectWithWill(t, w, deviceproto.JobsTopic(victim), unsigned); conn != nil {
		waitFor(t, "the attacker's session", func() bool { return broker.Connected() == before+1 })
		conn.Close()
		waitFor(t, "the attacker's disconnection", func() bool { return broker.Connected() == before })
	}
	// 2. Signed by the attacker's own device key, with its certificate
	// from the fleet CA, for the victim.
	forged := evilJob
	forged.Device, forged.Nonce, forged.Issued, forged.Expires = victim, make([]byte, 32), time.Now().UnixMilli(), time.Now().Add(time.Hour).UnixMilli()
	if err := broker.PublishJob(victim, signAs(t, at.signer, at.cert, forged), time.Time{}); err != nil {
		t.Fatal(err)
	}
	refusedBy("a job signed by another device", 0, deviceproto.ErrJobSignature)
	n, _ := v.RefusedJobs()
	t.Logf("the broker delivered the attacker's Will to the victim (and the victim refused it): %v", n == 2)

	// 3. The fleet's genuine job for the attacker, replayed to the victim.
	good := w.f.Host("good", "v2.bin", "2.0.0", w.v2)
	forAttacker, err := signer.Sign(at.id, good)
	if err != nil {
		t.Fatal(err)
	}
	if err := broker.PublishJob(victim, forAttacker, time.Time{}); err != nil {
		t.Fatal(err)
	}
	n++
	refusedBy("another device's genuine job", n, deviceproto.ErrJobDevice)

	// 4. Signed by the fleet, for the victim, but the URL is an https host
	// the fleet does not certify.
	offFleet, err := signer.Sign(victim, evilJob)
	if err != nil {
		t.Fatal(err)
	}
	if err := broker.PublishJob(victim, offFleet, time.Time{}); err != nil {
		t.Fatal(err)
	}
	n++
	refusedBy("a job to a host outside the fleet", n, deviceproto.ErrJobURL)

	// 5. The genuine job works; an older genuine job of the victim's,
	// delivered after it, is a replay.
	older := good
	older.ID = "older"
	olderMsg, err := signer.Sign(victim, older)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.f.PublishJob(context.Background(), victim, good); err != nil {
		t.Fatal(err)
	}
	if o := outcome(t, v, "good"); !o.OK || o.Result != deviceproto.ResultOK || o.Version != "2.0.0" {
		t.Fatalf("the genuine job: %+v", o)
	}
	running = "2.0.0"
	if err := broker.PublishJob(victim, olderMsg, time.Time{}); err != nil {
		t.Fatal(err)
	}
	n++
	// The genuine job's re-attestation renewed the certificate, and the
	// old session lives on until the agent opens one with the new
	// certificate (the renewal's grace): the older job, retained, may
	// reach the victim on both, each time refused.
	atLeast = true
	refusedBy("an older genuine job after a newer one", n, deviceproto.ErrJobReplayed)
	if s := v.State(); s.Last == nil || s.Last.JobID != "good" || s.Taken == nil || s.Taken.ID != "good" {
		t.Fatalf("after the replay: last %+v, taken %+v", s.Last, s.Taken)
	}
}
