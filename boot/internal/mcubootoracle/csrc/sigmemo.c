/*
 * Compiled only into libraries built with Config.SigMemo, linked with
 * -Wl,--wrap=bootutil_verify_sig: image_validate.c's call to MCUboot's
 * bootutil_verify_sig (image_ecdsa.c or image_ed25519.c, TinyCrypt or
 * fiat underneath) comes here first.
 *
 * Why: the differential sweep boots the same few images hundreds of
 * thousands of times, and TinyCrypt's P-256 verification is most of its
 * cost. bootutil_verify_sig is a pure function of the digest, the
 * signature and the provisioned key, so the answer MCUboot's own code gave
 * for those exact bytes is remembered and given again. Every distinct
 * (key, digest, signature) still goes through MCUboot's verification once
 * per loaded library; a tampered image has another digest and is verified
 * afresh. Nothing else in the boot path is changed.
 */
#include <stdint.h>
#include <string.h>

#include "bootutil/fault_injection_hardening.h"
#include "bootutil/sign_key.h"

fih_ret __real_bootutil_verify_sig(uint8_t *hash, uint32_t hlen, uint8_t *sig, size_t slen,
                                   uint8_t key_id);

#define MEMO_ENTRIES 64
#define MEMO_MAX 160

struct memo_entry {
    int used;
    uint8_t key[MEMO_MAX];
    unsigned int key_len;
    uint8_t hash[64];
    uint32_t hlen;
    uint8_t sig[MEMO_MAX];
    size_t slen;
    uint8_t key_id;
    fih_ret rc;
};

static struct memo_entry memo[MEMO_ENTRIES];
static int memo_next;
static uint64_t memo_hits, memo_misses;

static int memo_match(const struct memo_entry *e, const uint8_t *key, unsigned int key_len,
                      const uint8_t *hash, uint32_t hlen, const uint8_t *sig, size_t slen,
                      uint8_t key_id)
{
    return e->used && e->key_id == key_id && e->key_len == key_len && e->hlen == hlen &&
           e->slen == slen && memcmp(e->key, key, key_len) == 0 &&
           memcmp(e->hash, hash, hlen) == 0 && memcmp(e->sig, sig, slen) == 0;
}

fih_ret __wrap_bootutil_verify_sig(uint8_t *hash, uint32_t hlen, uint8_t *sig, size_t slen,
                                   uint8_t key_id)
{
    const uint8_t *key;
    unsigned int key_len;
    struct memo_entry *e;
    fih_ret rc;
    int i;

    if (key_id >= bootutil_key_cnt) {
        return __real_bootutil_verify_sig(hash, hlen, sig, slen, key_id);
    }
    key = bootutil_keys[key_id].key;
    key_len = *bootutil_keys[key_id].len;
    if (hlen > sizeof(memo[0].hash) || slen > MEMO_MAX || key_len > MEMO_MAX) {
        return __real_bootutil_verify_sig(hash, hlen, sig, slen, key_id);
    }
    for (i = 0; i < MEMO_ENTRIES; i++) {
        if (memo_match(&memo[i], key, key_len, hash, hlen, sig, slen, key_id)) {
            memo_hits++;
            return memo[i].rc;
        }
    }
    memo_misses++;
    rc = __real_bootutil_verify_sig(hash, hlen, sig, slen, key_id);
    e = &memo[memo_next];
    memo_next = (memo_next + 1) % MEMO_ENTRIES;
    e->used = 1;
    memcpy(e->key, key, key_len);
    e->key_len = key_len;
    memcpy(e->hash, hash, hlen);
    e->hlen = hlen;
    memcpy(e->sig, sig, slen);
    e->slen = slen;
    e->key_id = key_id;
    e->rc = rc;
    return rc;
}

/* oracle_sig_memo_stats reports how many verifications were answered from
 * the memo and how many ran MCUboot's code. */
void oracle_sig_memo_stats(uint64_t *hits, uint64_t *misses)
{
    *hits = memo_hits;
    *misses = memo_misses;
}
