package main

/*
#include "psa/crypto_struct.h"
*/
import "C"

import (
	"bytes"
	"crypto/subtle"

	"rampart/psa"
)

// maxHash is PSA_HASH_MAX_SIZE.
const maxHash = 64

// attrsFromC reads the caller's key attributes.
func attrsFromC(a *C.psa_key_attributes_t) psa.KeyAttributes {
	return psa.KeyAttributes{
		Type:      psa.KeyType(a._type),
		Bits:      int(a.bits),
		Lifetime:  psa.Lifetime(a.lifetime),
		ID:        psa.KeyID(a.id),
		Usage:     psa.Usage(a.usage),
		Algorithm: psa.Algorithm(a.alg),
	}
}

func attrsToC(a psa.KeyAttributes, dst *C.psa_key_attributes_t) {
	dst._type = C.psa_key_type_t(a.Type)
	dst.bits = C.size_t(a.Bits)
	dst.lifetime = C.psa_key_lifetime_t(a.Lifetime)
	dst.id = C.psa_key_id_t(a.ID)
	dst.usage = C.psa_key_usage_t(a.Usage)
	dst.alg = C.psa_algorithm_t(a.Algorithm)
}

//export psa_crypto_init
func psa_crypto_init() C.psa_status_t { return status(cryptoInit()) }

//export psa_generate_random
func psa_generate_random(output *C.uint8_t, size C.size_t) C.psa_status_t {
	dst := u8(output, size)
	for len(dst) > 0 {
		n := min(len(dst), maxOut)
		out, st := cryptoCall(psa.OpGenerateRandom, nil, nil, n)
		if st != psa.Success {
			return status(st)
		}
		if len(out[0]) != n {
			return status(psa.ErrCommunicationFailure)
		}
		dst = dst[copy(dst, out[0]):]
	}
	return status(cryptoInit())
}

// keyID runs a call whose output is a new key's ID.
func keyID(op psa.Op, h *psa.CryptoHeader, data [][]byte, key *C.psa_key_id_t) C.psa_status_t {
	if key != nil {
		*key = 0
	}
	out, st := cryptoCall(op, h, data, 4)
	if st != psa.Success {
		return status(st)
	}
	id, err := psa.ParseUint32(out[0])
	if err != nil {
		return status(psa.ErrCommunicationFailure)
	}
	if key != nil {
		*key = C.psa_key_id_t(id)
	}
	return 0
}

//export psa_import_key
func psa_import_key(attributes *C.psa_key_attributes_t, data *C.uint8_t, dataLength C.size_t, key *C.psa_key_id_t) C.psa_status_t {
	if attributes == nil || key == nil {
		return status(psa.ErrInvalidArgument)
	}
	return keyID(psa.OpImportKey, &psa.CryptoHeader{Attributes: attrsFromC(attributes)}, [][]byte{u8(data, dataLength)}, key)
}

//export psa_generate_key
func psa_generate_key(attributes *C.psa_key_attributes_t, key *C.psa_key_id_t) C.psa_status_t {
	if attributes == nil || key == nil {
		return status(psa.ErrInvalidArgument)
	}
	return keyID(psa.OpGenerateKey, &psa.CryptoHeader{Attributes: attrsFromC(attributes)}, nil, key)
}

//export psa_copy_key
func psa_copy_key(source C.psa_key_id_t, attributes *C.psa_key_attributes_t, target *C.psa_key_id_t) C.psa_status_t {
	if attributes == nil || target == nil {
		return status(psa.ErrInvalidArgument)
	}
	return keyID(psa.OpCopyKey, &psa.CryptoHeader{Key: psa.KeyID(source), Attributes: attrsFromC(attributes)}, nil, target)
}

// keyOnly runs a call that names a key and has no output.
func keyOnly(op psa.Op, key C.psa_key_id_t) C.psa_status_t {
	_, st := cryptoCall(op, &psa.CryptoHeader{Key: psa.KeyID(key)}, nil)
	return status(st)
}

//export psa_destroy_key
func psa_destroy_key(key C.psa_key_id_t) C.psa_status_t {
	if key == 0 {
		// destroying the null key is a no-op that succeeds (PSA 1.0)
		return status(cryptoInit())
	}
	return keyOnly(psa.OpDestroyKey, key)
}

//export psa_purge_key
func psa_purge_key(key C.psa_key_id_t) C.psa_status_t { return keyOnly(psa.OpPurgeKey, key) }

//export psa_get_key_attributes
func psa_get_key_attributes(key C.psa_key_id_t, attributes *C.psa_key_attributes_t) C.psa_status_t {
	if attributes == nil {
		return status(psa.ErrInvalidArgument)
	}
	out, st := cryptoCall(psa.OpGetKeyAttributes, &psa.CryptoHeader{Key: psa.KeyID(key)}, nil, psa.AttributesSize)
	if st != psa.Success {
		attrsToC(psa.KeyAttributes{}, attributes)
		return status(st)
	}
	var a psa.KeyAttributes
	if err := a.UnmarshalBinary(out[0]); err != nil {
		return status(psa.ErrCommunicationFailure)
	}
	attrsToC(a, attributes)
	return 0
}

// bytesOut runs a call whose output 0 goes to the caller's buffer.
func bytesOut(op psa.Op, h *psa.CryptoHeader, data [][]byte, dst *C.uint8_t, size C.size_t, length *C.size_t) C.psa_status_t {
	if length != nil {
		*length = 0
	}
	out, st := cryptoCall(op, h, data, outSize(size))
	if st != psa.Success {
		return status(st)
	}
	return putOut(dst, size, length, out[0])
}

//export psa_export_key
func psa_export_key(key C.psa_key_id_t, data *C.uint8_t, size C.size_t, length *C.size_t) C.psa_status_t {
	return bytesOut(psa.OpExportKey, &psa.CryptoHeader{Key: psa.KeyID(key)}, nil, data, size, length)
}

//export psa_export_public_key
func psa_export_public_key(key C.psa_key_id_t, data *C.uint8_t, size C.size_t, length *C.size_t) C.psa_status_t {
	return bytesOut(psa.OpExportPublicKey, &psa.CryptoHeader{Key: psa.KeyID(key)}, nil, data, size, length)
}

//export psa_hash_compute
func psa_hash_compute(alg C.psa_algorithm_t, input *C.uint8_t, inputLength C.size_t, hash *C.uint8_t, size C.size_t, length *C.size_t) C.psa_status_t {
	return bytesOut(psa.OpHashCompute, &psa.CryptoHeader{Alg: psa.Algorithm(alg)}, [][]byte{u8(input, inputLength)}, hash, size, length)
}

//export psa_hash_compare
func psa_hash_compare(alg C.psa_algorithm_t, input *C.uint8_t, inputLength C.size_t, hash *C.uint8_t, hashLength C.size_t) C.psa_status_t {
	out, st := cryptoCall(psa.OpHashCompute, &psa.CryptoHeader{Alg: psa.Algorithm(alg)}, [][]byte{u8(input, inputLength)}, maxHash)
	if st != psa.Success {
		return status(st)
	}
	if subtle.ConstantTimeCompare(out[0], u8(hash, hashLength)) != 1 {
		return status(psa.ErrInvalidSignature)
	}
	return 0
}

//export psa_mac_compute
func psa_mac_compute(key C.psa_key_id_t, alg C.psa_algorithm_t, input *C.uint8_t, inputLength C.size_t, mac *C.uint8_t, size C.size_t, length *C.size_t) C.psa_status_t {
	return bytesOut(psa.OpMACCompute, &psa.CryptoHeader{Key: psa.KeyID(key), Alg: psa.Algorithm(alg)}, [][]byte{u8(input, inputLength)}, mac, size, length)
}

//export psa_mac_verify
func psa_mac_verify(key C.psa_key_id_t, alg C.psa_algorithm_t, input *C.uint8_t, inputLength C.size_t, mac *C.uint8_t, macLength C.size_t) C.psa_status_t {
	_, st := cryptoCall(psa.OpMACVerify, &psa.CryptoHeader{Key: psa.KeyID(key), Alg: psa.Algorithm(alg)}, [][]byte{u8(input, inputLength), u8(mac, macLength)})
	return status(st)
}

//export psa_cipher_encrypt
func psa_cipher_encrypt(key C.psa_key_id_t, alg C.psa_algorithm_t, input *C.uint8_t, inputLength C.size_t, output *C.uint8_t, size C.size_t, length *C.size_t) C.psa_status_t {
	return bytesOut(psa.OpCipherEncrypt, &psa.CryptoHeader{Key: psa.KeyID(key), Alg: psa.Algorithm(alg)}, [][]byte{u8(input, inputLength)}, output, size, length)
}

//export psa_cipher_decrypt
func psa_cipher_decrypt(key C.psa_key_id_t, alg C.psa_algorithm_t, input *C.uint8_t, inputLength C.size_t, output *C.uint8_t, size C.size_t, length *C.size_t) C.psa_status_t {
	return bytesOut(psa.OpCipherDecrypt, &psa.CryptoHeader{Key: psa.KeyID(key), Alg: psa.Algorithm(alg)}, [][]byte{u8(input, inputLength)}, output, size, length)
}

//export psa_aead_encrypt
func psa_aead_encrypt(key C.psa_key_id_t, alg C.psa_algorithm_t, nonce *C.uint8_t, nonceLength C.size_t, ad *C.uint8_t, adLength C.size_t, plaintext *C.uint8_t, plaintextLength C.size_t, ciphertext *C.uint8_t, size C.size_t, length *C.size_t) C.psa_status_t {
	h := &psa.CryptoHeader{Key: psa.KeyID(key), Alg: psa.Algorithm(alg), Nonce: bytes.Clone(u8(nonce, nonceLength))}
	return bytesOut(psa.OpAEADEncrypt, h, [][]byte{u8(ad, adLength), u8(plaintext, plaintextLength)}, ciphertext, size, length)
}

//export psa_aead_decrypt
func psa_aead_decrypt(key C.psa_key_id_t, alg C.psa_algorithm_t, nonce *C.uint8_t, nonceLength C.size_t, ad *C.uint8_t, adLength C.size_t, ciphertext *C.uint8_t, ciphertextLength C.size_t, plaintext *C.uint8_t, size C.size_t, length *C.size_t) C.psa_status_t {
	h := &psa.CryptoHeader{Key: psa.KeyID(key), Alg: psa.Algorithm(alg), Nonce: bytes.Clone(u8(nonce, nonceLength))}
	return bytesOut(psa.OpAEADDecrypt, h, [][]byte{u8(ad, adLength), u8(ciphertext, ciphertextLength)}, plaintext, size, length)
}

//export psa_sign_hash
func psa_sign_hash(key C.psa_key_id_t, alg C.psa_algorithm_t, hash *C.uint8_t, hashLength C.size_t, sig *C.uint8_t, size C.size_t, length *C.size_t) C.psa_status_t {
	return bytesOut(psa.OpSignHash, &psa.CryptoHeader{Key: psa.KeyID(key), Alg: psa.Algorithm(alg)}, [][]byte{u8(hash, hashLength)}, sig, size, length)
}

//export psa_verify_hash
func psa_verify_hash(key C.psa_key_id_t, alg C.psa_algorithm_t, hash *C.uint8_t, hashLength C.size_t, sig *C.uint8_t, sigLength C.size_t) C.psa_status_t {
	_, st := cryptoCall(psa.OpVerifyHash, &psa.CryptoHeader{Key: psa.KeyID(key), Alg: psa.Algorithm(alg)}, [][]byte{u8(hash, hashLength), u8(sig, sigLength)})
	return status(st)
}

//export psa_sign_message
func psa_sign_message(key C.psa_key_id_t, alg C.psa_algorithm_t, msg *C.uint8_t, msgLength C.size_t, sig *C.uint8_t, size C.size_t, length *C.size_t) C.psa_status_t {
	return bytesOut(psa.OpSignMessage, &psa.CryptoHeader{Key: psa.KeyID(key), Alg: psa.Algorithm(alg)}, [][]byte{u8(msg, msgLength)}, sig, size, length)
}

//export psa_verify_message
func psa_verify_message(key C.psa_key_id_t, alg C.psa_algorithm_t, msg *C.uint8_t, msgLength C.size_t, sig *C.uint8_t, sigLength C.size_t) C.psa_status_t {
	_, st := cryptoCall(psa.OpVerifyMessage, &psa.CryptoHeader{Key: psa.KeyID(key), Alg: psa.Algorithm(alg)}, [][]byte{u8(msg, msgLength), u8(sig, sigLength)})
	return status(st)
}

//export psa_asymmetric_encrypt
func psa_asymmetric_encrypt(key C.psa_key_id_t, alg C.psa_algorithm_t, input *C.uint8_t, inputLength C.size_t, salt *C.uint8_t, saltLength C.size_t, output *C.uint8_t, size C.size_t, length *C.size_t) C.psa_status_t {
	return bytesOut(psa.OpAsymmetricEncrypt, &psa.CryptoHeader{Key: psa.KeyID(key), Alg: psa.Algorithm(alg)}, [][]byte{u8(input, inputLength), u8(salt, saltLength)}, output, size, length)
}

//export psa_asymmetric_decrypt
func psa_asymmetric_decrypt(key C.psa_key_id_t, alg C.psa_algorithm_t, input *C.uint8_t, inputLength C.size_t, salt *C.uint8_t, saltLength C.size_t, output *C.uint8_t, size C.size_t, length *C.size_t) C.psa_status_t {
	return bytesOut(psa.OpAsymmetricDecrypt, &psa.CryptoHeader{Key: psa.KeyID(key), Alg: psa.Algorithm(alg)}, [][]byte{u8(input, inputLength), u8(salt, saltLength)}, output, size, length)
}

//export psa_raw_key_agreement
func psa_raw_key_agreement(alg C.psa_algorithm_t, key C.psa_key_id_t, peer *C.uint8_t, peerLength C.size_t, output *C.uint8_t, size C.size_t, length *C.size_t) C.psa_status_t {
	return bytesOut(psa.OpRawKeyAgreement, &psa.CryptoHeader{Key: psa.KeyID(key), Alg: psa.Algorithm(alg)}, [][]byte{u8(peer, peerLength)}, output, size, length)
}
