package auditsvc

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"rampart/ipc"
	"rampart/psa"
	"rampart/spe"
	"rampart/spe/audit"
)

// Manifest declares the audit partition.
var Manifest = spe.PartitionManifest{
	FrameworkVersion: "1.1",
	Name:             "RAMPART_SP_AUDIT_LOG",
	Type:             spe.PSARoT,
	// The root key partition for its key's sealing key and ITS for its
	// anchor: through the partition manager at isolation level 3.
	Dependencies: []uint32{psa.RootKeySID, psa.ITSSID},
	Services: []spe.ServiceManifest{{
		Name: "AUDIT_LOG", SID: psa.AuditSID, Version: psa.AuditVersion, VersionPolicy: spe.Strict,
		Stateless: true, NonSecureClients: true,
	}},
}

// Options configures the service.
type Options struct {
	// Path is the log's backing file.
	Path string
	// Signer signs checkpoints (a device key that never leaves the SPE).
	Signer crypto.Signer
	// Readers lists the non-secure client IDs allowed to read the log;
	// secure clients (ID > 0) may always read.
	Readers []int32
	// Log options (clock, checkpoint interval). Log.Anchor is set from
	// Anchor when that is given.
	Log audit.Options
	// Anchor, when set, keeps the latest checkpoint outside the log and
	// refuses a log that no longer contains it (truncation, rollback).
	Anchor *ITSAnchor
}

// Service is the audit log RoT Service.
type Service struct {
	log     *audit.Log
	anchor  *ITSAnchor
	amu     sync.Mutex
	saved   uint64 // count of the checkpoint last saved as the anchor
	path    string
	pubDER  []byte
	readers []int32
	down    atomic.Bool // set by Shutdown (decommissioning)
}

// Open opens (or creates) the log at opt.Path. A log that fails
// verification is refused: appending to it would hide the damage.
func Open(opt Options) (*Service, error) {
	if opt.Signer == nil || opt.Path == "" {
		return nil, errors.New("auditsvc: a path and a signer are required")
	}
	der, err := x509.MarshalPKIXPublicKey(opt.Signer.Public())
	if err != nil {
		return nil, fmt.Errorf("auditsvc: %w", err)
	}
	if opt.Anchor != nil {
		a, err := opt.Anchor.Load()
		if err != nil {
			return nil, err
		}
		opt.Log.Anchor = a
	}
	b, err := audit.OpenFile(opt.Path)
	if err != nil {
		return nil, fmt.Errorf("auditsvc: %w", err)
	}
	l, err := audit.Open(b, opt.Signer, opt.Log)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("auditsvc: %w", err)
	}
	s := &Service{log: l, anchor: opt.Anchor, path: opt.Path, pubDER: der, readers: opt.Readers}
	if opt.Log.Anchor != nil {
		s.saved = opt.Log.Anchor.Count
	}
	return s, nil
}

// saveAnchor stores the latest checkpoint when it is newer than the one
// saved. A failure is reported; the log itself is intact.
func (s *Service) saveAnchor() error {
	if s.anchor == nil {
		return nil
	}
	s.amu.Lock()
	defer s.amu.Unlock()
	c, _ := s.log.Head()
	if c == nil || c.Count == s.saved {
		return nil
	}
	if err := s.anchor.Save(c); err != nil {
		return err
	}
	s.saved = c.Count
	return nil
}

// Append adds a record for a secure caller in this process and keeps the
// anchor current.
func (s *Service) Append(client int32, event string, data []byte) error {
	if _, err := s.log.Append(client, event, data); err != nil {
		return err
	}
	return s.saveAnchor()
}

// Log returns the open log, for secure code in the same process (other
// services record their own events through it).
func (s *Service) Log() *audit.Log { return s.log }

// Shutdown is decommissioning in the running SPE: the log is closed without
// a checkpoint (it is being shredded), its signing key dropped, and every
// later call answers PSA_ERROR_BAD_STATE. It is idempotent.
func (s *Service) Shutdown() {
	if !s.down.Swap(true) {
		_ = s.log.Abandon()
	}
}

// Close seals the log with a final checkpoint and saves it as the anchor.
// After Shutdown it does nothing.
func (s *Service) Close() error {
	if s.down.Load() {
		return nil
	}
	err := s.log.Close()
	if aerr := s.saveAnchor(); err == nil {
		err = aerr
	}
	return err
}

// Register adds the audit partition to srv.
func (s *Service) Register(srv *spe.Server) error {
	return srv.Register(Manifest, map[string]spe.Handler{"AUDIT_LOG": s})
}

func (s *Service) reader(c int32) bool {
	if c > 0 {
		return true
	}
	for _, r := range s.readers {
		if r == c {
			return true
		}
	}
	return false
}

// Call dispatches one audit call.
func (s *Service) Call(m *spe.Message) ipc.Status {
	if s.down.Load() {
		return ipc.ErrBadState
	}
	switch psa.AuditOp(m.Type) {
	case psa.AuditOpAppend:
		if m.NumIn() != 2 || len(m.OutSize) != 0 {
			return ipc.ErrProgrammerError
		}
		if m.Client <= 0 {
			return ipc.ErrNotPermitted
		}
		ev := m.InVec(0)
		if len(ev) == 0 || len(ev) > audit.MaxEventLen || len(m.InVec(1)) > audit.MaxDataLen {
			return ipc.ErrInvalidArgument
		}
		if err := s.Append(m.Client, string(ev), m.InVec(1)); err != nil {
			if errors.Is(err, audit.ErrRecord) {
				return ipc.ErrInvalidArgument
			}
			return ipc.ErrStorageFailure
		}
		return ipc.Success
	case psa.AuditOpPublicKey:
		if m.NumIn() != 0 || len(m.OutSize) != 1 {
			return ipc.ErrProgrammerError
		}
		return m.Write(0, s.pubDER)
	}
	if !s.reader(m.Client) {
		return ipc.ErrNotPermitted
	}
	switch psa.AuditOp(m.Type) {
	case psa.AuditOpSize:
		if m.NumIn() != 0 || len(m.OutSize) != 1 {
			return ipc.ErrProgrammerError
		}
		fi, err := os.Stat(s.path)
		if err != nil {
			return ipc.ErrStorageFailure
		}
		return m.Write(0, psa.AppendUint64(nil, uint64(fi.Size())))
	case psa.AuditOpRead:
		off, err := psa.ParseUint64(m.InVec(0))
		if err != nil || m.NumIn() != 1 || len(m.OutSize) != 1 {
			return ipc.ErrProgrammerError
		}
		if off > 1<<62 {
			return ipc.ErrInvalidArgument
		}
		f, err := os.Open(s.path)
		if err != nil {
			return ipc.ErrStorageFailure
		}
		defer f.Close()
		buf := make([]byte, m.OutSize[0])
		n, err := f.ReadAt(buf, int64(off))
		if err != nil && err != io.EOF {
			return ipc.ErrStorageFailure
		}
		return m.Write(0, buf[:n])
	case psa.AuditOpCheckpoint:
		if m.NumIn() != 0 || len(m.OutSize) != 0 {
			return ipc.ErrProgrammerError
		}
		if _, err := s.log.Checkpoint(); err != nil {
			return ipc.ErrStorageFailure
		}
		if err := s.saveAnchor(); err != nil {
			return ipc.ErrStorageFailure
		}
		return ipc.Success
	}
	return ipc.ErrNotSupported
}
