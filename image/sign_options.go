package image

import (
	"crypto"
	"io"
)

// PublicKeyFormat says how the signing key is named in the TLV area.
type PublicKeyFormat int

const (
	// KeyFormatHash writes a KEYHASH TLV (imgtool --public-key-format hash, the default).
	KeyFormatHash PublicKeyFormat = iota
	// KeyFormatFull writes the whole key in a PUBKEY TLV (--public-key-format full).
	KeyFormatFull
)

// SignOptions are the options of imgtool sign, field by field. The zero
// value of each field is imgtool's default, except HeaderSize (required).
type SignOptions struct {
	Key             crypto.Signer   // -k: signing key; nil makes an image with a hash TLV only
	PublicKeyFormat PublicKeyFormat // --public-key-format
	HashBits        int             // --sha: 0 (auto), 256, 384 or 512
	Pure            bool            // --pure: Ed25519 over the image itself (forces SHA-512)
	PadSig          bool            // --pad-sig: zero-pad ECDSA signatures to 72/103 bytes

	HeaderSize  int     // -H/--header-size: >= 32
	PadHeader   bool    // --pad-header: prepend HeaderSize erased bytes
	ErasedVal   *byte   // -R/--erased-val: 0 or 0xff; 0xff when nil
	Version     Version // -v/--version
	SlotSize    int     // -S/--slot-size: image + trailer must fit; 0 skips the check
	Pad         bool    // --pad: pad to SlotSize and write the trailer magic
	Confirm     bool    // --confirm: as Pad, and set image_ok
	Test        bool    // --test: as Pad (a test upgrade)
	Align       int     // --align: 1 (default), 2, 4, 8, 16, 32
	MaxAlign    int     // --max-align: 8, 16, 32; 0 means max(8, Align)
	MaxSectors  int     // -M/--max-sectors: 0 means 128
	Overwrite   bool    // --overwrite-only
	LoadAddr    uint32  // -L/--load-addr: sets RAM_LOAD when non-zero
	ROMFixed    uint32  // -F/--rom-fixed: sets ROM_FIXED when non-zero
	NonBootable bool    // --non-bootable

	SecurityCounter *uint32      // -s/--security-counter (use Version.SecurityCounter() for "auto")
	Dependencies    []Dependency // -d/--dependencies
	BootRecord      string       // --boot-record sw_type ("" for none)
	CustomTLVs      []TLV        // --custom-tlv, in order; types 0xa0..0xfffe, not predefined
	VID, CID        string       // --vid, --cid (see ParseUUID)

	EncryptKey    any  // -E/--encrypt: RSA, P-256 or X25519 key (its public half is used), or a []byte AES-KW key-encryption key; nil for none
	EncryptKeyLen int  // --encrypt-keylen: 128 (default) or 256
	HMACBits      int  // --hmac-sha: 0 (auto = 256) or 512 (X25519 only)
	Clear         bool // -c/--clear: add the key TLV and flags but leave the body in clear
	SaveEncTLV    bool // --save-enctlv: trailer room for the key TLV instead of the key

	// FixedSignature is a signature made elsewhere (an HSM, a signing
	// server) over the vector [SigningVector] returned (imgtool --fix-sig);
	// FixedSignatureKey is the public key that made it (--fix-sig-pubkey).
	// Use them instead of Key. Sign checks the signature before using it.
	FixedSignature    []byte
	FixedSignatureKey any

	// Rand supplies the AES key, ECIES ephemeral keys and ECDSA/RSA
	// signature randomness; crypto/rand.Reader when nil.
	Rand io.Reader

	vectorOnly bool // build stops after hashing (SigningVector)
}

// SignResult is a signed image.
type SignResult struct {
	// Bytes is the output file: the image, padded to SlotSize with the
	// trailer when Pad, Confirm or Test was set.
	Bytes []byte
	// ImageSize is the length of the image proper (header to TLV end).
	ImageSize int
	Digest    []byte // the image hash (of the plaintext)
	Signature []byte // the signature TLV value, nil when unsigned
	Trailer   TrailerLayout
}

func (o *SignOptions) erased() byte {
	if o.ErasedVal == nil {
		return DefaultErasedVal
	}
	return *o.ErasedVal
}

func (o *SignOptions) layout() TrailerLayout {
	l := TrailerLayout{Align: o.Align, MaxAlign: o.MaxAlign, MaxSectors: o.MaxSectors,
		OverwriteOnly: o.Overwrite, Encrypted: o.EncryptKey != nil, SaveEncTLV: o.SaveEncTLV}
	if l.Align == 0 {
		l.Align = 1
	}
	if l.MaxAlign == 0 {
		l.MaxAlign = max(DefaultMaxAlign, l.Align)
	}
	if l.MaxSectors == 0 {
		l.MaxSectors = DefaultMaxSectors
	}
	return l
}

// chooseHash applies imgtool's rules: a key allows some hashes, "auto" takes
// the first; --pure forces SHA-512 and forbids a choice.
func (o *SignOptions) chooseHash(kt KeyType) (Hash, error) {
	private := o.Key != nil
	if o.Pure {
		if kt != KeyEd25519 {
			return 0, argErr("pure", "%w: pure signatures need an Ed25519 key, not %s", ErrUnsupported, kt)
		}
		if o.HashBits != 0 {
			return 0, argErr("sha", "--pure enforces SHA-512 and forbids --sha")
		}
		return SHA512, nil
	}
	if kt == "" {
		if o.HashBits == 0 {
			return SHA256, nil
		}
		return HashFromBits(o.HashBits)
	}
	allowed := kt.allowedHashes(private)
	if o.HashBits == 0 {
		return allowed[0], nil
	}
	h, err := HashFromBits(o.HashBits)
	if err != nil {
		return 0, err
	}
	for _, a := range allowed {
		if a == h {
			return h, nil
		}
	}
	return 0, argErr("sha", "a %s key cannot be used with --sha %d", kt, o.HashBits)
}

func (o *SignOptions) check() error {
	if o.HeaderSize < HeaderSize || o.HeaderSize > 0xffff {
		return argErr("header-size", "%d: must be between %d and 65535", o.HeaderSize, HeaderSize)
	}
	l := o.layout()
	switch l.Align {
	case 1, 2, 4, 8, 16, 32:
	default:
		return argErr("align", "%d is not one of 1, 2, 4, 8, 16, 32", l.Align)
	}
	switch l.MaxAlign {
	case 8, 16, 32:
	default:
		return argErr("max-align", "%d is not one of 8, 16, 32", l.MaxAlign)
	}
	if l.MaxSectors < 0 {
		return argErr("max-sectors", "%d is negative", l.MaxSectors)
	}
	if o.LoadAddr != 0 && o.ROMFixed != 0 {
		return argErr("load-addr", "cannot set both --load-addr and --rom-fixed")
	}
	if o.ErasedVal != nil && *o.ErasedVal != 0 && *o.ErasedVal != 0xff {
		return argErr("erased-val", "0x%02x is not 0 or 0xff (the erased values of MCUboot's flash)", *o.ErasedVal)
	}
	if (o.Pad || o.Confirm || o.Test) && o.SlotSize <= 0 {
		return argErr("slot-size", "--pad, --confirm and --test need a slot size")
	}
	switch o.EncryptKeyLen {
	case 0, 128, 256:
	default:
		return argErr("encrypt-keylen", "%d is not 128 or 256", o.EncryptKeyLen)
	}
	switch o.HMACBits {
	case 0, 256, 512:
	default:
		return argErr("hmac-sha", "%d is not 256 or 512", o.HMACBits)
	}
	seen := map[uint16]bool{}
	for _, t := range o.CustomTLVs {
		if t.Type < TLVVendorMin || t.Type > TLVVendorMax {
			return argErr("custom-tlv", "type 0x%04x is outside 0x%04x..0x%04x", t.Type, TLVVendorMin, TLVVendorMax)
		}
		if IsPredefinedTLV(t.Type) {
			return argErr("custom-tlv", "type 0x%x conflicts with a predefined TLV", t.Type)
		}
		if seen[t.Type] {
			return argErr("custom-tlv", "type 0x%x given twice", t.Type)
		}
		seen[t.Type] = true
	}
	return nil
}

// Validate reports the first problem with the options that does not
// depend on the firmware (Sign also checks the header area, the sizes and
// the slot): a command line can refuse bad options before reading files.
func (o *SignOptions) Validate() error {
	if err := o.check(); err != nil {
		return err
	}
	s, err := o.signer()
	if err != nil {
		return err
	}
	prot, err := o.protectedTLVs(s)
	if err != nil {
		return err
	}
	_, err = protectedArea(prot)
	return err
}
