package fleet

import (
	"context"
	"crypto/x509"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rampart/deviceproto"
	"rampart/fleet/store"
)

// TestMosquittoClients connects Debian's mosquitto_pub and mosquitto_sub
// (package mosquitto-clients) with a device certificate over MQTT 3.1.1 and
// 5, then checks they are refused once the device is decommissioned.
func TestMosquittoClients(t *testing.T) {
	pub, err1 := exec.LookPath("mosquitto_pub")
	sub, err2 := exec.LookPath("mosquitto_sub")
	if err1 != nil || err2 != nil {
		t.Skip("mosquitto_pub/mosquitto_sub not installed (apt-get install mosquitto-clients): standard-client test skipped")
	}
	f := newFixture(t, "sqlite")
	d := f.newDevices(1)[0]
	if err := d.enroll(false); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caFile, certFile, keyFile := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "dev.crt"), filepath.Join(dir, "dev.key")
	writePEM(t, caFile, "CERTIFICATE", f.srv.CA().Certificate().Raw)
	writePEM(t, certFile, "CERTIFICATE", d.cert.Raw)
	kder, _ := x509.MarshalECPrivateKey(d.key)
	writePEM(t, keyFile, "EC PRIVATE KEY", kder)
	_, port, _ := net.SplitHostPort(f.mqttAddr)
	common := []string{"-h", "localhost", "-p", port, "--cafile", caFile, "--cert", certFile, "--key", keyFile, "-i", d.id}
	run := func(bin string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, append(append([]string{}, common...), args...)...).CombinedOutput()
		return string(out), err
	}
	topic := deviceproto.TelemetryTopic(d.id)
	for i, v := range []string{"mqttv311", "mqttv5"} {
		if out, err := run(pub, "-V", v, "-q", "1", "-t", topic, "-m", `{"values":{"mosq":`+string(rune('1'+i))+`}}`); err != nil {
			t.Fatalf("mosquitto_pub %s: %v\n%s", v, err, out)
		}
	}
	pts, _ := f.srv.Store().Points(context.Background(), store.PointQuery{DeviceID: d.id, Metric: "mosq"})
	if len(pts) != 2 {
		t.Fatalf("stored %d samples from mosquitto_pub, want 2", len(pts))
	}
	// mosquitto_sub on its own topic receives a retained message it
	// published on the one topic a device may retain on (its update
	// outcome); a retained message anywhere else is refused: MQTT 3.1.1
	// closes the connection, MQTT 5 answers 0x87.
	own := deviceproto.StatusTopic(d.id)
	if out, err := run(pub, "-q", "1", "-r", "-t", own, "-m", `{"job":"none"}`); err != nil {
		t.Fatalf("retained publish: %v\n%s", err, out)
	}
	if out, err := run(sub, "-V", "mqttv5", "-t", own, "-C", "1", "-W", "5"); err != nil || strings.TrimSpace(out) != `{"job":"none"}` {
		t.Fatalf("mosquitto_sub: %v %q", err, out)
	}
	for _, v := range []string{"mqttv311", "mqttv5"} {
		// mosquitto_pub exits 0 on an MQTT 5 refusal, with a warning.
		if out, err := run(pub, "-V", v, "-q", "1", "-r", "-t", "devices/"+d.id+"/state", "-m", "online"); err == nil && !strings.Contains(out, "Not authorized") {
			t.Fatalf("%s: retained publish on devices/<id>/state accepted:\n%s", v, out)
		}
	}
	if e := f.lastAudit("mqtt.publish", d.id); e.Decision != store.Deny || !strings.Contains(e.Reason, "retain") {
		t.Fatalf("refused retained publish audit: %+v", e)
	}
	// Another device's topic: the subscription is refused (MQTT 5 reason code).
	if out, err := run(sub, "-V", "mqttv5", "-t", "devices/other/telemetry", "-C", "1", "-W", "2"); err == nil && !strings.Contains(out, "denied") {
		t.Fatalf("mosquitto_sub to a foreign topic succeeded: %q", out)
	}
	if st, body := f.api("POST", "/api/v1/devices/"+d.id+"/decommission", adminToken, `{"reason":"test"}`); st != 200 {
		t.Fatalf("decommission: %d %s", st, body)
	}
	out, err := run(pub, "-V", "mqttv311", "-q", "1", "-t", topic, "-m", `{"values":{"after":1}}`)
	if err == nil {
		t.Fatalf("mosquitto_pub with a revoked certificate succeeded:\n%s", out)
	}
	if pts, _ := f.srv.Store().Points(context.Background(), store.PointQuery{DeviceID: d.id, Metric: "after"}); len(pts) != 0 {
		t.Fatal("revoked device's telemetry stored")
	}
}
