package cli

import (
	"crypto"
	"errors"
	"fmt"
	"os"

	"rampart/attest"
	"rampart/hsm"
)

// hsmOpen opens the key a pkcs11: URI names, with the exit code and hint
// of each way it can fail: a malformed URI is a command-line error (2); a
// module, token, key or PIN that cannot be used is an input that cannot be
// read (3), each with what to check.
func hsmOpen(uri, flag string) (*hsm.Key, error) {
	k, err := hsm.Open(uri)
	if err == nil {
		return k, nil
	}
	return nil, hsmFail(flag, err)
}

func hsmFail(flag string, err error) error {
	err = fmt.Errorf("%s: %w", flag, err)
	switch {
	case errors.Is(err, hsm.ErrURI):
		return fail(ExitUsage, err, "a key in a token is named pkcs11:token=LABEL;object=KEY?module-path=/path/module.so&pin-source=file:/path/pin (RFC 7512)")
	case errors.Is(err, hsm.ErrPIN):
		return fail(ExitError, err, "check the PIN in the pin-source file (the token may lock after several wrong PINs)")
	case errors.Is(err, hsm.ErrPINSource):
		return fail(ExitError, err, "the pin-source file must exist and be readable by its owner only (chmod 600)")
	case errors.Is(err, hsm.ErrNoToken):
		return fail(ExitError, err, "list the tokens with: pkcs11-tool --module MODULE --list-token-slots")
	case errors.Is(err, hsm.ErrNoObject), errors.Is(err, hsm.ErrAmbiguous):
		return fail(ExitError, err, "list the keys with: pkcs11-tool --module MODULE --token-label LABEL --login --list-objects")
	case errors.Is(err, hsm.ErrModule):
		return fail(ExitError, err, "module-path must name the token's PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so")
	case errors.Is(err, hsm.ErrNoCgo):
		return fail(ExitError, err, "")
	}
	return fail(ExitError, err, "")
}

// manufacturerSigner opens a manufacturer key: a pkcs11: URI (the key
// stays in its token) or an ECDSA PEM file. done releases a token key.
func manufacturerSigner(ref, flag string) (key crypto.Signer, done func(), err error) {
	if hsm.IsURI(ref) {
		k, err := hsmOpen(ref, flag)
		if err != nil {
			return nil, nil, err
		}
		return k, func() { k.Close() }, nil
	}
	b, err := os.ReadFile(ref)
	if err != nil {
		return nil, nil, fail(ExitError, err, "")
	}
	pk, err := attest.ParsePrivateKeyPEM(b)
	if err != nil {
		return nil, nil, fail(ExitError, fmt.Errorf("%s %s: %w", flag, ref, err),
			"the manufacturer key is an ECDSA P-256, P-384 or P-521 private key (PEM), or a key in a token as a pkcs11: URI")
	}
	return pk, func() {}, nil
}
