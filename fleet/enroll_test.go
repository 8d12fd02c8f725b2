package fleet

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"rampart/deviceproto"
	"rampart/fleet/store"
	"rampart/fleet/store/storetest"
)

func eachBackend(t *testing.T, f func(t *testing.T, fx *fixture)) {
	for _, b := range storetest.Backends {
		t.Run(b, func(t *testing.T) { f(t, newFixture(t, b)) })
	}
}

func refusalCode(t *testing.T, err error) deviceproto.Code {
	t.Helper()
	var r *deviceproto.Refusal
	if !errors.As(err, &r) {
		t.Fatalf("error %v (%T) is not a refusal", err, err)
	}
	return r.Code
}

// lastAudit returns the newest audit entry about subject for action.
func (f *fixture) lastAudit(action, subject string) *store.AuditEntry {
	f.t.Helper()
	l, err := f.srv.Store().AuditLog(context.Background(), store.AuditFilter{Action: action, Subject: subject, Limit: 1})
	if err != nil || len(l) == 0 {
		f.t.Fatalf("no audit entry for %s %q (%v)", action, subject, err)
	}
	return l[0]
}

// waitAudit waits up to a minute for the newest audit entry of action
// and subject to name want in its reason: the broker audits a session's
// end after the connection closes, so a client can see the close first.
func (f *fixture) waitAudit(action, subject, want string) *store.AuditEntry {
	f.t.Helper()
	var last *store.AuditEntry
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		l, err := f.srv.Store().AuditLog(context.Background(), store.AuditFilter{Action: action, Subject: subject, Limit: 1})
		if err != nil {
			f.t.Fatal(err)
		}
		if len(l) > 0 {
			if last = l[0]; strings.Contains(last.Reason, want) {
				return last
			}
		}
	}
	f.t.Fatalf("no audit entry for %s %q naming %q within a minute (newest: %+v)", action, subject, want, last)
	return nil
}

func TestEnrollConnectPublish(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		devs := f.newDevices(2)
		d := devs[0]
		if err := d.enroll(false); err != nil {
			t.Fatal(err)
		}
		if d.cert.Subject.CommonName != d.id || d.cert.NotAfter.Sub(d.cert.NotBefore) > 2*time.Hour {
			t.Fatalf("certificate CN %q, validity %v", d.cert.Subject.CommonName, d.cert.NotAfter.Sub(d.cert.NotBefore))
		}
		dev, _ := f.srv.Store().Device(context.Background(), d.id)
		if dev.State != store.Active {
			t.Fatalf("device state %s after enrollment", dev.State)
		}
		if e := f.lastAudit("enroll", d.id); e.Decision != store.Allow {
			t.Fatalf("audit: %+v", e)
		}
		c, _, err := d.mqtt("")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Disconnect(&paho.Disconnect{})
		ctx := context.Background()
		for i := range 5 {
			payload := []byte(`{"ts":` + itoa(time.Now().UnixMilli()+int64(i)) + `,"values":{"temperature":21.5,"rssi":-67}}`) // within telemetry.retention
			pr, err := c.Publish(ctx, &paho.Publish{Topic: deviceproto.TelemetryTopic(d.id), QoS: 1, Payload: payload})
			if err != nil || pr.ReasonCode != 0 {
				t.Fatalf("publish: %v %+v", err, pr)
			}
		}
		// Acknowledged means stored: no waiting needed.
		pts, err := f.srv.Store().Points(ctx, store.PointQuery{DeviceID: d.id, Metric: "temperature"})
		if err != nil || len(pts) != 5 || pts[0].Value != 21.5 {
			t.Fatalf("stored %v, %v", pts, err)
		}
		// Malformed telemetry is refused (MQTT 5 reason code), not stored.
		pr, err := c.Publish(ctx, &paho.Publish{Topic: deviceproto.TelemetryTopic(d.id), QoS: 1, Payload: []byte(`{"values":{"bad name":1}}`)})
		if err == nil && pr.ReasonCode == 0 {
			t.Fatal("malformed telemetry acknowledged")
		}
		// Another device's topics: publish refused, subscribe refused.
		pr, err = c.Publish(ctx, &paho.Publish{Topic: deviceproto.TelemetryTopic(devs[1].id), QoS: 1, Payload: []byte(`{"values":{"x":1}}`)})
		if err == nil && pr.ReasonCode < 0x80 {
			t.Fatalf("publish to another device's topic accepted: %+v", pr)
		}
		sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "devices/+/telemetry", QoS: 1}}})
		if err == nil && (len(sa.Reasons) != 1 || sa.Reasons[0] < 0x80) {
			t.Fatalf("wildcard subscription across devices accepted: %+v", sa)
		}
		sa, err = c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "devices/" + d.id + "/commands", QoS: 1}}})
		if err != nil || sa.Reasons[0] >= 0x80 {
			t.Fatalf("own subscription refused: %v %+v", err, sa)
		}
		if e := f.lastAudit("mqtt.publish", d.id); e.Decision != store.Deny || !strings.Contains(e.Reason, devs[1].id) {
			t.Fatalf("foreign-topic publish audit: %+v", e)
		}
		// Renewal needs a fresh attestation and gives a new certificate.
		old := d.cert
		if err := d.enroll(true); err != nil {
			t.Fatal(err)
		}
		if d.cert.SerialNumber.Cmp(old.SerialNumber) == 0 {
			t.Fatal("renewal returned the same certificate")
		}
		// Renewal of a never-enrolled device is refused.
		if err := devs[1].enroll(true); refusalCode(t, err) != deviceproto.CodeDeviceState {
			t.Fatalf("renewal before enrollment: %v", err)
		}
	})
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
