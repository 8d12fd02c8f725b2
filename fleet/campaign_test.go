package fleet

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"

	"rampart/attest"
	"rampart/deviceproto"
	"rampart/fleet/campaign"
	"rampart/fleet/trust"
	"rampart/image"
	"rampart/swcomponent"
)

// updater is a scripted device that follows the update protocol: it takes
// its job over MQTT, downloads the image, re-enrolls by attestation with
// the new measurement and reports the outcome with a token.
type updater struct {
	*device
	jobs chan deviceproto.Job
	bad  chan error // jobs the device refused
	mq   *paho.Client
	done string // the job finished last: its retained copy is ignored, as the agent does
}

func (f *fixture) updater(t *testing.T, d *device) *updater {
	t.Helper()
	u := &updater{device: d, jobs: make(chan deviceproto.Job, 4), bad: make(chan error, 4)}
	u.connect(t)
	return u
}

// connect opens the device's MQTT session with its current certificate
// and subscribes to its jobs.
func (u *updater) connect(t *testing.T) {
	t.Helper()
	conn, err := tls.Dial("tcp", u.f.mqttAddr, &tls.Config{RootCAs: u.f.pool, Certificates: []tls.Certificate{u.tlsCert()}, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	done := u.done
	mq := paho.NewClient(paho.ClientConfig{Conn: packets.NewThreadSafeConn(conn), PacketTimeout: time.Minute, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(p paho.PublishReceived) (bool, error) {
			// As the agent does: only a job the fleet signed for this device.
			pol := deviceproto.JobPolicy{Roots: u.f.pool, Device: u.cert, EnrollURL: u.f.enrollURL, Now: time.Now()}
			if j, err := deviceproto.VerifyJob(p.Packet.Payload, pol); err == nil && j.ID != done {
				u.jobs <- j
			} else if err != nil {
				u.bad <- err
			}
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := mq.Connect(ctx, &paho.Connect{ClientID: u.id, KeepAlive: 30, CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mq.Disconnect(&paho.Disconnect{}) })
	if _, err := mq.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: deviceproto.JobsTopic(u.id), QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	u.mq = mq
}

func (u *updater) job(t *testing.T) deviceproto.Job {
	t.Helper()
	select {
	case j := <-u.jobs:
		return j
	case err := <-u.bad:
		t.Fatalf("device %s refused its job: %v", u.id, err)
		return deviceproto.Job{}
	case <-time.After(10 * time.Second):
		t.Fatalf("device %s received no job", u.id)
		return deviceproto.Job{}
	}
}

func (u *updater) download(t *testing.T, j deviceproto.Job) []byte {
	t.Helper()
	r, err := u.f.http.Get(j.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != 200 || int64(len(b)) != j.Size {
		t.Fatalf("download %s: %d, %d bytes", j.URL, r.StatusCode, len(b))
	}
	return b
}

// finish boots the new image (its measurement in the claims), re-enrolls
// and reports success with a token over the job's challenge.
func (u *updater) finish(t *testing.T, j deviceproto.Job, comp component) {
	t.Helper()
	u.claims = func(c *attest.Claims) {
		c.SoftwareComponents = []swcomponent.Component{{MeasurementType: comp.swType, MeasurementValue: comp.digest, Version: comp.version, SignerID: comp.signer, MeasurementDescription: "SHA256"}}
	}
	if err := u.enroll(true); err != nil {
		t.Fatalf("re-enrollment with the new image: %v", err)
	}
	// The new certificate supersedes the one the session was opened
	// with, which ended it: report over a new session, as the agent does.
	u.done = j.ID
	u.connect(t)
	tok, err := u.attest(context.Background(), j.Nonce) // the server's challenge
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(deviceproto.Outcome{JobID: j.ID, OK: true, Result: deviceproto.ResultOK, Version: j.Version, Token: tok})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := u.mq.Publish(ctx, &paho.Publish{Topic: deviceproto.StatusTopic(u.id), QoS: 1, Retain: true, Payload: out}); err != nil {
		t.Fatal(err)
	}
}

// TestCampaignSurvivesRestart stops the whole server mid-campaign (two
// devices verified, one downloaded, one notified but offline) and starts
// it again on the same data: the progress is all there, the in-flight jobs
// are published again, and the campaign completes.
func TestCampaignSurvivesRestart(t *testing.T) {
	f := newFixture(t, "sqlite")
	ctx := context.Background()
	v, _ := image.ParseVersion("2.0.0")
	sc := v.SecurityCounter()
	res, err := image.Sign(bytes.Repeat([]byte{0x5A}, 4096), &image.SignOptions{Key: f.relKey, HeaderSize: 0x200, PadHeader: true, Version: v, SecurityCounter: &sc, BootRecord: "SPE", Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	rel, _, err := campaign.Upload(ctx, f.srv.Store(), res.Bytes, f.srv.cfg.releaseKeys, false, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	comp := component{swType: "SPE", version: "2.0.0", digest: rel.Component.MeasurementValue, signer: f.relInfo.signer}
	devs := f.newDevices(4)
	for _, d := range devs {
		if err := d.enroll(false); err != nil {
			t.Fatal(err)
		}
	}
	var online []*updater
	for _, d := range devs[:3] {
		online = append(online, f.updater(t, d))
	}
	if _, err := f.srv.Campaigns().Create(ctx, campaign.Spec{ID: "restart", Release: hex.EncodeToString(rel.Component.MeasurementValue), MaxConcurrent: 4,
		Phases: []campaign.Phase{{Percent: 100, FailureThreshold: 0.5}}}, "test"); err != nil {
		t.Fatal(err)
	}
	for _, u := range online[:2] {
		j := u.job(t)
		u.download(t, j)
		u.finish(t, j, comp)
	}
	j2 := online[2].job(t)
	online[2].download(t, j2)
	status := func() map[string]campaign.Status {
		s, err := f.srv.Campaigns().Status("restart", true)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]campaign.Status{}
		for _, d := range s.Devices {
			m[d.ID] = d.Status
		}
		return m
	}
	want := map[string]campaign.Status{devs[0].id: campaign.Verified, devs[1].id: campaign.Verified, devs[2].id: campaign.Downloaded, devs[3].id: campaign.Notified}
	deadline := time.Now().Add(10 * time.Second)
	for got := status(); !equalStatus(got, want); got = status() {
		if time.Now().After(deadline) {
			t.Fatalf("before restart: %v, want %v", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Restart the whole server on the same data directory.
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	f.srv.Shutdown(sctx)
	cancel()
	f.start()
	if got := status(); !equalStatus(got, want) {
		t.Fatalf("after restart: %v, want %v", got, want)
	}
	// The offline device connects to the new server and gets its job (the
	// broker's retained messages did not survive: the engine republished).
	late := f.updater(t, devs[3])
	j3 := late.job(t)
	late.download(t, j3)
	late.finish(t, j3, comp)
	again := f.updater(t, devs[2])
	j2b := again.job(t)
	if j2b.ID != j2.ID || j2b.SHA256 != j2.SHA256 || j2b.Version != j2.Version || !bytes.Equal(j2b.Nonce, j2.Nonce) || j2b.Issued <= j2.Issued { // the port changed: listen 127.0.0.1:0
		t.Fatalf("job after restart %+v, was %+v", j2b, j2)
	}
	again.finish(t, j2b, comp)
	deadline = time.Now().Add(10 * time.Second)
	for {
		s, _ := f.srv.Campaigns().Status("restart", false)
		if s.State == campaign.Completed && s.Counts[campaign.Verified] == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restart the campaign ended %s with %v", s.State, s.Counts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func equalStatus(a, b map[string]campaign.Status) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

// TestJobAfterRetainedExpiry: a device offline when its campaign job was
// published, and connecting only after that job expired (and with it the
// broker's retained copy), still gets its job, valid and signed for it:
// the broker tells the campaign engine when the device's session starts,
// and the engine publishes the job again, signed anew, before the device
// subscribes. The jobs here are valid 3 s (a fleet's, 7 days); before,
// the device got the expired job it could only refuse, and past an hour
// (the broker's cap on retained messages) no job at all.
func TestJobAfterRetainedExpiry(t *testing.T) {
	const ttl = 3 * time.Second
	f := prepareFixture(t, "sqlite")
	f.jobTTL = ttl
	f.start()
	ctx := context.Background()
	if _, err := trust.RegisterRelease(ctx, f.srv.Store(), f.release, f.srv.cfg.releaseKeys, "test", "test"); err != nil {
		t.Fatal(err)
	}
	v, _ := image.ParseVersion("2.0.0")
	sc := v.SecurityCounter()
	res, err := image.Sign(bytes.Repeat([]byte{0x5A}, 4096), &image.SignOptions{Key: f.relKey, HeaderSize: 0x200, PadHeader: true, Version: v, SecurityCounter: &sc, BootRecord: "SPE", Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	rel, _, err := campaign.Upload(ctx, f.srv.Store(), res.Bytes, f.srv.cfg.releaseKeys, false, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	d := f.newDevices(1)[0]
	if err := d.enroll(false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.srv.Campaigns().Create(ctx, campaign.Spec{ID: "offline", Release: hex.EncodeToString(rel.Component.MeasurementValue), MaxConcurrent: 1,
		Phases: []campaign.Phase{{Percent: 100, FailureThreshold: 1}}}, "test"); err != nil {
		t.Fatal(err)
	}
	var notified time.Time
	deadline := time.Now().Add(time.Minute) // against hangs
	for notified.IsZero() {
		s, err := f.srv.Campaigns().Status("offline", true)
		if err != nil {
			t.Fatal(err)
		}
		if s.Devices[0].Status == campaign.Notified {
			notified = s.Devices[0].Notified
		} else if time.Now().After(deadline) {
			t.Fatalf("device not notified: %+v", s.Devices[0])
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The job (signed just after the notification) has expired, and the
	// broker's sweep (every second) has had its turn.
	for time.Now().Before(notified.Add(ttl + 2*time.Second)) {
		time.Sleep(50 * time.Millisecond)
	}
	u := f.updater(t, d)
	j := u.job(t) // verified as the agent does, at the device's time: not expired
	if j.ID != "offline" || j.Device != d.id || j.Version != "2.0.0" {
		t.Fatalf("job %+v", j)
	}
	u.download(t, j)
}
