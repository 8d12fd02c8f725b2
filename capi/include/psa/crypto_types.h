/* psa/crypto_types.h: the integer types of the PSA Crypto API 1.0.
 * Written for Rampart's libpsa-rampart from the PSA Certified Crypto API specification.
 * SPDX-License-Identifier: Apache-2.0 */
#ifndef PSA_CRYPTO_TYPES_H
#define PSA_CRYPTO_TYPES_H

#include <stddef.h>
#include <stdint.h>
#include "psa/error.h"

typedef uint16_t psa_key_type_t;
typedef uint8_t psa_ecc_family_t;
typedef uint8_t psa_dh_family_t;
typedef uint32_t psa_algorithm_t;
typedef uint32_t psa_key_lifetime_t;
typedef uint8_t psa_key_persistence_t;
typedef uint32_t psa_key_location_t;
typedef uint32_t psa_key_id_t;
typedef uint32_t psa_key_usage_t;
typedef uint16_t psa_key_derivation_step_t;

/* Deprecated in the 1.0 specification, kept for code written for its betas. */
typedef psa_key_id_t psa_key_handle_t;

#endif /* PSA_CRYPTO_TYPES_H */
