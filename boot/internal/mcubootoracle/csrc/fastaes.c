/*
 * Compiled only into libraries built with Config.FastAES (encrypted images
 * on TinyCrypt), linked with -Wl,--wrap=tc_aes_encrypt: TinyCrypt's CTR
 * mode (tc_ctr_mode, through bootutil's crypto/aes_ctr_tinycrypt.h) comes
 * here for every AES-128 block.
 *
 * Why: TinyCrypt's tc_aes_encrypt works byte by byte (sub_bytes,
 * shift_rows, mix_columns with _double_byte) and was about half of an
 * encrypted swap's CPU in the sweep (perf, docs/perf/boot.md), every byte
 * of every image being decrypted and encrypted again at every boot. The
 * block function is the same AES-128 computed with the CPU's AES
 * instructions, from the same key schedule TinyCrypt expanded (its words
 * hold the round keys' bytes big-endian). Everything MCUboot does with the
 * blocks runs as before, and a wrong block would show at once: the
 * differential test compares every byte MCUboot writes with Rampart's,
 * whose AES is Go's. Without AES-NI, or with a null argument, TinyCrypt's
 * own function runs.
 */
#include <stdint.h>
#include <stddef.h>
#include <cpuid.h>
#include <immintrin.h>

#include "tinycrypt/aes.h"
#include "tinycrypt/constants.h"

int __real_tc_aes_encrypt(uint8_t *out, const uint8_t *in, const TCAesKeySched_t s);

static int have_aesni(void)
{
    static int have = -1;
    if (have < 0) {
        unsigned int a, b, c, d;
        have = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_AES) && (c & bit_SSSE3);
    }
    return have;
}

__attribute__((target("aes,ssse3")))
static void aesni_encrypt(uint8_t *out, const uint8_t *in, const unsigned int *words)
{
    /* Each 32-bit word holds four round-key bytes, most significant first. */
    const __m128i bswap = _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);
    __m128i st = _mm_loadu_si128((const __m128i *)in);
    st = _mm_xor_si128(st, _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)words), bswap));
    for (int r = 1; r < Nr; r++) {
        st = _mm_aesenc_si128(st, _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(words + Nb * r)), bswap));
    }
    st = _mm_aesenclast_si128(st, _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(words + Nb * Nr)), bswap));
    _mm_storeu_si128((__m128i *)out, st);
}

int __wrap_tc_aes_encrypt(uint8_t *out, const uint8_t *in, const TCAesKeySched_t s)
{
    if (out == NULL || in == NULL || s == NULL || !have_aesni()) {
        return __real_tc_aes_encrypt(out, in, s);
    }
    aesni_encrypt(out, in, s->words);
    return TC_CRYPTO_SUCCESS;
}
