/* ccodecs_gzip.h — gzip/zlib inflate and zlib deflate over zlib, for the Datasets module
 * (gzip'd IDX files of Fashion-MNIST, gzip'd text). Errors come back as strings, never longjmp. */
#ifndef CCODECS_GZIP_H
#define CCODECS_GZIP_H
#include <stddef.h>
#include <stdint.h>

/** The most bytes cc_inflate produces; a stream that inflates to more (a decompression bomb)
 *  is an error. Fashion-MNIST's largest file inflates to 47 MB. */
#define CC_INFLATE_MAX_BYTES ((size_t)1 << 30)

/** Inflates a whole gzip (one or more concatenated members) or zlib stream.
 *  On success returns 0, stores a malloc'd buffer in *out (free it with cc_buffer_free) and its
 *  length in *out_len. On failure returns nonzero and writes a message into err (err_len bytes). */
int cc_inflate(const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len,
               char *err, size_t err_len);

/** Compresses `in` at `level` (0-9, or -1 for the default) as a zlib stream (RFC 1950), or as
 *  a gzip file (RFC 1952) when `gzip` is nonzero. Same ownership and error conventions as cc_inflate. */
int cc_deflate(const uint8_t *in, size_t in_len, int level, int gzip, uint8_t **out, size_t *out_len,
               char *err, size_t err_len);

/** CRC-32 (as used by gzip and PNG) of `len` bytes, continuing from `crc` (start with 0). */
uint32_t cc_crc32(uint32_t crc, const uint8_t *data, size_t len);

/** Frees a buffer returned by cc_inflate or cc_zlib_deflate. */
void cc_buffer_free(uint8_t *buffer);

#endif
