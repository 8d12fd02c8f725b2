package rootkey

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"sync"

	"rampart/ipc"
	"rampart/psa"
	"rampart/spe"
)

// Manifest declares the root key partition: secure callers only.
var Manifest = spe.PartitionManifest{
	FrameworkVersion: "1.1",
	Name:             "RAMPART_SP_ROOT_KEY",
	Type:             spe.PSARoT,
	Services: []spe.ServiceManifest{{
		Name: "ROOT_KEY", SID: psa.RootKeySID, Version: psa.RootKeyVersion, VersionPolicy: spe.Strict,
		Stateless: true,
	}},
}

// maxLabel bounds a label.
const maxLabel = 256

// Grant says whether a partition may derive the key of a label.
type Grant func(label string) bool

// Derive is HKDF-SHA256(huk, label) with no salt: the derivation every
// platform partition uses at level 1 on its own copy of the HUK, so the
// keys (and what they sealed) are the same at every level.
func Derive(huk []byte, label string) ([]byte, error) {
	return hkdf.Key(sha256.New, huk, nil, label, psa.RootKeySize)
}

// Service holds the HUK and answers derive calls.
type Service struct {
	mu     sync.RWMutex
	huk    []byte // nil once retired
	grants map[int32]Grant
	// retirer is the partition ID that may retire the key (lifecycle).
	retirer int32
}

// New returns the service over a copy of huk; grants maps each partition
// ID to the labels it may derive; retirer may retire the key.
func New(huk []byte, grants map[int32]Grant, retirer int32) *Service {
	return &Service{huk: append([]byte(nil), huk...), grants: grants, retirer: retirer}
}

// Register adds the partition to srv.
func (s *Service) Register(srv *spe.Server) error {
	return srv.Register(Manifest, map[string]spe.Handler{"ROOT_KEY": s})
}

// Shutdown overwrites the HUK: every later derive answers BAD_STATE.
func (s *Service) Shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.huk)
	s.huk = nil
}

// Call dispatches one root key call.
func (s *Service) Call(m *spe.Message) ipc.Status {
	if m.Client <= 0 {
		return ipc.ErrNotPermitted
	}
	switch psa.RootKeyOp(m.Type) {
	case psa.RootKeyOpDerive:
		label := string(m.InVec(0))
		if m.NumIn() != 1 || len(m.OutSize) != 1 || len(label) == 0 || len(label) > maxLabel {
			return ipc.ErrProgrammerError
		}
		g := s.grants[m.Client]
		if g == nil || !g(label) {
			return m.Fail(ipc.ErrNotPermitted, fmt.Errorf("rootkey: partition %#x may not derive %q", m.Client, label))
		}
		s.mu.RLock()
		defer s.mu.RUnlock()
		if s.huk == nil {
			return ipc.ErrBadState
		}
		k, err := Derive(s.huk, label)
		if err != nil {
			return m.Fail(ipc.ErrGenericError, err)
		}
		// Not cleared here: Write keeps k until the reply is encoded.
		return m.Write(0, k)
	case psa.RootKeyOpRetire:
		if m.NumIn() != 0 || len(m.OutSize) != 0 {
			return ipc.ErrProgrammerError
		}
		if m.Client != s.retirer {
			return ipc.ErrNotPermitted
		}
		s.Shutdown()
		return ipc.Success
	}
	return ipc.ErrNotSupported
}
