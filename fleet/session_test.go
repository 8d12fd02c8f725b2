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
)

// TestRenewalEndsOldSession: renewal revokes the certificate it replaces
// and ends the MQTT session still using it (before, the old certificate
// stayed valid and its session went on); the old certificate is then
// refused, the new one connects and publishes.
func TestRenewalEndsOldSession(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		d := f.newDevices(1)[0]
		if err := d.enroll(false); err != nil {
			t.Fatal(err)
		}
		oldCert := d.tlsCert()
		c, _, err := d.mqtt("")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Disconnect(&paho.Disconnect{})
		if err := d.enroll(true); err != nil {
			t.Fatal(err)
		}
		select {
		case <-c.Done():
		case <-time.After(time.Minute): // against hangs
			t.Fatal("the session of the superseded certificate is still open")
		}
		ctx := context.Background()
		rec, err := f.srv.Store().Certificate(ctx, ca.Serial(oldCert.Leaf.SerialNumber))
		if err != nil || rec.Revoked.IsZero() {
			t.Fatalf("old certificate after renewal: %+v, %v", rec, err)
		}
		if e := f.lastAudit("mqtt.session", d.id); !strings.Contains(e.Reason, "superseded") {
			t.Fatalf("audit: %+v", e)
		}
		mustConnectFail(t, f, oldCert, d.id, "superseded certificate")
		c2, _, err := d.mqtt("")
		if err != nil {
			t.Fatalf("renewed certificate: %v", err)
		}
		defer c2.Disconnect(&paho.Disconnect{})
		if pr, err := c2.Publish(ctx, &paho.Publish{Topic: deviceproto.TelemetryTopic(d.id), QoS: 1, Payload: []byte(`{"values":{"x":1}}`)}); err != nil || pr.ReasonCode != 0 {
			t.Fatalf("publish with the renewed certificate: %+v %v", pr, err)
		}
	})
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
