/* ccodecs_image.h — JPEG and PNG decoding and encoding for the Datasets module.
 *
 * Every function returns 0 on success. On failure it returns nonzero and writes a
 * NUL-terminated message into `err` (at most `err_len` bytes). Pixel buffers that a function
 * allocates are returned through `out` and must be released with cc_image_free(). All pixel
 * buffers are 8-bit RGB, interleaved HWC, row-major, with no row padding. */
#ifndef CCODECS_IMAGE_H
#define CCODECS_IMAGE_H
#include <stddef.h>
#include <stdint.h>

/** The return code of a decoder when the header declares more than `max_pixels` pixels; the
 *  check runs on the header alone, before any pixel buffer is allocated. */
#define CC_IMAGE_TOO_LARGE 2

/** Releases a buffer returned by one of the functions below. NULL is allowed. */
void cc_image_free(void *buffer);

/** Decodes a baseline or progressive JPEG (greyscale, YCbCr, RGB, CMYK or YCCK) to RGB.
 *  If `min_side` > 0, libjpeg's DCT-domain scaling is used with the largest reduction for which
 *  the shorter output side stays >= min_side: among 1/2, 1/4 and 1/8 (as PIL's `draft`), or, with
 *  `eighths` != 0, among M/8 for M = 1…8. A file that ends early is an error (libjpeg would
 *  otherwise pad it with grey). An image of more than `max_pixels` pixels (width × height as the
 *  header declares them, before any scaling; 0 = no limit) is refused with CC_IMAGE_TOO_LARGE. */
int cc_jpeg_decode(const uint8_t *data, size_t size, int min_side, int eighths, unsigned long long max_pixels,
                   int *width, int *height, uint8_t **out, char *err, size_t err_len);

/** Decodes a PNG of any colour type and bit depth to 8-bit RGB, without gamma conversion
 *  (16-bit samples become round(v / 257)). Transparency (an alpha channel or a tRNS chunk) is
 *  composited on white: c' = (c·a + 255·(255−a) + 127) / 255. `max_pixels` as for cc_jpeg_decode. */
int cc_png_decode(const uint8_t *data, size_t size, unsigned long long max_pixels,
                  int *width, int *height, uint8_t **out, char *err, size_t err_len);

/** Encodes RGB pixels as an 8-bit RGB PNG. */
int cc_png_encode(const uint8_t *rgb, int width, int height,
                  uint8_t **out, size_t *out_size, char *err, size_t err_len);

/** Encodes RGB pixels as a baseline JPEG with 4:2:0 chroma subsampling at `quality` (1–100). */
int cc_jpeg_encode(const uint8_t *rgb, int width, int height, int quality,
                   uint8_t **out, size_t *out_size, char *err, size_t err_len);

#endif
