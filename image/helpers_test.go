package image

import (
	"crypto"
	"crypto/elliptic"
)

type cryptoSigner = crypto.Signer

func ellipticP224() elliptic.Curve { return elliptic.P224() }
