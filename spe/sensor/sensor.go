// Package sensor is the example application secure partition
// (docs/spe-isolation.md, "Adding an application partition"): a secure
// sensor that signs each reading with an ECDSA P-256 key it alone uses. The
// key lives in the crypto partition, named by the sensor's partition ID, so
// no non-secure client and no other partition can reach it; the sensor
// itself never holds it either: it asks the crypto partition to sign.
//
// A blank import of this package adds the partition to the binary; it then
// runs at every isolation level (in the SPE's process at level 1, with the
// other application partitions at level 2, alone at level 3).
//
// It must never ask for an exportable key, and never call a service its
// manifest does not list (the partition manager refuses it anyway).
package sensor

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"rampart/ipc"
	"rampart/psa"
	"rampart/spe"
)

// keyID is the sensor's persistent key, in its own namespace.
const keyID psa.KeyID = 1

// Manifest declares the sensor partition: its service, and the crypto
// service as its only dependency.
var Manifest = spe.PartitionManifest{
	FrameworkVersion: "1.1",
	Name:             "RAMPART_SP_SENSOR",
	Type:             spe.ApplicationRoT,
	Services: []spe.ServiceManifest{{
		Name: "SENSOR", SID: psa.SensorSID, Version: psa.SensorVersion, VersionPolicy: spe.Strict,
		ConnectionBased: true, Stateless: true, NonSecureClients: true,
	}},
	Dependencies: []uint32{psa.CryptoSID},
}

func init() {
	spe.RegisterApplication(spe.Application{ID: psa.SensorPartitionID, Manifest: Manifest, New: New})
}

// Service is the sensor partition's handler.
type Service struct {
	crypto ipc.Transport
	mu     sync.Mutex
	seq    uint64
	ready  bool
}

// New builds the partition's handlers over its session to the partition
// manager.
func New(env spe.AppEnv) (map[string]spe.Handler, error) {
	return map[string]spe.Handler{"SENSOR": &Service{crypto: env.Caller}}, nil
}

// Call answers read and public_key.
func (s *Service) Call(m *spe.Message) ipc.Status {
	switch psa.SensorOp(m.Type) {
	case psa.SensorOpRead:
		return s.read(m)
	case psa.SensorOpPublicKey:
		if err := s.ensureKey(); err != nil {
			return m.Fail(ipc.ErrServiceFailure, err)
		}
		pub, st := s.cryptoCall(psa.OpExportPublicKey, 65, psa.AppendCryptoHeader(nil, psa.OpExportPublicKey, psa.CryptoHeader{Key: keyID}))
		if st != ipc.Success {
			return m.Fail(st, errors.New("sensor: export public key"))
		}
		return m.Write(0, pub)
	}
	return ipc.ErrNotSupported
}

func (s *Service) read(m *spe.Message) ipc.Status {
	nonce := m.InVec(0)
	if len(nonce) > psa.SensorMaxNonce || m.NumIn() > 1 || len(m.OutSize) != 2 {
		return ipc.ErrInvalidArgument
	}
	if err := s.ensureKey(); err != nil {
		return m.Fail(ipc.ErrServiceFailure, err)
	}
	s.mu.Lock()
	s.seq++
	seq := s.seq
	s.mu.Unlock()
	reading := make([]byte, psa.SensorReadingSize)
	binary.LittleEndian.PutUint64(reading, seq)
	binary.LittleEndian.PutUint32(reading[8:], uint32(int32(temperature(seq))))
	h := sha256.New()
	h.Write(reading)
	h.Write(nonce)
	sig, st := s.cryptoCall(psa.OpSignHash, 64,
		psa.AppendCryptoHeader(nil, psa.OpSignHash, psa.CryptoHeader{Key: keyID, Alg: psa.AlgECDSA(psa.AlgSHA256)}), h.Sum(nil))
	if st != ipc.Success {
		return m.Fail(st, errors.New("sensor: sign reading"))
	}
	if st := m.Write(0, reading); st != ipc.Success {
		return st
	}
	return m.Write(1, sig)
}

// temperature simulates the sensor: millidegrees, a slow saw between 20
// and 25 °C.
func temperature(seq uint64) int {
	return 20000 + int(seq%50)*100
}

// ensureKey makes the sensor's key on first use (a persistent P-256 key
// that may only sign hashes, never be exported), or finds it.
func (s *Service) ensureKey() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ready {
		return nil
	}
	attrs := psa.KeyAttributes{Type: psa.KeyTypeECCKeyPair(psa.ECCFamilySECPR1), Bits: 256, Lifetime: psa.LifetimePersistent,
		ID: keyID, Usage: psa.UsageSignHash, Algorithm: psa.AlgECDSA(psa.AlgSHA256)}
	_, st := s.cryptoCall(psa.OpGenerateKey, 4, psa.AppendCryptoHeader(nil, psa.OpGenerateKey, psa.CryptoHeader{Attributes: attrs}))
	if st != ipc.Success && st != ipc.ErrAlreadyExists {
		return fmt.Errorf("sensor: generate key: %w", st)
	}
	s.ready = true
	return nil
}

// cryptoCall makes one stateless crypto call with one output of outSize.
func (s *Service) cryptoCall(op psa.Op, outSize uint32, in ...[]byte) ([]byte, ipc.Status) {
	rep, err := s.crypto.RoundTrip(&ipc.Request{Kind: ipc.KindStateless, SID: psa.CryptoSID, Version: psa.CryptoVersion,
		Type: int32(op), In: in, OutSize: []uint32{outSize}})
	if err != nil {
		return nil, ipc.ErrCommunicationFailure
	}
	if rep.Status != ipc.Success {
		return nil, rep.Status
	}
	if len(rep.Out) != 1 {
		return nil, ipc.ErrServiceFailure
	}
	return append([]byte(nil), rep.Out[0]...), ipc.Success
}
