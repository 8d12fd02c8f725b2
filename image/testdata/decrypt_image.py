#!/usr/bin/python3
# Independent decryptor for MCUboot images, written for Rampart's imgtool
# cross-check (docs/imgtool-interop.md). imgtool verify cannot check an
# encrypted image (its hash covers the plaintext), so this script, using only
# Python's `cryptography` package, recovers the AES key from the image's
# key-exchange TLV, decrypts the body and writes the plaintext image, which
# imgtool verify then checks.
#
# usage: decrypt_image.py PRIVATE_KEY.pem IN.bin OUT.bin
import struct
import sys

from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def ctr(key, data):
    e = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
    return e.update(data) + e.finalize()


def main(keyfile, infile, outfile):
    priv = serialization.load_pem_private_key(open(keyfile, "rb").read(), password=None)
    img = bytearray(open(infile, "rb").read())
    magic, _, hdr, prot, size, flags = struct.unpack_from("<IIHHII", img, 0)
    assert magic == 0x96F3B83D, "not an MCUboot image"
    keylen = 32 if flags & 0x8 else 16
    off = hdr + size + prot
    m, tot = struct.unpack_from("<HH", img, off)
    assert m == 0x6907, "no TLV area"
    p, end, aes = off + 4, off + tot, None
    while p < end:
        t, n = struct.unpack_from("<HH", img, p)
        v = bytes(img[p + 4 : p + 4 + n])
        p += 4 + n
        if t == 0x30:
            aes = priv.decrypt(v, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
        elif t in (0x32, 0x33, 0x34):
            h = hashes.SHA512() if t == 0x34 else hashes.SHA256()
            if t == 0x32:
                eph = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), v[:65])
                shared, v = priv.exchange(ec.ECDH(), eph), v[65:]
            else:
                eph = x25519.X25519PublicKey.from_public_bytes(v[:32])
                shared, v = priv.exchange(eph), v[32:]
            okm = HKDF(h, keylen + h.digest_size, None, b"MCUBoot_ECIES_v1").derive(shared)
            mac, ct = v[: h.digest_size], v[h.digest_size :]
            m = hmac.HMAC(okm[keylen:], h)
            m.update(ct)
            m.verify(mac)
            aes = ctr(okm[:keylen], ct)
    assert aes is not None, "no key-exchange TLV"
    img[hdr : hdr + size] = ctr(aes, bytes(img[hdr : hdr + size]))
    open(outfile, "wb").write(img)


if __name__ == "__main__":
    main(*sys.argv[1:4])
