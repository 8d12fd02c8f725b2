package netlimit

import (
	"net"
	"net/netip"
	"testing"
)

func TestSourceOf(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"192.0.2.7:443", "192.0.2.7"},
		{"192.0.2.7", "192.0.2.7"},
		{"[2001:db8:1:2:aaaa::1]:8443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff:ffff:ffff:ffff]:1", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"[::ffff:192.0.2.9]:80", "192.0.2.9"},
		{"[fe80::1%eth0]:80", "fe80::/64"},
		{"@", "unknown"},
		{"", "unknown"},
		{"example.com:443", "unknown"},
	} {
		if got := SourceOf(c.in).String(); got != c.want {
			t.Errorf("SourceOf(%q) = %s, want %s", c.in, got, c.want)
		}
	}
	// One /64 is one source; the next /64 another.
	if SourceOf("[2001:db8::1]:1") != SourceOf("[2001:db8::ffff:1]:2") || SourceOf("[2001:db8::1]:1") == SourceOf("[2001:db8:0:1::1]:1") {
		t.Error("IPv6 sources are not keyed by /64")
	}
	tcp := &net.TCPAddr{IP: net.ParseIP("2001:db8::5"), Port: 9}
	if SourceOfAddr(tcp) != SourceOf("[2001:db8::77]:1") {
		t.Error("SourceOfAddr differs from SourceOf")
	}
	if SourceOfAddr(&net.UnixAddr{Name: "/tmp/s", Net: "unix"}).String() != "unknown" || SourceOfAddr(nil).String() != "unknown" {
		t.Error("a non-IP address has a source")
	}
}

// FuzzSourceOf: any remote address string gives a source without
// panicking, the same one every time, and an IPv4 source parses back to
// itself.
func FuzzSourceOf(f *testing.F) {
	for _, s := range []string{"192.0.2.7:443", "[2001:db8::1]:8443", "[::ffff:10.0.0.1]:1", "[fe80::1%eth0]:80", "1.2.3.4", "::1", "", ":"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		src := SourceOf(s)
		if src != SourceOf(s) {
			t.Fatal("not deterministic")
		}
		if src.p.IsValid() && src.p.Addr().Is4() {
			if back := SourceOf(src.String()); back != src {
				t.Fatalf("%q: %s parses back to %s", s, src, back)
			}
		}
		if src.p.IsValid() && src.p.Addr().Is6() {
			if _, err := netip.ParsePrefix(src.String()); err != nil || src.p.Bits() != 64 {
				t.Fatalf("%q: %s is not a /64 prefix", s, src)
			}
		}
	})
}
