package fleet

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"rampart/adminapi"
	"rampart/deviceproto"
	"rampart/fleet/api"
	"rampart/fleet/ca"
	"rampart/fleet/store"
	"rampart/internal/secfile"
)

// Rotation of the fleet CA (docs/ownership-and-rotation.md, section 8).
//
// `rampart fleet ca rotate` (RotateCA) makes the successor CA and its
// cross certificate and stages them in the store; a node switches to the
// successor when it starts (a rolling restart, or a crash: nothing is lost
// in between), issuing from it while its predecessor's certificates are
// still accepted. Then the rotation loop tells the devices that still hold
// a certificate of the predecessor, at the rotation's pace, their new
// trust anchors in a signed trust message (deviceproto.Trust), upon which
// they re-enroll by attestation; when no active device holds a live
// certificate of the predecessor, it is retired: no longer accepted. An
// emergency rotation accepts nothing of the predecessor from the switch
// on and revokes its certificates: every device re-enrolls by attestation
// alone.

// DefaultRotationRate is how many devices per minute a rotation tells to
// re-enroll, unless the operator gives another pace.
const DefaultRotationRate = 600

// rotation is a node's view of the CA rotation.
type rotation struct {
	mu       sync.Mutex
	gen      int
	prev     *x509.Certificate // the predecessor, while accepted or retiring
	cross    *x509.Certificate
	rate     int
	state    string
	notified map[string]time.Time // device -> when told (this node)
	issuers  map[string]bool      // certificate serial -> issued by the predecessor
	// toTell is the list of devices still to tell, as last computed
	// (rotationStep), and refreshed when: the computation reads every
	// active device and live certificate, so it runs at most every
	// rotationRefresh, not at every tick (per tick it made a rotation's
	// cost grow with the square of the fleet's size).
	toTell    []string
	refreshed time.Time
}

// ErrRotation: a rotation cannot start now (one is under way).
var ErrRotation = errors.New("fleet: CA rotation")

// secretCA is the CA whose key derives the server's sealing secrets
// (campaign download keys, the owner key, the cluster's nonce key): the
// CA of the latest emergency rotation (sealCA, from the store's ca_seal),
// or without one the original CA, whatever normal rotations happened
// since, so that a rotation never loses a sealed secret and an emergency
// one leaves none under the leaked key (docs/ownership-and-rotation.md).
func (s *Server) secretCA() *ca.CA {
	if s.sealCA != nil {
		return s.sealCA
	}
	if s.origCA != nil {
		return s.origCA
	}
	return s.ca
}

// applyRotation switches the node to the rotated CA, if the store holds a
// rotation; the first node to start after `rotate` activates it.
func (s *Server) applyRotation(ctx context.Context, pass []byte, o ca.Options) error {
	if err := s.loadSealCA(ctx, pass, o); err != nil {
		return err
	}
	r, err := s.db.CARotation(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	next, err := ca.Load(r.CertPEM, r.KeyPEM, pass, o)
	if err != nil {
		return fmt.Errorf("fleet: rotated CA: %w", err)
	}
	prev, err := ca.ParseCertificatePEM(r.PrevCertPEM)
	if err != nil {
		return fmt.Errorf("fleet: rotated CA: predecessor: %w", err)
	}
	cross, err := ca.ParseCertificatePEM(r.CrossPEM)
	if err != nil {
		return fmt.Errorf("fleet: rotated CA: cross certificate: %w", err)
	}
	s.origCA, s.ca = s.ca, next
	s.rot = &rotation{gen: r.Generation, prev: prev, cross: cross, rate: r.Rate, state: r.State, notified: map[string]time.Time{}, issuers: map[string]bool{}}
	if r.State != store.RotationRetired && !r.Emergency {
		next.Accept(prev)
	}
	if r.State == store.RotationStaged {
		audit := &store.AuditEntry{Actor: "server", Action: "ca.rotation.activate", Subject: next.Certificate().Subject.CommonName, Decision: store.Allow,
			Reason: fmt.Sprintf("generation %d active (emergency %v)", r.Generation, r.Emergency)}
		var moved bool
		if r.Emergency {
			moved, err = s.activateEmergency(ctx, r, next, pass, o, audit)
		} else {
			moved, err = s.db.AdvanceCARotation(ctx, r.Generation, store.RotationStaged, store.RotationActive, audit)
		}
		if err != nil {
			return err
		}
		if moved && r.Emergency {
			if err := s.revokePredecessor(ctx, prev); err != nil {
				return err
			}
		}
		s.rot.state = store.RotationActive
	}
	// The certificate clients need as --ca from now on.
	path := filepath.Join(s.cfg.DataDir, fmt.Sprintf("ca-gen%d.crt", r.Generation))
	if err := secfile.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: next.Certificate().Raw})); err == nil {
		s.caCertFile = path
	}
	return nil
}

// revokePredecessor revokes every live certificate the predecessor issued
// (an emergency rotation: they prove nothing any more).
func (s *Server) revokePredecessor(ctx context.Context, prev *x509.Certificate) error {
	live, err := s.db.LiveCertificates(ctx, s.opts.Now())
	if err != nil {
		return err
	}
	var serials []string
	for _, c := range live {
		if x, err := x509.ParseCertificate(c.DER); err == nil && bytes.Equal(x.RawIssuer, prev.RawSubject) {
			serials = append(serials, c.Serial)
		}
	}
	return s.db.RevokeCertificates(ctx, serials, &store.AuditEntry{Actor: "server", Action: "ca.rotation.revoke", Subject: prev.Subject.CommonName,
		Decision: store.Allow, Reason: fmt.Sprintf("emergency rotation: %d certificates of the untrusted CA revoked", len(serials))})
}

// caChain is the chain the server presents: its certificate, then the CA
// certificate, or during and after a rotation the cross certificate (a
// device that trusts only the predecessor verifies through it:
// deviceproto.VerifyServerChain; one that trusts the successor needs
// nothing more).
func (s *Server) caChain(leaf []byte) [][]byte {
	if s.rot != nil {
		return [][]byte{leaf, s.rot.cross.Raw}
	}
	return [][]byte{leaf, s.ca.Certificate().Raw}
}

// RotateCA stages the successor of the CA in use: made, cross-signed and
// stored (encrypted under the CA passphrase); nodes switch to it when they
// start. rate is devices per minute (DefaultRotationRate when 0). A
// rotation refuses to start while the previous one is not retired, unless
// emergency.
func (s *Server) RotateCA(ctx context.Context, emergency bool, rate int, actor string) (*store.CARotation, error) {
	if s.caKey != nil {
		// Successor makes the new CA key in software, sealed in the store:
		// a rotation would take the fleet's root out of its token.
		return nil, fmt.Errorf("%w: the CA key is in a PKCS#11 token (ca.key): rotation would make its successor a software key; not supported yet (docs/roots-of-trust.md)", ErrRotation)
	}
	if rate <= 0 {
		rate = DefaultRotationRate
	}
	gen := 2
	if s.rot != nil {
		gen = s.rot.gen + 1
	}
	if r, err := s.db.CARotation(ctx); err == nil && r.Generation >= gen {
		return nil, fmt.Errorf("%w: generation %d is staged already: restart the nodes to switch to it", ErrRotation, r.Generation)
	}
	name := fmt.Sprintf("%s G%d", s.cfg.CA.Name, gen)
	if s.cfg.CA.Name == "" {
		name = fmt.Sprintf("Rampart fleet CA G%d", gen)
	}
	next, certPEM, keyPEM, cross, err := s.ca.Successor(name, s.pass)
	if err != nil {
		return nil, err
	}
	r := &store.CARotation{Generation: gen, CertPEM: certPEM, KeyPEM: keyPEM, Emergency: emergency, Rate: rate,
		PrevCertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.ca.Certificate().Raw}),
		CrossPEM:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cross.Raw})}
	audit := &store.AuditEntry{Actor: actor, Action: "ca.rotate", Subject: next.Certificate().Subject.CommonName, Decision: store.Allow,
		Reason: fmt.Sprintf("generation %d staged (emergency %v, %d devices/min)", gen, emergency, rate)}
	if err := s.db.StartCARotation(ctx, r, audit); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("%w: %w", ErrRotation, err)
		}
		return nil, err
	}
	r.State = store.RotationStaged
	return r, nil
}

// RotationProgress is where the CA rotation stands on this node.
type RotationProgress struct {
	Generation int
	State      string // "" without any rotation
	Emergency  bool
	Rate       int
	Active     int    // active devices
	Pending    int    // active devices still holding a live certificate of the predecessor
	Notified   int    // devices told by this node in this rotation
	CertPEM    []byte // the new CA's certificate
}

// Rotation reports the CA rotation's progress.
func (s *Server) Rotation(ctx context.Context) (*RotationProgress, error) {
	r, err := s.db.CARotation(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return &RotationProgress{}, nil
	}
	if err != nil {
		return nil, err
	}
	p := &RotationProgress{Generation: r.Generation, State: r.State, Emergency: r.Emergency, Rate: r.Rate, CertPEM: r.CertPEM}
	if s.rot == nil || s.rot.gen != r.Generation {
		return p, nil // staged: this node has not switched yet
	}
	// One aggregate query (store.RotationCounts), not the rotation loop's
	// read of every device and certificate: the status is asked by
	// operators and dashboards at any rate, and a fleet of 10,000 made
	// each call cost a full read.
	active, pending, err := s.db.RotationCounts(ctx, s.opts.Now(), s.rot.prev.RawSubject)
	if err != nil {
		return nil, err
	}
	s.rot.mu.Lock()
	p.Notified = len(s.rot.notified)
	s.rot.mu.Unlock()
	p.Active, p.Pending = active, pending
	return p, nil
}

// pendingDevices lists the active devices whose live certificates include
// one of the predecessor's, and the active devices.
func (s *Server) pendingDevices(ctx context.Context) (pending, active []string, err error) {
	devs, err := s.db.Devices(ctx, store.Active)
	if err != nil {
		return nil, nil, err
	}
	live, err := s.db.LiveCertificates(ctx, s.opts.Now())
	if err != nil {
		return nil, nil, err
	}
	old := map[string]bool{}
	s.rot.mu.Lock()
	for _, c := range live {
		byPrev, ok := s.rot.issuers[c.Serial]
		if !ok {
			x, err := x509.ParseCertificate(c.DER)
			byPrev = err == nil && bytes.Equal(x.RawIssuer, s.rot.prev.RawSubject)
			s.rot.issuers[c.Serial] = byPrev
		}
		if byPrev {
			old[c.DeviceID] = true
		}
	}
	s.rot.mu.Unlock()
	for _, d := range devs {
		active = append(active, d.ID)
		if old[d.ID] {
			pending = append(pending, d.ID)
		}
	}
	return pending, active, nil
}

// rotationGrace is how long the session a device opened with its old
// certificate lives on once it re-enrolled for the rotation (the device
// reconnects with the new one as soon as it has it): a bound, not a wait.
const rotationGrace = 15 * time.Second

// renewalGrace is how long the session a device opened with the
// certificate it has just replaced by a renewal lives on: until the
// device reconnects with the new one (which takes the session over) or
// for this long, as for a CA rotation's re-enrollment.
//
// Why a grace, and why it is safe. The renewal of an update's
// re-attestation used to end the device's session at its commit: the
// device was offline until the answer travelled back and it reconnected,
// and after a node's death, with survivors and the store slow, that loss
// sent it round the endpoints again (clustertest KillNodeMidCampaign and
// SingleNodeKill9AndRestart missed their bounds at load 30-50). What the
// grace keeps open is only the session already authenticated by the old
// certificate, of the device that has just proved itself again with a
// fresh attestation token: a new connection with the old certificate is
// refused at once (broker.SupersedeAfter), the certificate is revoked in
// the store in the renewal's transaction, and the session still ends at
// the old certificate's expiry. A renewal is not how a compromise is
// answered: revoking, suspending or decommissioning the device ends its
// sessions at once on every node (broker.Disconnect, whatever grace is
// running), and such a device's renewal is refused (it must be active).
const renewalGrace = 15 * time.Second

// supersedeGrace is the grace of the session of deviceID's earlier
// certificate once it was issued a new one: rotationGrace for a device
// this node told to re-enroll for the CA rotation within renotifyAfter,
// Options.RenewalGrace (at most renewalGrace; 0, the default, is none) for
// the device's own renewal, else
// none (a re-enrollment ends it at once).
func (s *Server) supersedeGrace(deviceID string, renewal bool) time.Duration {
	if renewal {
		// Off unless configured: with a grace the renewed certificate's
		// session takes the old one over on the same node, and in CI such
		// a new session sometimes stopped serving (TestRenewalEndsOldSession:
		// no PUBACK after the takeover). Until that is found the renewal
		// ends the old session at once, as it did before the grace.
		return min(max(s.opts.RenewalGrace, 0), renewalGrace)
	}
	r := s.rot
	if r == nil {
		return 0
	}
	r.mu.Lock()
	when, told := r.notified[deviceID]
	r.mu.Unlock()
	if !told || s.opts.Now().Sub(when) > renotifyAfter {
		return 0
	}
	return rotationGrace
}

// rotationTick is how often the rotation loop runs.
const rotationTick = time.Second

// renotifyAfter: a device told but still on the predecessor is told again
// (it was offline, or its re-enrollment failed).
const renotifyAfter = 5 * time.Minute

// runRotation tells the pending devices, at the rotation's pace, and
// retires the predecessor when none is left; on every node it applies a
// retirement another node decided.
func (s *Server) runRotation(ctx context.Context) {
	if s.rot == nil {
		return
	}
	t := time.NewTicker(rotationTick)
	defer t.Stop()
	budget := 0.0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if s.rot.state == store.RotationRetired {
			return
		}
		if r, err := s.db.CARotation(ctx); err == nil && r.Generation == s.rot.gen && r.State == store.RotationRetired {
			s.retired()
			return
		}
		if s.node != nil {
			if _, lead := s.leases[0].Leader(); !lead {
				continue
			}
		}
		budget = min(budget+float64(s.rot.rate)*rotationTick.Seconds()/60, float64(max(s.rot.rate, 1)))
		n, done := s.rotationStep(ctx, int(budget))
		budget -= float64(n)
		if done {
			return
		}
	}
}

// rotationStep tells up to n devices, first those still on the
// predecessor, then every other active device this node has not told (a
// device that re-enrolled on its own, refused by the broker in an
// emergency, still needs its new anchor); with none left to tell and none
// on the predecessor it retires the predecessor. It returns how many it
// told and whether the rotation is over.
func (s *Server) rotationStep(ctx context.Context, n int) (int, bool) {
	if time.Since(s.rot.refreshed) < rotationRefresh {
		return s.tell(s.rot.toTell, n), false
	}
	pending, active, err := s.pendingDevices(ctx)
	if err != nil {
		s.log.Warn("CA rotation: pending devices", "err", err)
		return 0, false
	}
	onPrev := make(map[string]bool, len(pending))
	for _, id := range pending {
		onPrev[id] = true
	}
	s.rot.mu.Lock()
	for _, id := range active {
		if _, told := s.rot.notified[id]; !told && !onPrev[id] {
			pending = append(pending, id)
		}
	}
	s.rot.mu.Unlock()
	if len(pending) == 0 {
		moved, err := s.db.AdvanceCARotation(ctx, s.rot.gen, store.RotationActive, store.RotationRetired,
			&store.AuditEntry{Actor: "server", Action: "ca.rotation.retire", Subject: s.rot.prev.Subject.CommonName, Decision: store.Allow,
				Reason: fmt.Sprintf("no active device holds a certificate of it (generation %d)", s.rot.gen)})
		if err != nil {
			s.log.Warn("CA rotation: retire", "err", err)
			return 0, false
		}
		s.retired()
		s.log.Info("CA rotation: predecessor retired", "generation", s.rot.gen, "by_this_node", moved)
		return 0, true
	}
	s.rot.toTell, s.rot.refreshed = pending, time.Now()
	return s.tell(s.rot.toTell, n), false
}

// rotationRefresh is how often rotationStep reads which devices are still
// to tell (and whether none is left, to retire the predecessor).
const rotationRefresh = 10 * time.Second

// tell sends the new trust anchor to up to n of the devices in list not
// told within renotifyAfter, and returns how many it told. Only the
// rotation loop calls it.
func (s *Server) tell(list []string, n int) int {
	told := 0
	now := s.opts.Now()
	for _, id := range list {
		if told >= n {
			break
		}
		s.rot.mu.Lock()
		last, seen := s.rot.notified[id]
		s.rot.mu.Unlock()
		if seen && now.Sub(last) < renotifyAfter {
			continue
		}
		msg, err := s.jobs.SignTrust(id, deviceproto.Trust{ID: fmt.Sprintf("ca-gen%d", s.rot.gen),
			Anchors: [][]byte{s.ca.Certificate().Raw}, Cross: [][]byte{s.rot.cross.Raw}})
		if err == nil {
			ttl := s.jobs.TTL
			if ttl <= 0 {
				ttl = deviceproto.DefaultJobTTL
			}
			err = s.publishJob(id, msg, now.Add(ttl))
		}
		if err != nil {
			s.log.Warn("CA rotation: trust message not sent", "device", id, "err", err)
			continue
		}
		s.rot.mu.Lock()
		s.rot.notified[id] = now
		s.rot.mu.Unlock()
		told++
	}
	return told
}

// retired stops accepting the predecessor's certificates on this node.
func (s *Server) retired() {
	s.ca.Accept()
	s.rot.state = store.RotationRetired
}

// caRotator is the admin API's view of the server's CA rotation.
type caRotator struct{ s *Server }

func (c caRotator) RotateCA(ctx context.Context, emergency bool, rate int, actor string) (*adminapi.Rotation, error) {
	r, err := c.s.RotateCA(ctx, emergency, rate, actor)
	if errors.Is(err, ErrRotation) {
		return nil, fmt.Errorf("%w: %w", api.ErrRotationBusy, err)
	}
	if err != nil {
		return nil, err
	}
	return &adminapi.Rotation{Generation: r.Generation, State: r.State, Emergency: r.Emergency, Rate: r.Rate, Certificate: string(r.CertPEM)}, nil
}

func (c caRotator) RotationStatus(ctx context.Context) (*adminapi.Rotation, error) {
	p, err := c.s.Rotation(ctx)
	if err != nil {
		return nil, err
	}
	return &adminapi.Rotation{Generation: p.Generation, State: p.State, Emergency: p.Emergency, Rate: p.Rate, Active: p.Active, Pending: p.Pending, Notified: p.Notified,
		Certificate: string(p.CertPEM)}, nil
}
