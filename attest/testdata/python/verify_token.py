"""Independent check of a Rampart PSA token with Python's cbor2 and cryptography.

usage: verify_token.py TOKEN PUBKEY.pem [TOKEN PUBKEY.pem]...
For each pair, verifies the tagged COSE_Sign1 (ES256/ES384/ES512) over its
Sig_structure and prints one JSON line: {"alg": ..., "claims": {...}} (byte
strings as hex, keys as strings), or {"error": "..."} if it does not verify.
"""
import json
import sys

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils


def plain(v):
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


def check(token_path, key_path):
    token = open(token_path, "rb").read()
    pub = serialization.load_pem_public_key(open(key_path, "rb").read())
    tag = cbor2.loads(token)
    if not isinstance(tag, cbor2.CBORTag) or tag.tag != 18 or len(tag.value) != 4:
        raise ValueError("not a tagged COSE_Sign1")
    protected, _unprotected, payload, sig = tag.value
    alg = cbor2.loads(protected)[1]
    h = {-7: hashes.SHA256(), -35: hashes.SHA384(), -36: hashes.SHA512()}[alg]
    tbs = cbor2.dumps(["Signature1", protected, b"", payload])
    n = len(sig) // 2
    der = utils.encode_dss_signature(int.from_bytes(sig[:n], "big"), int.from_bytes(sig[n:], "big"))
    pub.verify(der, tbs, ec.ECDSA(h))  # raises InvalidSignature
    return {"alg": alg, "claims": plain(cbor2.loads(payload))}


def main():
    args = sys.argv[1:]
    for i in range(0, len(args), 2):
        try:
            print(json.dumps(check(args[i], args[i + 1])))
        except Exception as e:  # report and go on to the next token
            print(json.dumps({"error": type(e).__name__ + ": " + str(e)}))


if __name__ == "__main__":
    main()
