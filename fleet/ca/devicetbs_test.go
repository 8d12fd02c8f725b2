package ca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"net/url"
	"testing"
	"time"
)

// referenceTBS is the TBSCertificate x509.CreateCertificate builds for the
// device template with these fields.
func referenceTBS(t testing.TB, c *CA, serial *big.Int, nb, na time.Time, deviceID string, u *url.URL, pub any) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: serial, NotBefore: nb, NotAfter: na,
		Subject:     pkix.Name{CommonName: deviceID, Organization: []string{deviceOrganization}},
		URIs:        []*url.URL{u},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, AuthorityKeyId: c.cert.SubjectKeyId,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, pub, c.key)
	if err != nil {
		t.Fatalf("CreateCertificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert.RawTBSCertificate
}

func testCA(t testing.TB, now time.Time) *CA {
	t.Helper()
	c, err := Open(t.TempDir(), []byte("pw"), Options{Rand: rand.Reader, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// deviceTBS writes exactly CreateCertificate's bytes: device IDs of every
// printable kind, instance IDs of several lengths, serials with and without
// a high bit, UTCTime and GeneralizedTime validity.
func TestDeviceTBSMatchesCreateCertificate(t *testing.T) {
	now := time.Date(2045, 6, 1, 12, 0, 0, 0, time.UTC) // CA valid until 2055
	c := testCA(t, now)
	dk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dk384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	end2049 := time.Date(2049, 12, 31, 23, 0, 0, 0, time.UTC)
	cases := []struct {
		id     string
		inst   []byte
		serial *big.Int
		nb, na time.Time
		pub    any
	}{
		{"0123456789abcdef0123456789abcdef", bytes.Repeat([]byte{1}, 33), big.NewInt(0x40), now, now.Add(time.Hour), &dk.PublicKey},
		{"a", nil, big.NewInt(0x80), now, now.Add(24 * time.Hour), &dk.PublicKey},
		{"dev with 'all' (printable) +,-./:=?", []byte{0xff}, new(big.Int).Lsh(big.NewInt(1), 127), now, now.Add(time.Minute), &dk384.PublicKey},
		{"crosses-2050", []byte{1, 2, 3}, big.NewInt(1), end2049, end2049.Add(2 * time.Hour), &dk.PublicKey},
		{"before-1950", []byte{1}, big.NewInt(2), time.Date(1949, 1, 1, 0, 0, 0, 0, time.UTC), now, &dk.PublicKey},
	}
	for _, tc := range cases {
		u, _ := url.Parse(DeviceURIPrefix + hex.EncodeToString(tc.inst))
		got, ok, err := c.deviceTBS(tc.serial, tc.nb, tc.na, tc.id, u, tc.pub)
		if err != nil || !ok {
			t.Fatalf("%s: ok=%v err=%v", tc.id, ok, err)
		}
		if want := referenceTBS(t, c, tc.serial, tc.nb, tc.na, tc.id, u, tc.pub); !bytes.Equal(got, want) {
			t.Errorf("%s: TBSCertificate differs\n got %x\nwant %x", tc.id, got, want)
		}
	}
}

// Inputs deviceTBS does not cover are left to CreateCertificate.
func TestDeviceTBSDeclines(t *testing.T) {
	c := testCA(t, time.Now())
	dk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	u, _ := url.Parse(DeviceURIPrefix + "01")
	now := time.Now().UTC().Truncate(time.Second)
	for name, in := range map[string]struct {
		id  string
		pub any
	}{
		"empty id":      {"", &dk.PublicKey},
		"asterisk":      {"a*b", &dk.PublicKey},
		"ampersand":     {"a&b", &dk.PublicKey},
		"non-ASCII":     {"gerät", &dk.PublicKey},
		"Ed25519 key":   {"dev", edPub},
		"control bytes": {"a\nb", &dk.PublicKey},
	} {
		if _, ok, err := c.deviceTBS(big.NewInt(1), now, now.Add(time.Hour), in.id, u, in.pub); ok || err != nil {
			t.Errorf("%s: ok=%v err=%v, want declined", name, ok, err)
		}
	}
	// Declined inputs still get a certificate, through CreateCertificate.
	cert, err := c.IssueDevice(&dk.PublicKey, "gerät", []byte{1}, time.Hour)
	if err != nil || cert.Subject.CommonName != "gerät" || !c.IsIssuer(cert) {
		t.Fatalf("fallback: %v", err)
	}
}

// FuzzDeviceTBS: whenever deviceTBS accepts its inputs, its bytes are
// CreateCertificate's.
func FuzzDeviceTBS(f *testing.F) {
	f.Add("0123456789abcdef0123456789abcdef", []byte{1, 2}, int64(0), int64(3600))
	f.Add("a", []byte{}, int64(-1e9), int64(1))
	f.Add("x'()+,-./:=? ", bytes.Repeat([]byte{0xee}, 64), int64(4e8), int64(86400*400))
	c := testCA(f, time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC))
	dk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f.Fuzz(func(t *testing.T, id string, inst []byte, offset, ttl int64) {
		if ttl <= 0 || ttl > 1e9 || offset < -2e9 || offset > 2e9 || len(inst) > 256 {
			return
		}
		nb := time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(offset) * time.Second)
		na := nb.Add(time.Duration(ttl) * time.Second)
		u, err := url.Parse(DeviceURIPrefix + hex.EncodeToString(inst))
		if err != nil {
			t.Fatal(err)
		}
		got, ok, err := c.deviceTBS(big.NewInt(offset&0xffff+1), nb, na, id, u, &dk.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			if printable(id) {
				t.Fatalf("printable id %q declined", id)
			}
			return
		}
		if want := referenceTBS(t, c, big.NewInt(offset&0xffff+1), nb, na, id, u, &dk.PublicKey); !bytes.Equal(got, want) {
			t.Fatalf("%q: TBSCertificate differs\n got %x\nwant %x", id, got, want)
		}
	})
}
