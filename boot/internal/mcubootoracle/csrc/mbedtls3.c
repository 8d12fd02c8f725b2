/*
 * Compiled only into the oracle's mbedTLS 3 configurations (RSA-OAEP,
 * AES-256). The simulator's run.c hands mbedTLS its allocator through
 * mbedtls_platform_set_calloc_free, which exists only when mbedTLS is
 * built with MBEDTLS_PLATFORM_MEMORY; Debian's libmbedcrypto is not, and
 * allocates with the C library's calloc and free already, which is what
 * run.c would install. So there is nothing to set.
 */
#include <stddef.h>

int mbedtls_platform_set_calloc_free(void *(*calloc_func)(size_t, size_t), void (*free_func)(void *))
{
    (void)calloc_func;
    (void)free_func;
    return 0;
}
