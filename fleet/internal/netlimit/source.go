package netlimit

import (
	"net"
	"net/netip"
)

// Source is the key under which a client's usage is counted: its IPv4
// address, or the /64 its IPv6 address is in. The zero Source stands for
// every address that could not be parsed (say a Unix socket peer).
type Source struct{ p netip.Prefix }

// SourceOf returns the source of a "host:port" remote address, as in
// http.Request.RemoteAddr, or of a bare IP address.
func SourceOf(remoteAddr string) Source {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err == nil {
		return sourceOfIP(ap.Addr())
	}
	a, err := netip.ParseAddr(remoteAddr)
	if err != nil {
		return Source{}
	}
	return sourceOfIP(a)
}

// SourceOfAddr returns the source of a connection's remote address.
func SourceOfAddr(a net.Addr) Source {
	if t, ok := a.(*net.TCPAddr); ok {
		ip, ok := netip.AddrFromSlice(t.IP)
		if !ok {
			return Source{}
		}
		return sourceOfIP(ip)
	}
	if a == nil {
		return Source{}
	}
	return SourceOf(a.String())
}

func sourceOfIP(a netip.Addr) Source {
	a = a.Unmap().WithZone("")
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return Source{}
	}
	return Source{p}
}

// String is the address (IPv4) or the prefix (IPv6, "2001:db8::/64"), or
// "unknown" for the zero Source.
func (s Source) String() string {
	if !s.p.IsValid() {
		return "unknown"
	}
	if s.p.Addr().Is4() {
		return s.p.Addr().String()
	}
	return s.p.String()
}
