package fleet

import "time"

// HTTPLimits bound one HTTPS listener.
type HTTPLimits struct {
	// ReadHeaderTimeout: the TLS handshake and the request's headers.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	// ReadTimeout: the whole request, headers and body.
	ReadTimeout Duration `yaml:"read_timeout"`
	// StallTimeout: the longest a request body or a response may stop
	// moving (a slow but moving transfer may take longer in all).
	StallTimeout Duration `yaml:"stall_timeout"`
	// IdleTimeout: a kept-alive connection between requests.
	IdleTimeout       Duration `yaml:"idle_timeout"`
	MaxHeaderBytes    int      `yaml:"max_header_bytes"`
	MaxConns          int      `yaml:"max_conns"`            // open at once
	MaxConnsPerSource int      `yaml:"max_conns_per_source"` // open at once from one source
}

// Defaults of the listeners' limits: the enrollment listener serves small
// requests from many devices (and paced image downloads, which the stall
// timeout lets run as long as they move); the admin listener takes image
// uploads of up to 64 MiB from few clients.
var (
	defaultEnrollHTTP = HTTPLimits{ReadHeaderTimeout: Duration{10 * time.Second}, ReadTimeout: Duration{30 * time.Second},
		StallTimeout: Duration{10 * time.Second}, IdleTimeout: Duration{60 * time.Second}, MaxHeaderBytes: 64 << 10, MaxConns: 4096, MaxConnsPerSource: 64}
	defaultAdminHTTP = HTTPLimits{ReadHeaderTimeout: Duration{10 * time.Second}, ReadTimeout: Duration{10 * time.Minute},
		StallTimeout: Duration{30 * time.Second}, IdleTimeout: Duration{60 * time.Second}, MaxHeaderBytes: 16 << 10, MaxConns: 256, MaxConnsPerSource: 16}
)

// validate applies def to the zero fields of h and checks the result.
func (h *HTTPLimits) validate(path string, def HTTPLimits, bad report) {
	dur := func(d *Duration, dv Duration, key string, lo, hi time.Duration) {
		if d.Duration == 0 {
			*d = dv
		}
		if d.Duration < lo || d.Duration > hi {
			bad(path+"."+key, "%v: want %v..%v", d.Duration, lo, hi)
		}
	}
	dur(&h.ReadHeaderTimeout, def.ReadHeaderTimeout, "read_header_timeout", 10*time.Millisecond, 10*time.Minute)
	dur(&h.ReadTimeout, def.ReadTimeout, "read_timeout", 10*time.Millisecond, 24*time.Hour)
	dur(&h.StallTimeout, def.StallTimeout, "stall_timeout", 10*time.Millisecond, time.Hour)
	dur(&h.IdleTimeout, def.IdleTimeout, "idle_timeout", 10*time.Millisecond, time.Hour)
	num := func(v *int, dv int, key string, lo, hi int) {
		if *v == 0 {
			*v = dv
		}
		if *v < lo || *v > hi {
			bad(path+"."+key, "%d: want %d..%d", *v, lo, hi)
		}
	}
	num(&h.MaxHeaderBytes, def.MaxHeaderBytes, "max_header_bytes", 4<<10, 1<<20)
	num(&h.MaxConns, def.MaxConns, "max_conns", 1, 1_000_000)
	num(&h.MaxConnsPerSource, def.MaxConnsPerSource, "max_conns_per_source", 1, max(h.MaxConns, 1))
}
