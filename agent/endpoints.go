package agent

import (
	"slices"
	"strings"

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
}

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
	l := a.endpointsLocked()
	return l[a.ep.next%len(l)]
}

// nextEndpoint is the endpoint the next connection will try (logs).
func (a *Agent) nextEndpoint() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ep.referred != "" {
		return a.ep.referred
	}
	l := a.endpointsLocked()
	return l[a.ep.next%len(l)]
}

// endpointFailed moves the next attempt past addr, if addr is the current
// endpoint (a referred endpoint that failed leaves the order unchanged).
func (a *Agent) endpointFailed(addr string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	l := a.endpointsLocked()
	if strings.EqualFold(l[a.ep.next%len(l)], addr) {
		a.ep.next = (a.ep.next + 1) % len(l)
	}
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
