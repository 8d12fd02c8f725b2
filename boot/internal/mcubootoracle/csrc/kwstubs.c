/*
 * Compiled only into the AES-KW configurations. The simulator's run.c
 * carries kw_encrypt_, the key-wrap helper its Rust side uses to make
 * test images, which calls mbedTLS's NIST KW; MCUboot's boot path unwraps
 * with TinyCrypt and never calls it (the test's images are wrapped by
 * Rampart's signer). These stand in for the mbedTLS symbols so the library
 * links without mbedTLS, and abort if anything ever calls them.
 */
#include <stdio.h>
#include <stdlib.h>

static void oracle_not_linked(const char *name)
{
    fprintf(stderr, "mcubootoracle: %s is not linked into the oracle\n", name);
    abort();
}

void mbedtls_nist_kw_init(void) { oracle_not_linked("mbedtls_nist_kw_init"); }
void mbedtls_nist_kw_free(void) { oracle_not_linked("mbedtls_nist_kw_free"); }
int mbedtls_nist_kw_setkey(void) { oracle_not_linked("mbedtls_nist_kw_setkey"); return -1; }
int mbedtls_nist_kw_wrap(void) { oracle_not_linked("mbedtls_nist_kw_wrap"); return -1; }
int mbedtls_platform_set_calloc_free(void) { oracle_not_linked("mbedtls_platform_set_calloc_free"); return -1; }
