package platform

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"rampart/ipc"
	"rampart/spe"
	"rampart/spe/attestation"
	"rampart/spe/auditsvc"
	"rampart/spe/crypto"
	"rampart/spe/fwu"
	"rampart/spe/lifecycle"
	"rampart/spe/rootkey"
	"rampart/spe/storage"
	"rampart/spe/storage/its"
	"rampart/spe/storage/ps"
)

// At isolation level 3 every partition of the PSA root of trust runs in a
// process of its own (docs/spe-isolation.md, section 1):
//
//   - GroupRootKey: the root key partition, the HUK's only process;
//   - GroupLifecycle: the lifecycle state, which runs decommissioning;
//   - GroupITS: ITS (in GroupFWU with ITSOnFlash: ITS and FWU write the
//     same flash);
//   - GroupCrypto: the crypto service, which gets its store key by a call;
//   - GroupPS: PS, which gets each object key by a call and keeps its
//     version records in ITS by calls;
//   - GroupAudit: the audit log and its checkpoint key;
//   - GroupFWU: firmware update, the only process that acts on the device
//     (with a device only);
//   - GroupAttestation: attestation, the IAK's only process, which asks
//     lifecycle for the state and FWU for this boot's measurements by calls.
const (
	GroupRootKey     = "prot:rootkey"
	GroupLifecycle   = "prot:lifecycle"
	GroupCrypto      = "prot:crypto"
	GroupITS         = "prot:its"
	GroupPS          = "prot:ps"
	GroupAudit       = "prot:audit"
	GroupFWU         = "prot:fwu"
	GroupAttestation = "prot:attestation"
)

// Partition IDs of the platform partitions that call others at level 3:
// the client ID the partition manager names them by. PS and audit keep
// the IDs they already keep ITS objects under.
const (
	CryptoPartitionID      int32 = 0xf104
	AttestationPartitionID int32 = 0xf105
)

// level3Group is one PRoT process at level 3: its partitions, and the IDs
// (with manifests) its code calls other services as.
type level3Group struct {
	name      string
	manifests []spe.PartitionManifest
	callers   map[int32]*spe.PartitionManifest
}

// one is a group of one partition that calls as id (0: calls nothing).
func one(name string, m *spe.PartitionManifest, id int32) level3Group {
	g := level3Group{name: name, manifests: []spe.PartitionManifest{*m}}
	if id != 0 {
		g.callers = map[int32]*spe.PartitionManifest{id: m}
	}
	return g
}

// level3Groups returns the PRoT processes of level 3, in the order they
// start (each after those it calls while opening).
func level3Groups(spec Spec) []level3Group {
	// Lifecycle first: on a decommissioned device it tells the SPM so
	// (decommissioning again), and every later process opens nothing.
	gs := []level3Group{one(GroupLifecycle, &lifecycle.Manifest, LifecyclePartitionID), one(GroupRootKey, &rootkey.Manifest, 0)}
	if !spec.ITSOnFlash {
		gs = append(gs, one(GroupITS, &its.Manifest, 0))
	}
	if spec.DeviceDir != "" {
		fg := one(GroupFWU, &fwu.Manifest, 0)
		if spec.ITSOnFlash {
			fg.manifests = append(fg.manifests, its.Manifest)
		}
		gs = append(gs, fg)
	}
	return append(gs, one(GroupCrypto, &crypto.Manifest, CryptoPartitionID), one(GroupPS, &ps.Manifest, ps.PartitionClientID),
		one(GroupAudit, &auditsvc.Manifest, auditsvc.AnchorClientID), one(GroupAttestation, &attestation.Manifest, AttestationPartitionID))
}

// isLevel3PRoT reports whether group is one of level 3's PRoT processes.
func isLevel3PRoT(group string) bool { return strings.HasPrefix(group, "prot:") }

// rootKeyGrants says which label each platform partition may derive: the
// key it would derive itself from the HUK at level 1, and no other.
func rootKeyGrants() map[int32]rootkey.Grant {
	exact := func(l string) rootkey.Grant { return func(s string) bool { return s == l } }
	psLabel := len(ps.ObjectLabelPrefix) + 4 + 8 // prefix, u32 client, u64 uid
	return map[int32]rootkey.Grant{
		CryptoPartitionID: exact(crypto.StoreKeyLabel),
		ps.PartitionClientID: func(s string) bool {
			return len(s) == psLabel && strings.HasPrefix(s, ps.ObjectLabelPrefix)
		},
		AttestationPartitionID:  exact(attestation.SealKeyLabel),
		auditsvc.AnchorClientID: exact(storage.SealLabel(auditKeyLabel)),
	}
}

// runs reports whether this platform opens part (a level-3 group name, or
// GroupITS for ITS wherever it runs).
func (p *Platform) runs(part string) bool {
	g := p.opt.Group
	switch {
	case g == "":
		return part != GroupRootKey // levels 1 and 2: all, with the HUK in memory
	case part == GroupITS && p.opt.ITSOnFlash:
		return g == GroupFWU
	}
	return g == part
}

// callers caches one session per calling partition ID.
type callers struct {
	mu  sync.Mutex
	new func(int32) ipc.Transport
	t   map[int32]ipc.Transport
}

func (c *callers) get(id int32) ipc.Transport {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t == nil {
		c.t = map[int32]ipc.Transport{}
	}
	t := c.t[id]
	if t == nil {
		t = c.new(id)
		c.t[id] = t
	}
	return t
}

// derive returns HKDF-SHA256(HUK, label): from the HUK in this process,
// or from the root key partition as partition id (level 3).
func (p *Platform) derive(id int32, label string) ([]byte, error) {
	if p.huk != nil {
		return rootkey.Derive(p.huk, label)
	}
	if p.opt.Caller == nil {
		return nil, fmt.Errorf("platform: %s has neither the HUK nor a caller to the root key partition", p.opt.Group)
	}
	return rootkey.Client{T: p.calls.get(id)}.Derive(label)
}

// itsFor returns ITS as partition id uses it: in this process, or through
// the partition manager (level 3).
func (p *Platform) itsFor(id int32) interface {
	ps.Records
	auditsvc.AnchorStore
} {
	if p.ITS != nil {
		return p.ITS
	}
	return its.Client{T: p.calls.get(id), Self: id}
}

// shredOwn destroys what one level-3 PRoT process keeps (decommissioning:
// the SPM started it again on the decommissioned device). Each process
// shreds its own, since with a user per partition no other may.
func shredOwn(group string, spec Spec) error {
	shred := storage.Shred
	if spec.UserPerPartition {
		shred = storage.ShredContents // the state directory is not its to write
	}
	dirs := map[string]string{GroupCrypto: KeysDir, GroupITS: ITSDir, GroupPS: PSDir, GroupAudit: AuditDir,
		GroupAttestation: AttestDir, GroupFWU: FWUDir}
	switch {
	case group == GroupRootKey:
		return storage.ShredFile(filepath.Join(spec.StateDir, HUKFile))
	case group == GroupFWU && spec.ITSOnFlash:
		if err := shred(filepath.Join(spec.StateDir, FWUDir)); err != nil {
			return err
		}
		opt, err := spec.Options()
		if err != nil {
			return err
		}
		p := &Platform{opt: opt}
		st, err := p.openITSStore()
		if err != nil {
			return err
		}
		return st.Destroy()
	case dirs[group] != "":
		return shred(filepath.Join(spec.StateDir, dirs[group]))
	}
	return nil
}

// openRootKey opens the root key partition: the HUK, made on the first
// start, and the service that derives from it.
func (p *Platform) openRootKey() error {
	if err := checkRoT(p.opt.StateDir, nil); err != nil {
		return err
	}
	if err := ensureHUK(p.opt.StateDir, p.opt.Rand, p.opt.StorageFault, p.opt.SharedStateDir); err != nil {
		return err
	}
	load := crypto.LoadOrCreateHUK
	if p.opt.SharedStateDir {
		load = crypto.LoadOrCreateHUKSearchable
	}
	huk, err := load(filepath.Join(p.opt.StateDir, HUKFile), p.opt.Rand)
	if err != nil {
		return fmt.Errorf("platform: %w", err)
	}
	p.rootKey = rootkey.New(huk, rootKeyGrants(), LifecyclePartitionID)
	clear(huk)
	return p.rootKey.Register(p.Server)
}
