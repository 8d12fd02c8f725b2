/*
 * Compiled only into libraries built with Config.KXMemo, linked with
 * -Wl,--wrap=uECC_shared_secret (ECIES-P256, ORACLE_KX_P256) or
 * -Wl,--wrap=X25519 (ECIES-X25519, ORACLE_KX_X25519): encrypted.c's key
 * exchange, through bootutil's crypto/ecdh_p256.h or ecdh_x25519.h, comes
 * here first.
 *
 * Why: boot_enc_load runs the ECDH at every boot that needs an image's body
 * key, and the sweep boots the same few encrypted images hundreds of
 * thousands of times; with signatures memoised (sigmemo.c) TinyCrypt's
 * scalar multiplication was most of the encrypted sweep's CPU
 * (docs/perf/boot.md). The shared secret is a pure function of the device's
 * private key and the image's ephemeral public key, so the answer MCUboot's
 * own code gave for those exact bytes is given again. Every distinct pair
 * still goes through MCUboot's ECDH once per loaded library (a tampered or
 * foreign key TLV is a new pair); only successful exchanges are remembered,
 * as a failed one may leave the output unwritten. The HMAC check, the key
 * unwrap and everything else in encrypted.c run every time.
 */
#include <stdint.h>
#include <string.h>

#if defined(ORACLE_KX_P256)
#include "tinycrypt/constants.h"
#include "tinycrypt/ecc.h"
#define KX_PUB_LEN 64
#elif defined(ORACLE_KX_X25519)
#define KX_PUB_LEN 32
#else
#error "kxmemo.c: ORACLE_KX_P256 or ORACLE_KX_X25519"
#endif

#define KX_ENTRIES 64

struct kx_entry {
    int used;
    uint8_t pub[KX_PUB_LEN];
    uint8_t priv[32];
    uint8_t out[32];
    int rc;
};

static struct kx_entry kx[KX_ENTRIES];
static int kx_next;
static uint64_t kx_hits, kx_misses;

static const struct kx_entry *kx_find(const uint8_t *pub, const uint8_t *priv)
{
    int i;

    for (i = 0; i < KX_ENTRIES; i++) {
        if (kx[i].used && memcmp(kx[i].pub, pub, KX_PUB_LEN) == 0 &&
            memcmp(kx[i].priv, priv, 32) == 0) {
            return &kx[i];
        }
    }
    return NULL;
}

static void kx_put(const uint8_t *pub, const uint8_t *priv, const uint8_t *out, int rc)
{
    struct kx_entry *e = &kx[kx_next];

    kx_next = (kx_next + 1) % KX_ENTRIES;
    e->used = 1;
    memcpy(e->pub, pub, KX_PUB_LEN);
    memcpy(e->priv, priv, 32);
    memcpy(e->out, out, 32);
    e->rc = rc;
}

#if defined(ORACLE_KX_P256)
int __real_uECC_shared_secret(const uint8_t *public_key, const uint8_t *private_key,
                              uint8_t *secret, uECC_Curve curve);

int __wrap_uECC_shared_secret(const uint8_t *public_key, const uint8_t *private_key,
                              uint8_t *secret, uECC_Curve curve)
{
    const struct kx_entry *e;
    int rc;

    if (curve != uECC_secp256r1()) {
        return __real_uECC_shared_secret(public_key, private_key, secret, curve);
    }
    if ((e = kx_find(public_key, private_key)) != NULL) {
        kx_hits++;
        memcpy(secret, e->out, 32);
        return e->rc;
    }
    kx_misses++;
    rc = __real_uECC_shared_secret(public_key, private_key, secret, curve);
    if (rc == TC_CRYPTO_SUCCESS) {
        kx_put(public_key, private_key, secret, rc);
    }
    return rc;
}
#else
int __real_X25519(uint8_t out_shared_key[32], const uint8_t private_key[32],
                  const uint8_t peer_public_value[32]);

/* X25519 always writes its output; its result says whether the output is
 * all zero (a small-order point). */
int __wrap_X25519(uint8_t out_shared_key[32], const uint8_t private_key[32],
                  const uint8_t peer_public_value[32])
{
    const struct kx_entry *e;
    int rc;

    if ((e = kx_find(peer_public_value, private_key)) != NULL) {
        kx_hits++;
        memcpy(out_shared_key, e->out, 32);
        return e->rc;
    }
    kx_misses++;
    rc = __real_X25519(out_shared_key, private_key, peer_public_value);
    kx_put(peer_public_value, private_key, out_shared_key, rc);
    return rc;
}
#endif

/* oracle_kx_memo_stats reports how many key exchanges were answered from
 * the memo and how many ran MCUboot's code. */
void oracle_kx_memo_stats(uint64_t *hits, uint64_t *misses)
{
    *hits = kx_hits;
    *misses = kx_misses;
}
