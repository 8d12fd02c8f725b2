/* bench_psa: time ECDSA P-256 sign_hash and SHA-256 of 64 KiB through
 * whichever PSA Crypto implementation it is linked with (libpsa-rampart, or
 * Mbed TLS's in-process libmbedcrypto). Prints ns per operation.
 * Usage: bench_psa ITERATIONS */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "psa/crypto.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

#define CHECK(call)                                                   \
    do {                                                              \
        psa_status_t st_ = (call);                                    \
        if (st_ != PSA_SUCCESS) {                                     \
            fprintf(stderr, "%s: %d\n", #call, (int)st_);             \
            return 1;                                                 \
        }                                                             \
    } while (0)

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 200;
    static uint8_t data[64 * 1024];
    uint8_t hash[32], sig[64];
    size_t len;
    psa_key_attributes_t attr = PSA_KEY_ATTRIBUTES_INIT;
    psa_key_id_t key;

    CHECK(psa_crypto_init());
    psa_set_key_type(&attr, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1));
    psa_set_key_bits(&attr, 256);
    psa_set_key_usage_flags(&attr, PSA_KEY_USAGE_SIGN_HASH);
    psa_set_key_algorithm(&attr, PSA_ALG_ECDSA(PSA_ALG_SHA_256));
    CHECK(psa_generate_key(&attr, &key));
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)i;
    CHECK(psa_hash_compute(PSA_ALG_SHA_256, data, 32, hash, sizeof hash, &len));

    for (int i = 0; i < n / 10 + 1; i++) /* warm up */
        CHECK(psa_sign_hash(key, PSA_ALG_ECDSA(PSA_ALG_SHA_256), hash, sizeof hash, sig, sizeof sig, &len));
    double t0 = now_ns();
    for (int i = 0; i < n; i++)
        CHECK(psa_sign_hash(key, PSA_ALG_ECDSA(PSA_ALG_SHA_256), hash, sizeof hash, sig, sizeof sig, &len));
    double t1 = now_ns();
    for (int i = 0; i < n; i++)
        CHECK(psa_hash_compute(PSA_ALG_SHA_256, data, sizeof data, hash, sizeof hash, &len));
    double t2 = now_ns();
    printf("ecdsa_p256_sign_ns %.0f\nsha256_64k_ns %.0f\n", (t1 - t0) / n, (t2 - t1) / n);
    CHECK(psa_destroy_key(key));
    return 0;
}
