package agent

import (
	"slices"
	"strings"
	"time"

	"rampart/deviceproto"
)

// Reconnecting (docs/agent.md, "Reconnecting and endpoints").
//
// The agent knows the MQTT endpoints of its fleet: Config.MQTTAddr, then
// those the fleet named in its latest enrollment answer (persisted in
// state.json with the certificate, 0600). Each connection tries one
// endpoint; a connection that fails, or a session that is lost, moves the
// next attempt to the next endpoint, after the retry backoff (exponential,
// full jitter, capped by Config.Backoff.Max), so the devices of a node
// that died spread over the others instead of reconnecting in step. A
// broker that ends the session with MQTT 5 reason 0x9C (use another
// server) or 0x9D (server moved), in a DISCONNECT or a CONNACK, may name
// the endpoint to use in its Server Reference: the next attempt goes
// there (0x9D: also kept first for later ones). Whatever the endpoint,
// the broker must prove a certificate of the fleet's CA.

// endpointState is guarded by Agent.mu.
type endpointState struct {
	next     int    // index in endpointsLocked of the next endpoint tried
	referred string // a Server Reference, tried once, first
	// down is when each endpoint (lower case) last looked down: its dial
	// or TLS handshake failed, or a session there was cut without a
	// DISCONNECT. A session opened there forgets it.
	down map[string]time.Time
}

// recentlyDown is how long an endpoint that looked down is passed over
// while another has not looked down as recently. A node that refuses a
// device with a DISCONNECT or a CONNACK (busy, draining, a renewal that
// superseded the session's certificate) is alive and only moves the
// rotation on; a node killed a few seconds ago is not, and the rotation
// alone sent a device whose session on a survivor ended back to it: one
// more refused dial and one more backoff before the next survivor
// (clustertest TestClusterKillNodeMidCampaign at load 30-50). The skip
// only reorders the endpoints the fleet named, each still authenticated
// by its certificate; when every endpoint looked down lately the one
// that did longest ago is tried, so a fleet that recovers is found.
const recentlyDown = 10 * time.Second

// MQTTEndpoints are the endpoints the agent connects to, in order.
func (a *Agent) MQTTEndpoints() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.endpointsLocked()
}

func (a *Agent) endpointsLocked() []string {
	_, _, l := a.fleetLocked()
	l = slices.Clone(l)
	for _, e := range a.state.MQTTEndpoints {
		if !slices.ContainsFunc(l, func(x string) bool { return strings.EqualFold(x, e) }) {
			l = append(l, e)
		}
	}
	return l
}

// pickEndpoint is the endpoint the next connection dials.
func (a *Agent) pickEndpoint() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r := a.ep.referred; r != "" {
		a.ep.referred = ""
		return r
	}
	return a.currentLocked()
}

// nextEndpoint is the endpoint the next connection will try (logs).
func (a *Agent) nextEndpoint() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ep.referred != "" {
		return a.ep.referred
	}
	return a.currentLocked()
}

// currentLocked moves the rotation to the first endpoint from the
// current one that has not looked down within recentlyDown, or, when
// each has, to the one that did longest ago, and returns it.
func (a *Agent) currentLocked() string {
	l := a.endpointsLocked()
	now := a.now()
	best, oldest := -1, now
	for k := range l {
		i := (a.ep.next + k) % len(l)
		at, ok := a.ep.down[strings.ToLower(l[i])]
		if !ok || now.Sub(at) >= recentlyDown {
			best = i
			break
		}
		if best < 0 || at.Before(oldest) {
			best, oldest = i, at
		}
	}
	a.ep.next = best
	return l[best]
}

// worked forgets that addr looked down: a session opened there.
func (e *endpointState) worked(addr string) {
	delete(e.down, strings.ToLower(addr))
}

// endpointFailed moves the next attempt past addr, if addr is the current
// endpoint (a referred endpoint that failed leaves the order unchanged).
func (a *Agent) endpointFailed(addr string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failedLocked(addr)
}

func (a *Agent) failedLocked(addr string) {
	l := a.endpointsLocked()
	if strings.EqualFold(l[a.ep.next%len(l)], addr) {
		a.ep.next = (a.ep.next + 1) % len(l)
	}
}

// endpointDown is endpointFailed for an endpoint that looks down (see
// endpointState.down): it is also passed over for recentlyDown.
func (a *Agent) endpointDown(addr string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ep.down == nil {
		a.ep.down = make(map[string]time.Time)
	}
	a.ep.down[strings.ToLower(addr)] = a.now()
	a.failedLocked(addr)
}

// referTo records a broker's Server Reference (MQTT 5 reason 0x9C or 0x9D):
// the first well-formed endpoint of the space-separated list. moved (0x9D)
// also keeps it first among the persisted endpoints.
func (a *Agent) referTo(reference string, moved bool) {
	var ref string
	for _, f := range strings.Fields(reference) {
		if deviceproto.CheckEndpoint(f) == nil {
			ref = f
			break
		}
	}
	if ref == "" {
		if reference != "" {
			a.cfg.Log.Warn("server reference ignored: not host:port", "reference", reference)
		}
		return
	}
	a.cfg.Log.Info("the broker refers this device to another server", "endpoint", ref, "moved", moved)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ep.referred = ref
	if moved {
		l := slices.DeleteFunc(slices.Clone(a.state.MQTTEndpoints), func(x string) bool { return strings.EqualFold(x, ref) })
		if len(l) >= deviceproto.MaxEndpoints {
			l = l[:deviceproto.MaxEndpoints-1]
		}
		a.state.MQTTEndpoints = append([]string{ref}, l...)
		if err := a.saveLocked(); err != nil {
			a.cfg.Log.Warn("moved endpoint not persisted", "err", err)
		}
	}
}

// learnEndpoints keeps the endpoints of an enrollment answer (the caller
// holds a.mu and saves the state). An answer without them (an older
// server, or a single node listening on every address) keeps the list.
func (a *Agent) learnEndpointsLocked(l []string) {
	if len(l) > 0 {
		a.state.MQTTEndpoints = slices.Clone(l)
	}
}

// now is Config.Now (time.Now in an Agent built without New).
func (a *Agent) now() time.Time {
	if a.cfg.Now != nil {
		return a.cfg.Now()
	}
	return time.Now()
}
