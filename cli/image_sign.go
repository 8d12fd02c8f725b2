package cli

import (
	"crypto"
	"crypto/ecdh"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"rampart/image"
	"rampart/image/ihex"
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
}

var imageDepImageRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\((\d+)`) })
var imageDepVersionRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`,\s*([0-9.+]+)\)`) })

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
		Example: `  rampart image sign -k signing.pem -H 0x200 --pad-header -v 1.2.3+4 -S 0x20000 app.bin app.signed.bin
  rampart image sign -k signing.pem -H 0x200 --pad-header -v 1.2.3 -S 0x20000 -s auto --pad app.bin update.bin
  rampart image sign -k signing.pem -E enc-pub.pem -H 0x200 --pad-header -v 2.0.0 -S 0x40000 app.hex app.signed.hex
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
	fl.StringVarP(&f.key, "key", "k", "", "signing key (PEM); none makes an unsigned image with a hash only")
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

func imageSign(env *Env, fl *pflag.FlagSet, f *imageSignFlags, inPath, outPath string) error {
	o := &image.SignOptions{}
	if f.version == "" || f.headerSize == "" || f.slotSize == "" {
		return usageError("sign needs -v/--version, -H/--header-size and -S/--slot-size")
	}
	var err error
	if o.Version, err = image.ParseVersion(f.version); err != nil {
		return usageError("-v/--version: %v", err)
	}
	hs, err := imageParseInt("-H/--header-size", f.headerSize, 32)
	if err != nil {
		return err
	}
	if hs < image.HeaderSize || hs > 0xffff {
		return usageError("-H/--header-size %d: minimum value is %d, maximum 65535", hs, image.HeaderSize)
	}
	o.HeaderSize = int(hs)
	ss, err := imageParseInt("-S/--slot-size", f.slotSize, 32)
	if err != nil {
		return err
	}
	o.SlotSize = int(ss)
	o.PadHeader, o.Pad, o.Confirm, o.Test = f.padHeader, f.pad, f.confirm, f.test
	o.Overwrite, o.Clear, o.SaveEncTLV, o.PadSig, o.Pure, o.NonBootable = f.overwriteOnly, f.clear, f.saveEncTLV, f.padSig, f.pure, f.nonBootable
	if o.Align, err = imageChoice("--align", f.align, "1", "2", "4", "8", "16", "32"); err != nil {
		return err
	}
	if f.maxAlign != "" {
		if o.MaxAlign, err = imageChoice("--max-align", f.maxAlign, "8", "16", "32"); err != nil {
			return err
		}
	}
	if fl.Changed("max-sectors") && f.maxSectors <= 0 {
		return usageError("-M/--max-sectors %d: must be positive", f.maxSectors)
	}
	o.MaxSectors = f.maxSectors
	switch f.publicKeyFormat {
	case "hash":
	case "full":
		o.PublicKeyFormat = image.KeyFormatFull
	default:
		return usageError("--public-key-format %q: want hash or full", f.publicKeyFormat)
	}
	if f.endian != "little" {
		return usageError("-e/--endian %q: only little-endian images are supported", f.endian)
	}
	if f.compression != "disabled" {
		return usageError("--compression %q: compression is not supported (only disabled)", f.compression)
	}
	if f.sha != "auto" {
		if o.HashBits, err = imageChoice("--sha", f.sha, "256", "384", "512"); err != nil {
			return err
		}
	}
	if f.pure && f.sha != "auto" {
		return usageError("--pure enforces the preferred hash algorithm and forbids --sha")
	}
	if f.hmacSHA != "auto" {
		if o.HMACBits, err = imageChoice("--hmac-sha", f.hmacSHA, "256", "512"); err != nil {
			return err
		}
	}
	if o.EncryptKeyLen, err = imageChoice("--encrypt-keylen", f.encryptKeylen, "128", "256"); err != nil {
		return err
	}
	if f.erasedVal != "" {
		switch f.erasedVal {
		case "0":
			z := byte(0)
			o.ErasedVal = &z
		case "0xff", "0xFF":
		default:
			return usageError("-R/--erased-val %q: want 0 or 0xff", f.erasedVal)
		}
	}
	if f.loadAddr != "" {
		v, err := imageParseInt("-L/--load-addr", f.loadAddr, 32)
		if err != nil {
			return err
		}
		o.LoadAddr = uint32(v)
	}
	if f.romFixed != "" {
		v, err := imageParseInt("-F/--rom-fixed", f.romFixed, 32)
		if err != nil {
			return err
		}
		o.ROMFixed = uint32(v)
	}
	if o.LoadAddr != 0 && o.ROMFixed != 0 {
		return usageError("cannot set -F/--rom-fixed and -L/--load-addr at the same time")
	}
	if f.securityCounter != "" {
		var sc uint32
		if strings.EqualFold(f.securityCounter, "auto") {
			sc = o.Version.SecurityCounter()
		} else {
			v, err := imageParseInt("-s/--security-counter", f.securityCounter, 32)
			if err != nil {
				return err
			}
			sc = uint32(v)
		}
		o.SecurityCounter = &sc
	}
	if f.dependencies != "" {
		if o.Dependencies, err = imageParseDependencies(f.dependencies); err != nil {
			return err
		}
	}
	if len(f.bootRecord) > image.MaxSwTypeLength {
		return usageError("--boot-record %q is too long (%d characters); the maximum is %d", f.bootRecord, len(f.bootRecord), image.MaxSwTypeLength)
	}
	o.BootRecord, o.VID, o.CID = f.bootRecord, f.vid, f.cid
	if o.CustomTLVs, err = imageCustomTLVs(f.customTLV, f.customTLVFile); err != nil {
		return err
	}

	// Keys.
	if f.key != "" {
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
		if f.key != "" {
			return usageError("cannot sign with -k and use --fix-sig at the same time")
		}
		if f.fixSigPubkey == "" {
			return usageError("--fix-sig needs --fix-sig-pubkey: the public key of the fixed signature")
		}
		b, err := imageReadFile(f.fixSig, "--fix-sig file")
		if err != nil {
			return err
		}
		if o.FixedSignature, err = base64.StdEncoding.DecodeString(strings.TrimSpace(string(b))); err != nil {
			return fail(ExitError, fmt.Errorf("--fix-sig %s: not base64: %w", f.fixSig, err), "")
		}
	}
	if f.fixSigPubkey != "" {
		k, err := imageLoadKey(env, f.fixSigPubkey, "--fix-sig-pubkey")
		if err != nil {
			return err
		}
		o.FixedSignatureKey = imagePublicOf(k)
	}
	if f.vectorToSign != "" && f.vectorToSign != "payload" && f.vectorToSign != "digest" {
		return usageError("--vector-to-sign %q: want payload or digest", f.vectorToSign)
	}
	if f.encrypt != "" {
		k, err := imageLoadKey(env, f.encrypt, "-E/--encrypt")
		if err != nil {
			return err
		}
		o.EncryptKey = imagePublicOf(k)
	}

	// Input.
	in, base, inHex, err := imageReadImage(inPath, "input")
	if err != nil {
		return err
	}
	if inHex && base != 0 && o.PadHeader {
		base -= uint32(o.HeaderSize)
	}
	var res *image.SignResult
	if f.vectorToSign != "" {
		payload, digest, err := image.SigningVector(in, o)
		if err != nil {
			return imageFailure(err)
		}
		if f.vectorToSign == "digest" {
			payload = digest
		}
		return imageWriteFile(outPath, payload)
	}
	if imageIsHex(outPath) {
		if !inHex && f.hexAddr == "" {
			return usageError("no address exists in the input file and -x/--hex-addr was not given")
		}
		if f.hexAddr != "" {
			v, err := imageParseInt("-x/--hex-addr", f.hexAddr, 32)
			if err != nil {
				return err
			}
			base = uint32(v)
		}
		if res, err = image.Sign(in, o); err != nil {
			return imageFailure(err)
		}
		if err := imageWriteFile(outPath, imageHexOutput(res, o, base)); err != nil {
			return err
		}
	} else {
		// Stream the output (the firmware is never copied) into a temporary
		// file next to it, renamed over OUTFILE only on success: a failed
		// run leaves an existing OUTFILE as it was.
		out, err := os.CreateTemp(filepath.Dir(outPath), "."+filepath.Base(outPath)+".*")
		if err != nil {
			return fail(ExitError, fmt.Errorf("writing %s: %w", outPath, err), "")
		}
		tmp := out.Name()
		res, err = image.SignTo(out, in, o)
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
				return imageFailure(err)
			}
			return fail(ExitError, fmt.Errorf("writing %s: %w", outPath, err), "")
		}
	}
	if f.sigOut != "" && res.Signature != nil {
		return imageWriteFile(f.sigOut, []byte(base64.StdEncoding.EncodeToString(res.Signature)))
	}
	return nil
}

// imageHexOutput lays a signed image out at base; with padding it writes
// only the trailer fields that differ from erased flash, as imgtool does.
func imageHexOutput(res *image.SignResult, o *image.SignOptions, base uint32) []byte {
	m := &ihex.Memory{}
	m.Put(base, res.Bytes[:res.ImageSize])
	if o.Pad || o.Confirm || o.Test {
		l := res.Trailer
		end := base + uint32(o.SlotSize)
		if (o.Test || o.Confirm) && !l.OverwriteOnly {
			erased := byte(0xff)
			if o.ErasedVal != nil {
				erased = *o.ErasedVal
			}
			flag := make([]byte, l.MaxAlign)
			for i := range flag {
				flag[i] = erased
			}
			if o.Confirm {
				flag[0] = image.BootFlagSet
			}
			m.Put(end-uint32(image.ImageOKOffset(l.MaxAlign)), flag)
		}
		m.Put(end-image.BootMagicSize, image.BootMagic(l.MaxAlign))
	}
	return m.Marshal()
}

func imagePublicOf(k any) any {
	if s, ok := k.(crypto.Signer); ok {
		return s.Public()
	}
	if p, ok := k.(*ecdh.PrivateKey); ok {
		return p.PublicKey()
	}
	return k
}

func imageChoice(flag, v string, choices ...string) (int, error) {
	for _, c := range choices {
		if v == c {
			n, _ := strconv.Atoi(c)
			return n, nil
		}
	}
	return 0, usageError("%s %q: want one of %s", flag, v, strings.Join(choices, ", "))
}

// imageParseDependencies reads "(id,version), ..." as imgtool does.
func imageParseDependencies(s string) ([]image.Dependency, error) {
	ids := imageDepImageRE().FindAllStringSubmatch(s, -1)
	vers := imageDepVersionRE().FindAllStringSubmatch(s, -1)
	if len(ids) == 0 {
		return nil, usageError("-d/--dependencies %q: want \"(image_id,version), ...\"", s)
	}
	if len(ids) != len(vers) {
		return nil, usageError("-d/--dependencies %q: %d image IDs but %d versions", s, len(ids), len(vers))
	}
	var out []image.Dependency
	for i := range ids {
		id, err := strconv.ParseUint(ids[i][1], 10, 8)
		if err != nil {
			return nil, usageError("-d/--dependencies: image ID %q is not 0..255", ids[i][1])
		}
		v, err := image.ParseVersion(vers[i][1])
		if err != nil {
			return nil, usageError("-d/--dependencies: %v", err)
		}
		out = append(out, image.Dependency{ImageID: uint8(id), Version: v})
	}
	return out, nil
}

// imageCustomTLVs reads --custom-tlv TAG VALUE and --custom-tlv-file TAG FILE pairs.
func imageCustomTLVs(vals, files []string) ([]image.TLV, error) {
	var out []image.TLV
	seen := map[uint16]bool{}
	add := func(pair string, isFile bool) error {
		tagS, val, ok := strings.Cut(pair, "\x00")
		if !ok {
			return usageError("--custom-tlv takes two values: TAG VALUE")
		}
		tag, err := imageParseInt("--custom-tlv tag", tagS, 16)
		if err != nil {
			return err
		}
		t := uint16(tag)
		if seen[t] {
			return usageError("custom TLV 0x%x already exists", t)
		}
		if image.IsPredefinedTLV(t) {
			return usageError("custom TLV 0x%x conflicts with a predefined TLV", t)
		}
		if t < image.TLVVendorMin || t > image.TLVVendorMax {
			return usageError("custom TLV type 0x%04x: allowed values are 0x%04x..0x%04x", t, image.TLVVendorMin, image.TLVVendorMax)
		}
		seen[t] = true
		var v []byte
		switch {
		case isFile:
			if v, err = os.ReadFile(val); err != nil {
				return fail(ExitError, fmt.Errorf("--custom-tlv-file: %w", err), "")
			}
		case strings.HasPrefix(val, "0x"):
			if len(val)%2 != 0 {
				return usageError("custom TLV length is odd")
			}
			if v, err = hex.DecodeString(val[2:]); err != nil {
				return usageError("--custom-tlv value %q: not hex", val)
			}
		default:
			v = []byte(val)
		}
		out = append(out, image.TLV{Type: t, Value: v})
		return nil
	}
	for _, p := range vals {
		if err := add(p, false); err != nil {
			return nil, err
		}
	}
	for _, p := range files {
		if err := add(p, true); err != nil {
			return nil, err
		}
	}
	return out, nil
}
