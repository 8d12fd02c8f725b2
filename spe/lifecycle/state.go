package lifecycle

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"rampart/attest"
	"rampart/ipc"
	"rampart/spe/storage"
)

// State is a PSA security lifecycle value (major state in bits 15..8).
type State = attest.Lifecycle

// ErrTransition is wrapped by a refused transition.
var ErrTransition = errors.New("lifecycle: transition not allowed")

// allowed lists the major states each major state may move to.
var allowed = map[State][]State{
	attest.LifecycleUnknown:                {attest.LifecycleAssemblyAndTest, attest.LifecycleDecommissioned},
	attest.LifecycleAssemblyAndTest:        {attest.LifecyclePSARoTProvisioning, attest.LifecycleDecommissioned},
	attest.LifecyclePSARoTProvisioning:     {attest.LifecycleSecured, attest.LifecycleDecommissioned},
	attest.LifecycleSecured:                {attest.LifecycleNonPSARoTDebug, attest.LifecycleRecoverablePSARoTDebug, attest.LifecycleDecommissioned},
	attest.LifecycleNonPSARoTDebug:         {attest.LifecycleSecured, attest.LifecycleDecommissioned},
	attest.LifecycleRecoverablePSARoTDebug: {attest.LifecyclePSARoTProvisioning, attest.LifecycleDecommissioned},
	attest.LifecycleDecommissioned:         nil,
}

// Allowed reports whether the model allows moving from one state to another.
func Allowed(from, to State) bool {
	for _, s := range allowed[from.Major()] {
		if s == to.Major() {
			return true
		}
	}
	return false
}

// AttestationAllowed reports whether tokens may be issued in s: only in
// secured and the debug states.
func AttestationAllowed(s State) bool {
	switch s.Major() {
	case attest.LifecycleSecured, attest.LifecycleNonPSARoTDebug, attest.LifecycleRecoverablePSARoTDebug:
		return true
	}
	return false
}

// ParseState reads a state name ("secured", "non-psa-rot-debug", ...) or a
// number ("0x3000").
func ParseState(s string) (State, error) {
	names := map[string]State{
		"unknown": attest.LifecycleUnknown, "assembly-and-test": attest.LifecycleAssemblyAndTest,
		"psa-rot-provisioning": attest.LifecyclePSARoTProvisioning, "secured": attest.LifecycleSecured,
		"non-psa-rot-debug": attest.LifecycleNonPSARoTDebug, "recoverable-psa-rot-debug": attest.LifecycleRecoverablePSARoTDebug,
		"decommissioned": attest.LifecycleDecommissioned,
	}
	if v, ok := names[s]; ok {
		return v, nil
	}
	var n uint32
	if _, err := fmt.Sscanf(s, "0x%x", &n); err == nil && n <= 0xffff && State(n).Valid() {
		return State(n), nil
	}
	return 0, fmt.Errorf("lifecycle: unknown state %q", s)
}

// Destroyer erases one kind of secret at decommissioning. It must be
// idempotent: it runs again at every start of a decommissioned device.
type Destroyer func() error

// Manager holds the current state. It is safe for concurrent use.
type Manager struct {
	mu sync.Mutex // serializes transitions and the destroyers
	st *storage.Store
	// state is read without mu: a transition holds mu while the destroyers
	// wait for the services' calls in progress, and those calls read the
	// state (attestation), so a reader must never wait for mu.
	state      atomic.Uint32
	destroyers []Destroyer
	observers  []func(from, to State)
}

// OnTransition registers f to run after every recorded transition (before
// the destroyers of decommissioning), e.g. to audit it.
func (m *Manager) OnTransition(f func(from, to State)) {
	m.mu.Lock()
	m.observers = append(m.observers, f)
	m.mu.Unlock()
}

const stateObject = "state"

var stateMagic = []byte("RLC1")

// Open loads the state from st (a device with no state yet is in assembly
// and test).
func Open(st *storage.Store) (*Manager, error) {
	m := &Manager{st: st}
	m.state.Store(uint32(attest.LifecycleAssemblyAndTest))
	b, err := st.Get(stateObject)
	if errors.Is(err, storage.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lifecycle: %w", err)
	}
	if len(b) != 4+2+sha256.Size || !bytes.Equal(b[:4], stateMagic) {
		return nil, fmt.Errorf("lifecycle: state record of %d bytes is malformed: %w", len(b), ipc.ErrDataCorrupt)
	}
	sum := sha256.Sum256(b[:6])
	if !bytes.Equal(sum[:], b[6:]) {
		return nil, fmt.Errorf("lifecycle: state record digest: %w", ipc.ErrDataCorrupt)
	}
	state := State(binary.LittleEndian.Uint16(b[4:]))
	if !state.Valid() {
		return nil, fmt.Errorf("lifecycle: state 0x%04x: %w", uint16(state), ipc.ErrDataCorrupt)
	}
	m.state.Store(uint32(state))
	return m, nil
}

// State returns the current state.
func (m *Manager) State() State {
	return State(m.state.Load())
}

// OnDecommission registers a destroyer. Register all before calling Resume.
func (m *Manager) OnDecommission(d Destroyer) {
	m.mu.Lock()
	m.destroyers = append(m.destroyers, d)
	m.mu.Unlock()
}

// Resume finishes a decommissioning a power cut interrupted: on a
// decommissioned device it runs every destroyer again.
func (m *Manager) Resume() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.State().Major() != attest.LifecycleDecommissioned {
		return nil
	}
	return m.destroy()
}

func (m *Manager) destroy() error {
	var errs []error
	for _, d := range m.destroyers {
		if err := d(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lifecycle: decommissioning: %w", err)
	}
	return nil
}

// Transition moves to state to, if the model allows it, records it durably
// and, for decommissioned, destroys every registered secret.
func (m *Manager) Transition(to State) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !to.Valid() {
		return fmt.Errorf("lifecycle: state 0x%04x is not a lifecycle value: %w", uint16(to), ipc.ErrInvalidArgument)
	}
	from := m.State()
	if !Allowed(from, to) {
		return fmt.Errorf("%w: %s to %s", ErrTransition, from, to)
	}
	b := append([]byte(nil), stateMagic...)
	b = binary.LittleEndian.AppendUint16(b, uint16(to))
	sum := sha256.Sum256(b)
	if err := m.st.Put(stateObject, append(b, sum[:]...)); err != nil {
		return fmt.Errorf("lifecycle: %w", err)
	}
	m.state.Store(uint32(to))
	for _, f := range m.observers {
		f(from, to)
	}
	if to.Major() == attest.LifecycleDecommissioned {
		return m.destroy()
	}
	return nil
}
