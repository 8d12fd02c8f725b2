package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"rampart/image"
	"rampart/image/ihex"
)

func init() { register("image", newImageCmd) }

func newImageCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Sign, verify and inspect MCUboot firmware images (imgtool-compatible)",
		Long: `Build, sign, encrypt, verify and inspect MCUboot images, byte-compatible with
MCUboot's imgtool 2.4: the same subcommands, flags, key files and output bytes
(Ed25519 images are reproduced exactly; ECDSA and RSA signatures are randomized).

Files whose name ends in .hex are read and written as Intel HEX. The format,
and exactly which bytes verification does not cover, is in docs/image-format.md.`,
		Example: `  rampart image keygen -t ed25519 -k signing.pem
  rampart image sign -k signing.pem -H 0x200 --pad-header -v 1.2.3 -S 0x20000 -s auto app.bin app.signed.bin
  rampart image verify -k signing.pem app.signed.bin
  rampart image dump --json app.signed.bin`,
		Args: exactArgs(0, "a subcommand"),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newImageKeygenCmd(env), newImageGetpubCmd(env), newImageGetpubhashCmd(env),
		newImageGetprivCmd(env), newImageKeyinfoCmd(env), newImageSignCmd(env), newImageVerifyCmd(env), newImageDumpCmd(env))
	return cmd
}

// imageMaxFile caps what the image commands read (1 GiB): ih_img_size is a
// u32, but no slot is that large.
const imageMaxFile = 1 << 30

// imageReadFile reads a file with a size cap; errors exit 3 naming the file.
func imageReadFile(path, what string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fail(ExitError, fmt.Errorf("reading %s: %w", what, err), "")
	}
	defer f.Close()
	// Read into one buffer of the file's size (no doubling copies: images
	// can be tens of MiB and this is on the hot path of sign and verify).
	var b []byte
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() <= imageMaxFile {
		if m, ok := imageMapFile(f, st.Size()); ok {
			return m, nil
		}
		b = make([]byte, 0, st.Size()+1)
	}
	b, err = imageReadAll(f, b)
	if err != nil {
		return nil, fail(ExitError, fmt.Errorf("reading %s %s: %w", what, path, err), "")
	}
	if len(b) > imageMaxFile {
		return nil, fail(ExitError, fmt.Errorf("%s %s: larger than %d bytes", what, path, imageMaxFile), "")
	}
	return b, nil
}

// imageReadAll reads r to its end (at most imageMaxFile+1 bytes) into b.
func imageReadAll(r io.Reader, b []byte) ([]byte, error) {
	lr := io.LimitReader(r, imageMaxFile+1)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := lr.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// imageIsHex reports whether path names an Intel HEX file (imgtool's rule:
// the extension, case-insensitive).
func imageIsHex(path string) bool { return strings.EqualFold(filepath.Ext(path), ".hex") }

// imageReadImage reads an image file, converting Intel HEX to binary (gaps
// filled with 0xff). base is the lowest address of a hex file.
func imageReadImage(path, what string) (data []byte, base uint32, isHex bool, err error) {
	b, err := imageReadFile(path, what)
	if err != nil {
		return nil, 0, false, err
	}
	if !imageIsHex(path) {
		return b, 0, false, nil
	}
	m, err := ihex.Parse(b)
	if err != nil {
		return nil, 0, true, fail(ExitError, fmt.Errorf("%s %s: %w", what, path, err), "")
	}
	base, data = m.ToBinary(0xff)
	return data, base, true, nil
}

// imageKeyPasswordEnv names the variable holding the password of
// password-protected key files (keygen -p writes one, every command reads it).
const imageKeyPasswordEnv = "RAMPART_KEY_PASSWORD"

// imageLoadKey reads a PEM key file; a missing or unreadable key is exit 3.
func imageLoadKey(env *Env, path, flag string) (any, error) {
	b, err := imageReadFile(path, "key file")
	if err != nil {
		return nil, err
	}
	k, err := image.ParseKeyPEM(b)
	if errors.Is(err, image.ErrPasswordRequired) {
		pw := env.Getenv(imageKeyPasswordEnv)
		if pw == "" {
			return nil, fail(ExitError, fmt.Errorf("%s %s: %w", flag, path, err), "set "+imageKeyPasswordEnv+" to its password")
		}
		k, err = image.ParseKeyPEMPassword(b, []byte(pw))
	}
	if err != nil {
		return nil, fail(ExitError, fmt.Errorf("%s %s: %w", flag, path, err),
			"keys are PEM files as imgtool keygen writes them (PKCS#8, SEC 1 or PKCS#1; a protected key needs "+imageKeyPasswordEnv+")")
	}
	return k, nil
}

// imageParseInt parses an integer as Python's int(x, 0) does: decimal or
// 0x/0o/0b-prefixed.
func imageParseInt(flag, s string, bits int) (uint64, error) {
	t := strings.ReplaceAll(strings.TrimSpace(s), "_", "")
	if len(t) > 1 && t[0] == '0' && !strings.ContainsAny(t[1:2], "xXoObB") {
		return 0, usageError("%s %q: not a valid integer (use a 0x, 0o or 0b prefix)", flag, s)
	}
	v, err := strconv.ParseUint(t, 0, bits)
	if err != nil {
		return 0, usageError("%s %q: not a valid %d-bit integer (decimal or 0x/0o/0b-prefixed)", flag, s, bits)
	}
	return v, nil
}

// imageWriteFile writes an output file that holds nothing secret (signed
// images, signatures); keys go through secfile.WriteFile.
func imageWriteFile(path string, b []byte) error {
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fail(ExitError, fmt.Errorf("writing %s: %w", path, err), "")
	}
	return nil
}

// imageFailure maps a package error to an exit code: invalid images exit 1,
// bad arguments 2, anything else 3.
func imageFailure(err error) error {
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	switch {
	case errors.Is(err, image.ErrInvalidArgument):
		return fail(ExitUsage, err, "run with --help for usage and examples")
	case image.IsVerificationFailure(err), errors.Is(err, image.ErrEncrypted), errors.Is(err, image.ErrUnsupported):
		return fail(ExitFailure, err, "")
	}
	return fail(ExitError, err, "")
}

// imageOutput returns where to write: -o FILE or stdout.
func imageOutput(env *Env, path string) (io.Writer, func() error, error) {
	if path == "" {
		return env.Stdout, func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, fail(ExitError, fmt.Errorf("writing %s: %w", path, err), "")
	}
	return f, f.Close, nil
}

// imageWriteOutput writes b to -o FILE or stdout.
func imageWriteOutput(env *Env, path string, b []byte) error {
	w, closeFn, err := imageOutput(env, path)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		closeFn()
		return fail(ExitError, fmt.Errorf("writing %s: %w", path, err), "")
	}
	return closeFn()
}

// imageFlagFailure is imageFailure, and for a bad option names the flag
// as it is spelt on the command line (image names options by their long
// flag name: "header-size" is -H/--header-size).
func imageFlagFailure(fl *pflag.FlagSet, err error) error {
	var ee *exitError
	var fe *image.FieldError
	if !errors.As(err, &ee) && errors.Is(err, image.ErrInvalidArgument) && errors.As(err, &fe) {
		if f := fl.Lookup(fe.Field); f != nil {
			return fail(ExitUsage, err, "check "+imageFlagSpelling(f)+"; run with --help for usage and examples")
		}
	}
	return imageFailure(err)
}

func imageFlagSpelling(f *pflag.Flag) string {
	if f.Shorthand != "" {
		return "-" + f.Shorthand + "/--" + f.Name
	}
	return "--" + f.Name
}
