/* psa/crypto_struct.h: Rampart's layout of the PSA Crypto API's attribute and
 * operation objects. Callers must treat them as opaque and initialise them with
 * the *_INIT macros or the *_init() functions. An operation object holds the
 * number of the multi-part operation that lives in the SPE (0: inactive).
 * SPDX-License-Identifier: Apache-2.0 */
#ifndef PSA_CRYPTO_STRUCT_H
#define PSA_CRYPTO_STRUCT_H

#include "psa/crypto_types.h"

typedef struct psa_key_attributes_s {
    psa_key_type_t type;
    size_t bits;
    psa_key_lifetime_t lifetime;
    psa_key_id_t id;
    psa_key_usage_t usage;
    psa_algorithm_t alg;
} psa_key_attributes_t;
#define PSA_KEY_ATTRIBUTES_INIT {0, 0, 0, 0, 0, 0}

/* Every operation object has the same four fields: handle, the SPE's
 * operation number (0 when inactive); alg, the operation's algorithm; state
 * and aux, the library's bookkeeping (phase flags). */
#define PSA_RAMPART_OPERATION_FIELDS \
    uint32_t handle;                 \
    psa_algorithm_t alg;             \
    uint32_t state;                  \
    uint32_t aux;

struct psa_rampart_operation_s { PSA_RAMPART_OPERATION_FIELDS };
typedef struct psa_hash_operation_s { PSA_RAMPART_OPERATION_FIELDS } psa_hash_operation_t;
typedef struct psa_mac_operation_s { PSA_RAMPART_OPERATION_FIELDS } psa_mac_operation_t;
typedef struct psa_cipher_operation_s { PSA_RAMPART_OPERATION_FIELDS } psa_cipher_operation_t;
typedef struct psa_aead_operation_s { PSA_RAMPART_OPERATION_FIELDS } psa_aead_operation_t;
typedef struct psa_key_derivation_s { PSA_RAMPART_OPERATION_FIELDS } psa_key_derivation_operation_t;

#define PSA_HASH_OPERATION_INIT {0, 0, 0, 0}
#define PSA_MAC_OPERATION_INIT {0, 0, 0, 0}
#define PSA_CIPHER_OPERATION_INIT {0, 0, 0, 0}
#define PSA_AEAD_OPERATION_INIT {0, 0, 0, 0}
#define PSA_KEY_DERIVATION_OPERATION_INIT {0, 0, 0, 0}

#endif /* PSA_CRYPTO_STRUCT_H */
