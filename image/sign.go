package image

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
)

// SigningVector returns what an external signer must sign for these
// options (imgtool --vector-to-sign): the hashed region (header, body and
// protected TLVs, as "payload") and the image hash ("digest"). Key may be
// nil; FixedSignatureKey, when set, selects the hash and the key hash the
// boot record holds. ECDSA and RSA keys sign the region with their hash,
// Ed25519 signs the digest (or the region with Pure).
func SigningVector(firmware []byte, o *SignOptions) (payload, digest []byte, err error) {
	c := *o
	c.vectorOnly = true
	c.FixedSignature = nil
	p, err := build(firmware, &c, nil)
	if err != nil {
		return nil, nil, err
	}
	for _, piece := range p.region {
		payload = append(payload, piece...)
	}
	return payload, p.res.Digest, nil
}

// Sign builds an MCUboot image from a firmware binary the way imgtool sign
// does, byte for byte: same header, same TLV order, same padding and trailer.
// Ed25519 signatures are deterministic, so Sign reproduces imgtool's Ed25519
// images exactly; ECDSA and RSA-PSS signatures are randomized.
func Sign(firmware []byte, o *SignOptions) (*SignResult, error) {
	p, err := build(firmware, o, nil)
	if err != nil {
		return nil, err
	}
	size := p.res.ImageSize
	if p.padded {
		size = o.SlotSize
	}
	out := make([]byte, 0, size)
	for _, piece := range p.pieces() {
		out = append(out, piece...)
	}
	if p.padded {
		out = appendTrailer(out, o.SlotSize, o.erased(), p.res.Trailer, o.Confirm)
	}
	p.res.Bytes = out
	return p.res, nil
}

// SignTo is [Sign] writing the output to w instead of returning it: it
// never copies the firmware (unless it encrypts it), which matters for
// images of many megabytes. The returned SignResult has a nil Bytes.
func SignTo(w io.Writer, firmware []byte, o *SignOptions) (*SignResult, error) {
	writeAll := func(pieces [][]byte) error {
		for _, piece := range pieces {
			if _, err := w.Write(piece); err != nil {
				return fmt.Errorf("image: writing output: %w", err)
			}
		}
		return nil
	}
	// The header, body and protected area do not depend on the hash: when
	// the body is not encrypted they are written while the hash is computed.
	var early chan error
	start := func(pieces [][]byte) {
		early = make(chan error, 1)
		go func() { early <- writeAll(pieces) }()
	}
	p, err := build(firmware, o, start)
	if early != nil {
		if werr := <-early; err == nil {
			err = werr
		}
	}
	if err != nil {
		return nil, err
	}
	rest := p.pieces()
	if early != nil {
		rest = [][]byte{p.unprot}
	}
	if err := writeAll(rest); err != nil {
		return nil, err
	}
	if p.padded {
		// The padding and trailer only: the same bytes appendTrailer writes.
		tail := appendTrailer(nil, o.SlotSize-p.res.ImageSize, o.erased(), p.res.Trailer, o.Confirm)
		if _, err := w.Write(tail); err != nil {
			return nil, fmt.Errorf("image: writing output: %w", err)
		}
	}
	return p.res, nil
}

// signed is an image as a list of pieces that are never concatenated
// unless the caller wants one buffer.
type signed struct {
	region [][]byte // the hashed region, for SigningVector
	head   []byte   // header and header padding (ih_hdr_size bytes)
	body   [][]byte // body pieces: the firmware (aliased), encryption padding
	prot   []byte   // protected TLV area, possibly empty
	unprot []byte   // TLV area
	padded bool
	res    *SignResult
}

// bodySize is the length of the body: ih_img_size.
func (p *signed) bodySize() int {
	n := 0
	for _, b := range p.body {
		n += len(b)
	}
	return n
}

func (p *signed) pieces() [][]byte {
	out := append([][]byte{p.head}, p.body...)
	return append(out, p.prot, p.unprot)
}

// hashedPieces are the pieces of the hashed region (with the plaintext body).
func hashPieces(h Hash, pieces ...[]byte) []byte {
	d := h.New()
	for _, p := range pieces {
		d.Write(p)
	}
	return d.Sum(nil)
}

// build lays the image out and signs it. If early is not nil and the body
// is not encrypted, build hands it the header, body and protected area as
// soon as they are final, before hashing; the caller then must not write
// them again.
func build(firmware []byte, o *SignOptions, early func([][]byte)) (*signed, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	s, err := o.signer()
	if err != nil {
		return nil, err
	}
	p := &signed{padded: o.Pad || o.Confirm || o.Test}
	if err := o.layOut(p, firmware, s); err != nil {
		return nil, err
	}

	// Hash the header, body and protected area; then sign and encrypt.
	region := append(append([][]byte{p.head}, p.body...), p.prot)
	if early != nil && o.EncryptKey == nil && !o.vectorOnly {
		early(region)
	}
	p.res = &SignResult{Digest: hashPieces(s.hash, region...), Trailer: o.layout()}
	if o.vectorOnly {
		p.region = region
		return p, nil
	}
	if err := o.finish(p, s, region); err != nil {
		return nil, err
	}
	return p, nil
}

// finish signs the hashed region and, with EncryptKey, encrypts the body,
// then encodes the TLV area in imgtool's order (hash, SIG_PURE, key hash
// or key, signature, wrapped AES key) and checks the slot size.
func (o *SignOptions) finish(p *signed, s *signer, region [][]byte) error {
	res := p.res
	unprot := []TLV{{Type: uint16(s.hash), Value: res.Digest}}
	if o.Pure {
		unprot = append(unprot, TLV{Type: TLVSigPure, Value: []byte{1}})
	}
	r := o.Rand
	if r == nil {
		r = rand.Reader
	}
	if s.key != nil {
		sig, err := o.signature(s, region, res.Digest, r)
		if err != nil {
			return err
		}
		res.Signature = sig
		unprot = append(unprot, o.keyTLV(s), TLV{Type: s.kt.SigTLV(), Value: sig})
	}
	if o.EncryptKey != nil {
		et, err := o.encryptBody(p, r)
		if err != nil {
			return err
		}
		unprot = append(unprot, et)
		res.Trailer.EncTLVLen = len(et.Value)
	}
	var err error
	if p.unprot, err = appendTLVArea(nil, TLVInfoMagic, unprot); err != nil {
		return err
	}
	res.ImageSize = len(p.head) + p.bodySize() + len(p.prot) + len(p.unprot)
	return o.checkFitsSlot(res)
}

// appendTrailer pads img to slotSize with the erased value and writes the
// boot magic at the end, plus image_ok = 0x01 when confirm (not for
// overwrite-only layouts).
func appendTrailer(img []byte, slotSize int, erased byte, l TrailerLayout, confirm bool) []byte {
	start := len(img)
	img = append(img, bytes.Repeat([]byte{erased}, slotSize-start)...)
	copy(img[slotSize-BootMagicSize:], BootMagic(l.MaxAlign))
	if confirm && !l.OverwriteOnly {
		img[slotSize-ImageOKOffset(l.MaxAlign)] = BootFlagSet
	}
	return img
}
