package ps

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"rampart/ipc"
	"rampart/psa"
	"rampart/spe/storage"
	"rampart/spe/storage/its"
)

// quotaRig opens PS and its ITS in dir (as after a reboot) with small
// limits: 4 objects per client, and room for only 16 version records in
// all, so that anything one client leaves behind shows at once.
type quotaRig struct {
	dir  string
	its  *its.Service
	itsS *storage.Store
	psS  *storage.Store
	ps   *Service
}

func openQuota(t *testing.T, dir string) *quotaRig {
	t.Helper()
	itsSt, err := storage.Open(filepath.Join(dir, "its"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	psSt, err := storage.Open(filepath.Join(dir, "ps"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	itsS := its.New(itsSt, its.Limits{MaxSecureAssets: 16})
	s, err := New(Options{Store: psSt, ITS: itsS, HUK: bytes.Repeat([]byte{0x42}, 32), Limits: its.Limits{MaxAssets: 4}})
	if err != nil {
		t.Fatal(err)
	}
	return &quotaRig{dir: dir, its: itsS, itsS: itsSt, psS: psSt, ps: s}
}

func (r *quotaRig) path(client int32, uid psa.StorageUID) string {
	return filepath.Join(r.psS.Dir(), objName(client, uid))
}

// TestTombstonesDoNotExhaustStorage: a client creating and removing objects
// under ever new uids leaves one floor record, not a tombstone per uid, so
// the records shared by every client never fill up, before or after a
// restart. It failed when every remove left a tombstone: after 16 rounds no
// client could create an object any more.
func TestTombstonesDoNotExhaustStorage(t *testing.T) {
	dir := t.TempDir()
	r := openQuota(t, dir)
	for i := range 40 {
		uid := psa.StorageUID(1000 + i)
		if err := r.ps.Set(-1, uid, []byte("short-lived"), 0); err != nil {
			t.Fatalf("round %d: set: %v", i, err)
		}
		if err := r.ps.Remove(-1, uid); err != nil {
			t.Fatalf("round %d: remove: %v", i, err)
		}
	}
	if uids, _ := r.its.UIDs(PartitionClientID); len(uids) != 1 {
		t.Fatalf("%d version records left, want the client's floor only", len(uids))
	}
	for _, dir := range []string{dir, dir} { // now, and after a restart
		r := openQuota(t, dir)
		for uid := psa.StorageUID(1); uid <= 4; uid++ {
			if err := r.ps.Set(-2, uid, []byte("other client"), 0); err != nil {
				t.Fatalf("client -2 uid %d: %v", uid, err)
			}
		}
		if err := r.ps.Set(-1, 1, []byte("back"), 0); err != nil {
			t.Fatalf("client -1 after its loop: %v", err)
		}
		for uid := psa.StorageUID(1); uid <= 4; uid++ {
			r.ps.Remove(-2, uid)
		}
		r.ps.Remove(-1, 1)
	}
}

// TestRemovedStaysRemoved: what the version record protects against (an
// older authentic file put back in place of the current one, or of a
// removed object) still holds with tombstones reclaimed into the floor: a
// removed object's files never read again, before or after a restart, and a
// new object at the same uid refuses the files of its predecessor.
func TestRemovedStaysRemoved(t *testing.T) {
	dir := t.TempDir()
	r := openQuota(t, dir)
	if err := r.ps.Set(-1, 5, []byte("balance=100"), 0); err != nil {
		t.Fatal(err)
	}
	v1, _ := os.ReadFile(r.path(-1, 5))
	if err := r.ps.Set(-1, 5, []byte("balance=5"), 0); err != nil {
		t.Fatal(err)
	}
	v2, _ := os.ReadFile(r.path(-1, 5))
	if err := r.ps.Set(-1, 6, []byte("untouched"), 0); err != nil {
		t.Fatal(err)
	}
	if err := r.ps.Remove(-1, 5); err != nil {
		t.Fatal(err)
	}
	// Other removals raise the floor; a live object is not affected.
	for uid := psa.StorageUID(100); uid < 110; uid++ {
		r.ps.Set(-1, uid, []byte("x"), 0)
		r.ps.Remove(-1, uid)
	}
	for i, dir := range []string{dir, dir} {
		r := openQuota(t, dir)
		for j, old := range [][]byte{v1, v2} {
			os.WriteFile(r.path(-1, 5), old, 0o600)
			if _, err := r.ps.Get(-1, 5, 0, 100); !errors.Is(err, ipc.ErrDoesNotExist) {
				t.Fatalf("start %d: removed object's file %d came back: %v", i, j, err)
			}
			if _, err := os.Stat(r.path(-1, 5)); !os.IsNotExist(err) {
				t.Fatalf("start %d: the stale file %d was not deleted", i, j)
			}
		}
		if got, err := r.ps.Get(-1, 6, 0, 100); err != nil || string(got) != "untouched" {
			t.Fatalf("start %d: live object: %q %v", i, got, err)
		}
	}
	r = openQuota(t, dir)
	if err := r.ps.Set(-1, 5, []byte("balance=0"), 0); err != nil {
		t.Fatal(err)
	}
	for j, old := range [][]byte{v1, v2} {
		os.WriteFile(r.path(-1, 5), old, 0o600)
		if _, err := r.ps.Get(-1, 5, 0, 100); !errors.Is(err, ipc.ErrDataCorrupt) {
			t.Fatalf("the new object accepted its predecessor's file %d: %v", j, err)
		}
	}
}

// TestLegacyTombstonesReclaimed: tombstones written by an older release
// are turned into the client's floor at open, and the files they guarded
// stay dead.
func TestLegacyTombstonesReclaimed(t *testing.T) {
	dir := t.TempDir()
	r := openQuota(t, dir)
	if err := r.ps.Set(-1, 7, []byte("old"), 0); err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(r.path(-1, 7))
	rec, err := r.ps.loadRecord(-1, 7)
	if err != nil || rec == nil {
		t.Fatal(rec, err)
	}
	// What the older release's remove left: a tombstone one version up, and
	// (after a cut) the file.
	tomb := &record{Client: -1, UID: 7, Version: rec.Version + 1, State: stateRemoved}
	if err := r.its.Set(PartitionClientID, recordUID(-1, 7), tomb.marshal(), 0); err != nil {
		t.Fatal(err)
	}
	r2 := openQuota(t, dir)
	if rec, err := r2.ps.loadRecord(-1, 7); err != nil || rec != nil {
		t.Fatalf("tombstone kept: %+v %v", rec, err)
	}
	if f, err := r2.ps.loadFloor(-1); err != nil || f != tomb.Version {
		t.Fatalf("floor %d %v, want %d", f, err, tomb.Version)
	}
	os.WriteFile(r2.path(-1, 7), old, 0o600)
	if _, err := r2.ps.Get(-1, 7, 0, 100); !errors.Is(err, ipc.ErrDoesNotExist) {
		t.Fatalf("guarded file: %v", err)
	}
}

// TestRecordQuotaPerClient: a client's version records are bounded like its
// objects, even when its files disappear from under their records, and one
// client at its quota does not stop another.
func TestRecordQuotaPerClient(t *testing.T) {
	r := openQuota(t, t.TempDir())
	for uid := psa.StorageUID(1); uid <= 4; uid++ {
		if err := r.ps.Set(-1, uid, []byte("x"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.ps.Set(-1, 5, []byte("x"), 0); !errors.Is(err, ipc.ErrInsufficientStorage) {
		t.Fatalf("fifth object: %v", err)
	}
	// The files go (a hostile or failing disk); the records stay, and still
	// count.
	for uid := psa.StorageUID(1); uid <= 4; uid++ {
		os.Remove(r.path(-1, uid))
	}
	if err := r.ps.Set(-1, 5, []byte("x"), 0); !errors.Is(err, ipc.ErrInsufficientStorage) {
		t.Fatalf("new object with 4 records: %v", err)
	}
	if err := r.ps.Set(-1, 5, []byte("x"), psa.StorageFlagNoReplayProtection); err != nil {
		t.Fatalf("an object without a record is within the quota: %v", err)
	}
	for uid := psa.StorageUID(1); uid <= 4; uid++ {
		if err := r.ps.Set(-2, uid, []byte("y"), 0); err != nil {
			t.Fatalf("client -2: %v", err)
		}
	}
	// The owner recovers a uid by setting it again, then removing it.
	if err := r.ps.Set(-1, 1, []byte("again"), 0); err != nil {
		t.Fatal(err)
	}
	if err := r.ps.Remove(-1, 1); err != nil {
		t.Fatal(err)
	}
	r.ps.Remove(-1, 5)
	if err := r.ps.Set(-1, 6, []byte("x"), 0); err != nil {
		t.Fatalf("after freeing a record: %v", err)
	}
	if n := r.ps.records[-1]; n != 4 {
		t.Fatalf("client -1 counted with %d records, want 4", n)
	}
	r2 := openQuota(t, r.dir)
	if fmt.Sprint(r2.ps.records) != fmt.Sprint(r.ps.records) {
		t.Fatalf("counts after restart %v, before %v", r2.ps.records, r.ps.records)
	}
}

// TestDamagedFloorOrRecordBlocksSet: with its version record or its
// client's floor damaged, an object can be neither read nor set: a new
// version chosen without them could equal an old file's.
func TestDamagedFloorOrRecordBlocksSet(t *testing.T) {
	r := openQuota(t, t.TempDir())
	if err := r.ps.Set(-1, 1, []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	if err := r.ps.Remove(-1, 1); err != nil {
		t.Fatal(err)
	}
	if err := r.ps.Set(-1, 2, []byte("y"), 0); err != nil {
		t.Fatal(err)
	}
	for name, uid := range map[string]psa.StorageUID{"floor": 0, "record": 2} {
		p := filepath.Join(r.itsS.Dir(), fmt.Sprintf("%08x-%016x", uint32(PartitionClientID), uint64(recordUID(-1, uid))))
		good, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		os.WriteFile(p, good[:len(good)-1], 0o600)
		target := psa.StorageUID(3) // no record: judged against the floor
		if uid != 0 {
			target = uid
		}
		if err := r.ps.Set(-1, target, []byte("z"), 0); !errors.Is(err, ipc.ErrDataCorrupt) {
			t.Errorf("set with a damaged %s: %v", name, err)
		}
		if _, err := r.ps.Get(-1, target, 0, 10); !errors.Is(err, ipc.ErrDataCorrupt) {
			t.Errorf("get with a damaged %s: %v", name, err)
		}
		os.WriteFile(p, good, 0o600)
	}
}
