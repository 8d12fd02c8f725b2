package campaign

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sort"
	"sync"
	"time"

	"rampart/deviceproto"
	"rampart/fleet/internal/burst"
	"rampart/fleet/store"
)

// Errors callers classify with errors.Is.
var (
	ErrState    = errors.New("campaign: not allowed in the campaign's state")
	ErrNoImage  = errors.New("campaign: no uploaded image for the release")
	ErrNoTarget = errors.New("campaign: the filter selects no device")
)

// Config configures an Engine.
type Config struct {
	Store *store.DB
	// Publish sends a retained QoS 1 message on devices/<id>/jobs, kept
	// until expires (the signed job's expiry; zero with an empty payload,
	// which clears the retained job).
	Publish func(deviceID string, payload []byte, expires time.Time) error
	// ImageBase returns the HTTPS base URL devices download images from
	// ("https://host:port"); the engine serves /images/<sha256> there.
	ImageBase func() string
	Now       func() time.Time // time.Now when nil
	Log       *slog.Logger
	// Tick is the period of the evaluation loop (default 1 s; at most 5 s).
	// Failures also wake it at once.
	Tick time.Duration
	// BytesPerSecond limits each device's image downloads together
	// (concurrent downloads by one device share it; 0: no limit).
	BytesPerSecond int64
	// Rand draws each campaign's download key (crypto/rand when nil).
	Rand io.Reader
	// KeySecret (32 bytes, required) seals each campaign's download key in
	// the store (keystore.go); the server derives it from the CA key, so a
	// copy of the database cannot mint download tokens.
	KeySecret []byte
	// Tamper, when set, may alter the image served to a device: fault
	// injection for tests only.
	Tamper func(deviceID string, data []byte) []byte
	// Jobs signs every job the engine publishes (the fleet's job signer:
	// agents act on no other job).
	Jobs *deviceproto.JobSigner
	// Refusals, when set, coalesces the audit entries of refused image
	// downloads per source and device (the first of a burst written at
	// once, then a count per window); when nil each is written.
	Refusals *burst.Coalescer[*store.AuditEntry]
	// Leader, when set, makes the engine one of several nodes on one
	// database (docs/campaigns.md, "Several nodes"): it tells whether
	// this node holds the evaluator's lease (LeaseName) and under which
	// epoch. Only the holder evaluates (timeouts, thresholds, phases,
	// notifications), its writes fenced by the epoch; every node takes
	// device events and operator actions into the store and reads what
	// the others wrote every Tick. Nil: the only node, always the
	// evaluator (a Keeper provides it for several).
	Leader func() (epoch int64, ok bool)
}

// Engine runs every campaign of one fleet server.
type Engine struct {
	cfg Config

	mu sync.Mutex
	// writes counts the device rows this node wrote (a clock): a row read
	// before a later write of this node is stale and not applied
	// (applyRow).
	writes   uint64
	camps    map[string]*camp
	byDevice map[string]*camp // device -> its active campaign
	images   map[string][]byte
	pacers   map[string]*pacer // device -> its downloads' shared pacer
	// newPacer makes a device's pacer (newPacer when nil; a test's
	// virtual clock otherwise).
	newPacer func(limit int64) *pacer
	auditID  int64
	lastPoll time.Time
	// republish are the in-flight devices found at load: the broker keeps
	// retained jobs in memory only, so a restart must publish them again
	// (the agent ignores a job it has finished, and resumes one it has not).
	republish map[*camp][]string
	// signed is the job last published to each in-flight device, as
	// signed, for Connected to publish again (jobs.go).
	signed map[string]*signedJob
	// pubMu orders job signatures and publications: a device receives
	// its jobs in the order they were signed (Issued increasing), so a
	// job published again is never older than one it has already seen.
	pubMu sync.Mutex

	// Several nodes (Config.Leader set): clustered. leading and fence
	// are the evaluator's term as of the last Step (always leading, with
	// no fence, on a single node); lastSync is when the last read of the
	// store began, syncs counts them (every fullSyncEvery-th, and the
	// first of a term, reads every row), needFull asks the next for all.
	clustered bool
	leading   bool
	fence     store.Fence
	lastSync  time.Time
	syncs     int
	needFull  bool
	// syncMu orders reads of the store (sync); lastDemand is the last
	// one made on demand (a device or request this node did not know).
	syncMu     sync.Mutex
	lastDemand time.Time
	// hookBeforeSave runs in Step between deciding the state transitions
	// and writing them (tests: an operator's action lands in between).
	hookBeforeSave func()

	wake chan struct{}
	stop context.CancelFunc
	done chan struct{}
}

type dev struct {
	id       string
	phase    int
	status   Status
	reason   string
	notified time.Time
	renewals int
	// stored and storedNotified are the device's row as this node last
	// wrote or read it: a change is written only from them (a
	// conditional UPDATE), so of two nodes moving one device the first
	// wins and the second reads the row again.
	stored         Status
	storedNotified time.Time
	// fence is the evaluator epoch a pending change was decided under
	// (notification, timeout, health signal), 0 for a device event or an
	// operator's action; it is written only while the lease has it.
	fence int64
	// wrote is the engine's writes clock when this node last wrote the
	// device's row.
	wrote uint64
	// republished is when the evaluator last published the device's job
	// again for want of an answer (unanswered).
	republished time.Time
}

type camp struct {
	spec      Spec
	rec       store.CampaignRecord
	digest    []byte
	imageSHA  string
	size      int64
	version   string
	devs      map[string]*dev
	list      []*dev
	phaseSize []int
	dirty     map[string]*dev
	key       []byte // download key (token.go), stored sealed (keystore.go)
	// saved is the state and phase last recorded in the store (stateKey):
	// a transition made outside Step (a failure reported between steps
	// pauses at once) is written, and audited, by the next Step or Close.
	saved string
}

// New builds an engine and loads the unfinished campaigns from the store.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.Store == nil || cfg.Publish == nil || cfg.ImageBase == nil || cfg.Jobs == nil {
		return nil, errors.New("campaign: config: Store, Publish, ImageBase and Jobs are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.Tick > 5*time.Second {
		return nil, fmt.Errorf("campaign: config: tick %s exceeds 5s", cfg.Tick)
	}
	if len(cfg.KeySecret) != keySecretSize {
		return nil, fmt.Errorf("campaign: config: KeySecret must be %d bytes", keySecretSize)
	}
	e := &Engine{cfg: cfg, camps: map[string]*camp{}, byDevice: map[string]*camp{}, images: map[string][]byte{}, pacers: map[string]*pacer{}, wake: make(chan struct{}, 1),
		republish: map[*camp][]string{}, signed: map[string]*signedJob{}, clustered: cfg.Leader != nil, leading: cfg.Leader == nil}
	recs, err := cfg.Store.Campaigns(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if State(r.State) == Stopped || State(r.State) == Completed {
			if err := e.dropClearKey(ctx, r); err != nil {
				return nil, err
			}
			continue
		}
		c, err := e.load(ctx, r)
		if err != nil {
			return nil, err
		}
		e.add(c)
		for _, d := range c.list {
			if d.status.InFlight() {
				e.republish[c] = append(e.republish[c], d.id)
			}
		}
	}
	return e, nil
}

func (e *Engine) load(ctx context.Context, r *store.CampaignRecord) (*camp, error) {
	var ss storedSpec
	if err := json.Unmarshal([]byte(r.Spec), &ss); err != nil {
		return nil, fmt.Errorf("campaign: %s: stored spec: %w", r.ID, err)
	}
	c, err := e.prepare(ctx, ss.Spec)
	if err != nil {
		return nil, err
	}
	if c.key, err = e.loadKey(ctx, r, ss); err != nil {
		return nil, err
	}
	c.rec = *r
	c.saved = c.stateKey()
	rows, err := e.cfg.Store.CampaignDevices(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	for _, row := range rows {
		c.addDev(&dev{id: row.DeviceID, phase: row.Phase, status: Status(row.Status), reason: row.Reason, notified: row.Notified,
			stored: Status(row.Status), storedNotified: row.Notified})
	}
	c.sizes()
	return c, nil
}

// prepare resolves the release and its image.
func (e *Engine) prepare(ctx context.Context, sp Spec) (*camp, error) {
	digest, _ := hex.DecodeString(sp.Release)
	rel, err := e.cfg.Store.Release(ctx, digest)
	if err != nil {
		return nil, fmt.Errorf("campaign: release %s: %w", sp.Release, err)
	}
	sha, err := e.cfg.Store.ImageByDigest(ctx, digest)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrNoImage, sp.Release, err)
	}
	e.mu.Lock()
	data, cached := e.images[sha]
	e.mu.Unlock()
	if !cached {
		if _, data, err = e.cfg.Store.Image(ctx, sha); err != nil {
			return nil, err
		}
		e.mu.Lock()
		e.images[sha] = data
		e.mu.Unlock()
	}
	return &camp{spec: sp, digest: digest, imageSHA: sha, size: int64(len(data)), version: rel.Component.Version, devs: map[string]*dev{}, dirty: map[string]*dev{}}, nil
}

func (c *camp) addDev(d *dev) {
	c.devs[d.id] = d
	c.list = append(c.list, d)
}

func (c *camp) sizes() {
	c.phaseSize = make([]int, len(c.spec.Phases))
	for _, d := range c.list {
		c.phaseSize[d.phase]++
	}
}

func (e *Engine) add(c *camp) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.addLocked(c)
}

// addLocked is add with e.mu held.
func (e *Engine) addLocked(c *camp) {
	e.camps[c.rec.ID] = c
	for _, d := range c.list {
		if !d.status.Terminal() {
			e.byDevice[d.id] = c
		}
	}
}

// noRotation refuses a campaign while a CA rotation is staged or active:
// its devices are being re-enrolled (and reconnect) at the rotation's
// pace, and an update's re-attestation would race their re-enrollment,
// each step of one ending the session the other needs. Wait until
// `rampart fleet ca status` says retired.
func (e *Engine) noRotation(ctx context.Context) error {
	r, err := e.cfg.Store.CARotation(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if r.State == store.RotationStaged || r.State == store.RotationActive {
		return fmt.Errorf("campaign: a fleet CA rotation (generation %d) is %s: start campaigns once it is retired (rampart fleet ca status): %w", r.Generation, r.State, ErrState)
	}
	return nil
}

// Create selects the targets, splits them into phases, stores the campaign
// and starts it (or waits for approval when its first phase asks).
func (e *Engine) Create(ctx context.Context, sp Spec, actor string) (*Summary, error) {
	sp.Defaults()
	if err := sp.Validate(); err != nil {
		return nil, err
	}
	if err := e.noRotation(ctx); err != nil {
		return nil, err
	}
	c, err := e.prepare(ctx, sp)
	if err != nil {
		return nil, err
	}
	ids, err := e.targets(ctx, sp.Filter)
	if err != nil {
		return nil, err
	}
	if e.clustered { // know the campaigns the other nodes created
		if err := e.sync(ctx, false); err != nil {
			return nil, err
		}
	}
	e.mu.Lock()
	for _, id := range ids {
		if o, busy := e.byDevice[id]; busy {
			e.mu.Unlock()
			return nil, fmt.Errorf("campaign: device %s is in campaign %s: %w", id, o.rec.ID, ErrState)
		}
	}
	e.mu.Unlock()
	if err := assign(c, ids); err != nil {
		return nil, err
	}
	st := Running
	if sp.Phases[0].Approve {
		st = Awaiting
	}
	if c.key, err = e.newDownloadKey(); err != nil {
		return nil, err
	}
	b, err := e.marshalStored(sp.ID, sp, c.key)
	if err != nil {
		return nil, err
	}
	c.rec = store.CampaignRecord{ID: sp.ID, Spec: string(b), State: string(st), Created: e.cfg.Now(), Updated: e.cfg.Now()}
	c.saved = c.stateKey()
	rows := make([]store.CampaignDevice, 0, len(c.list))
	for _, d := range c.list {
		rows = append(rows, store.CampaignDevice{DeviceID: d.id, Phase: d.phase, Status: string(d.status)})
	}
	audit := &store.AuditEntry{Actor: actor, Action: "campaign.create", Subject: sp.ID, Decision: store.Allow,
		Reason: fmt.Sprintf("release %s %s to %d devices in %d phases", c.version, sp.Release, len(c.list), len(sp.Phases))}
	if err := e.cfg.Store.PutCampaign(ctx, &c.rec, rows, audit); err != nil {
		return nil, err
	}
	e.add(c)
	e.kick()
	return e.Status(sp.ID, false)
}

// assign splits the targets into phases: named phases take their listed
// devices; percent phases take cumulative shares of the targets in an order
// fixed by hashing the campaign ID with each device ID.
func assign(c *camp, ids []string) error {
	sp := c.spec
	if len(sp.Phases[0].Devices) > 0 {
		in := map[string]bool{}
		for _, id := range ids {
			in[id] = true
		}
		seen := map[string]bool{}
		for i, p := range sp.Phases {
			for _, id := range p.Devices {
				if !in[id] || seen[id] {
					continue
				}
				seen[id] = true
				c.addDev(&dev{id: id, phase: i, status: Queued, stored: Queued})
			}
		}
	} else {
		type kv struct {
			id string
			h  [32]byte
		}
		ord := make([]kv, len(ids))
		for i, id := range ids {
			ord[i] = kv{id, sha256.Sum256([]byte(sp.ID + "\x00" + id))}
		}
		sort.Slice(ord, func(i, j int) bool { return string(ord[i].h[:]) < string(ord[j].h[:]) })
		n, ph := len(ord), 0
		for i, x := range ord {
			for ph < len(sp.Phases)-1 && i >= int(math.Ceil(sp.Phases[ph].Percent/100*float64(n))) {
				ph++
			}
			c.addDev(&dev{id: x.id, phase: ph, status: Queued, stored: Queued})
		}
	}
	if len(c.list) == 0 {
		return ErrNoTarget
	}
	sort.SliceStable(c.list, func(i, j int) bool { return c.list[i].phase < c.list[j].phase })
	c.sizes()
	return nil
}

// targets applies the filter to the device table.
func (e *Engine) targets(ctx context.Context, f Filter) ([]string, error) {
	devs, err := e.cfg.Store.Devices(ctx, "")
	if err != nil {
		return nil, err
	}
	var versions map[string]float64
	if len(f.Versions) > 0 {
		if versions, err = e.cfg.Store.LatestTelemetry(ctx, "fw_version"); err != nil {
			return nil, err
		}
	}
	want := func(list []string, v string) bool {
		for _, x := range list {
			if x == v {
				return true
			}
		}
		return false
	}
	var out []string
	for _, d := range devs {
		okState := false
		for _, s := range f.States {
			okState = okState || d.State == s
		}
		if !okState || (f.Manufacturer != "" && d.Manufacturer != f.Manufacturer) ||
			(len(f.Devices) > 0 && !want(f.Devices, d.ID)) || (f.IDPrefix != "" && (len(d.ID) < len(f.IDPrefix) || d.ID[:len(f.IDPrefix)] != f.IDPrefix)) {
			continue
		}
		if len(f.Versions) > 0 {
			v, ok := versions[d.ID]
			if !ok || !want(f.Versions, fmt.Sprintf("%d.%d.%d", int(v)/10000, int(v)/100%100, int(v)%100)) {
				continue
			}
		}
		out = append(out, d.ID)
	}
	return out, nil
}

// Kick wakes the evaluation loop (a Keeper's OnAcquire: a new evaluator
// starts at once rather than at its next tick).
func (e *Engine) Kick() { e.kick() }

// kick wakes the evaluation loop.
func (e *Engine) kick() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Start runs the evaluation loop until Close.
func (e *Engine) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	e.stop, e.done = cancel, make(chan struct{})
	go func() {
		defer close(e.done)
		t := time.NewTicker(e.cfg.Tick)
		defer t.Stop()
		for {
			if err := e.Step(ctx); err != nil && ctx.Err() == nil {
				e.cfg.Log.Warn("campaign step failed", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-e.wake:
			}
		}
	}()
}

// Close stops the loop and writes the last progress (and a state change,
// such as a pause, made since the last step).
func (e *Engine) Close() error {
	if e.stop != nil {
		e.stop()
		<-e.done
	}
	ctx := context.Background()
	err := e.savePending(ctx)
	if errors.Is(err, store.ErrFenced) {
		return nil // deposed: what it decided is not its to write
	}
	return err
}

// savePending writes the state transitions and device changes this node
// has decided or taken in since its last step.
func (e *Engine) savePending(ctx context.Context) error {
	e.mu.Lock()
	pending, fence := e.unsavedStates(), e.fence
	e.mu.Unlock()
	if err := e.saveStates(ctx, pending, fence); err != nil {
		return err
	}
	return e.flush(ctx, false)
}

// CountTargets is how many devices the filter selects now, with the
// defaults a campaign applies (active devices only when no state is
// named): the console's live count while an operator writes a filter.
func (e *Engine) CountTargets(ctx context.Context, f Filter) (int, error) {
	if len(f.States) == 0 {
		f.States = []store.State{store.Active}
	}
	ids, err := e.targets(ctx, f)
	return len(ids), err
}
