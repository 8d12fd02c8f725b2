package cli

import (
	"crypto"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"rampart/hsm"
	"rampart/image"
)

// imageSignFlags are imgtool sign's options.
type imageSignFlags struct {
	key, publicKeyFormat, align, maxAlign, version, headerSize, slotSize     string
	endian, encryptKeylen, encrypt, compression, dependencies, loadAddr      string
	romFixed, hexAddr, erasedVal, securityCounter, bootRecord, vid, cid, sha string
	hmacSHA, sigOut, vectorToSign, fixSig, fixSigPubkey                      string
	padSig, padHeader, pad, confirm, test, overwriteOnly, clear, saveEncTLV  bool
	pure, nonBootable                                                        bool
	maxSectors                                                               int
	customTLV, customTLVFile                                                 []string

	tokenKey *hsm.Key // -k pkcs11:...: open until the image is signed
}

func newImageSignCmd(env *Env) *cobra.Command {
	f := &imageSignFlags{}
	cmd := &cobra.Command{
		Use:     "sign [flags] INFILE OUTFILE",
		Aliases: []string{"create"},
		Short:   "Create a signed (optionally encrypted) image from a firmware binary",
		Long: `Create an MCUboot image with imgtool sign's flags and meaning. INFILE and OUTFILE
are Intel HEX when their names end in .hex, binary otherwise.

The image is: header (-H bytes, with --pad-header filled with the erased value),
body, protected TLVs (security counter, boot record, dependencies, VID/CID, custom
TLVs), then the hash, key hash (or full key) and signature. With -E the body is
encrypted (AES-CTR) and the AES key wrapped for the given public key (ECIES-P256,
ECIES-X25519 or RSA-OAEP). -S is required: image plus trailer must fit the slot;
--pad fills the slot and writes the trailer magic (a test upgrade), --confirm also
sets image_ok (a permanent one).

--custom-tlv and --custom-tlv-file take two values each: TAG VALUE (0x-prefixed
VALUE is hex, otherwise the text itself) and TAG FILE.

External signing (an HSM, a signing service): --vector-to-sign payload|digest writes
what must be signed instead of the image; --fix-sig SIG --fix-sig-pubkey PUB then
builds the image with that signature (base64 file), after checking it verifies.`,
		Example: `  # -s (security counter) is required by Rampart's bootloader (rollback protection);
  # auto derives it from the version
  rampart image sign -k signing.pem -H 0x200 --pad-header -v 1.2.3+4 -S 0x20000 -s auto app.bin app.signed.bin
  rampart image sign -k signing.pem -H 0x200 --pad-header -v 1.2.3 -S 0x20000 -s auto --pad app.bin update.bin
  rampart image sign -s auto -H 0x200 --pad-header -v 1.2.3 -S 0x20000 app.bin app.signed.bin \
      -k 'pkcs11:token=release;object=fw?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/rampart/pin'
  rampart image sign -k signing.pem -E enc-pub.pem -H 0x200 --pad-header -v 2.0.0 -S 0x40000 -s auto app.hex app.signed.hex
  rampart image sign -k signing.pem -H 0x200 --pad-header -v 1.2.3 -S 0x20000 -s 3 -d "(1,2.0.0+0)" \
      --boot-record SPE --custom-tlv 0xa0 0x01020304 app.bin app.signed.bin`,
		// --custom-tlv takes two values, which pflag cannot express: the
		// command parses its own flags after joining each pair.
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			joined, err := imageJoinPairs(args, "--custom-tlv", "--custom-tlv-file")
			if err != nil {
				return err
			}
			if err := cmd.Flags().Parse(joined); err != nil {
				return usageError("%v", err)
			}
			if h, _ := cmd.Flags().GetBool("help"); h {
				return cmd.Help()
			}
			pos := cmd.Flags().Args()
			if len(pos) != 2 {
				return usageError("sign takes INFILE and OUTFILE (got %d arguments)", len(pos))
			}
			return imageSign(env, cmd.Flags(), f, pos[0], pos[1])
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.key, "key", "k", "", "signing key: a PEM file, or a key in a PKCS#11 token as a pkcs11: URI; none makes an unsigned image with a hash only")
	fl.StringVar(&f.publicKeyFormat, "public-key-format", "hash", "hash (KEYHASH TLV) or full (PUBKEY TLV)")
	fl.StringVar(&f.align, "align", "1", "flash write alignment: 1, 2, 4, 8, 16, 32")
	fl.StringVar(&f.maxAlign, "max-align", "", "maximum flash alignment (BOOT_MAX_ALIGN): 8, 16, 32")
	fl.StringVarP(&f.version, "version", "v", "", "image version maj.min.rev+build (required)")
	fl.BoolVar(&f.padSig, "pad-sig", false, "zero-pad ECDSA signatures to a fixed length (MCUboot < 1.5)")
	fl.StringVarP(&f.headerSize, "header-size", "H", "", "header size in bytes, >= 32 (required)")
	fl.BoolVar(&f.padHeader, "pad-header", false, "prepend --header-size erased bytes to the input")
	fl.StringVarP(&f.slotSize, "slot-size", "S", "", "slot size (required); of the secondary slot if they differ")
	fl.BoolVar(&f.pad, "pad", false, "pad to --slot-size and add the trailer magic (test upgrade)")
	fl.BoolVar(&f.confirm, "confirm", false, "as --pad, and mark the image confirmed (image_ok)")
	fl.BoolVar(&f.test, "test", false, "as --pad (a test upgrade)")
	fl.IntVarP(&f.maxSectors, "max-sectors", "M", 0, "sectors the swap status must cover (default 128)")
	fl.BoolVar(&f.overwriteOnly, "overwrite-only", false, "overwrite-only upgrades: smaller trailer")
	fl.StringVarP(&f.endian, "endian", "e", "little", "byte order: little (big is not supported)")
	fl.StringVar(&f.encryptKeylen, "encrypt-keylen", "128", "AES key length with -E: 128 or 256")
	fl.StringVarP(&f.encrypt, "encrypt", "E", "", "encrypt for this public key (RSA-2048, P-256 or X25519 PEM)")
	fl.StringVar(&f.compression, "compression", "disabled", "compression: only disabled is supported")
	fl.BoolVarP(&f.clear, "clear", "c", false, "with -E: add the key TLV and flags but keep the body in clear")
	fl.StringVarP(&f.dependencies, "dependencies", "d", "", `dependencies: "(image_id,version), ..."`)
	fl.StringVarP(&f.loadAddr, "load-addr", "L", "", "RAM load address (sets RAM_LOAD)")
	fl.StringVarP(&f.romFixed, "rom-fixed", "F", "", "flash address the image is built for (sets ROM_FIXED)")
	fl.StringVarP(&f.hexAddr, "hex-addr", "x", "", "base address of a .hex output")
	fl.StringVarP(&f.erasedVal, "erased-val", "R", "", "erased flash value: 0 or 0xff (default 0xff)")
	fl.BoolVar(&f.saveEncTLV, "save-enctlv", false, "trailer saves key TLVs (BOOT_SWAP_SAVE_ENCTLV)")
	fl.StringVarP(&f.securityCounter, "security-counter", "s", "", "security counter value, or auto (from the version)")
	fl.StringVar(&f.bootRecord, "boot-record", "", "add a boot record TLV with this sw_type (max. 12 characters)")
	fl.StringArrayVar(&f.customTLV, "custom-tlv", nil, "protected custom TLV: TAG VALUE")
	fl.StringArrayVar(&f.customTLVFile, "custom-tlv-file", nil, "protected custom TLV read from a file: TAG FILE")
	fl.StringVar(&f.vid, "vid", "", "vendor UUID, or a domain name")
	fl.StringVar(&f.cid, "cid", "", "image class UUID, or a name (in the --vid namespace)")
	fl.BoolVar(&f.nonBootable, "non-bootable", false, "mark the image non-bootable")
	fl.StringVar(&f.sha, "sha", "auto", "image hash: auto, 256, 384, 512")
	fl.StringVar(&f.hmacSHA, "hmac-sha", "auto", "HKDF/HMAC hash of the ECIES key exchange: auto, 256, 512")
	fl.BoolVar(&f.pure, "pure", false, "Ed25519 signature over the image itself (SIG_PURE)")
	fl.StringVar(&f.sigOut, "sig-out", "", "also write the signature, base64, to this file")
	fl.StringVar(&f.vectorToSign, "vector-to-sign", "", "write what an external signer must sign instead of the image: payload or digest")
	fl.StringVar(&f.fixSig, "fix-sig", "", "use this signature (base64 file, made over --vector-to-sign's output) instead of signing")
	fl.StringVar(&f.fixSigPubkey, "fix-sig-pubkey", "", "public key of the --fix-sig signature")
	fl.BoolP("help", "h", false, "help for sign")
	return cmd
}

// imageJoinPairs rewrites "FLAG A B" as "FLAG=A\x00B" for flags taking two values.
func imageJoinPairs(args []string, flags ...string) ([]string, error) {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			out = append(out, args[i:]...)
			break
		}
		matched := false
		for _, f := range flags {
			if a == f {
				if i+2 >= len(args) {
					return nil, usageError("%s takes two values: TAG VALUE", f)
				}
				out = append(out, f+"="+args[i+1]+"\x00"+args[i+2])
				i += 2
				matched = true
				break
			}
		}
		if !matched {
			out = append(out, a)
		}
	}
	return out, nil
}

// imageSign builds the options from the flags (loading the keys), refuses
// bad ones before reading the firmware, then writes what was asked: the
// signing vector, an Intel HEX image or a binary image.
func imageSign(env *Env, fl *pflag.FlagSet, f *imageSignFlags, inPath, outPath string) error {
	o, err := f.options(env, fl)
	if f.tokenKey != nil {
		defer f.tokenKey.Close()
	}
	if err != nil {
		return imageFlagFailure(fl, err)
	}
	if err := o.Validate(); err != nil {
		return imageFlagFailure(fl, err)
	}
	in, base, inHex, err := imageReadImage(inPath, "input")
	if err != nil {
		return err
	}
	var res *image.SignResult
	switch {
	case f.vectorToSign != "":
		return imageWriteVector(fl, outPath, in, o, f.vectorToSign)
	case imageIsHex(outPath):
		if base, err = f.hexBase(base, inHex, o); err != nil {
			return err
		}
		res, err = imageSignHex(outPath, in, o, base)
	default:
		res, err = imageSignFile(outPath, in, o)
	}
	if err != nil {
		return imageFlagFailure(fl, err)
	}
	if f.sigOut != "" && res.Signature != nil {
		return imageWriteFile(f.sigOut, []byte(base64.StdEncoding.EncodeToString(res.Signature)))
	}
	return nil
}

// options turns the flags into image.SignOptions. It parses values only:
// every rule about them is image's (SignOptions.Validate and Sign).
func (f *imageSignFlags) options(env *Env, fl *pflag.FlagSet) (*image.SignOptions, error) {
	if f.version == "" || f.headerSize == "" || f.slotSize == "" {
		return nil, usageError("sign needs -v/--version, -H/--header-size and -S/--slot-size")
	}
	if f.endian != "little" {
		return nil, usageError("-e/--endian %q: only little-endian images are supported", f.endian)
	}
	if f.compression != "disabled" {
		return nil, usageError("--compression %q: compression is not supported (only disabled)", f.compression)
	}
	if f.vectorToSign != "" && f.vectorToSign != "payload" && f.vectorToSign != "digest" {
		return nil, usageError("--vector-to-sign %q: want payload or digest", f.vectorToSign)
	}
	o := &image.SignOptions{PadHeader: f.padHeader, Pad: f.pad, Confirm: f.confirm, Test: f.test,
		Overwrite: f.overwriteOnly, Clear: f.clear, SaveEncTLV: f.saveEncTLV, PadSig: f.padSig,
		Pure: f.pure, NonBootable: f.nonBootable, BootRecord: f.bootRecord, VID: f.vid, CID: f.cid}
	if err := f.layoutOptions(o, fl); err != nil {
		return nil, err
	}
	if err := f.addressOptions(o); err != nil {
		return nil, err
	}
	if err := f.cryptoOptions(o); err != nil {
		return nil, err
	}
	if err := f.tlvOptions(o); err != nil {
		return nil, err
	}
	if err := f.keyOptions(env, o); err != nil {
		return nil, err
	}
	return o, nil
}

// layoutOptions reads the version, the sizes and the trailer's geometry.
func (f *imageSignFlags) layoutOptions(o *image.SignOptions, fl *pflag.FlagSet) error {
	var err error
	if o.Version, err = image.ParseVersion(f.version); err != nil {
		return err
	}
	if o.HeaderSize, err = imageFlagInt("-H/--header-size", f.headerSize, 32); err != nil {
		return err
	}
	if o.SlotSize, err = imageFlagInt("-S/--slot-size", f.slotSize, 32); err != nil {
		return err
	}
	if o.Align, err = imagePositive("--align", f.align); err != nil {
		return err
	}
	if f.maxAlign != "" {
		if o.MaxAlign, err = imagePositive("--max-align", f.maxAlign); err != nil {
			return err
		}
	}
	if fl.Changed("max-sectors") && f.maxSectors == 0 {
		return usageError("-M/--max-sectors 0: give a positive number (leave it out for the default, 128)")
	}
	o.MaxSectors = f.maxSectors
	if f.erasedVal != "" {
		v, err := imageParseInt("-R/--erased-val", f.erasedVal, 8)
		if err != nil {
			return err
		}
		e := byte(v)
		o.ErasedVal = &e
	}
	return nil
}

// addressOptions reads the RAM load and fixed flash addresses.
func (f *imageSignFlags) addressOptions(o *image.SignOptions) error {
	for _, a := range []struct {
		flag, value string
		to          *uint32
	}{{"-L/--load-addr", f.loadAddr, &o.LoadAddr}, {"-F/--rom-fixed", f.romFixed, &o.ROMFixed}} {
		if a.value == "" {
			continue
		}
		v, err := imageParseInt(a.flag, a.value, 32)
		if err != nil {
			return err
		}
		*a.to = uint32(v)
	}
	return nil
}

// cryptoOptions reads the key format, the hashes and the AES key length;
// "auto" is the zero value, which lets image choose.
func (f *imageSignFlags) cryptoOptions(o *image.SignOptions) error {
	var err error
	if o.PublicKeyFormat, err = image.ParsePublicKeyFormat(f.publicKeyFormat); err != nil {
		return err
	}
	if f.sha != "auto" {
		if o.HashBits, err = imagePositive("--sha", f.sha); err != nil {
			return err
		}
	}
	if f.hmacSHA != "auto" {
		if o.HMACBits, err = imagePositive("--hmac-sha", f.hmacSHA); err != nil {
			return err
		}
	}
	o.EncryptKeyLen, err = imagePositive("--encrypt-keylen", f.encryptKeylen)
	return err
}

// tlvOptions reads the protected TLVs' values: security counter ("auto":
// from the version), dependencies and custom TLVs.
func (f *imageSignFlags) tlvOptions(o *image.SignOptions) error {
	if f.securityCounter != "" {
		sc := o.Version.SecurityCounter()
		if !strings.EqualFold(f.securityCounter, "auto") {
			v, err := imageParseInt("-s/--security-counter", f.securityCounter, 32)
			if err != nil {
				return err
			}
			sc = uint32(v)
		}
		o.SecurityCounter = &sc
	}
	if f.dependencies != "" {
		var err error
		if o.Dependencies, err = image.ParseDependencies(f.dependencies); err != nil {
			return err
		}
	}
	var err error
	o.CustomTLVs, err = imageCustomTLVs(f.customTLV, f.customTLVFile)
	return err
}

// keyOptions loads the signing key, the fixed signature and its public
// key, and the encryption key.
func (f *imageSignFlags) keyOptions(env *Env, o *image.SignOptions) error {
	if hsm.IsURI(f.key) {
		k, err := hsmOpen(f.key, "-k/--key")
		if err != nil {
			return err
		}
		f.tokenKey, o.Key = k, k
	} else if f.key != "" {
		k, err := imageLoadKey(env, f.key, "-k/--key")
		if err != nil {
			return err
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return fail(ExitError, fmt.Errorf("-k/--key %s: a public-only key cannot sign", f.key), "give the private key file")
		}
		o.Key = s
	}
	if f.fixSig != "" {
		b, err := imageReadFile(f.fixSig, "--fix-sig file")
		if err != nil {
			return err
		}
		if o.FixedSignature, err = base64.StdEncoding.DecodeString(strings.TrimSpace(string(b))); err != nil {
			return fail(ExitError, fmt.Errorf("--fix-sig %s: not base64: %w", f.fixSig, err), "")
		}
	}
	var err error
	if f.fixSigPubkey != "" {
		if o.FixedSignatureKey, err = imageLoadKey(env, f.fixSigPubkey, "--fix-sig-pubkey"); err != nil {
			return err
		}
	}
	if f.encrypt != "" {
		if o.EncryptKey, err = imageLoadKey(env, f.encrypt, "-E/--encrypt"); err != nil {
			return err
		}
	}
	return nil
}

// hexBase is the address of a .hex output: -x, else the input's own
// address (less the header imgtool prepends with --pad-header).
func (f *imageSignFlags) hexBase(base uint32, inHex bool, o *image.SignOptions) (uint32, error) {
	if f.hexAddr != "" {
		v, err := imageParseInt("-x/--hex-addr", f.hexAddr, 32)
		return uint32(v), err
	}
	if !inHex {
		return 0, usageError("no address exists in the input file and -x/--hex-addr was not given")
	}
	if base != 0 && o.PadHeader {
		base -= uint32(o.HeaderSize)
	}
	return base, nil
}

// imageWriteVector writes what an external signer must sign.
func imageWriteVector(fl *pflag.FlagSet, outPath string, in []byte, o *image.SignOptions, which string) error {
	payload, digest, err := image.SigningVector(in, o)
	if err != nil {
		return imageFlagFailure(fl, err)
	}
	if which == "digest" {
		payload = digest
	}
	return imageWriteFile(outPath, payload)
}

// imageSignHex signs into an Intel HEX file at base.
func imageSignHex(outPath string, in []byte, o *image.SignOptions, base uint32) (*image.SignResult, error) {
	res, hex, err := image.SignHex(in, o, base)
	if err != nil {
		return nil, err
	}
	return res, imageWriteFile(outPath, hex)
}

// imageSignFile streams the signed image (the firmware is never copied)
// into a temporary file next to outPath, renamed over it only on success:
// a failed run leaves an existing file as it was.
func imageSignFile(outPath string, in []byte, o *image.SignOptions) (*image.SignResult, error) {
	if fi, err := os.Stat(outPath); err == nil && fi.IsDir() {
		return nil, fail(ExitUsage, fmt.Errorf("writing %s: is a directory", outPath), "the last argument is the signed image's file name, e.g. "+filepath.Join(outPath, "app.signed.bin"))
	}
	out, err := os.CreateTemp(filepath.Dir(outPath), "."+filepath.Base(outPath)+".*")
	if err != nil {
		return nil, fail(ExitError, fmt.Errorf("writing %s: %w", outPath, err), "")
	}
	tmp := out.Name()
	res, err := image.SignTo(out, in, o)
	if err == nil {
		err = out.Chmod(0o644)
	}
	if cerr := out.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, outPath)
	}
	if err != nil {
		os.Remove(tmp)
		if errors.Is(err, image.ErrInvalidArgument) || image.IsVerificationFailure(err) {
			return nil, err
		}
		// The temporary file's name is ours, not the user's: name theirs.
		var le *os.LinkError
		if errors.As(err, &le) {
			err = le.Err
		}
		return nil, fail(ExitError, fmt.Errorf("writing %s: %w", outPath, err), "")
	}
	return res, nil
}

// imageFlagInt parses an integer flag (as Python's int(x, 0)) into an int.
func imageFlagInt(flag, s string, bits int) (int, error) {
	v, err := imageParseInt(flag, s, bits)
	return int(v), err
}

// imagePositive parses a flag that must be a positive integer: image
// reads 0 as "the default", so an explicit 0 is refused here rather than
// silently replaced.
func imagePositive(flag, s string) (int, error) {
	v, err := imageFlagInt(flag, s, 32)
	if err == nil && v == 0 {
		return 0, usageError("%s 0: give a positive number", flag)
	}
	return v, err
}

// imageCustomTLVs reads --custom-tlv TAG VALUE and --custom-tlv-file TAG
// FILE pairs (each joined by imageJoinPairs); image checks the tags.
func imageCustomTLVs(vals, files []string) ([]image.TLV, error) {
	var out []image.TLV
	for i, pair := range append(append([]string(nil), vals...), files...) {
		tagS, val, ok := strings.Cut(pair, "\x00")
		if !ok {
			return nil, usageError("--custom-tlv takes two values: TAG VALUE")
		}
		tag, err := imageParseInt("--custom-tlv tag", tagS, 16)
		if err != nil {
			return nil, err
		}
		var v []byte
		if i < len(vals) {
			v, err = image.ParseCustomTLVValue(val)
		} else if v, err = os.ReadFile(val); err != nil {
			err = fail(ExitError, fmt.Errorf("--custom-tlv-file: %w", err), "")
		}
		if err != nil {
			return nil, err
		}
		out = append(out, image.TLV{Type: uint16(tag), Value: v})
	}
	return out, nil
}
