//go:build cgo

package fleet

import (
	"context"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"rampart/fleet/trust"
	"rampart/hsm/hsmtest"
)

// TestServerCAKeyInToken: a server whose CA key is in SoftHSM2 (ca.key:
// pkcs11:...) writes no key file, enrolls a device whose certificate
// verifies against the CA certificate, and its MQTT listener (whose
// certificate the token's key signed too) accepts the device.
func TestServerCAKeyInToken(t *testing.T) {
	tk := hsmtest.Start(t)
	tk.Generate(t, "EC:prime256v1", "fleet-ca", "01")
	f := prepareFixture(t, "sqlite")
	cfg, _ := os.ReadFile(f.cfgPath)
	withKey := strings.Replace(string(cfg), "  cert_ttl: 1h\n", "  cert_ttl: 1h\n  key: \""+tk.URI("fleet-ca")+"\"\n", 1)
	if err := os.WriteFile(f.cfgPath, []byte(withKey), 0o600); err != nil {
		t.Fatal(err)
	}
	f.start()
	if _, err := trust.RegisterRelease(context.Background(), f.srv.Store(), f.release, f.srv.cfg.releaseKeys, "test", "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "data", "ca.key.enc")); !os.IsNotExist(err) {
		t.Fatalf("a CA key file exists beside the token key: %v", err)
	}
	caPEM, err := os.ReadFile(filepath.Join(f.dir, "data", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	d := f.newDevices(1)[0]
	if err := d.enroll(false); err != nil {
		t.Fatal(err)
	}
	if _, err := d.cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("device certificate against data_dir/ca.crt: %v", err)
	}
	c, ack, err := d.mqtt("")
	if err != nil || ack.ReasonCode != 0 {
		t.Fatalf("MQTT with the token CA's certificate: %v %+v", err, ack)
	}
	c.Disconnect(&paho.Disconnect{})
	// A rotation would make the successor a software key: refused.
	if _, err := f.srv.RotateCA(context.Background(), false, 0, "test"); !errors.Is(err, ErrRotation) || !strings.Contains(err.Error(), "PKCS#11") {
		t.Fatalf("rotation of a token CA: %v", err)
	}
}

// TestServerCAKeyConfigRefused: a malformed ca.key is a configuration error
// with its line, and a PIN value in it is refused.
func TestServerCAKeyConfigRefused(t *testing.T) {
	f := prepareFixture(t, "sqlite")
	cfg, _ := os.ReadFile(f.cfgPath)
	bad := strings.Replace(string(cfg), "  cert_ttl: 1h\n", "  cert_ttl: 1h\n  key: \"pkcs11:object=ca?pin-value=1234\"\n", 1)
	os.WriteFile(f.cfgPath, []byte(bad), 0o600)
	_, err := LoadConfig(f.cfgPath)
	if err == nil || !strings.Contains(err.Error(), "ca.key") || !strings.Contains(err.Error(), "pin-value is refused") {
		t.Fatalf("LoadConfig: %v", err)
	}
}
