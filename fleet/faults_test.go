package fleet

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"rampart/attest"
	"rampart/deviceproto"
	"rampart/fleet/store"
)

// TestEnrollRefusals drives each refusal reason through the real HTTPS
// endpoint and checks the code and the audit entry.
func TestEnrollRefusals(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		devs := f.newDevices(3)
		d := devs[0]
		ctx := context.Background()
		cl := d.client()
		submit := func(nonce []byte, csrKey *deviceKey, tok []byte) error {
			csr, err := deviceproto.NewCSR(csrKey.k, rand.Reader, "")
			if err != nil {
				t.Fatal(err)
			}
			_, err = cl.Submit(ctx, false, csr, nonce, tok)
			return err
		}
		fresh := func() []byte {
			n, err := cl.Nonce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		key := &deviceKey{d.key}
		token := func(nonce []byte, k *deviceKey) []byte {
			b, _ := deviceproto.Binding(nonce, k.k.Public())
			tok, err := d.attest(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		// Each refusal is audited, the first of a code (per source and
		// subject) at once; repeats within the burst window are counted
		// in a summary row (checked at the end).
		check := func(name string, err error, want deviceproto.Code) {
			t.Helper()
			if got := refusalCode(t, err); got != want {
				t.Fatalf("%s: refused with %s (%v), want %s", name, got, err, want)
			}
			l, _ := f.srv.Store().AuditLog(ctx, store.AuditFilter{Action: "enroll", Decision: store.Deny})
			for _, e := range l {
				if strings.HasPrefix(e.Reason, string(want)+":") {
					return
				}
			}
			t.Fatalf("%s: no audit entry records %s", name, want)
		}

		// Nonce never issued.
		var bogus [32]byte
		check("unknown nonce", submit(bogus[:], key, token(bogus[:], key)), deviceproto.CodeNonceUnknown)
		// Replayed nonce: the first use succeeds, the second is refused.
		n := fresh()
		tok := token(n, key)
		if err := submit(n, key, tok); err != nil {
			t.Fatal(err)
		}
		check("replayed nonce", submit(n, key, tok), deviceproto.CodeNonceReplayed)
		// A CSR whose key the token does not bind.
		n = fresh()
		other := &deviceKey{genKey(t)}
		check("csr key not bound", submit(n, other, token(n, key)), deviceproto.CodeBinding)
		// Token nonce made for a different server nonce.
		n, n2 := fresh(), fresh()
		check("wrong nonce", submit(n, key, token(n2, key)), deviceproto.CodeBinding)
		// Unknown instance: a device that was never endorsed.
		stranger := &device{f: f, iak: genKey(t), key: genKey(t), impl: d.impl}
		stranger.inst, _ = attest.InstanceID(&stranger.iak.PublicKey)
		check("unknown instance", stranger.enroll(false), deviceproto.CodeUnknownInstance)
		// Unendorsed key claiming an endorsed instance ID: bad signature.
		impostor := &device{f: f, iak: d.iak, key: genKey(t), impl: d.impl, inst: d.inst, signer: genKey(t)}
		check("unendorsed key", impostor.enroll(false), deviceproto.CodeBadSignature)
		// Wrong PSA lifecycle.
		dbg := devs[1]
		dbg.claims = func(c *attest.Claims) { c.Lifecycle = attest.LifecycleRecoverablePSARoTDebug }
		check("lifecycle", dbg.enroll(false), deviceproto.CodeLifecycle)
		// Unknown firmware: a measurement no release has.
		dbg.claims = func(c *attest.Claims) { c.SoftwareComponents[0].MeasurementValue = make([]byte, 32) }
		check("unknown firmware", dbg.enroll(false), deviceproto.CodeUnknownFirmware)
		// Right hash, wrong signer.
		dbg.claims = func(c *attest.Claims) { c.SoftwareComponents[0].SignerID = make([]byte, 32) }
		check("wrong signer", dbg.enroll(false), deviceproto.CodeUnknownFirmware)
		// Implementation ID contradicting the endorsement.
		dbg.claims = func(c *attest.Claims) { c.ImplementationID = make([]byte, 32) }
		check("implementation id", dbg.enroll(false), deviceproto.CodeEndorsement)
		dbg.claims = nil
		// Malformed CBOR in the token.
		n = fresh()
		check("malformed cbor", submit(n, key, []byte{0xd2, 0x84, 0x43, 0xa1, 0x01}), deviceproto.CodeMalformedToken)
		// A token with a flipped signature byte.
		n = fresh()
		tok = token(n, key)
		tok[len(tok)-1] ^= 1
		check("bad signature", submit(n, key, tok), deviceproto.CodeBadSignature)

		// Raw HTTP faults: oversized body, malformed CSR, missing headers.
		post := func(body string, hdr map[string]string) *http.Response {
			req, _ := http.NewRequest(http.MethodPost, f.enrollURL+deviceproto.PathSimpleEnroll, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/pkcs10")
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			resp, err := f.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp
		}
		if r := post(strings.Repeat("A", deviceproto.MaxBodySize+1), nil); r.StatusCode != http.StatusRequestEntityTooLarge || r.Header.Get(deviceproto.HeaderReason) != string(deviceproto.CodeOversized) {
			t.Fatalf("oversized body: %s %q", r.Status, r.Header.Get(deviceproto.HeaderReason))
		}
		if r := post("bm90IGEgY3Ny", map[string]string{deviceproto.HeaderNonce: base64.StdEncoding.EncodeToString(bogus[:]), deviceproto.HeaderToken: "AAAA"}); r.StatusCode != http.StatusBadRequest || r.Header.Get(deviceproto.HeaderReason) != string(deviceproto.CodeMalformed) {
			t.Fatalf("malformed csr: %s %q", r.Status, r.Header.Get(deviceproto.HeaderReason))
		}
		// 11 distinct refusals written at once; the second binding,
		// bad-signature and unknown-firmware refusals (same source,
		// device and code) are counted, one summary row each.
		f.srv.refusals.Flush(ctx)
		l, _ := f.srv.Store().AuditLog(ctx, store.AuditFilter{Decision: store.Deny, Limit: 100})
		summaries := 0
		for _, e := range l {
			if strings.HasPrefix(e.Reason, "burst: 1 more from 127.0.0.1 since ") {
				summaries++
			}
		}
		if len(l) != 14 || summaries != 3 {
			t.Fatalf("%d refusals audited, %d of them summaries; want 11 and 3", len(l), summaries)
		}
	})
}

type deviceKey struct{ k *ecdsa.PrivateKey }

// api calls the admin API and returns the status and body.
func (f *fixture) api(method, path, token, body string) (int, string) {
	f.t.Helper()
	req, _ := http.NewRequest(method, f.adminURL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.http.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func mustConnectFail(t *testing.T, f *fixture, cert tls.Certificate, clientID, what string) {
	t.Helper()
	c, _, err := mqttConnect(f, cert, clientID)
	if err == nil {
		c.Disconnect(&paho.Disconnect{})
		t.Fatalf("%s: MQTT connection accepted", what)
	}
}

func TestLifecycleAndMQTTRefusals(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		devs := f.newDevices(2)
		a, b := devs[0], devs[1]
		for _, d := range devs {
			if err := d.enroll(false); err != nil {
				t.Fatal(err)
			}
		}
		// A foreign certificate naming device a.
		fk := genKey(t)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: a.id}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
		der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &fk.PublicKey, fk)
		mustConnectFail(t, f, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: fk}, a.id, "foreign certificate")
		if e := f.lastAudit("mqtt.connect", a.id); e.Decision != store.Deny || !strings.Contains(e.Reason, "certificate") {
			t.Fatalf("foreign certificate audit: %+v", e)
		}
		// b's certificate with a's client identifier.
		mustConnectFail(t, f, b.tlsCert(), a.id, "client id of another device")

		c, _, err := a.mqtt("")
		if err != nil {
			t.Fatal(err)
		}
		// Admin calls without a token, or with too weak a role.
		if st, _ := f.api("GET", "/api/v1/devices", "", ""); st != http.StatusUnauthorized {
			t.Fatalf("no token: %d", st)
		}
		if st, _ := f.api("GET", "/api/v1/devices", "wrong", ""); st != http.StatusUnauthorized {
			t.Fatalf("wrong token: %d", st)
		}
		if st, _ := f.api("POST", "/api/v1/devices/"+a.id+"/suspend", viewerToken, `{"reason":"x"}`); st != http.StatusForbidden {
			t.Fatalf("viewer suspending: %d", st)
		}
		if st, body := f.api("GET", "/api/v1/devices", viewerToken, ""); st != 200 || !strings.Contains(body, a.id) {
			t.Fatalf("viewer listing: %d %s", st, body)
		}
		if st, _ := f.api("POST", "/api/v1/devices/"+a.id+"/suspend", operatorToken, `{}`); st != http.StatusBadRequest {
			t.Fatalf("suspend without reason: %d", st)
		}
		// Suspend: the live connection drops at once, reconnecting and
		// enrolling are refused; resume restores service.
		if st, body := f.api("POST", "/api/v1/devices/"+a.id+"/suspend", operatorToken, `{"reason":"reported stolen"}`); st != 200 || !strings.Contains(body, `"disconnected": true`) {
			t.Fatalf("suspend: %d %s", st, body)
		}
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("suspended device still connected")
		}
		mustConnectFail(t, f, a.tlsCert(), a.id, "suspended device")
		if err := a.enroll(false); refusalCode(t, err) != deviceproto.CodeDeviceState {
			t.Fatalf("suspended device enrolled: %v", err)
		}
		if st, _ := f.api("POST", "/api/v1/devices/"+a.id+"/resume", operatorToken, ""); st != 200 {
			t.Fatalf("resume: %d", st)
		}
		c, _, err = a.mqtt("")
		if err != nil {
			t.Fatalf("resumed device: %v", err)
		}
		// Decommission: operator may not; admin revokes and disconnects.
		if st, _ := f.api("POST", "/api/v1/devices/"+a.id+"/decommission", operatorToken, `{"reason":"end of life"}`); st != http.StatusForbidden {
			t.Fatalf("operator decommissioning: %d", st)
		}
		st, body := f.api("POST", "/api/v1/devices/"+a.id+"/decommission", adminToken, `{"reason":"end of life"}`)
		if st != 200 || !strings.Contains(body, "revoked_certificates") {
			t.Fatalf("decommission: %d %s", st, body)
		}
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("decommissioned device still connected")
		}
		mustConnectFail(t, f, a.tlsCert(), a.id, "revoked certificate")
		if e := f.lastAudit("mqtt.connect", a.id); !strings.Contains(e.Reason, "revoked") {
			t.Fatalf("revoked certificate audit: %+v", e)
		}
		if err := a.enroll(false); refusalCode(t, err) != deviceproto.CodeDeviceState {
			t.Fatalf("decommissioned device enrolled: %v", err)
		}
		// Re-provisioning allows enrollment again.
		if st, _ := f.api("POST", "/api/v1/devices/"+a.id+"/reprovision", adminToken, `{"reason":"refurbished"}`); st != 200 {
			t.Fatalf("reprovision: %d", st)
		}
		if err := a.enroll(false); err != nil {
			t.Fatalf("re-provisioned device: %v", err)
		}
		c, _, err = a.mqtt("")
		if err != nil {
			t.Fatalf("re-enrolled device: %v", err)
		}
		c.Disconnect(&paho.Disconnect{})
		// b was never touched and still works.
		cb, _, err := b.mqtt("")
		if err != nil {
			t.Fatal(err)
		}
		cb.Disconnect(&paho.Disconnect{})
		// An expired certificate: move the server clock past its lifetime.
		f.clock.Store(int64(2 * time.Hour))
		mustConnectFail(t, f, b.tlsCert(), b.id, "expired certificate")
		if e := f.lastAudit("mqtt.connect", b.id); !strings.Contains(e.Reason, "expired") {
			t.Fatalf("expired certificate audit: %+v", e)
		}
	})
}

// TestMQTTRefusalsShareServerCoalescer: the broker audits its refusals
// through the server's one coalescer (the same instance as enrollment,
// the admin API and image downloads): a device's burst of refused
// subscriptions is one row at once and its count when the server's
// coalescer is flushed. The broker used to keep a coalescer of its own,
// with its own window, bound and summary format.
func TestMQTTRefusalsShareServerCoalescer(t *testing.T) {
	f := newFixture(t, "sqlite")
	d := f.newDevices(1)[0]
	if err := d.enroll(false); err != nil {
		t.Fatal(err)
	}
	c, _, err := d.mqtt("")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(&paho.Disconnect{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n = 20
	for range n {
		sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "devices/+/jobs", QoS: 1}}})
		if err == nil && (len(sa.Reasons) != 1 || sa.Reasons[0] < 0x80) {
			t.Fatalf("subscription across devices accepted: %+v", sa)
		}
	}
	f.srv.refusals.Flush(ctx)
	l, err := f.srv.Store().AuditLog(ctx, store.AuditFilter{Action: "mqtt.subscribe", Subject: d.id})
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 2 || !strings.HasPrefix(l[0].Reason, "burst: 19 more from device:"+d.id+" since ") || !strings.Contains(l[1].Reason, "devices/+/jobs") {
		for _, e := range l {
			t.Logf("%s: %s", e.Action, e.Reason)
		}
		t.Fatalf("%d audit rows for %d refused subscriptions, want the first and the server coalescer's count", len(l), n)
	}
	// The counts still open at shutdown are written after the broker
	// has closed, before the store does.
	for range 5 {
		c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "devices/+/jobs", QoS: 1}}})
	}
	if err := f.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, f.srv.cfg.Database, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l, err = db.AuditLog(ctx, store.AuditFilter{Action: "mqtt.subscribe", Subject: d.id})
	if err != nil || len(l) != 3 || !strings.HasPrefix(l[0].Reason, "burst: 5 more from device:"+d.id+" since ") {
		t.Fatalf("after shutdown (%v): %+v", err, l)
	}
}
