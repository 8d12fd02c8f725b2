//go:build cgo

package mcubootoracle

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>

extern int goFlashRead(uintptr_t h, uint32_t off, uint8_t *dst, uint32_t n);
extern int goFlashWrite(uintptr_t h, uint32_t off, uint8_t *src, uint32_t n);
extern int goFlashErase(uintptr_t h, uint32_t off, uint32_t n);

typedef int (*read_fn)(uintptr_t, uint32_t, uint8_t *, uint32_t);
typedef int (*write_fn)(uintptr_t, uint32_t, const uint8_t *, uint32_t);
typedef int (*erase_fn)(uintptr_t, uint32_t, uint32_t);
typedef void (*set_flash_fn)(read_fn, write_fn, erase_fn, uintptr_t, uint32_t, uint8_t, int);
typedef int (*set_key_fn)(const uint8_t *, unsigned int);
typedef int (*boot_fn)(int, const uint32_t *, const uint32_t *, const uint32_t *, int, uint32_t *, int *);
typedef void (*counters_fn)(const uint32_t *, uint32_t *, int);
typedef int (*set_ram_fn)(uint32_t, uint32_t);
typedef void (*ram_fn)(uint8_t *);

static void call_set_flash(void *f, uintptr_t h, uint32_t align, uint8_t erased, int log) {
	((set_flash_fn)f)((read_fn)goFlashRead, (write_fn)goFlashWrite, (erase_fn)goFlashErase, h, align, erased, log);
}
static int call_set_key(void *f, const uint8_t *der, unsigned int n) { return ((set_key_fn)f)(der, n); }
static int call_boot(void *f, int n, const uint32_t *areas, const uint32_t *nsec, const uint32_t *secs,
		int cut, uint32_t *off, int *ops) {
	return ((boot_fn)f)(n, areas, nsec, secs, cut, off, ops);
}
static void call_counters(void *f, const uint32_t *in, uint32_t *out, int n) { ((counters_fn)f)(in, out, n); }
static int call_set_ram(void *f, uint32_t start, uint32_t size) { return ((set_ram_fn)f)(start, size); }
static void call_ram(void *f, uint8_t *out) { ((ram_fn)f)(out); }
typedef void (*memo_stats_fn)(uint64_t *, uint64_t *);
static void call_memo_stats(void *f, uint64_t *hits, uint64_t *misses) { ((memo_stats_fn)f)(hits, misses); }
static void *open_lib(const char *p) { return dlopen(p, RTLD_NOW | RTLD_LOCAL); }
static const char *lib_error(void) { return dlerror(); }
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/cgo"
	"strings"
	"sync"
	"unsafe"

	"rampart/flash"
)

// Oracle is one loaded MCUboot configuration. Its methods serialise: the
// library keeps MCUboot's state in globals.
type Oracle struct {
	mu                                sync.Mutex
	cfg                               Config
	path                              string
	setFlash, setKey, setEncKey, boot unsafe.Pointer
	counters                          unsafe.Pointer
	setRAM, ram                       unsafe.Pointer // RAMLoad only
	memoStats                         unsafe.Pointer // SigMemo only
	kxStats                           unsafe.Pointer // KXMemo only
	ramSize                           uint32
	// LogLevel is MCUboot's log level during a boot: 0 off, 1 errors ... 4 debug.
	LogLevel int
}

var (
	loadedMu sync.Mutex
	loaded   = map[string]*Oracle{}
)

// Open builds (or takes from the cache) MCUboot for cfg and loads it.
func Open(cfg Config) (*Oracle, error) {
	path, err := Build(cfg)
	if err != nil {
		return nil, err
	}
	return load(cfg, path)
}

// OpenCopy loads copy k of cfg's library (k = 0 is Open's). MCUboot keeps
// its state in globals, so boots that run at the same time need one copy
// each: the library file is copied beside the cached one (dlopen maps one
// instance per path).
func OpenCopy(cfg Config, k int) (*Oracle, error) {
	path, err := Build(cfg)
	if err != nil || k == 0 {
		return nil, err
	}
	cp := strings.TrimSuffix(path, ".so") + fmt.Sprintf(".copy%d.so", k)
	if err := copyOnce(path, cp); err != nil {
		return nil, err
	}
	return load(cfg, cp)
}

// copyOnce copies src to dst unless dst exists, through a temporary file
// renamed into place (another process may be copying it too).
func copyOnce(src, dst string) error {
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "copy-*.so")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o700); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// load dlopens the library at path once per process.
func load(cfg Config, path string) (*Oracle, error) {
	loadedMu.Lock()
	defer loadedMu.Unlock()
	if o := loaded[path]; o != nil {
		return o, nil
	}
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	h := C.open_lib(cp)
	if h == nil {
		return nil, fmt.Errorf("mcubootoracle: dlopen %s: %s", path, C.GoString(C.lib_error()))
	}
	o := &Oracle{cfg: cfg, path: path}
	for _, s := range []struct {
		name string
		dst  *unsafe.Pointer
	}{{"oracle_set_flash", &o.setFlash}, {"oracle_set_key", &o.setKey}, {"oracle_boot", &o.boot}, {"oracle_counters", &o.counters}, {"oracle_set_enc_key", &o.setEncKey}} {
		cn := C.CString(s.name)
		*s.dst = C.dlsym(h, cn)
		C.free(unsafe.Pointer(cn))
		if *s.dst == nil {
			return nil, fmt.Errorf("mcubootoracle: %s: no symbol %s", path, s.name)
		}
	}
	if cfg.Strategy == RAMLoad || cfg.Strategy == RAMLoadRevert {
		for _, s := range []struct {
			name string
			dst  *unsafe.Pointer
		}{{"oracle_set_ram", &o.setRAM}, {"oracle_ram", &o.ram}} {
			cn := C.CString(s.name)
			*s.dst = C.dlsym(h, cn)
			C.free(unsafe.Pointer(cn))
			if *s.dst == nil {
				return nil, fmt.Errorf("mcubootoracle: %s: no symbol %s", path, s.name)
			}
		}
	}
	for _, s := range []struct {
		use  bool
		name string
		dst  *unsafe.Pointer
	}{{cfg.SigMemo, "oracle_sig_memo_stats", &o.memoStats}, {cfg.KXMemo, "oracle_kx_memo_stats", &o.kxStats}} {
		if !s.use {
			continue
		}
		cn := C.CString(s.name)
		*s.dst = C.dlsym(h, cn)
		C.free(unsafe.Pointer(cn))
		if *s.dst == nil {
			return nil, fmt.Errorf("mcubootoracle: %s: no symbol %s", path, s.name)
		}
	}
	loaded[path] = o
	return o, nil
}

// SetRAM gives a RAMLoad oracle its executable RAM region: addresses
// [start, start+size). Every boot starts with it cleared.
func (o *Oracle) SetRAM(start, size uint32) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.setRAM == nil || size == 0 || C.call_set_ram(o.setRAM, C.uint32_t(start), C.uint32_t(size)) != 0 {
		return fmt.Errorf("mcubootoracle: RAM region of %d bytes refused (not a ram-load build?)", size)
	}
	o.ramSize = size
	return nil
}

// RAM returns a copy of the RAM region after the last boot.
func (o *Oracle) RAM() []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ram == nil || o.ramSize == 0 {
		return nil
	}
	b := make([]byte, o.ramSize)
	C.call_ram(o.ram, (*C.uint8_t)(unsafe.Pointer(&b[0])))
	return b
}

// SigMemoStats reports how many signature verifications of a SigMemo
// library were answered from its memo and how many ran MCUboot's code.
func (o *Oracle) SigMemoStats() (hits, misses uint64) { return o.stats(o.memoStats) }

// KXMemoStats reports how many key exchanges of a KXMemo library were
// answered from its memo and how many ran MCUboot's code.
func (o *Oracle) KXMemoStats() (hits, misses uint64) { return o.stats(o.kxStats) }

func (o *Oracle) stats(f unsafe.Pointer) (hits, misses uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if f == nil {
		return 0, 0
	}
	var h, m C.uint64_t
	C.call_memo_stats(f, &h, &m)
	return uint64(h), uint64(m)
}

// SetDecryptKey provisions the device's private decrypt key (PKCS#8 DER of
// an EC P-256 key) in an oracle built with Encrypted.
func (o *Oracle) SetDecryptKey(der []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(der) == 0 || C.call_set_key(o.setEncKey, (*C.uint8_t)(unsafe.Pointer(&der[0])), C.uint(len(der))) != 0 {
		return fmt.Errorf("mcubootoracle: decrypt key of %d bytes refused (built without Encrypted?)", len(der))
	}
	return nil
}

// Config is the configuration the oracle was built with.
func (o *Oracle) Config() Config { return o.cfg }

// Path is the shared library's path.
func (o *Oracle) Path() string { return o.path }

// devState is what a flash callback reaches through its handle.
type devState struct {
	dev *flash.Device
	err error
	// readsRefused counts reads beyond the device, answered with an error.
	readsRefused int
}

// Boot runs MCUboot's boot_go once over dev, whose layout areas describe
// (every slot of every image, and the scratch area if any). key is the DER
// SubjectPublicKeyInfo of the one provisioned EC P-256 key. counters are
// the images' NV security counters (MCUBOOT_HW_ROLLBACK_PROT), read by the
// boot and updated in place. With cut > 0 the cut-th write or erase is not
// done and the run stops there, as a power failure (MCUboot's simulator's
// flash_counter); the counters keep what MCUboot wrote before the cut.
func (o *Oracle) Boot(dev *flash.Device, areas []Area, key []byte, counters []uint32, cut int) (Result, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(key) == 0 {
		return Result{}, fmt.Errorf("mcubootoracle: no key")
	}
	if rc := C.call_set_key(o.setKey, (*C.uint8_t)(unsafe.Pointer(&key[0])), C.uint(len(key))); rc != 0 {
		return Result{}, fmt.Errorf("mcubootoracle: key of %d bytes refused", len(key))
	}
	st := &devState{dev: dev}
	h := cgo.NewHandle(st)
	defer h.Delete()
	C.call_set_flash(o.setFlash, C.uintptr_t(h), C.uint32_t(dev.WriteAlign()), C.uint8_t(dev.ErasedValue()), C.int(o.LogLevel))
	desc := make([]C.uint32_t, 0, 3*len(areas))
	nsec := make([]C.uint32_t, 0, len(areas))
	var secs []C.uint32_t
	for _, a := range areas {
		desc = append(desc, C.uint32_t(a.ID), C.uint32_t(a.Off), C.uint32_t(a.Size))
		nsec = append(nsec, C.uint32_t(len(a.Sectors)))
		for _, s := range a.Sectors {
			secs = append(secs, C.uint32_t(s))
		}
	}
	if len(areas) == 0 || len(secs) == 0 {
		return Result{}, fmt.Errorf("mcubootoracle: no areas")
	}
	cdesc := (*C.uint32_t)(C.malloc(C.size_t(4 * (len(desc) + len(nsec) + len(secs)))))
	defer C.free(unsafe.Pointer(cdesc))
	all := unsafe.Slice(cdesc, len(desc)+len(nsec)+len(secs))
	copy(all, desc)
	copy(all[len(desc):], nsec)
	copy(all[len(desc)+len(nsec):], secs)
	if len(counters) == 0 || len(counters) > 16 {
		return Result{}, fmt.Errorf("mcubootoracle: %d counters", len(counters))
	}
	ctr := (*C.uint32_t)(C.malloc(C.size_t(4 * len(counters))))
	defer C.free(unsafe.Pointer(ctr))
	cs := unsafe.Slice(ctr, len(counters))
	for i, v := range counters {
		cs[i] = C.uint32_t(v)
	}
	C.call_counters(o.counters, ctr, nil, C.int(len(counters)))
	defer func() {
		C.call_counters(o.counters, nil, ctr, C.int(len(counters)))
		for i := range counters {
			counters[i] = uint32(cs[i])
		}
	}()
	if o.ram != nil && o.ramSize > 0 {
		C.call_ram(o.ram, nil)
	}
	var off C.uint32_t
	var ops C.int
	rc := C.call_boot(o.boot, C.int(len(areas)), &all[0], &all[len(desc)], &all[len(desc)+len(nsec)],
		C.int(cut), &off, &ops)
	r := Result{RC: int(rc), ImageOff: uint32(off), Ops: int(ops), FlashErr: st.err, ReadsRefused: st.readsRefused}
	if r.RC == powerCutRC {
		r.PowerCut, r.RC = true, 0
	}
	if r.RC == refusedRC {
		// oracle_boot refuses more than 16 areas or 512 sectors an area.
		return r, fmt.Errorf("mcubootoracle: layout refused by the glue (at most 16 areas of 512 sectors)")
	}
	return r, nil
}

func state(h C.uintptr_t) *devState { return cgo.Handle(h).Value().(*devState) }

func (s *devState) fail(err error) C.int {
	if s.err == nil {
		s.err = err
	}
	return -1
}

//export goFlashRead
func goFlashRead(h C.uintptr_t, off C.uint32_t, dst *C.uint8_t, n C.uint32_t) C.int {
	s := state(h)
	if n == 0 {
		return 0
	}
	if err := s.dev.Read(uint32(off), unsafe.Slice((*byte)(unsafe.Pointer(dst)), int(n))); err != nil {
		if errors.Is(err, flash.ErrRange) {
			// A read past the device fails, as in MCUboot's own
			// simulator (simflash's bounds check) and a port's
			// flash_area_read; MCUboot handles the error (an erased
			// header's TLV offset, 0xffff + 0xffffffff, wraps to
			// 0xfffe and may point past the device). Not a broken rule.
			s.readsRefused++
			return -1
		}
		return s.fail(fmt.Errorf("read: %w", err))
	}
	return 0
}

//export goFlashWrite
func goFlashWrite(h C.uintptr_t, off C.uint32_t, src *C.uint8_t, n C.uint32_t) C.int {
	s := state(h)
	if n == 0 {
		return 0
	}
	if err := s.dev.Write(uint32(off), unsafe.Slice((*byte)(unsafe.Pointer(src)), int(n))); err != nil {
		return s.fail(fmt.Errorf("write: %w", err))
	}
	return 0
}

//export goFlashErase
func goFlashErase(h C.uintptr_t, off C.uint32_t, n C.uint32_t) C.int {
	s := state(h)
	if err := s.dev.Erase(uint32(off), uint32(n)); err != nil {
		return s.fail(fmt.Errorf("erase: %w", err))
	}
	return 0
}
