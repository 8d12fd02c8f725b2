package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"rampart/deviceproto"
)

func rotationCAs(t testing.TB) (old, next *CA, cross *x509.Certificate) {
	t.Helper()
	old, _, _, err := Generate([]byte("a passphrase for the test CA"), Options{Rand: rand.Reader, Name: "Fleet CA"})
	if err != nil {
		t.Fatal(err)
	}
	next, _, keyPEM, cross, err := old.Successor("Fleet CA G2", []byte("a passphrase for the test CA"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecryptKey(keyPEM, []byte("a passphrase for the test CA")); err != nil {
		t.Fatalf("the successor's key does not decrypt: %v", err)
	}
	return old, next, cross
}

func leafKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSuccessorCrossCertificate: the cross certificate is the successor's
// name and key signed by the predecessor; standard path validation does not
// go through it under the predecessor (MaxPathLen 0), the device's does
// (VerifyServerChain), and nothing else is accepted in its place.
func TestSuccessorCrossCertificate(t *testing.T) {
	old, next, cross := rotationCAs(t)
	if cross.CheckSignatureFrom(old.Certificate()) != nil || !cross.IsCA ||
		string(cross.RawSubject) != string(next.Certificate().RawSubject) || string(cross.RawSubjectPublicKeyInfo) != string(next.Certificate().RawSubjectPublicKeyInfo) {
		t.Fatal("the cross certificate is not the successor certified by the predecessor")
	}
	if _, _, _, _, err := old.Successor("Fleet CA", []byte("a passphrase for the test CA")); err == nil {
		t.Fatal("a successor with the predecessor's name was made")
	}
	k := leafKey(t)
	srv, err := next.IssueServer(&k.PublicKey, []string{"fleet.example"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cs := tls.ConnectionState{PeerCertificates: []*x509.Certificate{srv, cross}}
	roots := x509.NewCertPool()
	roots.AddCert(old.Certificate())
	inter := x509.NewCertPool()
	inter.AddCert(cross)
	if _, err := srv.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: "fleet.example"}); err == nil {
		t.Fatal("standard validation went through the cross certificate under a MaxPathLen 0 CA: the device's own check is not needed")
	}
	if err := deviceproto.VerifyServerChain(cs, []*x509.Certificate{old.Certificate()}, "fleet.example", time.Now()); err != nil {
		t.Fatalf("a device trusting the predecessor refuses the successor's chain: %v", err)
	}
	if err := deviceproto.VerifyServerChain(cs, []*x509.Certificate{next.Certificate()}, "fleet.example", time.Now()); err != nil {
		t.Fatalf("a device trusting the successor refuses its chain: %v", err)
	}
	if err := deviceproto.VerifyServerChain(cs, []*x509.Certificate{old.Certificate()}, "evil.example", time.Now()); err == nil {
		t.Fatal("a chain for another name was accepted")
	}
	other, _, _ := rotationCAs(t)
	if err := deviceproto.VerifyServerChain(cs, []*x509.Certificate{other.Certificate()}, "fleet.example", time.Now()); err == nil {
		t.Fatal("a device of another fleet accepted the chain")
	}
	// A CA certificate the anchor did not sign is no cross root.
	_, _, otherCross := rotationCAs(t)
	if got := deviceproto.CrossRoots([]*x509.Certificate{old.Certificate()}, []*x509.Certificate{otherCross, srv}); len(got) != 0 {
		t.Fatalf("cross roots %v from certificates the anchor did not sign", got)
	}
}

// TestAcceptPredecessor: the successor accepts the predecessor's
// certificates until the acceptance ends.
func TestAcceptPredecessor(t *testing.T) {
	old, next, _ := rotationCAs(t)
	k := leafKey(t)
	dev, err := old.IssueDevice(&k.PublicKey, "dev-a", []byte{1, 2, 3}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	verify := func() error {
		_, err := dev.Verify(x509.VerifyOptions{Roots: next.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		return err
	}
	if next.IsAccepted(dev) || verify() == nil {
		t.Fatal("the predecessor's certificate accepted before Accept")
	}
	next.Accept(old.Certificate())
	if !next.IsAccepted(dev) || next.IsIssuer(dev) || verify() != nil {
		t.Fatal("the predecessor's certificate not accepted during the rotation")
	}
	next.Accept()
	if next.IsAccepted(dev) || verify() == nil {
		t.Fatal("the predecessor's certificate accepted after retirement")
	}
}

// TestTrustMessage: a device holding the predecessor's certificate takes
// the successor as its anchor from a trust message signed by the
// successor's job signer; an anchor nobody it trusts vouched for, a
// message from another fleet and one for another device are refused.
func TestTrustMessage(t *testing.T) {
	old, next, cross := rotationCAs(t)
	sk := leafKey(t)
	signerCert, err := next.IssueJobSigner(&sk.PublicKey, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	js := &deviceproto.JobSigner{Key: sk, Cert: signerCert}
	dk := leafKey(t)
	dev, err := old.IssueDevice(&dk.PublicKey, "dev-a", []byte{1, 2, 3}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	anchors := []*x509.Certificate{old.Certificate()}
	msg, err := js.SignTrust("dev-a", deviceproto.Trust{ID: "ca-gen2", Anchors: [][]byte{next.Certificate().Raw}, Cross: [][]byte{cross.Raw}})
	if err != nil {
		t.Fatal(err)
	}
	if !deviceproto.IsTrust(msg) || deviceproto.IsTransfer(msg) {
		t.Fatal("IsTrust does not recognise the message")
	}
	_, got, err := deviceproto.VerifyTrust(msg, anchors, dev, time.Now())
	if err != nil || len(got) != 1 || !got[0].Equal(next.Certificate()) {
		t.Fatalf("trust message: %v %v", got, err)
	}
	other, _, _ := rotationCAs(t)
	bad, err := js.SignTrust("dev-a", deviceproto.Trust{ID: "ca-gen2", Anchors: [][]byte{other.Certificate().Raw}, Cross: [][]byte{cross.Raw}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := deviceproto.VerifyTrust(bad, anchors, dev, time.Now()); !errors.Is(err, deviceproto.ErrTrust) {
		t.Fatalf("an anchor no trusted CA vouched for: %v", err)
	}
	noCross, _ := js.SignTrust("dev-a", deviceproto.Trust{ID: "ca-gen2", Anchors: [][]byte{next.Certificate().Raw}})
	if _, _, err := deviceproto.VerifyTrust(noCross, anchors, dev, time.Now()); err == nil {
		t.Fatal("a trust message without the cross certificate verified for a device of the predecessor")
	}
	forB, _ := js.SignTrust("dev-b", deviceproto.Trust{ID: "ca-gen2", Anchors: [][]byte{next.Certificate().Raw}, Cross: [][]byte{cross.Raw}})
	if _, _, err := deviceproto.VerifyTrust(forB, anchors, dev, time.Now()); !errors.Is(err, deviceproto.ErrJobDevice) {
		t.Fatalf("a trust message for another device: %v", err)
	}
	if _, _, err := deviceproto.VerifyTrust(msg, []*x509.Certificate{other.Certificate()}, dev, time.Now()); err == nil {
		t.Fatal("a device of another fleet took the trust message")
	}
	for i := range len(msg) {
		if _, _, err := deviceproto.VerifyTrust(msg[:i], anchors, dev, time.Now()); err == nil {
			t.Fatalf("prefix of %d bytes verified", i)
		}
	}
}

func FuzzVerifyTrust(f *testing.F) {
	old, next, cross := rotationCAs(f)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sc, _ := next.IssueJobSigner(&k.PublicKey, nil, time.Hour)
	dk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dev, _ := old.IssueDevice(&dk.PublicKey, "dev-a", []byte{1}, time.Hour)
	msg, _ := (&deviceproto.JobSigner{Key: k, Cert: sc}).SignTrust("dev-a", deviceproto.Trust{ID: "x", Anchors: [][]byte{next.Certificate().Raw}, Cross: [][]byte{cross.Raw}})
	f.Add(msg)
	anchors := []*x509.Certificate{old.Certificate()}
	f.Fuzz(func(t *testing.T, b []byte) {
		deviceproto.IsTrust(b)
		_, got, err := deviceproto.VerifyTrust(b, anchors, dev, time.Now())
		if err == nil && (len(got) != 1 || !got[0].Equal(next.Certificate())) {
			t.Fatal("a trust message verified with an anchor nobody vouched for")
		}
	})
}
