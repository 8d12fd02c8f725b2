/* psa_example: a C program using Rampart's SPE through the PSA C APIs of
 * libpsa-rampart. It generates a P-256 key in the SPE, signs and verifies a
 * message, stores and reads back a Protected Storage object, and fetches an
 * attestation token. Build it against the installed library:
 *
 *   cc -o psa_example psa_example.c $(pkg-config --cflags --libs --static psa-rampart)
 *
 * and run it with RAMPART_SPE_SOCKET naming the SPE's socket. */
#include <stdio.h>
#include <string.h>

#include "psa/crypto.h"
#include "psa/initial_attestation.h"
#include "psa/protected_storage.h"

#define CHECK(call)                                                        \
    do {                                                                   \
        psa_status_t st_ = (call);                                         \
        if (st_ != PSA_SUCCESS) {                                          \
            fprintf(stderr, "%s: status %d\n", #call, (int)st_);           \
            return 1;                                                      \
        }                                                                  \
    } while (0)

int main(void)
{
    static const uint8_t msg[] = "firmware manifest v1.2.3";
    uint8_t sig[PSA_SIGN_OUTPUT_SIZE(PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1), 256,
                                     PSA_ALG_ECDSA(PSA_ALG_SHA_256))];
    uint8_t pub[PSA_EXPORT_PUBLIC_KEY_OUTPUT_SIZE(PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1), 256)];
    size_t sig_len = 0, pub_len = 0;
    psa_key_attributes_t attr = PSA_KEY_ATTRIBUTES_INIT;
    psa_key_id_t key = PSA_KEY_ID_NULL;

    CHECK(psa_crypto_init());

    /* A volatile ECDSA P-256 key, generated inside the SPE. */
    psa_set_key_type(&attr, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1));
    psa_set_key_bits(&attr, 256);
    psa_set_key_usage_flags(&attr, PSA_KEY_USAGE_SIGN_MESSAGE | PSA_KEY_USAGE_VERIFY_MESSAGE);
    psa_set_key_algorithm(&attr, PSA_ALG_ECDSA(PSA_ALG_SHA_256));
    CHECK(psa_generate_key(&attr, &key));
    CHECK(psa_sign_message(key, PSA_ALG_ECDSA(PSA_ALG_SHA_256), msg, sizeof msg, sig, sizeof sig, &sig_len));
    CHECK(psa_verify_message(key, PSA_ALG_ECDSA(PSA_ALG_SHA_256), msg, sizeof msg, sig, sig_len));
    CHECK(psa_export_public_key(key, pub, sizeof pub, &pub_len));
    printf("signed %zu bytes: signature %zu bytes, public key %zu bytes, verified\n", sizeof msg, sig_len, pub_len);
    sig[0] ^= 1;
    if (psa_verify_message(key, PSA_ALG_ECDSA(PSA_ALG_SHA_256), msg, sizeof msg, sig, sig_len) !=
        PSA_ERROR_INVALID_SIGNATURE) {
        fprintf(stderr, "a changed signature verified\n");
        return 1;
    }
    CHECK(psa_destroy_key(key));

    /* A Protected Storage object, sealed by the SPE. */
    static const char config[] = "telemetry-interval=30";
    char back[sizeof config] = {0};
    size_t back_len = 0;
    const psa_storage_uid_t uid = 0x5053;
    CHECK(psa_ps_set(uid, sizeof config, config, PSA_STORAGE_FLAG_NONE));
    CHECK(psa_ps_get(uid, 0, sizeof back, back, &back_len));
    if (back_len != sizeof config || memcmp(back, config, sizeof config) != 0) {
        fprintf(stderr, "PS object read back differs\n");
        return 1;
    }
    printf("protected storage: stored and read back %zu bytes\n", back_len);
    CHECK(psa_ps_remove(uid));

    /* An attestation token over a challenge. */
    uint8_t challenge[PSA_INITIAL_ATTEST_CHALLENGE_SIZE_32];
    uint8_t token[PSA_INITIAL_ATTEST_MAX_TOKEN_SIZE];
    size_t token_size = 0, token_len = 0;
    CHECK(psa_generate_random(challenge, sizeof challenge));
    CHECK(psa_initial_attest_get_token_size(sizeof challenge, &token_size));
    CHECK(psa_initial_attest_get_token(challenge, sizeof challenge, token, sizeof token, &token_len));
    printf("attestation token: %zu bytes (at most %zu)\n", token_len, token_size);
    return 0;
}
