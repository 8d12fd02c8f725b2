package image

import "crypto"

type cryptoSigner = crypto.Signer
