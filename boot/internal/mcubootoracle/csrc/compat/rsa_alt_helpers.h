/*
 * MCUboot's bootutil/crypto/rsa.h includes mbedTLS 3's library-internal
 * rsa_alt_helpers.h for one function, mbedtls_rsa_deduce_crt, which
 * libmbedcrypto exports but Debian's libmbedtls-dev does not install a
 * header for. This declares it as mbedTLS 3.6 defines it; used only by the
 * oracle's RSA-OAEP builds.
 */
#ifndef ORACLE_RSA_ALT_HELPERS_H
#define ORACLE_RSA_ALT_HELPERS_H
#include <mbedtls/bignum.h>

int mbedtls_rsa_deduce_crt(const mbedtls_mpi *P, const mbedtls_mpi *Q,
                           const mbedtls_mpi *D, mbedtls_mpi *DP,
                           mbedtls_mpi *DQ, mbedtls_mpi *QP);
#endif
