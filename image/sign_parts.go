package image

import (
	"crypto"
	"crypto/rsa"
	"encoding/binary"
	"fmt"
	"io"
)

// The steps of build, in the order it takes them: choose the signer, lay
// the image out (header area, body, protected TLVs, header), then, after
// hashing, sign and encrypt, and check the result fits the slot.

// signer is what signs an image and how it is named in the TLV area.
type signer struct {
	key      any     // Key, or the public key of a FixedSignature; nil for a hash-only image
	kt       KeyType // key's type, "" without a key
	hash     Hash    // the image hash
	pubBytes []byte  // PublicKeyBytes(key): a PUBKEY TLV's value
	keyHash  []byte  // hash of pubBytes (zeros without a key): KEYHASH and the boot record's signer ID
}

// signer picks the signing key (Key, or FixedSignatureKey for a fixed
// signature), its type and the image hash, with imgtool's rules between
// them and the encryption key.
func (o *SignOptions) signer() (*signer, error) {
	s := &signer{}
	if o.Key != nil {
		s.key = o.Key
	}
	if o.FixedSignature != nil || o.FixedSignatureKey != nil {
		if o.Key != nil {
			return nil, argErr("fix-sig", "cannot sign with a key and use a fixed signature at the same time")
		}
		if o.FixedSignatureKey == nil {
			return nil, argErr("fix-sig-pubkey", "--fix-sig needs --fix-sig-pubkey: the public key of the fixed signature")
		}
		s.key = publicOf(o.FixedSignatureKey)
	}
	var err error
	if s.key != nil {
		if s.kt, err = KeyTypeOf(s.key); err != nil {
			return nil, err
		}
		if s.kt.SigTLV() == 0 {
			return nil, argErr("key", "%w: a %s key cannot sign", ErrUnsupported, s.kt)
		}
	} else if o.Pure {
		return nil, argErr("pure", "--pure needs a signing key")
	}
	if s.hash, err = o.chooseHash(s.kt); err != nil {
		return nil, err
	}
	if o.EncryptKey != nil {
		if err := checkEncryptPair(s.kt, o.EncryptKey); err != nil {
			return nil, err
		}
	}
	s.keyHash = make([]byte, 32)
	if s.key != nil {
		if s.pubBytes, err = PublicKeyBytes(s.key); err != nil {
			return nil, err
		}
		s.keyHash = s.hash.Sum(s.pubBytes)
	}
	return s, nil
}

// layOut fills in p's header area, body (with the zeros encryption needs)
// and protected TLV area, and writes the header into the header area.
func (o *SignOptions) layOut(p *signed, firmware []byte, s *signer) error {
	head, body, err := o.splitFirmware(firmware)
	if err != nil {
		return err
	}
	prot, err := o.protectedTLVs(s)
	if err != nil {
		return err
	}
	if p.prot, err = protectedArea(prot); err != nil {
		return err
	}
	p.body = [][]byte{body}
	if n := o.encryptionPadding(len(head) + len(body)); n > 0 {
		p.body = append(p.body, make([]byte, n))
	}
	imgSize := p.bodySize()
	if uint64(imgSize) > 0xffffffff {
		return argErr("input", "%w: %d bytes do not fit ih_img_size", ErrTooLarge, imgSize)
	}
	hb, _ := o.header(len(head), len(p.prot), imgSize).MarshalBinary()
	copy(head, hb)
	p.head = head
	return nil
}

// splitFirmware returns the header area and the body. With PadHeader the
// header area is new, erased bytes; without, the input's first HeaderSize
// bytes must be zeros and become the header area (imgtool's rule).
func (o *SignOptions) splitFirmware(firmware []byte) (head, body []byte, err error) {
	hdr := o.HeaderSize
	head = make([]byte, hdr)
	if o.PadHeader {
		for i := range head {
			head[i] = o.erased()
		}
		return head, firmware, nil
	}
	if len(firmware) < hdr {
		return nil, nil, argErr("header-size", "input of %d bytes is shorter than the %d-byte header; use --pad-header", len(firmware), hdr)
	}
	for _, c := range firmware[:hdr] {
		if c != 0 {
			return nil, nil, argErr("pad-header", "header padding was not requested and the input does not start with %d zero bytes", hdr)
		}
	}
	return head, firmware[hdr:], nil
}

// protectedTLVs lists the protected TLVs in imgtool's order: security
// counter, boot record, dependencies, VID, CID, custom TLVs.
func (o *SignOptions) protectedTLVs(s *signer) ([]TLV, error) {
	var prot []TLV
	if o.SecurityCounter != nil {
		prot = append(prot, TLV{Type: TLVSecCnt, Value: binary.LittleEndian.AppendUint32(nil, *o.SecurityCounter)})
	}
	if o.BootRecord != "" {
		br, err := buildBootRecord(o.BootRecord, o.Version, s.keyHash, s.hash)
		if err != nil {
			return nil, err
		}
		prot = append(prot, TLV{Type: TLVBootRecord, Value: br})
	}
	for _, d := range o.Dependencies {
		prot = append(prot, TLV{Type: TLVDependency, Value: d.marshal()})
	}
	uuids, err := o.uuidTLVs()
	if err != nil {
		return nil, err
	}
	prot = append(prot, uuids...)
	return append(prot, o.CustomTLVs...), nil
}

// uuidTLVs returns the VID and CID TLVs; a CID given as a name is a UUID
// in the VID's namespace.
func (o *SignOptions) uuidTLVs() ([]TLV, error) {
	var out []TLV
	var vid [16]byte
	var err error
	if o.VID != "" {
		if vid, err = ParseUUID(&NamespaceDNS, o.VID); err != nil {
			return nil, err
		}
		out = append(out, TLV{Type: TLVUUIDVID, Value: vid[:]})
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
		out = append(out, TLV{Type: TLVUUIDCID, Value: cid[:]})
	}
	return out, nil
}

// protectedArea encodes the protected TLV area; none when there are no
// protected TLVs.
func protectedArea(prot []TLV) ([]byte, error) {
	if len(prot) == 0 {
		return nil, nil
	}
	if size := tlvAreaSize(prot); size > 0xffff {
		return nil, argErr("protected TLV area", "%d bytes do not fit ih_protect_tlv_size", size)
	}
	return appendTLVArea(nil, TLVProtInfoMagic, prot)
}

// encryptionPadding is how many zeros an encrypted image's body gets so
// that header plus body is a multiple of the AES block size.
func (o *SignOptions) encryptionPadding(headerAndBody int) int {
	if n := headerAndBody % 16; o.EncryptKey != nil && n != 0 {
		return 16 - n
	}
	return 0
}

// aesKeyLen is the AES key length in bytes (--encrypt-keylen).
func (o *SignOptions) aesKeyLen() int {
	if o.EncryptKeyLen == 256 {
		return 32
	}
	return 16
}

// header is the image header for these options and sizes.
func (o *SignOptions) header(hdrSize, protSize, imgSize int) Header {
	var flags Flags
	if o.EncryptKey != nil {
		flags |= FlagEncryptedAES128
		if o.aesKeyLen() == 32 {
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
	return Header{Magic: ImageMagic, LoadAddr: load, HdrSize: uint16(hdrSize), ProtectTLVSize: uint16(protSize),
		ImgSize: uint32(imgSize), Flags: flags, Ver: o.Version}
}

// keyTLV names the signing key: its hash (KEYHASH) or the key itself
// (PUBKEY, --public-key-format full).
func (o *SignOptions) keyTLV(s *signer) TLV {
	if o.PublicKeyFormat == KeyFormatFull {
		return TLV{Type: TLVPubKey, Value: s.pubBytes}
	}
	return TLV{Type: TLVKeyHash, Value: s.keyHash}
}

// signature signs the hashed region with Key, or checks that the
// FixedSignature verifies over it, and pads ECDSA signatures with PadSig.
func (o *SignOptions) signature(s *signer, region [][]byte, digest []byte, r io.Reader) ([]byte, error) {
	var sig []byte
	if o.Key != nil {
		var err error
		if sig, err = signRegion(o.Key, s.kt, region, s.hash, digest, o.Pure, r); err != nil {
			return nil, err
		}
	} else {
		sig = o.FixedSignature
		tk := trustedKey{kt: s.kt, pub: s.key}
		msg := signedMessagePieces(s.kt, region, s.hash, digest, o.Pure)
		if err := verifySigMessage(tk, TLV{Type: s.kt.SigTLV(), Value: sig, Offset: -1}, msg); err != nil {
			return nil, argErr("fix-sig", "the fixed signature does not verify with the given public key over this image: %v", err)
		}
	}
	if o.PadSig {
		sig = padECDSASignature(s.kt, sig)
	}
	return sig, nil
}

// padECDSASignature zero-pads an ECDSA signature to the fixed length
// MCUboot before 1.5 expected (72 bytes for P-256, 103 for P-384).
func padECDSASignature(kt KeyType, sig []byte) []byte {
	n := 0
	switch kt {
	case KeyECDSAP256:
		n = 72
	case KeyECDSAP384:
		n = 103
	}
	if len(sig) < n {
		sig = append(sig, make([]byte, n-len(sig))...)
	}
	return sig
}

// encryptBody draws the AES key, wraps it for EncryptKey (the TLV
// returned) and, unless Clear, replaces p's body by its ciphertext.
func (o *SignOptions) encryptBody(p *signed, r io.Reader) (TLV, error) {
	aesKey := make([]byte, o.aesKeyLen())
	if _, err := io.ReadFull(r, aesKey); err != nil {
		return TLV{}, fmt.Errorf("image: reading random AES key: %w", err)
	}
	encPub := publicOf(o.EncryptKey)
	hm := SHA256
	if _, isRSA := encPub.(*rsa.PublicKey); !isRSA && o.HMACBits == 512 {
		hm = SHA512
	}
	et, err := wrapKey(encPub, aesKey, hm, r)
	if err != nil {
		return TLV{}, err
	}
	if !o.Clear {
		enc := make([]byte, 0, p.bodySize())
		for _, b := range p.body {
			enc = append(enc, b...)
		}
		if err := aesCTR(aesKey, enc); err != nil {
			return TLV{}, err
		}
		p.body = [][]byte{enc}
	}
	return et, nil
}

// checkFitsSlot applies -S: the image and its trailer must fit the slot.
func (o *SignOptions) checkFitsSlot(res *SignResult) error {
	tsize := res.Trailer.Size()
	if o.SlotSize > 0 && res.ImageSize+tsize > o.SlotSize {
		return argErr("slot-size", "%w: image (0x%x) + trailer (0x%x) exceeds the slot size 0x%x", ErrTooLarge, res.ImageSize, tsize, o.SlotSize)
	}
	return nil
}

// checkEncryptPair applies imgtool's rule that ECDSA and RSA signing keys
// need an encryption key of the same family.
func checkEncryptPair(kt KeyType, enc any) error {
	if kek, ok := enc.([]byte); ok {
		// AES-KW pairs with any signature.
		if len(kek) != 16 && len(kek) != 32 {
			return argErr("encrypt", "an AES-KW key-encryption key is 16 or 32 bytes, not %d", len(kek))
		}
		return nil
	}
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
