package boot

import (
	"errors"
	"fmt"
	"slices"

	"rampart/flash"
	"rampart/image"
	"rampart/swcomponent"
)

// Bootloader boots the images of one device. It is not safe for concurrent use.
type Bootloader struct {
	dev      *flash.Device
	cfg      *Config
	l        *layout
	io       *slotIO
	keys     []any
	counters *Counters
	// decryptKey is the private key that unwraps encrypted images' body
	// keys (nil: encrypted images are refused).
	decryptKey any
	// active is the slot each image last booted from (direct-XIP, where
	// Confirm marks that slot).
	active []SlotName
	// ram is the RAM region images are loaded into (ram-load).
	ram []byte
}

// SetDecryptKey provisions the private key whose public half imgtool
// --encrypt was given (EC P-256, X25519 or RSA), or the secret 16-byte
// AES-KW key-encryption key as a []byte: encrypted images in the secondary
// slot are then verified and decrypted while they are installed.
// The flash map must have encrypted_images set.
func (b *Bootloader) SetDecryptKey(k any) { b.decryptKey = k }

// swapKeys returns the body keys of image im's primary and secondary
// images, each nil when its image is not encrypted or cannot be unwrapped.
func (b *Bootloader) swapKeys(im imageLayout) ([2][]byte, error) {
	var keys [2][]byte
	if !b.l.encrypted {
		return keys, nil
	}
	for k, s := range []*slot{im.primary, im.secondary} {
		data, err := b.io.readSlot(s)
		if err != nil {
			return keys, err
		}
		keys[k] = b.l.bodyKey(data, b.decryptKey)
	}
	return keys, nil
}

// candidateCipher is the cipher that decrypts a validated secondary image
// on its way into the primary slot (nil when it is not encrypted).
func (b *Bootloader) candidateCipher(v *validImage) (*bodyCipher, error) {
	if v == nil || !v.img.Header.Flags.Encrypted() {
		return nil, nil
	}
	k, err := b.l.unwrap(v.img, b.decryptKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidImage, err)
	}
	h := v.img.Header
	return newBodyCipher(k, &h)
}

// New returns a bootloader for dev laid out by cfg, trusting keys (public or
// private halves of ECDSA, Ed25519 or RSA keys, as the image package takes
// them) and keeping security counters in counters.
func New(dev *flash.Device, cfg *Config, keys []any, counters *Counters) (*Bootloader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := dev.Geometry()
	if g.WriteAlign != cfg.Flash.WriteAlign || g.ErasedValue != cfg.Flash.ErasedValue || !slices.Equal(g.Sectors, cfg.Flash.Sectors) {
		return nil, fmt.Errorf("%w: the device's geometry differs from the flash map's", ErrConfig)
	}
	if counters == nil {
		return nil, errors.New("boot: no security counters given")
	}
	l, err := cfg.layout()
	if err != nil {
		return nil, err
	}
	return &Bootloader{dev: dev, cfg: cfg, l: l, io: &slotIO{dev: dev, l: l, markRevert: cfg.DowngradePrevention}, keys: keys, counters: counters,
		active: make([]SlotName, len(cfg.Images)), ram: ramFor(cfg)}, nil
}

// Counters returns the bootloader's security counters.
func (b *Bootloader) Counters() *Counters { return b.counters }

// ImageReport says what one boot did with one image and why.
type ImageReport struct {
	Index int    `json:"index"`
	Name  string `json:"name"`
	// Action is what this boot started or finished: none, test, permanent
	// (also an overwrite) or revert.
	Action  SwapType `json:"action"`
	Resumed bool     `json:"resumed"` // an interrupted swap was finished
	Notes   []string `json:"notes"`   // the reasons, in order
	// Booted is set when the primary slot validated; Record is its measurement.
	Booted bool `json:"booted"`
	// LoadAddr and LoadSize are where ram-load copied the image.
	LoadAddr uint32 `json:"load_addr,omitempty"`
	LoadSize uint32 `json:"load_size,omitempty"`
	// Slot is the slot the image runs from (direct-XIP only).
	Slot            SlotName               `json:"slot,omitempty"`
	Version         string                 `json:"version,omitempty"`
	SecurityCounter uint32                 `json:"security_counter"`
	DeviceCounter   uint32                 `json:"device_counter"` // the OTP counter after this boot
	Record          *swcomponent.Component `json:"boot_record,omitempty"`
}

// Result is the outcome of one boot.
type Result struct {
	Images []ImageReport `json:"images"`
	// ScratchErases is the number of scratch-area sectors this boot erased
	// (swap-scratch): the wear a swap puts on the scratch.
	ScratchErases int `json:"scratch_erases,omitempty"`
}

// Records returns the boot records of the booted images in image order.
func (r *Result) Records() []swcomponent.Component {
	var out []swcomponent.Component
	for _, im := range r.Images {
		if im.Record != nil {
			out = append(out, *im.Record)
		}
	}
	return out
}

func (r *ImageReport) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// imageState is the bootloader's working state for one image during a boot.
type imageState struct {
	pri, sec Trailer
	action   SwapType
	resumed  bool
	swapSize uint32
	cand     *validImage // the validated secondary of a new test/permanent upgrade
	// running is the primary image admitted to boot; permanent says it
	// can no longer be reverted (phase 4).
	running   *validImage
	permanent bool
	// restart is the swap type a swap-scratch trailer recorded for a swap
	// that wrote no status record yet: it is started again from the start.
	restart SwapType
	// srcPrimary: the primary trailer already holds the restarted swap's
	// request (swap-offset: MCUboot's status source is the primary slot).
	srcPrimary bool
}

// Boot runs one boot: it finishes any interrupted swap, decides and performs
// upgrades and reverts, validates every primary image, raises security
// counters where MCUboot would, and measures the booted images. A power cut
// returns an error wrapping flash.ErrPowerCut; calling Boot again after
// dev.PowerOn resumes. When some primary image is not valid the error wraps
// ErrNoBootableImage and the Result says why.
func (b *Bootloader) Boot() (*Result, error) {
	n := len(b.l.images)
	res := &Result{Images: make([]ImageReport, n)}
	b.io.scratchErases = 0
	defer func() { res.ScratchErases = b.io.scratchErases }()
	st := make([]imageState, n)
	if b.l.strategy.directXIP() {
		for i := range n {
			res.Images[i] = ImageReport{Index: i, Name: b.cfg.Images[i].Name, Action: SwapNone}
		}
		return res, b.bootDirectXIP(res)
	}
	for i := range n {
		res.Images[i] = ImageReport{Index: i, Name: b.cfg.Images[i].Name, Action: SwapNone}
		im := b.l.images[i]
		var err error
		if st[i].pri, err = b.io.trailer(im.primary); err != nil {
			return res, err
		}
		if st[i].sec, err = b.io.trailer(im.secondary); err != nil {
			return res, err
		}
		st[i].action = SwapNone
	}
	// Phase 1: finish interrupted swaps first, so that every primary holds
	// a whole image before anything is decided from it.
	upgrading := false
	for i := range n {
		if err := b.resume(i, &st[i], &res.Images[i]); err != nil {
			return res, err
		}
		if err := b.finishNow(i, &st[i], &res.Images[i]); err != nil {
			return res, err
		}
		if st[i].resumed && st[i].action != SwapRevert && b.l.strategy == SwapMove {
			upgrading = true
		}
	}
	// Phase 2: new requests from the trailers.
	for i := range n {
		if st[i].resumed {
			continue
		}
		if err := b.decide(i, &st[i], &res.Images[i], upgrading); err != nil {
			return res, err
		}
	}
	if b.l.strategy == SwapScratch || b.l.strategy == SwapOffset {
		b.reviewSwapTypes(st, res)
	}
	b.checkDependencies(st, res)
	// Phase 3: perform the new swaps, then mark them all done.
	for i := range n {
		if err := b.perform(i, &st[i], &res.Images[i]); err != nil {
			return res, err
		}
		if err := b.finishNow(i, &st[i], &res.Images[i]); err != nil {
			return res, err
		}
	}
	if b.l.strategy == SwapMove {
		for i := range n {
			if st[i].action != SwapNone {
				if err := b.finishSwap(i, &st[i], &res.Images[i]); err != nil {
					return res, err
				}
			}
		}
	}
	// Phase 4: validate what will run, raise counters, measure, image
	// after image. As MCUboot's context_boot_go, the first image whose
	// primary is not bootable stops the boot: the images after it are not
	// validated and their counters are not raised.
	for i := range n {
		if err := b.admit(i, &st[i], &res.Images[i]); err != nil {
			if errors.Is(err, flash.ErrPowerCut) {
				return res, err
			}
			// The reason stays in the chain (errors.Is finds
			// ErrNoSecurityCounter, ErrUnsigned, ...).
			return res, fmt.Errorf("%w: image %d: %w", ErrNoBootableImage, i, err)
		}
	}
	// Phase 5: release-key rotation, only once everything boots.
	if err := b.applyKeyRotation(st, res); err != nil {
		return res, err
	}
	return res, nil
}

// resume finishes a swap the primary trailer says was interrupted.
func (b *Bootloader) resume(i int, s *imageState, r *ImageReport) error {
	if b.l.strategy == SwapScratch {
		return b.resumeScratch(i, s, r)
	}
	if b.l.strategy == SwapOffset {
		return b.resumeOffset(i, s, r)
	}
	if b.l.strategy != SwapMove || !swapInProgress(s.pri, s.sec) {
		return nil
	}
	im := b.l.images[i]
	if int(s.pri.SwapSize) > im.maxImageSize(b.l) {
		r.note("primary trailer records a %s swap of %d bytes, more than the slots hold: ignored", s.pri.SwapType, s.pri.SwapSize)
		return nil
	}
	done, err := b.io.resumeSwap(i, im, s.pri.SwapType, s.pri.SwapSize)
	if err != nil {
		return err
	}
	s.action, s.resumed, s.swapSize = s.pri.SwapType, true, s.pri.SwapSize
	r.Action, r.Resumed = s.action, true
	r.note("resumed an interrupted %s swap of %d bytes after step %d of %d", s.action, s.swapSize, done, 3*swapSectors(im.primary, s.swapSize))
	return nil
}

// decide applies the swap table to image i and validates what it asks for.
func (b *Bootloader) decide(i int, s *imageState, r *ImageReport, upgrading bool) error {
	im := b.l.images[i]
	t := b.l.swapType(s.pri, s.sec)
	r.note("trailers: primary magic %s image_ok %s copy_done %s; secondary magic %s image_ok %s: swap type %s",
		s.pri.Magic, s.pri.ImageOK, s.pri.CopyDone, s.sec.Magic, s.sec.ImageOK, t)
	if s.restart != 0 && s.restart != SwapNone {
		r.note("a %s swap was recorded and not begun: starting it again", s.restart)
		t = s.restart
	}
	if b.l.strategy == OverwriteOnly {
		switch t {
		case SwapTest:
			r.note("overwrite-only: a test request is performed as a permanent overwrite")
			t = SwapPerm
		case SwapRevert:
			r.note("overwrite-only: nothing to revert to")
			t = SwapNone
		}
	}
	switch t {
	case SwapTest, SwapPerm:
		v, err := b.checkCandidate(i, s.restart != 0 && s.restart != SwapNone)
		if err != nil {
			return b.reject(i, t, err, r)
		}
		s.cand = v
		r.note("secondary image %s validated (security counter %d)", v.version(), v.secCnt)
	case SwapRevert:
		if upgrading {
			r.note("revert deferred: another image's interrupted upgrade is being completed first")
			return nil
		}
		sec, err := b.secondaryData(im, true)
		if err != nil {
			return err
		}
		if _, err := b.validate(sec, i, im.maxImageSize(b.l), true); err != nil {
			return b.reject(i, t, err, r)
		}
		r.note("image in the primary slot was tested and not confirmed: reverting")
	}
	s.action = t
	return nil
}

// reject handles a secondary slot that failed validation for a swap of type
// t as MCUboot's boot_validate_slot does. A slot whose header magic is
// erased holds no image: with swap-move its trailer sectors are erased (a
// leftover request would block the next update), and for a revert the
// primary trailer too (a revert stuck without its image); overwrite-only
// leaves it alone. Any other invalid slot is erased whole, one sector after
// the other. Either way nothing is swapped.
func (b *Bootloader) reject(i int, t SwapType, why error, r *ImageReport) error {
	im := b.l.images[i]
	hoff := uint32(0)
	if b.l.strategy == SwapOffset {
		var err error
		if hoff, err = b.io.secondaryImageOff(im, t == SwapRevert); err != nil {
			return err
		}
	}
	hdr, err := b.io.read(im.secondary, hoff, 4)
	if err != nil {
		return err
	}
	if !allEqual(hdr, b.l.erased) {
		r.note("secondary slot rejected (%v): erasing it", why)
		return b.io.eraseFrom(im.secondary, 0)
	}
	if !b.l.strategy.swaps() {
		r.note("secondary slot holds no image (%v)", why)
		return nil
	}
	r.note("secondary slot holds no image (%v): erasing its trailer", why)
	if err := b.io.eraseTrailer(im.secondary); err != nil {
		return err
	}
	if t == SwapRevert && b.l.strategy == SwapMove {
		r.note("revert without an image to revert to: erasing the primary trailer")
		return b.io.eraseTrailer(im.primary)
	}
	return nil
}

// checkCandidate validates image i's secondary slot as an upgrade.
//
// With swap-offset the image is one sector into the slot; a new request
// (not one restarted from the primary trailer) whose slot has an image
// header in its first sector is refused, as MCUboot's boot_validate_slot
// does ("wrong upload address").
func (b *Bootloader) checkCandidate(i int, restarted bool) (*validImage, error) {
	im := b.l.images[i]
	if b.l.strategy == SwapOffset && !restarted {
		h, err := b.io.read(im.secondary, 0, 4)
		if err != nil {
			return nil, err
		}
		if hasImageMagic(h) {
			return nil, fmt.Errorf("%w: swap-offset: an image header in the secondary slot's first sector (written at the wrong address?)", ErrInvalidImage)
		}
	}
	sec, err := b.secondaryData(im, false)
	if err != nil {
		return nil, err
	}
	v, err := b.validate(sec, i, im.maxImageSize(b.l), true)
	if err != nil {
		return nil, err
	}
	if b.cfg.DowngradePrevention {
		if cur, err := b.primaryImage(i); err == nil && v.version().Compare(cur.version(), false) < 0 {
			return nil, fmt.Errorf("%w: %s < %s", ErrDowngrade, v.version(), cur.version())
		}
	}
	return v, nil
}

// primaryImage validates image i's primary slot.
func (b *Bootloader) primaryImage(i int) (*validImage, error) {
	im := b.l.images[i]
	pri, err := b.io.readSlot(im.primary)
	if err != nil {
		return nil, err
	}
	return b.validate(pri, i, b.l.primaryMax(im), false)
}

// perform starts a new swap or overwrite for image i.
func (b *Bootloader) perform(i int, s *imageState, r *ImageReport) error {
	if s.resumed || s.action == SwapNone {
		r.Action = s.action
		return nil
	}
	im := b.l.images[i]
	if b.l.strategy == SwapOffset {
		return b.performOffset(i, s, r)
	}
	if b.l.strategy == OverwriteOnly {
		r.Action = SwapPerm
		r.note("overwriting the primary slot with the secondary slot (image of %d bytes)", s.cand.size)
		dec, err := b.candidateCipher(s.cand)
		if err != nil {
			return err
		}
		if err := b.io.overwrite(im, dec); err != nil {
			return err
		}
		// As MCUboot's boot_copy_image: the counter follows the new image
		// before the secondary's header and trailer are erased.
		if err := b.raise(i, s.cand.secCnt, r); err != nil {
			return err
		}
		return b.io.overwriteDone(im)
	}
	size := 0
	if s.cand != nil {
		size = s.cand.size
	} else if h, err := b.headerSize(im.secondary); err == nil {
		size = h
	}
	if h, err := b.headerSize(im.primary); err == nil {
		size = max(size, h)
	}
	if size == 0 || size > im.maxImageSize(b.l) {
		r.note("swap of %d bytes does not fit the slots: not done", size)
		s.action = SwapNone
		return nil
	}
	s.swapSize = uint32(size)
	r.Action = s.action
	if b.l.strategy == SwapScratch {
		r.note("starting a %s swap of %d bytes using scratch", s.action, size)
		sc, err := b.freshScratchCrypt(im)
		if err != nil {
			return err
		}
		return b.io.runScratchSwap(i, im, s.action, s.swapSize, 0, 0, sc)
	}
	r.note("starting a %s swap of %d bytes using move", s.action, size)
	keys, err := b.swapKeys(im)
	if err != nil {
		return err
	}
	return b.io.startSwap(i, im, s.action, s.swapSize, keys)
}

// headerSize is the size the image header at the start of s claims.
func (b *Bootloader) headerSize(s *slot) (int, error) {
	data, err := b.io.readSlot(s)
	if err != nil {
		return 0, err
	}
	img, err := image.Parse(data)
	if err != nil {
		return 0, err
	}
	return img.Size(), nil
}

// finishNow finishes image i's swap at once with swap-scratch, as MCUboot
// does in every mode: the next image's swap reuses the scratch area, whose
// trailer would then hide this image's unfinished one (swap_status_source
// reads the scratch first and ignores another image's). Swap-move defers
// it until every image is swapped (docs/boot.md §5, deviation 2).
func (b *Bootloader) finishNow(i int, s *imageState, r *ImageReport) error {
	if (b.l.strategy != SwapScratch && b.l.strategy != SwapOffset) || s.action == SwapNone {
		return nil
	}
	return b.finishSwap(i, s, r)
}

// finishSwap marks image i's completed swap as MCUboot's boot_perform_update
// and boot_complete_partial_swap do: image_ok for a revert or a permanent
// swap, then, for a permanent swap this boot started, the security counter
// raised to the new image's (before copy_done, as MCUboot), then copy_done.
func (b *Bootloader) finishSwap(i int, s *imageState, r *ImageReport) error {
	im := b.l.images[i]
	if err := b.io.finishImageOK(im, s.action); err != nil {
		return err
	}
	if s.action == SwapPerm && !s.resumed && s.cand != nil {
		if err := b.raise(i, s.cand.secCnt, r); err != nil {
			return err
		}
	}
	return b.io.finishCopyDone(im)
}

// raise raises image i's security counter to v.
func (b *Bootloader) raise(i int, v uint32, r *ImageReport) error {
	raised, err := b.counters.Raise(i, v)
	if err != nil {
		return err
	}
	if raised {
		r.note("security counter raised to %d", v)
	}
	return nil
}

// admit validates image i's primary slot, raises its security counter when
// the image is permanent, and measures it.
func (b *Bootloader) admit(i int, s *imageState, r *ImageReport) error {
	v, err := b.primaryImage(i)
	if err != nil {
		r.note("primary slot not bootable: %v", err)
		r.DeviceCounter = b.counters.Get(i)
		return err
	}
	r.Booted = true
	r.Version = v.version().String()
	r.SecurityCounter = v.secCnt
	// MCUboot's boot_update_hw_rollback_protection: the stored counter
	// follows the running image once it is permanent, i.e. when its trailer
	// has no magic or has image_ok set; never for a test (it may still
	// revert).
	t, err := b.io.trailer(b.l.images[i].primary)
	if err != nil {
		return err
	}
	s.running = v
	if t.Magic != MagicGood || t.ImageOK == FlagSet {
		s.permanent = true
		if err := b.raise(i, v.secCnt, r); err != nil {
			return err
		}
	}
	r.DeviceCounter = b.counters.Get(i)
	rec := newBootRecord(v, b.cfg.Images[i].Name)
	r.Record = &rec
	r.note("booting %s %s", r.Name, r.Version)
	return nil
}
