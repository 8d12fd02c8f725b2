package deviceproto

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// The MQTT endpoints of a fleet (docs/fleet-enrollment.md, "MQTT
// endpoints"). A fleet of several server nodes answers a successful
// enrollment with the endpoints (host:port) its devices may connect to, in
// the HeaderMQTTEndpoints header of the reply: comma-separated, at most
// MaxEndpoints of them. An agent keeps them with its certificate and, when
// its broker goes away, reconnects to another. The header is an addition:
// an older agent ignores it, and an older server's reply without it leaves
// the agent with the one address it was configured with.

// HeaderMQTTEndpoints carries the fleet's MQTT endpoints on an enrollment
// reply.
const HeaderMQTTEndpoints = "Rampart-MQTT-Endpoints"

// Bounds of an endpoint list.
const (
	MaxEndpoints      = 32
	maxEndpointLen    = 261 // a 255-byte host name, a colon, five digits
	maxEndpointHeader = MaxEndpoints * (maxEndpointLen + 2)
)

// ErrEndpoint: an endpoint list is malformed.
var ErrEndpoint = errors.New("deviceproto: mqtt endpoints: malformed")

// CheckEndpoint checks one endpoint: host:port with a non-empty host of
// printable ASCII (a name or an IP address, IPv6 in brackets) and a port
// from 1 to 65535.
func CheckEndpoint(e string) error {
	if len(e) == 0 || len(e) > maxEndpointLen {
		return fmt.Errorf("%w: %q: length %d, want 1 to %d", ErrEndpoint, e, len(e), maxEndpointLen)
	}
	host, port, err := net.SplitHostPort(e)
	if err != nil {
		return fmt.Errorf("%w: %q: %v", ErrEndpoint, e, err)
	}
	if host == "" {
		return fmt.Errorf("%w: %q: no host", ErrEndpoint, e)
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; c <= ' ' || c >= 0x7f || c == ',' || c == '/' || c == '@' {
			return fmt.Errorf("%w: %q: host has character %q", ErrEndpoint, e, c)
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '0' {
		return fmt.Errorf("%w: %q: port %q, want 1 to 65535", ErrEndpoint, e, port)
	}
	return nil
}

// FormatEndpoints is the header value for endpoints (each checked, at
// most MaxEndpoints, duplicates dropped, order kept).
func FormatEndpoints(endpoints []string) (string, error) {
	list, err := cleanEndpoints(endpoints)
	if err != nil {
		return "", err
	}
	return strings.Join(list, ","), nil
}

// ParseEndpoints parses a header value: comma-separated endpoints, white
// space around each ignored, duplicates dropped, order kept. An empty value
// is an empty list.
func ParseEndpoints(v string) ([]string, error) {
	if len(v) > maxEndpointHeader {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrEndpoint, len(v), maxEndpointHeader)
	}
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	parts := strings.Split(v, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return cleanEndpoints(parts)
}

func cleanEndpoints(in []string) ([]string, error) {
	var out []string
	for _, e := range in {
		if err := CheckEndpoint(e); err != nil {
			return nil, err
		}
		dup := false
		for _, o := range out {
			dup = dup || strings.EqualFold(o, e)
		}
		if !dup {
			out = append(out, e)
		}
	}
	if len(out) > MaxEndpoints {
		return nil, fmt.Errorf("%w: %d endpoints, at most %d", ErrEndpoint, len(out), MaxEndpoints)
	}
	return out, nil
}
