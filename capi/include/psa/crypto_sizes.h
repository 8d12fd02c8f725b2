/* psa/crypto_sizes.h: buffer-size macros of the PSA Crypto API 1.0, sized
 * for what Rampart's SPE implements (hashes up to SHA-512, AES, ChaCha20,
 * SECP R1 P-256/P-384, Curve25519, RSA up to 4096 bits).
 * Written for Rampart's libpsa-rampart from the PSA Certified Crypto API specification.
 * SPDX-License-Identifier: Apache-2.0 */
#ifndef PSA_CRYPTO_SIZES_H
#define PSA_CRYPTO_SIZES_H

#include "psa/crypto_values.h"

#define PSA_BITS_TO_BYTES(bits) (((bits) + 7u) / 8u)
#define PSA_BYTES_TO_BITS(bytes) ((bytes) * 8u)
#define PSA_ROUND_UP_TO_MULTIPLE(block_size, length) \
    (((length) + (block_size) - 1u) / (block_size) * (block_size))

/* Hashes */
#define PSA_HASH_LENGTH(alg) \
    (PSA_ALG_GET_HASH(alg) == PSA_ALG_MD2 ? 16u : \
     PSA_ALG_GET_HASH(alg) == PSA_ALG_MD4 ? 16u : \
     PSA_ALG_GET_HASH(alg) == PSA_ALG_MD5 ? 16u : \
     PSA_ALG_GET_HASH(alg) == PSA_ALG_RIPEMD160 ? 20u : \
     PSA_ALG_GET_HASH(alg) == PSA_ALG_SHA_1 ? 20u : \
     PSA_ALG_GET_HASH(alg) == PSA_ALG_SHA_224 ? 28u : \
     PSA_ALG_GET_HASH(alg) == PSA_ALG_SHA_256 ? 32u : \
     PSA_ALG_GET_HASH(alg) == PSA_ALG_SHA_384 ? 48u : \
     PSA_ALG_GET_HASH(alg) == PSA_ALG_SHA_512 ? 64u : \
     PSA_ALG_GET_HASH(alg) == PSA_ALG_SHA_512_224 ? 28u : \
     PSA_ALG_GET_HASH(alg) == PSA_ALG_SHA_512_256 ? 32u : \
     PSA_ALG_GET_HASH(alg) == PSA_ALG_SHA3_224 ? 28u : \
     PSA_ALG_GET_HASH(alg) == PSA_ALG_SHA3_256 ? 32u : \
     PSA_ALG_GET_HASH(alg) == PSA_ALG_SHA3_384 ? 48u : \
     PSA_ALG_GET_HASH(alg) == PSA_ALG_SHA3_512 ? 64u : \
     PSA_ALG_GET_HASH(alg) == PSA_ALG_SM3 ? 32u : 0u)
#define PSA_HASH_BLOCK_LENGTH(alg) \
    (PSA_ALG_GET_HASH(alg) == PSA_ALG_SHA_384 || PSA_ALG_GET_HASH(alg) == PSA_ALG_SHA_512 || \
     PSA_ALG_GET_HASH(alg) == PSA_ALG_SHA_512_224 || PSA_ALG_GET_HASH(alg) == PSA_ALG_SHA_512_256 ? 128u : \
     PSA_ALG_GET_HASH(alg) == PSA_ALG_SHA3_224 ? 144u : PSA_ALG_GET_HASH(alg) == PSA_ALG_SHA3_256 ? 136u : \
     PSA_ALG_GET_HASH(alg) == PSA_ALG_SHA3_384 ? 104u : PSA_ALG_GET_HASH(alg) == PSA_ALG_SHA3_512 ? 72u : \
     PSA_HASH_LENGTH(alg) != 0 ? 64u : 0u)
#define PSA_HASH_MAX_SIZE 64u
#define PSA_HASH_SUSPEND_OUTPUT_MAX_SIZE 256u

/* MACs */
#define PSA_MAC_MAX_SIZE 64u
#define PSA_MAC_LENGTH(key_type, key_bits, alg) \
    ((alg) & PSA_ALG_MAC_TRUNCATION_MASK ? PSA_MAC_TRUNCATED_LENGTH(alg) : \
     PSA_ALG_IS_HMAC(alg) ? PSA_HASH_LENGTH(PSA_ALG_HMAC_GET_HASH(alg)) : \
     PSA_ALG_IS_BLOCK_CIPHER_MAC(alg) ? PSA_BLOCK_CIPHER_BLOCK_LENGTH(key_type) : \
     0u)

/* AEAD */
#define PSA_AEAD_TAG_LENGTH(key_type, key_bits, alg) \
    (PSA_AEAD_NONCE_LENGTH(key_type, alg) != 0 ? \
     (((alg) & PSA_ALG_AEAD_TAG_LENGTH_MASK) >> PSA_AEAD_TAG_LENGTH_OFFSET) : 0u)
#define PSA_AEAD_TAG_MAX_SIZE 16u
#define PSA_AEAD_NONCE_LENGTH(key_type, alg) \
    (PSA_BLOCK_CIPHER_BLOCK_LENGTH(key_type) == 16u && \
     PSA_ALG_AEAD_WITH_SHORTENED_TAG(alg, 0) == PSA_ALG_AEAD_WITH_SHORTENED_TAG(PSA_ALG_CCM, 0) ? 13u : \
     PSA_BLOCK_CIPHER_BLOCK_LENGTH(key_type) == 16u && \
     PSA_ALG_AEAD_WITH_SHORTENED_TAG(alg, 0) == PSA_ALG_AEAD_WITH_SHORTENED_TAG(PSA_ALG_GCM, 0) ? 12u : \
     (key_type) == PSA_KEY_TYPE_CHACHA20 && \
     PSA_ALG_AEAD_WITH_SHORTENED_TAG(alg, 0) == PSA_ALG_AEAD_WITH_SHORTENED_TAG(PSA_ALG_CHACHA20_POLY1305, 0) ? 12u : 0u)
#define PSA_AEAD_NONCE_MAX_SIZE 13u
#define PSA_AEAD_ENCRYPT_OUTPUT_SIZE(key_type, alg, plaintext_length) \
    (PSA_AEAD_NONCE_LENGTH(key_type, alg) != 0 ? (plaintext_length) + PSA_AEAD_TAG_LENGTH(key_type, 0, alg) : 0u)
#define PSA_AEAD_ENCRYPT_OUTPUT_MAX_SIZE(plaintext_length) ((plaintext_length) + PSA_AEAD_TAG_MAX_SIZE)
#define PSA_AEAD_DECRYPT_OUTPUT_SIZE(key_type, alg, ciphertext_length) \
    (PSA_AEAD_NONCE_LENGTH(key_type, alg) != 0 && (ciphertext_length) > PSA_AEAD_TAG_LENGTH(key_type, 0, alg) ? \
     (ciphertext_length) - PSA_AEAD_TAG_LENGTH(key_type, 0, alg) : 0u)
#define PSA_AEAD_DECRYPT_OUTPUT_MAX_SIZE(ciphertext_length) (ciphertext_length)
/* Rampart's SPE releases AEAD output as it goes, at most a block behind. */
#define PSA_AEAD_UPDATE_OUTPUT_SIZE(key_type, alg, input_length) \
    (PSA_AEAD_NONCE_LENGTH(key_type, alg) == 0 ? 0u : \
     PSA_ALG_IS_AEAD_ON_BLOCK_CIPHER(alg) ? \
     PSA_ROUND_UP_TO_MULTIPLE(PSA_BLOCK_CIPHER_BLOCK_LENGTH(key_type), (input_length) + PSA_BLOCK_CIPHER_BLOCK_LENGTH(key_type) - 1u) : \
     (input_length))
#define PSA_AEAD_UPDATE_OUTPUT_MAX_SIZE(input_length) (PSA_ROUND_UP_TO_MULTIPLE(16u, (input_length) + 15u))
#define PSA_AEAD_FINISH_OUTPUT_SIZE(key_type, alg) \
    (PSA_AEAD_NONCE_LENGTH(key_type, alg) != 0 && PSA_ALG_IS_AEAD_ON_BLOCK_CIPHER(alg) ? \
     PSA_BLOCK_CIPHER_BLOCK_LENGTH(key_type) : 0u)
#define PSA_AEAD_FINISH_OUTPUT_MAX_SIZE 16u
#define PSA_AEAD_VERIFY_OUTPUT_SIZE(key_type, alg) PSA_AEAD_FINISH_OUTPUT_SIZE(key_type, alg)
#define PSA_AEAD_VERIFY_OUTPUT_MAX_SIZE 16u

/* Unauthenticated ciphers */
#define PSA_CIPHER_IV_LENGTH(key_type, alg) \
    (PSA_BLOCK_CIPHER_BLOCK_LENGTH(key_type) > 1u && \
     ((alg) == PSA_ALG_CTR || (alg) == PSA_ALG_CFB || (alg) == PSA_ALG_OFB || (alg) == PSA_ALG_XTS || \
      (alg) == PSA_ALG_CBC_NO_PADDING || (alg) == PSA_ALG_CBC_PKCS7) ? PSA_BLOCK_CIPHER_BLOCK_LENGTH(key_type) : \
     (key_type) == PSA_KEY_TYPE_CHACHA20 && (alg) == PSA_ALG_STREAM_CIPHER ? 12u : \
     (alg) == PSA_ALG_CCM_STAR_NO_TAG ? 13u : 0u)
#define PSA_CIPHER_IV_MAX_SIZE 16u
#define PSA_CIPHER_ENCRYPT_OUTPUT_SIZE(key_type, alg, input_length) \
    (PSA_ALG_IS_CIPHER(alg) && PSA_BLOCK_CIPHER_BLOCK_LENGTH(key_type) != 0 ? \
     ((alg) == PSA_ALG_CBC_PKCS7 ? \
      PSA_ROUND_UP_TO_MULTIPLE(PSA_BLOCK_CIPHER_BLOCK_LENGTH(key_type), (input_length) + 1u) : (input_length)) + \
     PSA_CIPHER_IV_LENGTH(key_type, alg) : 0u)
#define PSA_CIPHER_ENCRYPT_OUTPUT_MAX_SIZE(input_length) \
    (PSA_ROUND_UP_TO_MULTIPLE(16u, (input_length) + 1u) + PSA_CIPHER_IV_MAX_SIZE)
#define PSA_CIPHER_DECRYPT_OUTPUT_SIZE(key_type, alg, input_length) \
    (PSA_ALG_IS_CIPHER(alg) && PSA_BLOCK_CIPHER_BLOCK_LENGTH(key_type) != 0 && \
     (input_length) > PSA_CIPHER_IV_LENGTH(key_type, alg) ? (input_length) - PSA_CIPHER_IV_LENGTH(key_type, alg) : 0u)
#define PSA_CIPHER_DECRYPT_OUTPUT_MAX_SIZE(input_length) (input_length)
#define PSA_CIPHER_UPDATE_OUTPUT_SIZE(key_type, alg, input_length) \
    (PSA_ALG_IS_CIPHER(alg) && PSA_BLOCK_CIPHER_BLOCK_LENGTH(key_type) > 1u && \
     ((alg) == PSA_ALG_CBC_NO_PADDING || (alg) == PSA_ALG_CBC_PKCS7 || (alg) == PSA_ALG_ECB_NO_PADDING) ? \
     PSA_ROUND_UP_TO_MULTIPLE(PSA_BLOCK_CIPHER_BLOCK_LENGTH(key_type), (input_length) + PSA_BLOCK_CIPHER_BLOCK_LENGTH(key_type) - 1u) : \
     PSA_ALG_IS_CIPHER(alg) && PSA_BLOCK_CIPHER_BLOCK_LENGTH(key_type) != 0 ? (input_length) : 0u)
#define PSA_CIPHER_UPDATE_OUTPUT_MAX_SIZE(input_length) (PSA_ROUND_UP_TO_MULTIPLE(16u, (input_length) + 15u))
#define PSA_CIPHER_FINISH_OUTPUT_SIZE(key_type, alg) \
    (PSA_ALG_IS_CIPHER(alg) && (alg) == PSA_ALG_CBC_PKCS7 ? PSA_BLOCK_CIPHER_BLOCK_LENGTH(key_type) : 0u)
#define PSA_CIPHER_FINISH_OUTPUT_MAX_SIZE 16u

/* Asymmetric */
#define PSA_VENDOR_RSA_MAX_KEY_BITS 4096u
#define PSA_VENDOR_ECC_MAX_CURVE_BITS 521u
#define PSA_SIGN_OUTPUT_SIZE(key_type, key_bits, alg) \
    (PSA_KEY_TYPE_IS_RSA(key_type) ? PSA_BITS_TO_BYTES(key_bits) : \
     PSA_KEY_TYPE_IS_ECC(key_type) ? PSA_BITS_TO_BYTES(key_bits) * 2u : 0u)
#define PSA_SIGNATURE_MAX_SIZE PSA_BITS_TO_BYTES(PSA_VENDOR_RSA_MAX_KEY_BITS)
#define PSA_ECDSA_SIGNATURE_SIZE(curve_bits) (PSA_BITS_TO_BYTES(curve_bits) * 2u)
#define PSA_ASYMMETRIC_ENCRYPT_OUTPUT_SIZE(key_type, key_bits, alg) \
    (PSA_KEY_TYPE_IS_RSA(key_type) ? PSA_BITS_TO_BYTES(key_bits) : 0u)
#define PSA_ASYMMETRIC_ENCRYPT_OUTPUT_MAX_SIZE PSA_BITS_TO_BYTES(PSA_VENDOR_RSA_MAX_KEY_BITS)
#define PSA_ASYMMETRIC_DECRYPT_OUTPUT_SIZE(key_type, key_bits, alg) \
    (PSA_KEY_TYPE_IS_RSA(key_type) ? PSA_BITS_TO_BYTES(key_bits) : 0u)
#define PSA_ASYMMETRIC_DECRYPT_OUTPUT_MAX_SIZE PSA_BITS_TO_BYTES(PSA_VENDOR_RSA_MAX_KEY_BITS)

/* Key export formats (DER RSAPrivateKey / RSAPublicKey, SEC1 points, raw scalars) */
#define PSA_KEY_EXPORT_ASN1_INTEGER_MAX_SIZE(bits) ((bits) / 8u + 5u)
#define PSA_KEY_EXPORT_RSA_PUBLIC_KEY_MAX_SIZE(key_bits) (PSA_KEY_EXPORT_ASN1_INTEGER_MAX_SIZE(key_bits) + 11u)
#define PSA_KEY_EXPORT_RSA_KEY_PAIR_MAX_SIZE(key_bits) \
    (9u * PSA_KEY_EXPORT_ASN1_INTEGER_MAX_SIZE((key_bits) / 2u + 1u) + 14u)
#define PSA_KEY_EXPORT_ECC_PUBLIC_KEY_MAX_SIZE(key_bits) (2u * PSA_BITS_TO_BYTES(key_bits) + 1u)
#define PSA_KEY_EXPORT_ECC_KEY_PAIR_MAX_SIZE(key_bits) (PSA_BITS_TO_BYTES(key_bits))
#define PSA_EXPORT_KEY_OUTPUT_SIZE(key_type, key_bits) \
    (PSA_KEY_TYPE_IS_UNSTRUCTURED(key_type) ? PSA_BITS_TO_BYTES(key_bits) : \
     (key_type) == PSA_KEY_TYPE_RSA_KEY_PAIR ? PSA_KEY_EXPORT_RSA_KEY_PAIR_MAX_SIZE(key_bits) : \
     (key_type) == PSA_KEY_TYPE_RSA_PUBLIC_KEY ? PSA_KEY_EXPORT_RSA_PUBLIC_KEY_MAX_SIZE(key_bits) : \
     PSA_KEY_TYPE_IS_ECC_KEY_PAIR(key_type) ? PSA_KEY_EXPORT_ECC_KEY_PAIR_MAX_SIZE(key_bits) : \
     PSA_KEY_TYPE_IS_ECC_PUBLIC_KEY(key_type) ? PSA_KEY_EXPORT_ECC_PUBLIC_KEY_MAX_SIZE(key_bits) : 0u)
#define PSA_EXPORT_PUBLIC_KEY_OUTPUT_SIZE(key_type, key_bits) \
    (PSA_KEY_TYPE_IS_RSA(key_type) ? PSA_KEY_EXPORT_RSA_PUBLIC_KEY_MAX_SIZE(key_bits) : \
     PSA_KEY_TYPE_IS_ECC(key_type) ? PSA_KEY_EXPORT_ECC_PUBLIC_KEY_MAX_SIZE(key_bits) : 0u)
#define PSA_EXPORT_KEY_PAIR_MAX_SIZE PSA_KEY_EXPORT_RSA_KEY_PAIR_MAX_SIZE(PSA_VENDOR_RSA_MAX_KEY_BITS)
#define PSA_EXPORT_PUBLIC_KEY_MAX_SIZE PSA_KEY_EXPORT_RSA_PUBLIC_KEY_MAX_SIZE(PSA_VENDOR_RSA_MAX_KEY_BITS)
#define PSA_RAW_KEY_AGREEMENT_OUTPUT_SIZE(key_type, key_bits) \
    (PSA_KEY_TYPE_IS_ECC_KEY_PAIR(key_type) ? PSA_BITS_TO_BYTES(key_bits) : 0u)
#define PSA_RAW_KEY_AGREEMENT_OUTPUT_MAX_SIZE PSA_BITS_TO_BYTES(PSA_VENDOR_ECC_MAX_CURVE_BITS)

#define PSA_TLS12_PSK_TO_MS_PSK_MAX_SIZE 128u

#endif /* PSA_CRYPTO_SIZES_H */
