package console

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"rampart/adminapi"
	"rampart/fleet/api"
	"rampart/fleet/store"
)

// overview is the fleet at a glance: the Overview page and the payload
// of every live update.
type overview struct {
	Time              time.Time                  `json:"time"`
	Total             int                        `json:"total"`
	States            map[store.State]int        `json:"states"`
	Online            int                        `json:"online"`
	Firmware          map[string]int             `json:"firmware"`
	Manufacturers     map[string]int             `json:"manufacturers"`
	EnrollmentsPerMin float64                    `json:"enrollments_per_minute"`
	SamplesPerMin     float64                    `json:"samples_per_minute"`
	Campaigns         []adminapi.CampaignSummary `json:"campaigns"`
	Refusals          []adminapi.AuditEntry      `json:"refusals"`
}

// maxStreams bounds the live-update streams of the whole console.
const maxStreams = 256

// firmwareTTL is how long the fleet's firmware versions are reused at
// least: they come from the latest fw_version sample of every device, a
// read of every series, and change only when devices update. A read that
// took d is not repeated before 100 d have passed, so that the refresh
// costs at most about 1% of one core however large the fleet (about 2 s at
// 100,000 devices on a loaded machine: every 3 minutes then).
const firmwareTTL = 2 * time.Second

type totals struct {
	t               time.Time
	issued, samples int64
}

// hub computes the overview once per tick for every open stream, only
// while one is open, so the cost of live updates does not grow with the
// number of browsers.
type hub struct {
	c    *Console
	mu   sync.Mutex
	subs map[chan []byte]struct{}
	run  bool
	stop chan struct{}
	once sync.Once

	history []totals // the last minute of running totals, for rates

	online    map[string]bool
	onlineAt  time.Time
	fw        map[string]float64
	fwCounts  map[string]int // devices per version
	fwAt      time.Time
	fwNext    time.Time     // no refresh before
	fwTook    time.Duration // the last read
	fwLoading bool          // a refresh runs
}

func newHub(c *Console) *hub {
	return &hub{c: c, subs: map[chan []byte]struct{}{}, stop: make(chan struct{})}
}

func (h *hub) close() { h.once.Do(func() { close(h.stop) }) }

// onlineSet is the devices connected now (at most a second old).
func (h *hub) onlineSet() map[string]bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.c.d.Now()
	if h.online == nil || now.Sub(h.onlineAt) >= time.Second || now.Before(h.onlineAt) {
		ids := h.c.d.Online()
		h.online = make(map[string]bool, len(ids))
		for _, id := range ids {
			h.online[id] = true
		}
		h.onlineAt = now
	}
	return h.online
}

// invalidate drops the cached online set (after a lifecycle action the
// page shows at once).
func (h *hub) invalidate() {
	h.mu.Lock()
	h.online = nil
	h.mu.Unlock()
}

// firmware is every device's last reported fw_version. When the last read
// was slow (a read of every series: about 2 s at 100,000 devices), a stale
// copy is served while one refresh runs in the background; the first read
// and cheap ones (a small fleet) are made at once.
func (h *hub) firmware(ctx context.Context) map[string]float64 {
	fw, _ := h.firmwareWithCounts(ctx)
	return fw
}

// firmwareWithCounts is firmware with the number of devices per version.
func (h *hub) firmwareWithCounts(ctx context.Context) (map[string]float64, map[string]int) {
	h.mu.Lock()
	fw, counts, at := h.fw, h.fwCounts, h.fwAt
	stale := fw == nil || !h.c.d.Now().Before(h.fwNext) || h.c.d.Now().Before(at)
	refresh := stale && !h.fwLoading
	cheap := h.fwTook < 50*time.Millisecond
	if refresh {
		h.fwLoading = true
	}
	h.mu.Unlock()
	switch {
	case refresh && (fw == nil || cheap):
		// The first read, or a cheap one (a small fleet): fresh now.
		return h.loadFirmware(ctx)
	case fw == nil: // another request loads it; this one reads its own
		list, err := h.c.d.Store.LatestTelemetry(ctx, "fw_version")
		if err != nil {
			h.c.d.Log.Error("console: firmware versions", "err", err)
		}
		return list, versionCounts(list)
	case refresh:
		go h.loadFirmware(context.Background())
	}
	return fw, counts
}

func (h *hub) loadFirmware(ctx context.Context) (map[string]float64, map[string]int) {
	start := time.Now()
	fw, err := h.c.d.Store.LatestTelemetry(ctx, "fw_version")
	took := time.Since(start)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fwLoading = false
	if err != nil {
		h.c.d.Log.Error("console: firmware versions", "err", err)
		return h.fw, h.fwCounts
	}
	h.fw, h.fwCounts, h.fwAt = fw, versionCounts(fw), h.c.d.Now()
	h.fwNext, h.fwTook = h.fwAt.Add(max(firmwareTTL, 100*took)), took
	return h.fw, h.fwCounts
}

func versionCounts(fw map[string]float64) map[string]int {
	byValue := map[float64]int{}
	for _, v := range fw {
		byValue[v]++
	}
	out := make(map[string]int, len(byValue))
	for v, n := range byValue {
		out[fwVersion(v)] += n
	}
	return out
}

// rates records the running totals and returns the per-minute rates over
// the last minute.
func (h *hub) rates() (enroll, samples float64) {
	i, s := h.c.d.Totals()
	now := h.c.d.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.history = append(h.history, totals{now, i, s})
	for len(h.history) > 1 && now.Sub(h.history[0].t) > time.Minute {
		h.history = h.history[1:]
	}
	first := h.history[0]
	span := now.Sub(first.t).Minutes()
	if span <= 0 {
		return 0, 0
	}
	return float64(i-first.issued) / span, float64(s-first.samples) / span
}

func (h *hub) overview(ctx context.Context) (*overview, error) {
	counts, err := h.c.d.Store.CountDevices(ctx)
	if err != nil {
		return nil, err
	}
	o := &overview{Time: h.c.d.Now(), States: counts.ByState, Manufacturers: counts.ByManufacturer, Firmware: map[string]int{},
		Campaigns: []adminapi.CampaignSummary{}, Refusals: []adminapi.AuditEntry{}}
	for _, n := range counts.ByState {
		o.Total += n
	}
	o.Online = len(h.onlineSet())
	_, fwCounts := h.firmwareWithCounts(ctx)
	for k, n := range fwCounts {
		o.Firmware[k] = n
	}
	o.EnrollmentsPerMin, o.SamplesPerMin = h.rates()
	if h.c.d.Campaigns != nil {
		list, err := h.c.d.Campaigns.List(ctx)
		if err != nil {
			return nil, err
		}
		o.Campaigns = api.SummariesOut(list)
	}
	refusals, err := h.c.d.Store.AuditLog(ctx, store.AuditFilter{Decision: string(store.Deny), Limit: 10})
	if err != nil {
		return nil, err
	}
	o.Refusals = append(o.Refusals, api.AuditOut(refusals)...)
	return o, nil
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request, _ *session) {
	o, err := c.hub.overview(r.Context())
	if err != nil {
		c.internal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

// subscribe adds a stream; false when maxStreams are open.
func (h *hub) subscribe() (chan []byte, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.subs) >= maxStreams {
		return nil, false
	}
	ch := make(chan []byte, 1)
	h.subs[ch] = struct{}{}
	if !h.run {
		h.run = true
		go h.loop()
	}
	return ch, true
}

func (h *hub) unsubscribe(ch chan []byte) {
	h.mu.Lock()
	delete(h.subs, ch)
	h.mu.Unlock()
}

// loop computes and sends the overview while a stream is open: every
// tick, or, when computing it took d, not before 100 d have passed, so
// live updates cost at most about 1% of one core whatever the fleet's size
// and however many browsers watch.
func (h *hub) loop() {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		h.mu.Lock()
		n := len(h.subs)
		h.mu.Unlock()
		wait := h.c.d.Tick
		if n > 0 {
			start := time.Now()
			h.broadcast()
			wait = max(wait, 100*time.Since(start))
		}
		t.Reset(wait)
	}
}

func (h *hub) broadcast() {
	ctx, cancel := context.WithTimeout(context.Background(), h.c.d.Tick*5)
	defer cancel()
	o, err := h.overview(ctx)
	if err != nil {
		h.c.d.Log.Error("console: overview", "err", err)
		return
	}
	b, _ := json.Marshal(o)
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case <-ch: // a slow reader gets the newest overview, not a backlog
		default:
		}
		ch <- b
	}
}

// events is the server-sent event stream of live updates: an "overview"
// event every tick (campaign progress, online devices, rates, refusals).
// It ends when the session expires or is signed out.
func (c *Console) events(w http.ResponseWriter, r *http.Request, se *session) {
	if !c.sessions.openStream(se) {
		writeErr(w, http.StatusTooManyRequests, "this session has %d live streams open already", maxStreamsPerSession)
		return
	}
	defer c.sessions.closeStream(se)
	ch, ok := c.hub.subscribe()
	if !ok {
		writeErr(w, http.StatusServiceUnavailable, "too many live streams")
		return
	}
	defer c.hub.unsubscribe(ch)
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.hub.stop:
			return
		case b := <-ch:
			if !c.Authenticated(r) {
				return
			}
			// The listener's write timeout is for requests; a stream
			// extends its deadline with every event it writes.
			rc.SetWriteDeadline(time.Now().Add(c.d.Tick*5 + 10*time.Second))
			if _, err := w.Write(append(append([]byte("event: overview\ndata: "), b...), '\n', '\n')); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
		}
	}
}
