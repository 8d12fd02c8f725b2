package boot

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"math/rand/v2"
	"testing"

	"rampart/flash"
	"rampart/image"
)

// testKey is the provisioned signing key; otherKey is not provisioned.
var (
	testKey  = ed25519.NewKeyFromSeed(seed("rampart boot test key"))
	otherKey = ed25519.NewKeyFromSeed(seed("rampart boot other key"))
)

func seed(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

// ecdsaKey is a second provisioned key of another algorithm.
var ecdsaKey = func() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.NewChaCha8([32]byte{1}))
	if err != nil {
		panic(err)
	}
	return k
}()

// imgSpec describes a test image.
type imgSpec struct {
	ver    string
	secCnt uint32
	size   int // firmware body size
	deps   []image.Dependency
	key    crypto.Signer
	seed   uint64
	noSC   bool
	record string
	// pad/confirm produce an imgtool --pad / --confirm image for slotSize
	pad, confirm bool
	slotSize     int
	maxAlign     int
	align        int
	erased       byte
	tlvs         []image.TLV // --custom-tlv (protected)
	loadAddr     uint32      // imgtool --load-addr: a RAM_LOAD image
}

// makeImage signs a deterministic firmware body with the image package.
func makeImage(t testing.TB, s imgSpec) []byte {
	t.Helper()
	r := rand.New(rand.NewPCG(s.seed, uint64(s.size)))
	fw := make([]byte, s.size)
	for i := range fw {
		fw[i] = byte(r.Uint32())
	}
	v, err := image.ParseVersion(s.ver)
	if err != nil {
		t.Fatal(err)
	}
	key := s.key
	if key == nil {
		key = testKey
	}
	o := &image.SignOptions{
		Key: key, HeaderSize: 32, PadHeader: true, Version: v,
		Dependencies: s.deps, BootRecord: s.record,
		Pad: s.pad, Confirm: s.confirm, SlotSize: s.slotSize, MaxAlign: s.maxAlign, Align: s.align,
		CustomTLVs: s.tlvs,
		LoadAddr:   s.loadAddr,
	}
	if s.pad || s.confirm {
		e := s.erased
		o.ErasedVal = &e
	}
	if !s.noSC {
		sc := s.secCnt
		o.SecurityCounter = &sc
	}
	res, err := image.Sign(fw, o)
	if err != nil {
		t.Fatal(err)
	}
	return res.Bytes
}

// testRAMStart is where the ram-load test maps put their RAM region.
const testRAMStart = 0x20000000

// layoutSpec builds a flash map: a bootloader area, n images whose slots have
// priSectors/secSectors sectors of slotSector bytes (image i may use
// slotSectorAlt when set), then a storage area.
type layoutSpec struct {
	name          string
	bootSector    uint32
	slotSector    []uint32 // per image
	priSectors    []int
	secSectors    []int
	storageSector uint32
}

func (ls layoutSpec) config(strategy Strategy, align int, erased byte, images int) *Config {
	c := &Config{Strategy: strategy, MaxAlign: max(8, align)}
	c.Flash.WriteAlign, c.Flash.ErasedValue = align, erased
	off := uint32(0)
	add := func(size uint32, count int) Area {
		c.Flash.Sectors = append(c.Flash.Sectors, flash.SectorRun{Size: size, Count: count})
		a := Area{Offset: Num(off), Size: Num(size * uint32(count))}
		off += size * uint32(count)
		return a
	}
	c.Bootloader = add(ls.bootSector, 2)
	for i := range images {
		priSectors, secSectors := ls.priSectors[i], ls.secSectors[i]
		if strategy == SwapOffset {
			// swap-offset: the secondary has the extra sector.
			priSectors, secSectors = secSectors, priSectors
		}
		p := add(ls.slotSector[i], priSectors)
		if strategy == OverwriteOnly || strategy == SwapScratch {
			// MCUboot's overwrite-only copies the whole slot and
			// swap-scratch exchanges whole slots: both the same size.
			secSectors = ls.priSectors[i]
		}
		s := add(ls.slotSector[i], secSectors)
		c.Images = append(c.Images, ImageSlots{ID: i, Name: []string{"SPE", "NSPE", "IMG2"}[i], Primary: p, Secondary: s})
	}
	if strategy == SwapScratch {
		// Sectors of image 0's size, enough for the largest slot sector
		// (image 1's may be larger), and two of them on small sectors so
		// that a chunk spans sectors.
		big := ls.slotSector[0]
		for i := range images {
			big = max(big, ls.slotSector[i])
		}
		n := int(big / ls.slotSector[0])
		if ls.slotSector[0] < 2048 {
			n *= 2
		}
		a := add(ls.slotSector[0], n)
		c.Scratch = &a
	}
	if strategy.ramLoad() {
		c.RAM = &Area{Offset: testRAMStart, Size: 0x10000}
	}
	c.Storage = []NamedArea{{Name: "its", Area: add(ls.storageSector, 1)}}
	if err := c.Validate(); err != nil {
		panic(ls.name + ": " + err.Error())
	}
	return c
}

// layouts are the sweep's flash layouts. Sector sizes differ between the
// bootloader, the images and storage, and between images.
var layouts = []layoutSpec{
	{name: "uniform-4k", bootSector: 4096, slotSector: []uint32{4096, 4096}, priSectors: []int{9, 9}, secSectors: []int{8, 8}, storageSector: 4096},
	{name: "small-1k-big-boot", bootSector: 16384, slotSector: []uint32{1024, 1024}, priSectors: []int{20, 20}, secSectors: []int{19, 19}, storageSector: 16384},
	{name: "mixed-2k-8k", bootSector: 8192, slotSector: []uint32{2048, 8192}, priSectors: []int{12, 4}, secSectors: []int{11, 3}, storageSector: 2048},
	{name: "equal-slots-2k", bootSector: 2048, slotSector: []uint32{2048, 2048}, priSectors: []int{10, 10}, secSectors: []int{10, 10}, storageSector: 65536},
}

// rig is one device under test.
type rig struct {
	t   testing.TB
	cfg *Config
	dev *flash.Device
	ctr *Counters
	bl  *Bootloader
	// bufs are the differential test's slot comparison buffers.
	bufs slotBufs
}

func newRig(t testing.TB, cfg *Config) *rig {
	t.Helper()
	dev, err := flash.New(cfg.Flash)
	if err != nil {
		t.Fatal(err)
	}
	ctr := NewCounters(len(cfg.Images), 0)
	bl, err := New(dev, cfg, []any{testKey.Public(), ecdsaKey.Public()}, ctr)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, cfg: cfg, dev: dev, ctr: ctr, bl: bl}
}

func (r *rig) install(i int, s SlotName, data []byte) {
	r.t.Helper()
	if err := r.bl.Install(i, s, data); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) request(i int, perm bool) {
	r.t.Helper()
	if err := r.bl.RequestUpgrade(i, perm); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) boot() *Result {
	r.t.Helper()
	res, err := r.bl.Boot()
	if err != nil {
		r.t.Fatalf("boot: %v\n%s", err, notes(res))
	}
	return res
}

func notes(res *Result) string {
	if res == nil {
		return ""
	}
	s := ""
	for _, im := range res.Images {
		for _, n := range im.Notes {
			s += "  image " + im.Name + ": " + n + "\n"
		}
	}
	return s
}

// slotBytes reads the first n bytes of a slot.
func (r *rig) slotBytes(i int, s SlotName, n int) []byte {
	sl, err := r.bl.slot(i, s)
	if err != nil {
		r.t.Fatal(err)
	}
	b, err := r.bl.io.read(sl, 0, n)
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

func imgVersion(t testing.TB, b []byte) string {
	img, err := image.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return img.Header.Ver.String()
}
