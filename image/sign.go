package image

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
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
	r := o.Rand
	if r == nil {
		r = rand.Reader
	}
	hdr := o.HeaderSize
	var kt KeyType
	var signKey any
	if o.Key != nil {
		signKey = o.Key
	}
	if o.FixedSignature != nil || o.FixedSignatureKey != nil {
		if o.Key != nil {
			return nil, argErr("fix-sig", "cannot sign with a key and use a fixed signature at the same time")
		}
		if o.FixedSignatureKey == nil {
			return nil, argErr("fix-sig-pubkey", "the public key of the fixed signature is not given")
		}
		signKey = publicOf(o.FixedSignatureKey)
	}
	if signKey != nil {
		var err error
		if kt, err = KeyTypeOf(signKey); err != nil {
			return nil, err
		}
		if kt.SigTLV() == 0 {
			return nil, argErr("key", "%w: a %s key cannot sign", ErrUnsupported, kt)
		}
	} else if o.Pure {
		return nil, argErr("pure", "--pure needs a signing key")
	}
	h, err := o.chooseHash(kt)
	if err != nil {
		return nil, err
	}
	if o.EncryptKey != nil {
		if err := checkEncryptPair(kt, o.EncryptKey); err != nil {
			return nil, err
		}
	}

	// The header area and the body. Without --pad-header the input's first
	// ih_hdr_size bytes must be zeros and become the header area.
	p := &signed{padded: o.Pad || o.Confirm || o.Test}
	head := make([]byte, hdr)
	body := firmware
	if o.PadHeader {
		for i := range head {
			head[i] = o.erased()
		}
	} else {
		if len(firmware) < hdr {
			return nil, argErr("header-size", "input of %d bytes is shorter than the %d-byte header; use --pad-header", len(firmware), hdr)
		}
		for _, c := range firmware[:hdr] {
			if c != 0 {
				return nil, argErr("pad-header", "header padding was not requested and the input does not start with %d zero bytes", hdr)
			}
		}
		body = firmware[hdr:]
	}
	p.body = [][]byte{body}

	// Key bytes and hash.
	var pubBytes, keyHash []byte
	if signKey != nil {
		if pubBytes, err = PublicKeyBytes(signKey); err != nil {
			return nil, err
		}
		keyHash = h.Sum(pubBytes)
	} else {
		keyHash = make([]byte, 32)
	}

	// Protected TLVs, in imgtool's order.
	var prot []TLV
	if o.SecurityCounter != nil {
		prot = append(prot, TLV{Type: TLVSecCnt, Value: binary.LittleEndian.AppendUint32(nil, *o.SecurityCounter)})
	}
	if o.BootRecord != "" {
		br, err := buildBootRecord(o.BootRecord, o.Version, keyHash, h)
		if err != nil {
			return nil, err
		}
		prot = append(prot, TLV{Type: TLVBootRecord, Value: br})
	}
	for _, d := range o.Dependencies {
		prot = append(prot, TLV{Type: TLVDependency, Value: d.marshal()})
	}
	var vid [16]byte
	if o.VID != "" {
		if vid, err = ParseUUID(&NamespaceDNS, o.VID); err != nil {
			return nil, err
		}
		prot = append(prot, TLV{Type: TLVUUIDVID, Value: vid[:]})
	}
	if o.CID != "" {
		var ns *[16]byte
		if o.VID != "" {
			ns = &vid
		}
		cid, err := ParseUUID(ns, o.CID)
		if err != nil {
			return nil, err
		}
		prot = append(prot, TLV{Type: TLVUUIDCID, Value: cid[:]})
	}
	prot = append(prot, o.CustomTLVs...)
	protSize := 0
	if len(prot) > 0 {
		protSize = tlvAreaSize(prot)
		if protSize > 0xffff {
			return nil, argErr("protected TLV area", "%d bytes do not fit ih_protect_tlv_size", protSize)
		}
	}

	// An encrypted image is zero-padded so that header + body is a
	// multiple of the AES block size.
	keyLen := 16
	if o.EncryptKeyLen == 256 {
		keyLen = 32
	}
	imgSize := len(body)
	if o.EncryptKey != nil {
		if n := (hdr + imgSize) % 16; n != 0 {
			p.body = append(p.body, make([]byte, 16-n))
			imgSize += 16 - n
		}
	}
	if uint64(imgSize) > 0xffffffff {
		return nil, argErr("input", "%w: %d bytes do not fit ih_img_size", ErrTooLarge, imgSize)
	}

	var flags Flags
	if o.EncryptKey != nil {
		flags |= FlagEncryptedAES128
		if keyLen == 32 {
			flags = FlagEncryptedAES256
		}
	}
	if o.LoadAddr != 0 {
		flags |= FlagRAMLoad
	}
	if o.ROMFixed != 0 {
		flags |= FlagROMFixed
	}
	if o.NonBootable {
		flags |= FlagNonBootable
	}
	load := o.LoadAddr
	if o.ROMFixed != 0 {
		load = o.ROMFixed
	}
	header := Header{Magic: ImageMagic, LoadAddr: load, HdrSize: uint16(hdr), ProtectTLVSize: uint16(protSize),
		ImgSize: uint32(imgSize), Flags: flags, Ver: o.Version}
	hb, _ := header.MarshalBinary()
	copy(head, hb)
	p.head = head
	if len(prot) > 0 {
		if p.prot, err = appendTLVArea(nil, TLVProtInfoMagic, prot); err != nil {
			return nil, err
		}
	}

	// Hash and sign the header, body and protected area.
	region := append(append([][]byte{p.head}, p.body...), p.prot)
	if early != nil && o.EncryptKey == nil && !o.vectorOnly {
		early(region)
	}
	digest := hashPieces(h, region...)
	res := &SignResult{Digest: digest, Trailer: o.layout()}
	unprot := []TLV{{Type: uint16(h), Value: digest}}
	if o.Pure {
		unprot = append(unprot, TLV{Type: TLVSigPure, Value: []byte{1}})
	}
	if o.vectorOnly {
		p.res = res
		p.region = region
		return p, nil
	}
	if signKey != nil {
		if o.PublicKeyFormat == KeyFormatFull {
			unprot = append(unprot, TLV{Type: TLVPubKey, Value: pubBytes})
		} else {
			unprot = append(unprot, TLV{Type: TLVKeyHash, Value: keyHash})
		}
		var sig []byte
		if o.Key != nil {
			if sig, err = signRegion(o.Key, kt, region, h, digest, o.Pure, r); err != nil {
				return nil, err
			}
		} else {
			sig = o.FixedSignature
			tk := trustedKey{kt: kt, pub: signKey}
			msg := signedMessagePieces(kt, region, h, digest, o.Pure)
			if err := verifySigMessage(tk, TLV{Type: kt.SigTLV(), Value: sig, Offset: -1}, msg); err != nil {
				return nil, argErr("fix-sig", "the fixed signature does not verify with the given public key over this image: %v", err)
			}
		}
		if o.PadSig && (kt == KeyECDSAP256 || kt == KeyECDSAP384) {
			n := 72
			if kt == KeyECDSAP384 {
				n = 103
			}
			if len(sig) < n {
				sig = append(sig, make([]byte, n-len(sig))...)
			}
		}
		res.Signature = sig
		unprot = append(unprot, TLV{Type: kt.SigTLV(), Value: sig})
	}

	if o.EncryptKey != nil {
		aesKey := make([]byte, keyLen)
		if _, err := io.ReadFull(r, aesKey); err != nil {
			return nil, fmt.Errorf("image: reading random AES key: %w", err)
		}
		hm := SHA256
		if o.HMACBits == 512 {
			hm = SHA512
		}
		if _, isRSA := o.EncryptKey.(*rsa.PublicKey); isRSA {
			hm = SHA256
		}
		et, err := wrapKey(o.EncryptKey, aesKey, hm, r)
		if err != nil {
			return nil, err
		}
		unprot = append(unprot, et)
		res.Trailer.EncTLVLen = len(et.Value)
		if !o.Clear {
			enc := make([]byte, 0, imgSize)
			for _, b := range p.body {
				enc = append(enc, b...)
			}
			if err := aesCTR(aesKey, enc); err != nil {
				return nil, err
			}
			p.body = [][]byte{enc}
		}
	}
	if p.unprot, err = appendTLVArea(nil, TLVInfoMagic, unprot); err != nil {
		return nil, err
	}
	res.ImageSize = hdr + imgSize + len(p.prot) + len(p.unprot)

	tsize := res.Trailer.Size()
	if o.SlotSize > 0 && res.ImageSize+tsize > o.SlotSize {
		return nil, argErr("slot-size", "%w: image (0x%x) + trailer (0x%x) exceeds the slot size 0x%x", ErrTooLarge, res.ImageSize, tsize, o.SlotSize)
	}
	p.res = res
	return p, nil
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

// checkEncryptPair applies imgtool's rule that ECDSA and RSA signing keys
// need an encryption key of the same family.
func checkEncryptPair(kt KeyType, enc any) error {
	et, err := KeyTypeOf(enc)
	if err != nil {
		return err
	}
	ok := true
	switch kt {
	case KeyECDSAP256:
		ok = et == KeyECDSAP256
	case KeyECDSAP384:
		ok = false
	case KeyRSA2048, KeyRSA3072:
		ok = et == KeyRSA2048 || et == KeyRSA3072
	}
	if !ok {
		return argErr("encrypt", "signing and encryption must use the same type of key (%s signing, %s encryption)", kt, et)
	}
	return nil
}

// signRegion signs the hashed region with key as MCUboot expects for kt.
func signRegion(key crypto.Signer, kt KeyType, region [][]byte, h Hash, digest []byte, pure bool, r io.Reader) ([]byte, error) {
	msg := signedMessagePieces(kt, region, h, digest, pure)
	var opts crypto.SignerOpts
	switch kt {
	case KeyECDSAP256:
		opts = crypto.SHA256
	case KeyECDSAP384:
		opts = crypto.SHA384
	case KeyRSA2048, KeyRSA3072:
		opts = &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256}
	case KeyEd25519:
		opts = crypto.Hash(0)
	}
	sig, err := key.Sign(r, msg, opts)
	if err != nil {
		return nil, fmt.Errorf("image: signing with %s key: %w", kt, err)
	}
	return sig, nil
}
