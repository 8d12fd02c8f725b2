package crypto

import (
	"crypto/rand"
	"fmt"
	"io"
	"path/filepath"
	"sync/atomic"

	"rampart/ipc"
	"rampart/psa"
	"rampart/spe"
	"rampart/spe/storage"
)

// Manifest declares the crypto partition: one service at TF-M's crypto SID,
// reachable by connection or statelessly, by any mapped non-secure client.
var Manifest = spe.PartitionManifest{
	FrameworkVersion: "1.1",
	Name:             "RAMPART_SP_CRYPTO",
	Type:             spe.PSARoT,
	// At isolation level 3 it asks the root key partition for its store
	// key; in one process with the HUK it derives it itself.
	Dependencies: []uint32{psa.RootKeySID},
	Services: []spe.ServiceManifest{{
		Name: "CRYPTO", SID: psa.CryptoSID, Version: psa.CryptoVersion, VersionPolicy: spe.Strict,
		ConnectionBased: true, Stateless: true, NonSecureClients: true,
	}},
}

// Options configures the crypto service.
type Options struct {
	// StateDir holds the hardware unique key ("huk") and the sealed
	// persistent keys ("keys/"). Empty means volatile keys only.
	StateDir string
	// HUK, when set, is used instead of StateDir/huk (tests, provisioning).
	HUK []byte
	// StoreKey, when set, is the key that seals the persistent keys,
	// HKDF-SHA256(HUK, StoreKeyLabel), given instead of the HUK: the
	// service then never holds the HUK (isolation level 3) and never reads
	// or creates StateDir/huk.
	StoreKey []byte
	// Rand is the entropy source for keys, IVs and random output; nil means
	// crypto/rand. (Some Go primitives, such as ECDSA, draw their own.)
	Rand io.Reader
	// Limits are the per-client quotas; zero fields mean the defaults.
	Limits Limits
	// Vault, when set, holds the keys of location psa.LocationRampartTPM
	// (the SPE's TPM). Without it, creating such a key is NOT_SUPPORTED.
	Vault KeyVault
}

// Service is the crypto RoT Service: an spe.Handler and spe.SessionObserver.
type Service struct {
	keys *store
	ops  operations
	rand io.Reader
	down atomic.Bool // set by Shutdown (decommissioning)
}

// New opens the key store. With a StateDir it creates or loads the hardware
// unique key there.
func New(opt Options) (*Service, error) {
	if opt.Rand == nil {
		opt.Rand = rand.Reader
	}
	var dir string
	huk := opt.HUK
	if opt.StateDir != "" {
		// The state directory is the SPE's alone: made 0700 whatever it
		// was, refused when others could have written to it. With a store
		// key (isolation level 3) it is the platform's to check: it may
		// belong to the root key partition's user.
		if opt.StoreKey == nil {
			if err := storage.PrivateDir(opt.StateDir); err != nil {
				return nil, fmt.Errorf("crypto: state directory: %w", err)
			}
		}
		dir = filepath.Join(opt.StateDir, "keys")
		if huk == nil && opt.StoreKey == nil {
			var err error
			huk, err = LoadOrCreateHUK(filepath.Join(opt.StateDir, "huk"), opt.Rand)
			if err != nil {
				return nil, err
			}
		}
		if opt.StoreKey == nil && len(huk) != HUKSize {
			return nil, fmt.Errorf("crypto: hardware unique key of %d bytes, want %d", len(huk), HUKSize)
		}
	}
	storeKey := opt.StoreKey
	if storeKey == nil && dir != "" {
		var err error
		if storeKey, err = storageKey(huk); err != nil {
			return nil, fmt.Errorf("crypto: storage key: %w", err)
		}
		defer clear(storeKey)
	}
	st, err := newStore(dir, storeKey, opt.Rand, opt.Limits)
	if err != nil {
		return nil, err
	}
	st.vault = opt.Vault
	if err := st.sweepVault(); err != nil {
		return nil, err
	}
	return &Service{keys: st, rand: opt.Rand}, nil
}

// Register adds the crypto partition to srv.
func (s *Service) Register(srv *spe.Server) error {
	return srv.Register(Manifest, map[string]spe.Handler{"CRYPTO": s})
}

// SessionClosed destroys the volatile keys created on the closed connection.
// It also ends the connection's open multi-part operations.
func (s *Service) SessionClosed(info spe.SessionInfo) {
	s.keys.endSession(info.Client, info.ID)
	s.ops.endSession(info.ID)
}

// OpenOperations returns how many multi-part operations are open.
func (s *Service) OpenOperations() int { return s.ops.count() }

// KeysInMemory returns how many key slots are loaded (volatile keys plus
// cached persistent keys), for tests and status.
func (s *Service) KeysInMemory() int { return s.keys.count() }

// header decodes input vector 0 by the layout of the call's operation, with
// the codec the client encoded it with (psa.ParseCryptoHeader). A vector that
// does not match is INVALID_ARGUMENT.
func header(m *spe.Message) (psa.CryptoHeader, ipc.Status) {
	h, err := psa.ParseCryptoHeader(psa.Op(m.Type), m.InVec(0))
	if err != nil {
		return h, ipc.ErrInvalidArgument
	}
	return h, ipc.Success
}

// Call dispatches one crypto operation.
func (s *Service) Call(m *spe.Message) ipc.Status {
	if st := s.refuseIfDown(); st != ipc.Success {
		return st
	}
	switch psa.Op(m.Type) {
	case psa.OpGenerateRandom:
		return s.generateRandom(m)
	case psa.OpHashCompute:
		return s.hashCompute(m)
	case psa.OpImportKey:
		return s.importKey(m)
	case psa.OpGenerateKey:
		return s.generateKey(m)
	case psa.OpExportKey:
		return s.exportKey(m, false)
	case psa.OpExportPublicKey:
		return s.exportKey(m, true)
	case psa.OpCopyKey:
		return s.copyKey(m)
	case psa.OpDestroyKey:
		return s.destroyKey(m)
	case psa.OpPurgeKey:
		return s.purgeKey(m)
	case psa.OpGetKeyAttributes:
		return s.getAttributes(m)
	case psa.OpListKeys:
		return s.listKeys(m)
	case psa.OpMACCompute, psa.OpMACVerify:
		return s.mac(m, psa.Op(m.Type) == psa.OpMACVerify)
	case psa.OpCipherEncrypt, psa.OpCipherDecrypt:
		return s.cipher(m, psa.Op(m.Type) == psa.OpCipherEncrypt)
	case psa.OpAEADEncrypt, psa.OpAEADDecrypt:
		return s.aead(m, psa.Op(m.Type) == psa.OpAEADEncrypt)
	case psa.OpSignHash, psa.OpSignMessage:
		return s.sign(m, psa.Op(m.Type) == psa.OpSignMessage)
	case psa.OpVerifyHash, psa.OpVerifyMessage:
		return s.verify(m, psa.Op(m.Type) == psa.OpVerifyMessage)
	case psa.OpAsymmetricEncrypt, psa.OpAsymmetricDecrypt:
		return s.asymmetric(m, psa.Op(m.Type) == psa.OpAsymmetricEncrypt)
	case psa.OpRawKeyAgreement:
		return s.keyAgreement(m)
	case psa.OpDeriveBytes, psa.OpDeriveKey:
		return s.derive(m, psa.Op(m.Type) == psa.OpDeriveKey)
	case psa.OpHashSetup, psa.OpHashUpdate, psa.OpHashFinish, psa.OpHashVerify, psa.OpHashAbort,
		psa.OpMACSignSetup, psa.OpMACVerifySetup, psa.OpMACUpdate, psa.OpMACSignFinish, psa.OpMACVerifyFinish, psa.OpMACAbort,
		psa.OpHashClone, psa.OpCipherEncryptSetup, psa.OpCipherDecryptSetup, psa.OpAEADEncryptSetup, psa.OpAEADDecryptSetup,
		psa.OpKDFSetup:
		return s.multipart(m)
	}
	if cipherOps[psa.Op(m.Type)] || aeadOps[psa.Op(m.Type)] || kdfOps[psa.Op(m.Type)] {
		return s.multipart(m)
	}
	return ipc.ErrNotSupported
}

// key looks up the caller's key: the owner is always m.Client, so a client
// can only ever name its own keys.
func (s *Service) key(m *spe.Message, id psa.KeyID) (*slot, ipc.Status) {
	return s.keys.get(keyRef{owner: m.Client, id: id})
}

func (s *Service) generateRandom(m *spe.Message) ipc.Status {
	if len(m.OutSize) != 1 || m.NumIn() != 0 {
		return ipc.ErrInvalidArgument
	}
	b := make([]byte, m.OutSize[0])
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return ipc.ErrInsufficientEntropy
	}
	return m.Write(0, b)
}

func (s *Service) create(m *spe.Message, attr psa.KeyAttributes, material []byte) ipc.Status {
	defer clear(material)
	if inVault(attr) {
		return ipc.ErrNotSupported // the vault only generates its keys: no import, copy or derivation into it
	}
	if st := checkKeySize(attr.Type, len(material)); st != ipc.Success {
		return st
	}
	sl, st := newSlot(attr, material)
	if st != ipc.Success {
		return st
	}
	if st := checkKeyBits(sl.attr); st != ipc.Success {
		sl.wipe()
		return st
	}
	id, st := s.keys.put(m.Client, m.Session, sl)
	if st != ipc.Success {
		sl.wipe()
		return st
	}
	if st := m.Write(0, psa.AppendUint32(nil, uint32(id))); st != ipc.Success {
		s.keys.destroy(keyRef{m.Client, id})
		return st
	}
	return ipc.Success
}

func (s *Service) importKey(m *spe.Message) ipc.Status {
	hd, st := header(m)
	if st != ipc.Success || m.NumIn() != 2 {
		return ipc.ErrInvalidArgument
	}
	attr, st := checkNewAttributes(hd.Attributes)
	if st != ipc.Success {
		return st
	}
	if st := checkKeySize(attr.Type, len(m.InVec(1))); st != ipc.Success {
		return st // before copying up to a whole vector
	}
	return s.create(m, attr, append([]byte(nil), m.InVec(1)...))
}

func (s *Service) generateKey(m *spe.Message) ipc.Status {
	hd, st := header(m)
	if st != ipc.Success || m.NumIn() != 1 {
		return ipc.ErrInvalidArgument
	}
	attr, st := checkNewAttributes(hd.Attributes)
	if st != ipc.Success {
		return st
	}
	if inVault(attr) {
		id, st := s.generateInVault(m.Client, m.Session, attr)
		if st != ipc.Success {
			return st
		}
		if st := m.Write(0, psa.AppendUint32(nil, uint32(id))); st != ipc.Success {
			s.keys.destroy(keyRef{m.Client, id})
			return st
		}
		return ipc.Success
	}
	material, st := generateMaterial(attr, s.rand)
	if st != ipc.Success {
		return st
	}
	return s.create(m, attr, material)
}

func (s *Service) exportKey(m *spe.Message, public bool) ipc.Status {
	hd, st := header(m)
	if st != ipc.Success {
		return st
	}
	sl, st := s.key(m, hd.Key)
	if st != ipc.Success {
		return st
	}
	if public {
		if !sl.attr.Type.IsKeyPair() && !sl.attr.Type.IsPublicKey() {
			return ipc.ErrInvalidArgument
		}
		b, st := sl.publicMaterial()
		if st != ipc.Success {
			return st
		}
		return m.Write(0, b)
	}
	// A vault key's private part never leaves the vault, whatever its
	// usage flags say (PSA: NOT_PERMITTED for a key that is not exportable).
	if inVault(sl.attr) {
		return ipc.ErrNotPermitted
	}
	// A public key is always exportable; anything else needs EXPORT.
	if !sl.attr.Type.IsPublicKey() && sl.attr.Usage&psa.UsageExport == 0 {
		return ipc.ErrNotPermitted
	}
	return m.Write(0, sl.material)
}

func (s *Service) copyKey(m *spe.Message) ipc.Status {
	hd, st := header(m)
	if st != ipc.Success {
		return st
	}
	req := hd.Attributes
	sl, st := s.key(m, hd.Key)
	if st != ipc.Success {
		return st
	}
	if sl.attr.Usage&psa.UsageCopy == 0 || inVault(sl.attr) {
		return ipc.ErrNotPermitted
	}
	if (req.Type != psa.KeyTypeNone && req.Type != sl.attr.Type) || (req.Bits != 0 && req.Bits != sl.attr.Bits) {
		return ipc.ErrInvalidArgument
	}
	alg, ok := intersect(sl.attr.Algorithm, req.Algorithm)
	if !ok {
		return ipc.ErrInvalidArgument
	}
	attr := psa.KeyAttributes{Type: sl.attr.Type, Bits: sl.attr.Bits, Lifetime: req.Lifetime, ID: req.ID,
		Usage: sl.attr.Usage & req.Usage, Algorithm: alg}
	if attr, st = checkNewAttributes(attr); st != ipc.Success {
		return st
	}
	attr.Usage &= sl.attr.Usage // extension must not widen the source policy
	return s.create(m, attr, append([]byte(nil), sl.material...))
}

func (s *Service) destroyKey(m *spe.Message) ipc.Status {
	hd, st := header(m)
	if st != ipc.Success {
		return st
	}
	if hd.Key == psa.KeyIDNull {
		return ipc.Success // destroying PSA_KEY_ID_NULL does nothing, successfully
	}
	return s.keys.destroy(keyRef{m.Client, hd.Key})
}

func (s *Service) purgeKey(m *spe.Message) ipc.Status {
	hd, st := header(m)
	if st != ipc.Success {
		return st
	}
	return s.keys.purge(keyRef{m.Client, hd.Key})
}

func (s *Service) getAttributes(m *spe.Message) ipc.Status {
	hd, st := header(m)
	if st != ipc.Success {
		return st
	}
	sl, st := s.key(m, hd.Key)
	if st != ipc.Success {
		return st
	}
	return m.Write(0, psa.AppendAttributes(nil, sl.attr))
}

func (s *Service) listKeys(m *spe.Message) ipc.Status {
	var b []byte
	for _, a := range s.keys.list(m.Client) {
		b = psa.AppendAttributes(b, a)
	}
	return m.Write(0, b)
}
