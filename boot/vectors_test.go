package boot

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"rampart/flash"
	"rampart/image"
	"rampart/swcomponent"
)

// Images made by MCUboot's own imgtool 2.4.0 (testdata/mcuboot/README.md):
// slot size 0x20000, header 0x200, version 1.2.3+4.

func vector(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "mcuboot", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func vectorKey(t *testing.T, name string) any {
	k, err := image.ParseKeyPEM(vector(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// vectorRig is a one-image swap-move device whose secondary slot is the
// vectors' 0x20000 bytes, trusting the imgtool test keys.
func vectorRig(t *testing.T) *rig {
	ls := layoutSpec{name: "vectors", bootSector: 4096, slotSector: []uint32{4096}, priSectors: []int{33}, secSectors: []int{32}, storageSector: 4096}
	cfg := ls.config(SwapMove, 8, 0xff, 1)
	dev, err := flash.New(cfg.Flash)
	if err != nil {
		t.Fatal(err)
	}
	ctr := NewCounters(1, 0)
	bl, err := New(dev, cfg, []any{vectorKey(t, "ed25519.pub.pem"), vectorKey(t, "ecdsa-p256.pub.pem")}, ctr)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, cfg: cfg, dev: dev, ctr: ctr, bl: bl}
}

// TestImgtoolVectorsBootRecord: the boot record of an imgtool image has the
// sw_type of its BOOT_RECORD TLV and, as signer ID, imgtool's getpubhash.
func TestImgtoolVectorsBootRecord(t *testing.T) {
	r := vectorRig(t)
	r.install(0, Primary, vector(t, "ed25519.prot.bin"))
	res := r.boot()
	rec := res.Images[0].Record
	if rec == nil || rec.MeasurementType != "SPE" || rec.Version != "1.2.3" || rec.MeasurementDescription != "SHA256" {
		t.Fatalf("%+v", rec)
	}
	if want := vector(t, "ed25519.pubhash.bin"); !bytes.Equal(rec.SignerID, want) {
		t.Fatalf("signer id %x, imgtool getpubhash %x", rec.SignerID, want)
	}
	// The shared vector of this measurement, which attest and image also check.
	want, err := os.ReadFile(filepath.Join("..", "swcomponent", "testdata", "boot-ed25519.prot.cbor"))
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.Append(nil, swcomponent.Deterministic); !bytes.Equal(got, want) {
		t.Fatalf("boot record %x, swcomponent/testdata/boot-ed25519.prot.cbor %x", got, want)
	}
	if r.ctr.Get(0) != 3 {
		t.Fatalf("counter %d, the image's SEC_CNT is 3", r.ctr.Get(0))
	}
}

// TestImgtoolVectorsDriveUpgrades: an imgtool --pad image is a test upgrade
// that reverts unless confirmed; imgtool --pad --confirm without a security
// counter is refused and erased.
func TestImgtoolVectorsDriveUpgrades(t *testing.T) {
	r := vectorRig(t)
	r.install(0, Primary, vector(t, "ed25519.seccnt7.bin"))
	r.boot()
	if r.ctr.Get(0) != 7 {
		t.Fatalf("counter %d", r.ctr.Get(0))
	}
	r.install(0, Secondary, vector(t, "ecdsa-p256.seccnt7.pad.bin"))
	res := r.boot()
	if res.Images[0].Action != SwapTest || !bytes.Equal(res.Images[0].Record.SignerID, vector(t, "ecdsa-p256.pubhash.bin")) {
		t.Fatalf("--pad image: %s", notes(res))
	}
	res = r.boot()
	if res.Images[0].Action != SwapRevert || !bytes.Equal(res.Images[0].Record.SignerID, vector(t, "ed25519.pubhash.bin")) {
		t.Fatalf("unconfirmed: %s", notes(res))
	}
	r.install(0, Secondary, vector(t, "ecdsa-p256.pad.confirm.bin"))
	if st, _ := r.bl.State(); st[0].NextSwap != SwapPerm {
		t.Fatalf("--confirm image not seen as permanent: %s", st[0].NextSwap)
	}
	res = r.boot()
	if res.Images[0].Action != SwapNone || !bytes.Contains([]byte(notes(res)), []byte(ErrNoSecurityCounter.Error())) {
		t.Fatalf("--confirm image without SEC_CNT: %s", notes(res))
	}
}
