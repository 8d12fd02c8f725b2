package attestation

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"

	"rampart/attest"
	"rampart/ipc"
	"rampart/psa"
	"rampart/spe"
	"rampart/spe/storage"
	"rampart/swcomponent"
)

// Manifest declares the attestation partition.
var Manifest = spe.PartitionManifest{
	FrameworkVersion: "1.1",
	Name:             "RAMPART_SP_INITIAL_ATTESTATION",
	Type:             spe.PSARoT,
	// At isolation level 3: the root key partition for the IAK's sealing
	// key, lifecycle for the state and FWU for this boot's measurements
	// (in memory at levels 1 and 2).
	Dependencies: []uint32{psa.RootKeySID, psa.LifecycleSID, psa.FWUSID},
	Services: []spe.ServiceManifest{{
		Name: "INITIAL_ATTESTATION", SID: psa.AttestSID, Version: psa.AttestVersion, VersionPolicy: spe.Strict,
		Stateless: true, NonSecureClients: true,
	}},
}

// Options configures the service.
type Options struct {
	Store *storage.Store // where Provision put the sealed IAK and identity
	HUK   []byte
	// SealKey, instead of HUK, is the IAK's sealing key,
	// HKDF-SHA256(HUK, SealKeyLabel): the service then never holds the HUK
	// (isolation level 3, where the root key partition derives it).
	SealKey []byte
	// Lifecycle returns the current security lifecycle state.
	Lifecycle func() attest.Lifecycle
	// BootRecords returns the measurements of this boot (boot.Result.Records),
	// which become the token's software components as they are.
	BootRecords func() []swcomponent.Component
	// KeyFuses, when set, returns the bootloader's release-key fuses, which
	// become the token's release-key-fuses claim (attest.KeyFusesClaim);
	// nil (an SPE without a bootloader device) leaves the claim out.
	KeyFuses func() *attest.KeyFuses
	// Measurements, when set, replaces BootRecords and KeyFuses: both
	// come from another process by one call (isolation level 3, where
	// the FWU partition holds the device), and a failed call fails the
	// token instead of leaving its claims out.
	Measurements func() ([]swcomponent.Component, *attest.KeyFuses, error)
	// BootSeed is this boot's seed (8..32 bytes); nil draws 32 random bytes.
	BootSeed []byte
	// Rand is used for the boot seed and ECDSA signatures; nil means crypto/rand.
	Rand io.Reader
	// External, when set, holds the IAK outside the SPE's storage (a TPM,
	// see spe/rot): ProvisionExternal creates it there and tokens are
	// signed there.
	External ExternalIAK
}

// Service is the Initial Attestation RoT Service.
type Service struct {
	opt  Options
	mu   sync.RWMutex // guards key, id and down (Reload runs at provisioning)
	key  crypto.Signer
	id   *Identity
	down bool // set by Shutdown (decommissioning): no key is ever loaded again
}

// New loads the IAK. A device that is not provisioned yet gets a service
// that answers SERVICE_FAILURE until it is (see Reload).
func New(opt Options) (*Service, error) {
	if opt.Rand == nil {
		opt.Rand = rand.Reader
	}
	if opt.Lifecycle == nil || (opt.BootRecords == nil && opt.Measurements == nil) {
		return nil, errors.New("attestation: Lifecycle and BootRecords are required")
	}
	if opt.BootSeed == nil {
		opt.BootSeed = make([]byte, 32)
		if _, err := io.ReadFull(opt.Rand, opt.BootSeed); err != nil {
			return nil, fmt.Errorf("attestation: boot seed: %w", err)
		}
	}
	s := &Service{opt: opt}
	if err := s.Reload(); err != nil && !errors.Is(err, ErrNotProvisioned) {
		return nil, err
	}
	return s, nil
}

// errDown answers every call once the service is shut down.
var errDown = fmt.Errorf("attestation: decommissioned: %w", ipc.ErrBadState)

// Reload reads the IAK again (after provisioning). After Shutdown it loads
// nothing.
func (s *Service) Reload() error {
	s.mu.RLock()
	down := s.down
	s.mu.RUnlock()
	if down {
		return errDown
	}
	key, id, err := load(s.opt.Store, s.opt.HUK, s.opt.SealKey, s.opt.External)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return errDown
	}
	s.key, s.id = key, id
	return err
}

// Shutdown is decommissioning in the running SPE: it forgets the IAK and
// the identity and makes every later call answer PSA_ERROR_BAD_STATE;
// Reload loads nothing after it. The key is dropped for the garbage
// collector rather than overwritten, because Token may be signing with it
// outside the lock when Shutdown is called directly. It is idempotent.
func (s *Service) Shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.key, s.id, s.down = nil, nil, true
}

// current returns the loaded key and identity (nil before provisioning),
// or errDown after Shutdown.
func (s *Service) current() (crypto.Signer, *Identity, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.down {
		return nil, nil, errDown
	}
	return s.key, s.id, nil
}

// PublicKey returns the IAK's public key, or nil before provisioning.
func (s *Service) PublicKey() *ecdsa.PublicKey {
	key, _, _ := s.current()
	if key == nil {
		return nil
	}
	pub, _ := key.Public().(*ecdsa.PublicKey)
	return pub
}

// Identity returns what provisioning recorded, or nil before provisioning.
func (s *Service) Identity() *Identity {
	_, cur, _ := s.current()
	if cur == nil {
		return nil
	}
	id := *cur
	id.ImplementationID = append([]byte(nil), cur.ImplementationID...)
	return &id
}

// Register adds the attestation partition to srv.
func (s *Service) Register(srv *spe.Server) error {
	return srv.Register(Manifest, map[string]spe.Handler{"INITIAL_ATTESTATION": s})
}

// validChallenge reports whether n is one of the PSA challenge sizes.
func validChallenge(n int) bool {
	return n == psa.AttestChallengeSize32 || n == psa.AttestChallengeSize48 || n == psa.AttestChallengeSize64
}

func profileOf(p psa.AttestProfile) (attest.Profile, bool) {
	switch p {
	case psa.AttestProfileRFC9783:
		return attest.ProfileRFC9783, true
	case psa.AttestProfileIoT1:
		return attest.ProfileIoT1, true
	}
	return "", false
}

// Claims builds the claims of a token for client over challenge.
func (s *Service) Claims(client int32, challenge []byte, profile attest.Profile) (*attest.Claims, error) {
	c, _, err := s.claims(client, challenge, profile)
	return c, err
}

func (s *Service) claims(client int32, challenge []byte, profile attest.Profile) (*attest.Claims, crypto.Signer, error) {
	if !validChallenge(len(challenge)) {
		return nil, nil, fmt.Errorf("attestation: challenge of %d bytes, want 32, 48 or 64: %w", len(challenge), ipc.ErrInvalidArgument)
	}
	key, id, err := s.current()
	if err != nil {
		return nil, nil, err
	}
	if key == nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrNotProvisioned, ipc.ErrServiceFailure)
	}
	lc := s.opt.Lifecycle()
	switch lc.Major() {
	case attest.LifecycleSecured, attest.LifecycleNonPSARoTDebug, attest.LifecycleRecoverablePSARoTDebug:
	default:
		return nil, nil, fmt.Errorf("attestation: no tokens in lifecycle state %s: %w", lc, ipc.ErrBadState)
	}
	c := &attest.Claims{
		Profile:                profile,
		Nonce:                  append([]byte(nil), challenge...),
		ImplementationID:       id.ImplementationID,
		ClientID:               client,
		Lifecycle:              lc,
		BootSeed:               s.opt.BootSeed,
		CertificationReference: id.CertificationReference,
		VerificationService:    id.VerificationService,
	}
	records, fuses, err := s.measurements()
	if err != nil {
		return nil, nil, fmt.Errorf("attestation: boot measurements: %w: %w", err, ipc.ErrServiceFailure)
	}
	c.KeyFuses = fuses
	for _, r := range records {
		c.SoftwareComponents = append(c.SoftwareComponents, r.Clone())
	}
	if len(c.SoftwareComponents) == 0 {
		if profile != attest.ProfileIoT1 {
			return nil, nil, fmt.Errorf("attestation: no boot measurements (the SPE runs without a bootloader device): %w", ipc.ErrServiceFailure)
		}
		c.NoSoftwareMeasurements = true
	}
	return c, key, nil
}

// measurements returns this boot's records and key fuses.
func (s *Service) measurements() ([]swcomponent.Component, *attest.KeyFuses, error) {
	if s.opt.Measurements != nil {
		return s.opt.Measurements()
	}
	var fuses *attest.KeyFuses
	if s.opt.KeyFuses != nil {
		fuses = s.opt.KeyFuses()
	}
	return s.opt.BootRecords(), fuses, nil
}

// Token signs a token for client over challenge in profile.
func (s *Service) Token(client int32, challenge []byte, profile attest.Profile) ([]byte, error) {
	c, key, err := s.claims(client, challenge, profile)
	if err != nil {
		return nil, err
	}
	tok, err := attest.Sign(c, key, s.opt.Rand)
	if err != nil {
		return nil, fmt.Errorf("attestation: %v: %w", err, ipc.ErrServiceFailure)
	}
	return tok, nil
}

// Call dispatches one attestation call.
func (s *Service) Call(m *spe.Message) ipc.Status {
	req, st := Decode(m)
	if st != ipc.Success {
		return st
	}
	if _, _, err := s.current(); err != nil {
		return failed(m, err)
	}
	switch req.Op {
	case psa.AttestOpGetToken:
		tok, err := s.Token(m.Client, req.Challenge, req.Profile)
		if err != nil {
			return failed(m, err)
		}
		return m.Write(0, tok)
	case psa.AttestOpGetTokenSize:
		// The size of a real token over a zero challenge: ECDSA signatures
		// in COSE have a fixed size, so every token of this size matches.
		tok, err := s.Token(m.Client, make([]byte, req.ChallengeSize), req.Profile)
		if err != nil {
			return failed(m, err)
		}
		return m.Write(0, psa.AppendUint32(nil, uint32(len(tok))))
	case psa.AttestOpGetPublicKey:
		pub := s.PublicKey()
		if pub == nil {
			return ipc.ErrServiceFailure
		}
		pk, err := pub.ECDH()
		if err != nil {
			return ipc.ErrServiceFailure
		}
		return m.Write(0, pk.Bytes())
	}
	return ipc.ErrNotSupported
}

// failed is the status of err, its cause recorded for the SPE's log unless
// it is the caller's own mistake (a bad argument).
func failed(m *spe.Message, err error) ipc.Status {
	st := statusOf(err)
	if st == ipc.ErrInvalidArgument {
		return st
	}
	return m.Fail(st, err)
}

func statusOf(err error) ipc.Status {
	var st ipc.Status
	if errors.As(err, &st) {
		return st
	}
	return ipc.ErrServiceFailure
}

// Request is a decoded attestation call.
type Request struct {
	Op            psa.AttestOp
	Challenge     []byte
	ChallengeSize int
	Profile       attest.Profile
}

// Decode checks an attestation call's vectors against its layout.
func Decode(m *spe.Message) (*Request, ipc.Status) {
	r := &Request{Op: psa.AttestOp(m.Type), Profile: attest.ProfileRFC9783}
	if r.Op == psa.AttestOpGetPublicKey {
		if m.NumIn() != 0 || len(m.OutSize) != 1 {
			return nil, ipc.ErrProgrammerError
		}
		return r, ipc.Success
	}
	if r.Op != psa.AttestOpGetToken && r.Op != psa.AttestOpGetTokenSize {
		return nil, ipc.ErrNotSupported
	}
	if m.NumIn() < 1 || m.NumIn() > 2 || len(m.OutSize) != 1 {
		return nil, ipc.ErrProgrammerError
	}
	if m.NumIn() == 2 {
		p := m.InVec(1)
		if len(p) != 1 {
			return nil, ipc.ErrInvalidArgument
		}
		var ok bool
		if r.Profile, ok = profileOf(psa.AttestProfile(p[0])); !ok {
			return nil, ipc.ErrNotSupported
		}
	}
	if r.Op == psa.AttestOpGetToken {
		r.Challenge = m.InVec(0)
		// No token buffer at all is an invalid argument, not a small one
		// (as TF-M answers, and psa-arch-tests a001 asks).
		if !validChallenge(len(r.Challenge)) || m.OutSize[0] == 0 {
			return nil, ipc.ErrInvalidArgument
		}
		return r, ipc.Success
	}
	n, err := psa.ParseUint32(m.InVec(0))
	if err != nil {
		return nil, ipc.ErrProgrammerError
	}
	if !validChallenge(int(n)) {
		return nil, ipc.ErrInvalidArgument
	}
	r.ChallengeSize = int(n)
	return r, ipc.Success
}
