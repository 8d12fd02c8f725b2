/* psa/storage_common.h: types shared by the PSA Secure Storage APIs (ITS and PS 1.0).
 * Written for Rampart's libpsa-rampart from the PSA Certified Secure Storage API specification.
 * SPDX-License-Identifier: Apache-2.0 */
#ifndef PSA_STORAGE_COMMON_H
#define PSA_STORAGE_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include "psa/error.h"

typedef uint32_t psa_storage_create_flags_t;
typedef uint64_t psa_storage_uid_t;

#define PSA_STORAGE_FLAG_NONE                ((psa_storage_create_flags_t)0)
#define PSA_STORAGE_FLAG_WRITE_ONCE          ((psa_storage_create_flags_t)(1u << 0))
#define PSA_STORAGE_FLAG_NO_CONFIDENTIALITY  ((psa_storage_create_flags_t)(1u << 1))
#define PSA_STORAGE_FLAG_NO_REPLAY_PROTECTION ((psa_storage_create_flags_t)(1u << 2))

#define PSA_STORAGE_SUPPORT_SET_EXTENDED     (1u << 0)

struct psa_storage_info_t {
    size_t capacity;
    size_t size;
    psa_storage_create_flags_t flags;
};

#endif /* PSA_STORAGE_COMMON_H */
