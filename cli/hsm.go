package cli

import (
	"errors"
	"fmt"

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
