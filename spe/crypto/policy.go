package crypto

import (
	"rampart/ipc"
	"rampart/psa"
)

// checkNewAttributes validates the lifetime and ID of a key about to be
// created and returns the attributes with the usage flags extended as the
// PSA spec says (SIGN_HASH implies SIGN_MESSAGE, VERIFY_HASH implies
// VERIFY_MESSAGE).
// knownUsage is every usage flag the PSA Crypto API defines.
const knownUsage = psa.UsageExport | psa.UsageCopy | psa.UsageCache | psa.UsageDerivePublic |
	psa.UsageEncrypt | psa.UsageDecrypt | psa.UsageSignMessage | psa.UsageVerifyMessage |
	psa.UsageSignHash | psa.UsageVerifyHash | psa.UsageDerive | psa.UsageVerifyDerivation |
	psa.UsageWrap | psa.UsageUnwrap

func checkNewAttributes(a psa.KeyAttributes) (psa.KeyAttributes, ipc.Status) {
	switch a.Lifetime {
	case psa.LifetimeVolatile:
		if a.ID != psa.KeyIDNull {
			return a, ipc.ErrInvalidArgument
		}
	case psa.LifetimePersistent, psa.LifetimePersistentTPM:
		if a.ID < psa.KeyIDUserMin || a.ID > psa.KeyIDUserMax {
			return a, ipc.ErrInvalidArgument
		}
	default:
		return a, ipc.ErrNotSupported
	}
	if a.Type == psa.KeyTypeNone {
		return a, ipc.ErrNotSupported // PSA: a key type the implementation does not know
	}
	if a.Usage&^knownUsage != 0 {
		return a, ipc.ErrInvalidArgument // a usage flag the PSA API does not define
	}
	if a.Usage&psa.UsageSignHash != 0 {
		a.Usage |= psa.UsageSignMessage
	}
	if a.Usage&psa.UsageVerifyHash != 0 {
		a.Usage |= psa.UsageVerifyMessage
	}
	return a, ipc.Success
}

// macFullLength returns the untruncated length of a MAC algorithm, or 0.
func macFullLength(a psa.Algorithm) int {
	if a.IsHMAC() {
		if h := a.Hash().CryptoHash(); h != 0 {
			return h.Size()
		}
		return 0
	}
	if a&^0x003f8000 == psa.AlgCMAC {
		return 16
	}
	return 0
}

// canonicalMAC writes a MAC algorithm truncated to its full length as the
// untruncated algorithm, so both name the same policy.
func canonicalMAC(a psa.Algorithm) psa.Algorithm {
	if a.IsMAC() && a&psa.AtLeastThisLengthFlag == 0 && a.TagLength() != 0 && a.TagLength() == macFullLength(a) {
		return psa.AlgTruncatedMAC(a, 0)
	}
	return a
}

func tagLen(a psa.Algorithm) int {
	if a.IsMAC() && a.TagLength() == 0 {
		return macFullLength(a)
	}
	return a.TagLength()
}

// permits reports whether a key whose policy names policy may be used with
// the specific algorithm req: exact match, a hash-and-sign policy with
// PSA_ALG_ANY_HASH, or a MAC/AEAD policy with the at-least-this-length flag.
func permits(policy, req psa.Algorithm) bool {
	if req == psa.AlgNone {
		return false
	}
	policy, req = canonicalMAC(policy), canonicalMAC(req)
	if policy == req {
		return true
	}
	if policy.IsHashAndSign() && policy&0xff == 0xff {
		return req.IsHashAndSign() && req&^0xff == policy&^0xff && req.Hash().CryptoHash() != 0
	}
	if (policy.IsMAC() || policy.IsAEAD()) && policy&psa.AtLeastThisLengthFlag != 0 && req&psa.AtLeastThisLengthFlag == 0 {
		base := func(a psa.Algorithm) psa.Algorithm { return a &^ (0x003f0000 | psa.AtLeastThisLengthFlag) }
		return base(policy) == base(req) && tagLen(req) >= tagLen(policy)
	}
	return false
}

// intersect returns the algorithm policy of a copy: the narrower of the two,
// or ok=false when neither permits the other.
func intersect(src, req psa.Algorithm) (psa.Algorithm, bool) {
	switch {
	case src == psa.AlgNone || req == psa.AlgNone:
		return psa.AlgNone, true
	case canonicalMAC(src) == canonicalMAC(req):
		return src, true
	case permits(src, req):
		return req, true
	case permits(req, src):
		return src, true
	}
	return psa.AlgNone, false
}

// use checks that sl's policy allows usage with alg.
func (sl *slot) use(usage psa.Usage, alg psa.Algorithm) ipc.Status {
	if sl.attr.Usage&usage != usage || !permits(sl.attr.Algorithm, alg) {
		return ipc.ErrNotPermitted
	}
	return ipc.Success
}
