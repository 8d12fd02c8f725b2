package cli

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"rampart/image"
)

type imageVerifyResult struct {
	Valid           bool    `json:"valid"`
	Error           string  `json:"error,omitempty"`
	Version         string  `json:"version,omitempty"`
	Hash            string  `json:"hash,omitempty"`
	Digest          string  `json:"digest,omitempty"`
	Signed          bool    `json:"signed"`
	Key             string  `json:"key,omitempty"`
	SignatureTLV    string  `json:"signature_tlv,omitempty"`
	Pure            bool    `json:"pure,omitempty"`
	Encrypted       bool    `json:"encrypted,omitempty"`
	SecurityCounter *uint32 `json:"security_counter,omitempty"`
}

func newImageVerifyCmd(env *Env) *cobra.Command {
	var keys, keyHashes []string
	var decKey, slotSize string
	var asJSON, clear bool
	cmd := &cobra.Command{
		Use:   "verify [-k KEY]... [--decrypt-key KEY] IMAGE",
		Short: "Check an image's structure, hash and signature; exit 0 only when valid",
		Long: `Check that IMAGE is a well-formed MCUboot image, that its hash TLV matches the
header, body and protected TLVs, and, with -k, that one of the given keys signed it
(the KEYHASH or PUBKEY entry must name the key and the signature after it verify).
An encrypted image is decrypted with --decrypt-key (the private half of the key given
to sign -E) so that the hash of its plaintext can be checked.

Without -k only the structure and the hash are checked, as imgtool verify does; the
output then says the signature was not checked. Exit codes: 0 valid, 1 invalid
(the error names the field), 2 command-line mistake, 3 unreadable file or key.`,
		Example: `  rampart image verify -k signing.pem app.signed.bin
  rampart image verify -k signing.pem --decrypt-key enc-priv.pem app.encrypted.bin
  rampart image verify -k old.pem -k new.pem --json app.signed.bin
  rampart image verify --key-hash $(rampart image getpubhash -k signing.pem -e raw | xxd -p -c64) app.fullkey.bin`,
		Args: exactArgs(1, "one IMAGE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := image.VerifyOptions{BodyInClear: clear}
			for _, k := range keys {
				key, err := imageLoadKey(env, k, "-k/--key")
				if err != nil {
					return err
				}
				opts.Keys = append(opts.Keys, key)
			}
			for _, h := range keyHashes {
				b, err := hex.DecodeString(strings.TrimPrefix(h, "0x"))
				if err != nil || (len(b) != 32 && len(b) != 48 && len(b) != 64) {
					return usageError("--key-hash %q: want the hex of a 32, 48 or 64-byte key hash (getpubhash -e raw)", h)
				}
				opts.KeyHashes = append(opts.KeyHashes, b)
			}
			if decKey != "" {
				key, err := imageLoadKey(env, decKey, "--decrypt-key")
				if err != nil {
					return err
				}
				opts.DecryptKey = key
			}
			data, _, _, err := imageReadImage(args[0], "image")
			if err != nil {
				return err
			}
			res := imageVerifyResult{}
			verr := func() error {
				if slotSize != "" {
					s, err := imageParseInt("-S/--slot-size", slotSize, 32)
					if err != nil {
						return err
					}
					if uint64(len(data)) > s {
						return fmt.Errorf("image: slot-size: %w: file of 0x%x bytes is larger than the slot (0x%x)", image.ErrTooLarge, len(data), s)
					}
				}
				img, err := image.Parse(data)
				if err != nil {
					return err
				}
				res.Version = img.Header.Ver.String()
				res.Encrypted = img.Header.Flags.Encrypted()
				v, err := img.Verify(opts)
				if err != nil {
					return err
				}
				res.Valid, res.Hash, res.Digest = true, v.Hash.String(), hex.EncodeToString(v.Digest)
				res.Signed, res.Pure = v.Signed, v.Pure
				if v.Signed && v.KeyHashIndex >= 0 {
					res.Key = "embedded key with hash " + keyHashes[v.KeyHashIndex]
					res.SignatureTLV = image.TLVName(v.Signature.Type)
				} else if v.Signed {
					res.Key = keys[v.KeyIndex]
					res.SignatureTLV = image.TLVName(v.Signature.Type)
				}
				if sc, ok, _ := img.SecurityCounter(); ok {
					res.SecurityCounter = &sc
				}
				return nil
			}()
			if verr != nil {
				if _, isExit := verr.(*exitError); isExit {
					return verr
				}
				res.Valid, res.Error = false, verr.Error()
			}
			if asJSON {
				b, _ := json.MarshalIndent(res, "", "  ")
				fmt.Fprintln(env.Stdout, string(b))
			} else if res.Valid {
				fmt.Fprintln(env.Stdout, "Image was correctly validated")
				fmt.Fprintf(env.Stdout, "Image version: %s\n", res.Version)
				fmt.Fprintf(env.Stdout, "Image digest: %s\n", res.Digest)
				if res.Pure {
					fmt.Fprintln(env.Stdout, "Signature is over the image itself (SIG_PURE)")
				}
				switch {
				case res.Signed:
					fmt.Fprintf(env.Stdout, "Signature: %s by %s\n", res.SignatureTLV, res.Key)
				default:
					fmt.Fprintln(env.Stdout, "Signature: NOT checked (no -k given): only the structure and hash were verified")
				}
			}
			if verr != nil {
				return imageFailure(verr)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&keys, "key", "k", nil, "trusted key (PEM, public or private); repeat for several")
	cmd.Flags().StringVar(&decKey, "decrypt-key", "", "private key to decrypt an encrypted image")
	cmd.Flags().StringArrayVar(&keyHashes, "key-hash", nil, "trusted key hash (hex, as getpubhash -e raw): accepts an image carrying that key in full (PUBKEY)")
	cmd.Flags().StringVarP(&slotSize, "slot-size", "S", "", "fail when the file is larger than this slot size")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.Flags().BoolVarP(&clear, "clear", "c", false, "the body is in clear although the flags say encrypted (sign --clear)")
	return cmd
}
