package fleet

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

// TestLoadClientAcker runs the load test's raw client against the acker
// in this process (both MQTT versions): every PUBLISH is acknowledged in
// order, then a reordering acker is caught.
func TestLoadClientAcker(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "dev-1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	clientPool := x509.NewCertPool()
	leaf, _ := x509.ParseCertificate(der)
	clientPool.AddCert(leaf)
	tc, serverDER, err := ackerTLS(clientPool)
	if err != nil {
		t.Fatal(err)
	}
	serverCert, _ := x509.ParseCertificate(serverDER)
	serverPool := x509.NewCertPool()
	serverPool.AddCert(serverCert)
	client := &tls.Config{RootCAs: serverPool, Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, ServerName: "127.0.0.1"}

	for _, reorder := range []bool{false, true} {
		ln, err := tls.Listen("tcp", "127.0.0.1:0", tc)
		if err != nil {
			t.Fatal(err)
		}
		go serveAcker(ln, reorder)
		var clients []*rawClient
		for _, v := range []byte{4, 5} {
			c, err := dialRaw(ln.Addr().String(), client, v, "dev-1", "devices/dev-1/telemetry", 60, 4)
			if err != nil {
				t.Fatalf("v%d: %v", v, err)
			}
			clients = append(clients, c)
		}
		// The reordering acker holds an odd last PUBACK: a short drain.
		res := runPublish(clients, 2, 2, 0, 200*time.Millisecond, time.Second, nil)
		ln.Close()
		if res.acked == 0 || res.errs != 0 || res.refused != 0 {
			t.Fatalf("reorder %v: %d acknowledged, %d refused, errors %d %q", reorder, res.acked, res.refused, res.errs, res.firstErrs)
		}
		if !reorder && (res.ooo != 0 || res.lost != 0) {
			t.Errorf("in-order acker: %d out of order, %d unanswered", res.ooo, res.lost)
		}
		if reorder && res.ooo == 0 {
			t.Errorf("reordering acker: no out-of-order PUBACK counted (%d acknowledged)", res.acked)
		}
	}
}
