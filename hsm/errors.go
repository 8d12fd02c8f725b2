package hsm

import "errors"

// Errors a caller can tell apart (wrapped with the details).
var (
	// ErrURI: the pkcs11: URI is malformed or names something refused.
	ErrURI = errors.New("hsm: pkcs11 URI")
	// ErrModule: the PKCS#11 module (shared library) cannot be loaded or initialized.
	ErrModule = errors.New("hsm: PKCS#11 module")
	// ErrNoToken: no token matches the URI's token attributes.
	ErrNoToken = errors.New("hsm: no such token")
	// ErrNoObject: the token holds no key matching the URI's object and id.
	ErrNoObject = errors.New("hsm: no such key")
	// ErrAmbiguous: the URI matches more than one token or key.
	ErrAmbiguous = errors.New("hsm: the URI matches more than one")
	// ErrPIN: the token refused the PIN (wrong, locked or of the wrong length).
	ErrPIN = errors.New("hsm: PIN refused")
	// ErrPINSource: the PIN file cannot be read or is open to other users.
	ErrPINSource = errors.New("hsm: PIN source")
	// ErrKeyType: the key is of a type or size this package does not sign with.
	ErrKeyType = errors.New("hsm: unsupported key")
	// ErrNoCgo: this binary was built without cgo, so it cannot load a PKCS#11 module.
	ErrNoCgo = errors.New("hsm: this rampart was built without cgo and cannot load PKCS#11 modules (build with CGO_ENABLED=1)")
)
