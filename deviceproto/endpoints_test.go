package deviceproto

import (
	"crypto/x509"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestEndpointsRoundTrip(t *testing.T) {
	in := []string{"node-1.fleet.example:8883", "10.0.0.2:8883", "[2001:db8::3]:8883", "NODE-1.fleet.example:8883"}
	v, err := FormatEndpoints(in)
	if err != nil {
		t.Fatal(err)
	}
	if v != "node-1.fleet.example:8883,10.0.0.2:8883,[2001:db8::3]:8883" {
		t.Fatalf("formatted %q", v)
	}
	got, err := ParseEndpoints(" " + strings.ReplaceAll(v, ",", " , ") + " ")
	if err != nil || !slices.Equal(got, in[:3]) {
		t.Fatalf("parsed %q, %v", got, err)
	}
	if l, err := ParseEndpoints(""); err != nil || l != nil {
		t.Fatalf("empty: %q %v", l, err)
	}
	// Every prefix of a valid value is either a valid shorter list or refused.
	for i := range len(v) {
		l, err := ParseEndpoints(v[:i])
		if err == nil {
			for _, e := range l {
				if CheckEndpoint(e) != nil {
					t.Fatalf("prefix %q gave invalid %q", v[:i], e)
				}
			}
		}
	}
}

func TestEndpointsRefused(t *testing.T) {
	for _, bad := range []string{
		"host", "host:", ":8883", "host:0", "host:65536", "host:08883", "host:x", "ho st:1", "a,b:1", "h\x00:1",
		"user@host:1", "host/x:1", "h:1,", ",h:1", strings.Repeat("a", 300) + ":1",
		strings.Repeat("hh:1,", 2*maxEndpointHeader),
	} {
		if l, err := ParseEndpoints(bad); !errors.Is(err, ErrEndpoint) {
			t.Errorf("%q accepted: %q", bad, l)
		}
	}
	var many []string
	for i := range MaxEndpoints + 1 {
		many = append(many, "n"+strings.Repeat("x", i)+":1")
	}
	if _, err := FormatEndpoints(many); !errors.Is(err, ErrEndpoint) {
		t.Fatalf("%d endpoints formatted", len(many))
	}
}

func FuzzParseEndpoints(f *testing.F) {
	f.Add("node-1.fleet.example:8883,10.0.0.2:8883,[2001:db8::3]:8883")
	f.Add("")
	f.Add("h:1, h:1 ,H:1")
	f.Fuzz(func(t *testing.T, v string) {
		l, err := ParseEndpoints(v)
		if err != nil {
			return
		}
		again, err := FormatEndpoints(l)
		if err != nil {
			t.Fatalf("parsed %q does not format: %v", l, err)
		}
		if l2, err := ParseEndpoints(again); err != nil || !slices.Equal(l, l2) {
			t.Fatalf("round trip %q -> %q -> %q (%v)", l, again, l2, err)
		}
	})
}

// TestDownloadEndpoints: the endpoints a job's image may be fetched from
// are exactly those Verify accepts in its URL (the enrollment endpoint,
// the signer's https endpoints), and a mirror URL keeps path and query.
func TestDownloadEndpoints(t *testing.T) {
	var uris []*url.URL
	for _, u := range []string{"https://node-2.fleet.example:8443", "urn:rampart:fleet-job-signer", "http://plain.example", "https://cdn.example", "https://FLEET.example:8443"} {
		p, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		uris = append(uris, p)
	}
	signer := &x509.Certificate{URIs: uris}
	s := &SignedJob{Signer: signer}
	got := s.DownloadEndpoints("https://Fleet.example:8443")
	want := []string{"fleet.example:8443", "node-2.fleet.example:8443", "cdn.example:443"}
	if !slices.Equal(got, want) {
		t.Fatalf("endpoints %q, want %q", got, want)
	}
	for _, e := range got {
		m, err := MirrorURL("https://fleet.example:8443/images/abc?device=d&token=t", e)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkEndpoint(m, "https://fleet.example:8443", signer); err != nil {
			t.Fatalf("mirror %s refused by the job URL rule: %v", m, err)
		}
		if u, _ := url.Parse(m); u.Path != "/images/abc" || u.RawQuery != "device=d&token=t" {
			t.Fatalf("mirror %s lost the path or query", m)
		}
	}
	if _, err := MirrorURL("http://fleet.example/x", "a:1"); err == nil {
		t.Fatal("a plain http URL mirrored")
	}
}
