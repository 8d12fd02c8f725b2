package cli

import (
	"crypto"
	"crypto/ecdh"
	"fmt"

	"github.com/spf13/cobra"

	"rampart/image"
	"rampart/internal/secfile"
)

func newImageKeygenCmd(env *Env) *cobra.Command {
	var keyType, keyFile string
	var password bool
	cmd := &cobra.Command{
		Use:   "keygen -t TYPE -k FILE",
		Short: "Generate a key pair as an unencrypted PKCS#8 PEM file",
		Long: `Generate a signing key (ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072) or an
encryption key (x25519; ecdsa-p256 and rsa-2048 keys also encrypt) and write it as
an unencrypted PKCS#8 PEM file, as imgtool keygen does; with -p the file is encrypted
(PKCS#8 PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC) with the password in the environment
variable RAMPART_KEY_PASSWORD, which every image command also uses to read such keys.
The file is created with mode 0600. Keep it secret: the public half is what the
bootloader embeds.`,
		Example: `  rampart image keygen -t ed25519 -k signing.pem
  rampart image keygen -t x25519 -k enc.pem
  RAMPART_KEY_PASSWORD=... rampart image keygen -t ecdsa-p256 -k signing.pem -p`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keyFile == "" || keyType == "" {
				return usageError("keygen needs -t TYPE and -k FILE")
			}
			k, err := image.GenerateKey(image.KeyType(keyType), nil)
			if err != nil {
				return imageFailure(err)
			}
			var pemBytes []byte
			if password {
				pw := env.Getenv(imageKeyPasswordEnv)
				if pw == "" {
					return usageError("-p/--password: set %s to the password (rampart does not prompt)", imageKeyPasswordEnv)
				}
				pemBytes, err = image.MarshalPrivateKeyPEMPassword(k, []byte(pw), nil)
			} else {
				pemBytes, err = image.MarshalPrivateKeyPEM(k)
			}
			if err != nil {
				return imageFailure(err)
			}
			// A new 0600 file renamed over the old one: writing into an
			// existing 0644 file would keep its mode and publish the key.
			if err := secfile.WriteFile(keyFile, pemBytes); err != nil {
				return fail(ExitError, err, "")
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&keyType, "type", "t", "", "key type: ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072, x25519")
	cmd.Flags().StringVarP(&keyFile, "key", "k", "", "file to write the private key to")
	cmd.Flags().BoolVarP(&password, "password", "p", false, "encrypt the key file with the password in RAMPART_KEY_PASSWORD")
	return cmd
}

func newImageGetpubCmd(env *Env) *cobra.Command {
	var keyFile, encoding, lang, output, suffix string
	cmd := &cobra.Command{
		Use:   "getpub -k FILE [-e pem|raw|lang-c|lang-rust]",
		Short: "Print the public key in the form a bootloader embeds",
		Long: `Print the public half of a key: as a C array (lang-c, the default), a Rust slice
(lang-rust), PEM SubjectPublicKeyInfo (pem), or the raw bytes MCUboot embeds and hashes
(raw: SubjectPublicKeyInfo DER, PKCS#1 RSAPublicKey for RSA), as imgtool getpub does.`,
		Example: `  rampart image getpub -k signing.pem
  rampart image getpub -k signing.pem -e raw -o signing.pub.der`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if encoding != "" && lang != "" {
				return usageError("use only one of -e/--encoding and -l/--lang")
			}
			if lang != "" {
				if lang != "c" && lang != "rust" {
					return usageError("-l/--lang %q: want c or rust", lang)
				}
				encoding = "lang-" + lang
			}
			if encoding == "" {
				encoding = string(image.EncodingLangC)
			}
			if keyFile == "" {
				return usageError("getpub needs -k FILE")
			}
			k, err := imageLoadKey(env, keyFile, "-k")
			if err != nil {
				return err
			}
			b, err := image.EncodePublicKey(k, image.KeyEncoding(encoding), suffix)
			if err != nil {
				return imageFlagFailure(cmd.Flags(), err)
			}
			return imageWriteOutput(env, output, b)
		},
	}
	cmd.Flags().StringVarP(&keyFile, "key", "k", "", "key file (private or public PEM)")
	cmd.Flags().StringVarP(&encoding, "encoding", "e", "", "lang-c (default), lang-rust, pem or raw")
	cmd.Flags().StringVarP(&lang, "lang", "l", "", "deprecated: c or rust (use -e)")
	outFlag(cmd, &output, "write to this file instead of standard output", "output")
	cmd.Flags().StringVar(&suffix, "name-suffix", "", "append to the C/Rust symbol names")
	return cmd
}

func newImageGetpubhashCmd(env *Env) *cobra.Command {
	var keyFile, encoding, output, suffix string
	cmd := &cobra.Command{
		Use:   "getpubhash -k FILE [-e lang-c|raw]",
		Short: "Print the SHA-256 hash of the public key (the KEYHASH value)",
		Long: `Print SHA-256 of the key bytes MCUboot embeds: the value of an image's KEYHASH TLV
for SHA-256 images, and what a bootloader built with MCUBOOT_HW_KEY stores.`,
		Example: `  rampart image getpubhash -k signing.pem
  rampart image getpubhash -k signing.pem -e raw -o signing.pubhash.bin`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if encoding == "" {
				encoding = string(image.EncodingLangC)
			}
			if keyFile == "" {
				return usageError("getpubhash needs -k FILE")
			}
			k, err := imageLoadKey(env, keyFile, "-k")
			if err != nil {
				return err
			}
			b, err := image.EncodePublicKeyHash(k, image.KeyEncoding(encoding), suffix)
			if err != nil {
				return imageFlagFailure(cmd.Flags(), err)
			}
			return imageWriteOutput(env, output, b)
		},
	}
	cmd.Flags().StringVarP(&keyFile, "key", "k", "", "key file (private or public PEM)")
	cmd.Flags().StringVarP(&encoding, "encoding", "e", "", "lang-c (default) or raw")
	outFlag(cmd, &output, "write to this file instead of standard output", "output")
	cmd.Flags().StringVar(&suffix, "name-suffix", "", "append to the C symbol names")
	return cmd
}

func newImageGetprivCmd(env *Env) *cobra.Command {
	var keyFile, format string
	var minimal bool
	cmd := &cobra.Command{
		Use:   "getpriv -k FILE [--minimal] [-f openssl|pkcs8]",
		Short: "Print a private decryption key as a C array (for the bootloader)",
		Long: `Print the private key as the C array enc_priv_key[] a bootloader built for
encrypted images embeds. ECDSA keys default to PKCS#8 DER (-f openssl: SEC 1), RSA keys
are PKCS#1 DER (openssl only), X25519 keys PKCS#8; Ed25519 keys are refused, as by
imgtool. --minimal drops the public key (ECDSA) or the CRT values (RSA).`,
		Example: `  rampart image getpriv -k enc-ec256.pem
  rampart image getpriv -k enc-rsa2048.pem --minimal`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keyFile == "" {
				return usageError("getpriv needs -k FILE")
			}
			k, err := imageLoadKey(env, keyFile, "-k")
			if err != nil {
				return err
			}
			b, err := image.EncodePrivateKey(k, image.PrivateKeyFormat(format), minimal)
			if err != nil {
				return imageFlagFailure(cmd.Flags(), err)
			}
			return imageWriteOutput(env, "", b)
		},
	}
	cmd.Flags().StringVarP(&keyFile, "key", "k", "", "private key file")
	cmd.Flags().StringVarP(&format, "format", "f", "", "openssl or pkcs8")
	cmd.Flags().BoolVar(&minimal, "minimal", false, "drop the parts a decrypting bootloader does not need")
	return cmd
}

func newImageKeyinfoCmd(env *Env) *cobra.Command {
	var keyFile, require string
	cmd := &cobra.Command{
		Use:   "keyinfo -k FILE [--require private|public]",
		Short: "Say whether a PEM file holds a key pair (private) or a public key",
		Long: `Print "private" for a key pair PEM or "public" for a public-only PEM, as imgtool
keyinfo does. With --require, exit 1 when the kind differs: a build can check that it
was given the right file.`,
		Example: `  rampart image keyinfo -k signing.pem
  rampart image keyinfo -k signing.pub.pem --require public`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keyFile == "" {
				return usageError("keyinfo needs -k FILE")
			}
			if require != "" && require != "private" && require != "public" {
				return usageError("--require %q: want private or public", require)
			}
			k, err := imageLoadKey(env, keyFile, "-k")
			if err != nil {
				return err
			}
			kind := "public"
			switch k.(type) {
			case crypto.Signer, *ecdh.PrivateKey:
				kind = "private"
			}
			fmt.Fprintln(env.Stdout, kind)
			if require != "" && kind != require {
				return failf(ExitFailure, "key %s is %s, but %s was required", keyFile, kind, require)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&keyFile, "key", "k", "", "key file (PEM)")
	cmd.Flags().StringVar(&require, "require", "", "private or public: exit 1 when the key is of the other kind")
	return cmd
}
