/* psa/crypto.h: the PSA Crypto API 1.0 as Rampart's libpsa-rampart provides
 * it. Every function is a call to Rampart's SPE (rampart spe serve) over its
 * Unix socket: keys and multi-part operations live in the SPE, and the SPE
 * knows the caller by the socket's peer credentials. The socket is
 * $RAMPART_SPE_SOCKET, or /run/rampart/spe/spe.sock.
 * Written for Rampart from the PSA Certified Crypto API specification.
 * SPDX-License-Identifier: Apache-2.0 */
#ifndef PSA_CRYPTO_H
#define PSA_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "psa/crypto_types.h"
#include "psa/crypto_values.h"
#include "psa/crypto_sizes.h"
#include "psa/crypto_struct.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PSA_CRYPTO_API_VERSION_MAJOR 1
#define PSA_CRYPTO_API_VERSION_MINOR 0

/* Library */
psa_status_t psa_crypto_init(void);

/* Key attributes: plain fields of the caller's structure. */
static inline psa_key_attributes_t psa_key_attributes_init(void)
{
    const psa_key_attributes_t v = PSA_KEY_ATTRIBUTES_INIT;
    return v;
}
static inline void psa_set_key_id(psa_key_attributes_t *attributes, psa_key_id_t id)
{
    attributes->id = id;
    if (PSA_KEY_LIFETIME_IS_VOLATILE(attributes->lifetime))
        attributes->lifetime = PSA_KEY_LIFETIME_PERSISTENT;
}
static inline psa_key_id_t psa_get_key_id(const psa_key_attributes_t *attributes) { return attributes->id; }
static inline void psa_set_key_lifetime(psa_key_attributes_t *attributes, psa_key_lifetime_t lifetime)
{
    attributes->lifetime = lifetime;
    if (PSA_KEY_LIFETIME_IS_VOLATILE(lifetime))
        attributes->id = PSA_KEY_ID_NULL;
}
static inline psa_key_lifetime_t psa_get_key_lifetime(const psa_key_attributes_t *attributes) { return attributes->lifetime; }
static inline void psa_set_key_usage_flags(psa_key_attributes_t *attributes, psa_key_usage_t usage_flags)
{
    /* SIGN_HASH implies SIGN_MESSAGE and VERIFY_HASH implies VERIFY_MESSAGE (1.0.1) */
    if (usage_flags & PSA_KEY_USAGE_SIGN_HASH)
        usage_flags |= PSA_KEY_USAGE_SIGN_MESSAGE;
    if (usage_flags & PSA_KEY_USAGE_VERIFY_HASH)
        usage_flags |= PSA_KEY_USAGE_VERIFY_MESSAGE;
    attributes->usage = usage_flags;
}
static inline psa_key_usage_t psa_get_key_usage_flags(const psa_key_attributes_t *attributes) { return attributes->usage; }
static inline void psa_set_key_algorithm(psa_key_attributes_t *attributes, psa_algorithm_t alg) { attributes->alg = alg; }
static inline psa_algorithm_t psa_get_key_algorithm(const psa_key_attributes_t *attributes) { return attributes->alg; }
static inline void psa_set_key_type(psa_key_attributes_t *attributes, psa_key_type_t type) { attributes->type = type; }
static inline psa_key_type_t psa_get_key_type(const psa_key_attributes_t *attributes) { return attributes->type; }
static inline void psa_set_key_bits(psa_key_attributes_t *attributes, size_t bits) { attributes->bits = bits; }
static inline size_t psa_get_key_bits(const psa_key_attributes_t *attributes) { return attributes->bits; }
static inline void psa_reset_key_attributes(psa_key_attributes_t *attributes)
{
    const psa_key_attributes_t v = PSA_KEY_ATTRIBUTES_INIT;
    *attributes = v;
}
psa_status_t psa_get_key_attributes(psa_key_id_t key, psa_key_attributes_t *attributes);

/* Key management */
psa_status_t psa_import_key(const psa_key_attributes_t *attributes, const uint8_t *data, size_t data_length,
                            psa_key_id_t *key);
psa_status_t psa_generate_key(const psa_key_attributes_t *attributes, psa_key_id_t *key);
psa_status_t psa_copy_key(psa_key_id_t source_key, const psa_key_attributes_t *attributes, psa_key_id_t *target_key);
psa_status_t psa_destroy_key(psa_key_id_t key);
psa_status_t psa_purge_key(psa_key_id_t key);
psa_status_t psa_export_key(psa_key_id_t key, uint8_t *data, size_t data_size, size_t *data_length);
psa_status_t psa_export_public_key(psa_key_id_t key, uint8_t *data, size_t data_size, size_t *data_length);

/* Hashes */
psa_status_t psa_hash_compute(psa_algorithm_t alg, const uint8_t *input, size_t input_length, uint8_t *hash,
                              size_t hash_size, size_t *hash_length);
psa_status_t psa_hash_compare(psa_algorithm_t alg, const uint8_t *input, size_t input_length, const uint8_t *hash,
                              size_t hash_length);
static inline psa_hash_operation_t psa_hash_operation_init(void)
{
    const psa_hash_operation_t v = PSA_HASH_OPERATION_INIT;
    return v;
}
psa_status_t psa_hash_setup(psa_hash_operation_t *operation, psa_algorithm_t alg);
psa_status_t psa_hash_update(psa_hash_operation_t *operation, const uint8_t *input, size_t input_length);
psa_status_t psa_hash_finish(psa_hash_operation_t *operation, uint8_t *hash, size_t hash_size, size_t *hash_length);
psa_status_t psa_hash_verify(psa_hash_operation_t *operation, const uint8_t *hash, size_t hash_length);
psa_status_t psa_hash_abort(psa_hash_operation_t *operation);
psa_status_t psa_hash_clone(const psa_hash_operation_t *source_operation, psa_hash_operation_t *target_operation);
psa_status_t psa_hash_suspend(psa_hash_operation_t *operation, uint8_t *hash_state, size_t hash_state_size,
                              size_t *hash_state_length);
psa_status_t psa_hash_resume(psa_hash_operation_t *operation, const uint8_t *hash_state, size_t hash_state_length);

/* MACs */
psa_status_t psa_mac_compute(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *input, size_t input_length,
                             uint8_t *mac, size_t mac_size, size_t *mac_length);
psa_status_t psa_mac_verify(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *input, size_t input_length,
                            const uint8_t *mac, size_t mac_length);
static inline psa_mac_operation_t psa_mac_operation_init(void)
{
    const psa_mac_operation_t v = PSA_MAC_OPERATION_INIT;
    return v;
}
psa_status_t psa_mac_sign_setup(psa_mac_operation_t *operation, psa_key_id_t key, psa_algorithm_t alg);
psa_status_t psa_mac_verify_setup(psa_mac_operation_t *operation, psa_key_id_t key, psa_algorithm_t alg);
psa_status_t psa_mac_update(psa_mac_operation_t *operation, const uint8_t *input, size_t input_length);
psa_status_t psa_mac_sign_finish(psa_mac_operation_t *operation, uint8_t *mac, size_t mac_size, size_t *mac_length);
psa_status_t psa_mac_verify_finish(psa_mac_operation_t *operation, const uint8_t *mac, size_t mac_length);
psa_status_t psa_mac_abort(psa_mac_operation_t *operation);

/* Unauthenticated ciphers */
psa_status_t psa_cipher_encrypt(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *input, size_t input_length,
                                uint8_t *output, size_t output_size, size_t *output_length);
psa_status_t psa_cipher_decrypt(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *input, size_t input_length,
                                uint8_t *output, size_t output_size, size_t *output_length);
static inline psa_cipher_operation_t psa_cipher_operation_init(void)
{
    const psa_cipher_operation_t v = PSA_CIPHER_OPERATION_INIT;
    return v;
}
psa_status_t psa_cipher_encrypt_setup(psa_cipher_operation_t *operation, psa_key_id_t key, psa_algorithm_t alg);
psa_status_t psa_cipher_decrypt_setup(psa_cipher_operation_t *operation, psa_key_id_t key, psa_algorithm_t alg);
psa_status_t psa_cipher_generate_iv(psa_cipher_operation_t *operation, uint8_t *iv, size_t iv_size,
                                    size_t *iv_length);
psa_status_t psa_cipher_set_iv(psa_cipher_operation_t *operation, const uint8_t *iv, size_t iv_length);
psa_status_t psa_cipher_update(psa_cipher_operation_t *operation, const uint8_t *input, size_t input_length,
                               uint8_t *output, size_t output_size, size_t *output_length);
psa_status_t psa_cipher_finish(psa_cipher_operation_t *operation, uint8_t *output, size_t output_size,
                               size_t *output_length);
psa_status_t psa_cipher_abort(psa_cipher_operation_t *operation);

/* AEAD */
psa_status_t psa_aead_encrypt(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *nonce, size_t nonce_length,
                              const uint8_t *additional_data, size_t additional_data_length,
                              const uint8_t *plaintext, size_t plaintext_length, uint8_t *ciphertext,
                              size_t ciphertext_size, size_t *ciphertext_length);
psa_status_t psa_aead_decrypt(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *nonce, size_t nonce_length,
                              const uint8_t *additional_data, size_t additional_data_length,
                              const uint8_t *ciphertext, size_t ciphertext_length, uint8_t *plaintext,
                              size_t plaintext_size, size_t *plaintext_length);
static inline psa_aead_operation_t psa_aead_operation_init(void)
{
    const psa_aead_operation_t v = PSA_AEAD_OPERATION_INIT;
    return v;
}
psa_status_t psa_aead_encrypt_setup(psa_aead_operation_t *operation, psa_key_id_t key, psa_algorithm_t alg);
psa_status_t psa_aead_decrypt_setup(psa_aead_operation_t *operation, psa_key_id_t key, psa_algorithm_t alg);
psa_status_t psa_aead_generate_nonce(psa_aead_operation_t *operation, uint8_t *nonce, size_t nonce_size,
                                     size_t *nonce_length);
psa_status_t psa_aead_set_nonce(psa_aead_operation_t *operation, const uint8_t *nonce, size_t nonce_length);
psa_status_t psa_aead_set_lengths(psa_aead_operation_t *operation, size_t ad_length, size_t plaintext_length);
psa_status_t psa_aead_update_ad(psa_aead_operation_t *operation, const uint8_t *input, size_t input_length);
psa_status_t psa_aead_update(psa_aead_operation_t *operation, const uint8_t *input, size_t input_length,
                             uint8_t *output, size_t output_size, size_t *output_length);
psa_status_t psa_aead_finish(psa_aead_operation_t *operation, uint8_t *ciphertext, size_t ciphertext_size,
                             size_t *ciphertext_length, uint8_t *tag, size_t tag_size, size_t *tag_length);
psa_status_t psa_aead_verify(psa_aead_operation_t *operation, uint8_t *plaintext, size_t plaintext_size,
                             size_t *plaintext_length, const uint8_t *tag, size_t tag_length);
psa_status_t psa_aead_abort(psa_aead_operation_t *operation);

/* Asymmetric signature */
psa_status_t psa_sign_message(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *input, size_t input_length,
                              uint8_t *signature, size_t signature_size, size_t *signature_length);
psa_status_t psa_verify_message(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *input, size_t input_length,
                                const uint8_t *signature, size_t signature_length);
psa_status_t psa_sign_hash(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *hash, size_t hash_length,
                           uint8_t *signature, size_t signature_size, size_t *signature_length);
psa_status_t psa_verify_hash(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *hash, size_t hash_length,
                             const uint8_t *signature, size_t signature_length);

/* Asymmetric encryption */
psa_status_t psa_asymmetric_encrypt(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *input,
                                    size_t input_length, const uint8_t *salt, size_t salt_length, uint8_t *output,
                                    size_t output_size, size_t *output_length);
psa_status_t psa_asymmetric_decrypt(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *input,
                                    size_t input_length, const uint8_t *salt, size_t salt_length, uint8_t *output,
                                    size_t output_size, size_t *output_length);

/* Key derivation */
static inline psa_key_derivation_operation_t psa_key_derivation_operation_init(void)
{
    const psa_key_derivation_operation_t v = PSA_KEY_DERIVATION_OPERATION_INIT;
    return v;
}
psa_status_t psa_key_derivation_setup(psa_key_derivation_operation_t *operation, psa_algorithm_t alg);
psa_status_t psa_key_derivation_get_capacity(const psa_key_derivation_operation_t *operation, size_t *capacity);
psa_status_t psa_key_derivation_set_capacity(psa_key_derivation_operation_t *operation, size_t capacity);
psa_status_t psa_key_derivation_input_bytes(psa_key_derivation_operation_t *operation,
                                            psa_key_derivation_step_t step, const uint8_t *data,
                                            size_t data_length);
psa_status_t psa_key_derivation_input_key(psa_key_derivation_operation_t *operation,
                                          psa_key_derivation_step_t step, psa_key_id_t key);
psa_status_t psa_key_derivation_key_agreement(psa_key_derivation_operation_t *operation,
                                              psa_key_derivation_step_t step, psa_key_id_t private_key,
                                              const uint8_t *peer_key, size_t peer_key_length);
psa_status_t psa_key_derivation_output_bytes(psa_key_derivation_operation_t *operation, uint8_t *output,
                                             size_t output_length);
psa_status_t psa_key_derivation_output_key(const psa_key_attributes_t *attributes,
                                           psa_key_derivation_operation_t *operation, psa_key_id_t *key);
psa_status_t psa_key_derivation_abort(psa_key_derivation_operation_t *operation);
psa_status_t psa_raw_key_agreement(psa_algorithm_t alg, psa_key_id_t private_key, const uint8_t *peer_key,
                                   size_t peer_key_length, uint8_t *output, size_t output_size,
                                   size_t *output_length);

/* Random */
psa_status_t psa_generate_random(uint8_t *output, size_t output_size);

#ifdef __cplusplus
}
#endif

#endif /* PSA_CRYPTO_H */
