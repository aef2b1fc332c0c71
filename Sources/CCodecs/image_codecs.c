/* image_codecs.c — libjpeg-turbo and libpng wrappers declared in ccodecs_image.h.
 * libjpeg reports errors through longjmp; it never crosses into Swift because every
 * setjmp lives in the function that the Swift code calls. */
#include "ccodecs_image.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

void cc_image_free(void *buffer) { free(buffer); }

static void set_err(char *err, size_t err_len, const char *fmt, ...) {
    if (err == NULL || err_len == 0) return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(err, err_len, fmt, args);
    va_end(args);
}

/* ---------------------------------------------------------------- JPEG */

struct cc_jpeg_error {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

static void cc_jpeg_error_exit(j_common_ptr cinfo) {
    struct cc_jpeg_error *e = (struct cc_jpeg_error *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->message);
    longjmp(e->jump, 1);
}

/* Warnings are tolerated (many real-world files carry extraneous bytes), except a premature
 * end of data, which would silently yield a half-grey image. */
static void cc_jpeg_emit_message(j_common_ptr cinfo, int level) {
    if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
        struct cc_jpeg_error *e = (struct cc_jpeg_error *)cinfo->err;
        (*cinfo->err->format_message)(cinfo, e->message);
        longjmp(e->jump, 1);
    }
}

/* Whether a width × height image exceeds `max_pixels` (0: no limit); sets the error then. */
static int cc_too_many_pixels(const char *format, unsigned long long w, unsigned long long h,
                              unsigned long long max_pixels, char *err, size_t err_len) {
    if (max_pixels == 0 || w * h <= max_pixels) return 0;
    set_err(err, err_len, "%s: the header declares %llux%llu = %llu pixels, more than the limit of %llu",
            format, w, h, w * h, max_pixels);
    return 1;
}

int cc_jpeg_decode(const uint8_t *data, size_t size, int min_side, int eighths, unsigned long long max_pixels,
                   int *width, int *height, uint8_t **out, char *err, size_t err_len) {
    struct jpeg_decompress_struct cinfo;
    struct cc_jpeg_error jerr;
    uint8_t *volatile pixels = NULL;
    uint8_t *volatile row = NULL;
    *out = NULL;
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&jerr.base);
    jerr.base.error_exit = cc_jpeg_error_exit;
    jerr.base.emit_message = cc_jpeg_emit_message;
    jerr.message[0] = 0;
    if (setjmp(jerr.jump)) {
        set_err(err, err_len, "JPEG: %s", jerr.message);
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        free(row);
        return 1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    if (cc_too_many_pixels("JPEG", cinfo.image_width, cinfo.image_height, max_pixels, err, err_len)) {
        jpeg_destroy_decompress(&cinfo);
        return CC_IMAGE_TOO_LARGE;
    }
    int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    int shorter = cinfo.image_width < cinfo.image_height ? (int)cinfo.image_width : (int)cinfo.image_height;
    cinfo.scale_num = 1;
    cinfo.scale_denom = 1;
    if (min_side > 0 && eighths) {
        for (int m = 1; m < 8; m++) {
            if ((shorter * m + 7) / 8 >= min_side) {
                cinfo.scale_num = (unsigned)m;
                cinfo.scale_denom = 8;
                break;
            }
        }
    } else if (min_side > 0) {
        for (int denom = 8; denom >= 2; denom /= 2) {
            if ((shorter + denom - 1) / denom >= min_side) {
                cinfo.scale_denom = (unsigned)denom;
                break;
            }
        }
    }
    jpeg_start_decompress(&cinfo);
    int w = (int)cinfo.output_width, h = (int)cinfo.output_height, comps = cinfo.output_components;
    pixels = malloc((size_t)w * (size_t)h * 3);
    row = malloc((size_t)w * (size_t)comps);
    if (pixels == NULL || row == NULL) {
        snprintf(jerr.message, sizeof jerr.message, "out of memory for %dx%d pixels", w, h);
        longjmp(jerr.jump, 1);
    }
    /* Adobe CMYK JPEGs store inverted ink values; PIL treats them the same way. */
    int inverted = cmyk && cinfo.saw_Adobe_marker;
    while (cinfo.output_scanline < cinfo.output_height) {
        int y = (int)cinfo.output_scanline;
        JSAMPROW rows[1] = {cmyk ? row : pixels + (size_t)y * (size_t)w * 3};
        jpeg_read_scanlines(&cinfo, rows, 1);
        if (cmyk) {
            uint8_t *dst = pixels + (size_t)y * (size_t)w * 3;
            for (int x = 0; x < w; x++) {
                int c = row[4 * x], m = row[4 * x + 1], yy = row[4 * x + 2], k = row[4 * x + 3];
                if (!inverted) { c = 255 - c; m = 255 - m; yy = 255 - yy; k = 255 - k; }
                dst[3 * x] = (uint8_t)((c * k + 127) / 255);
                dst[3 * x + 1] = (uint8_t)((m * k + 127) / 255);
                dst[3 * x + 2] = (uint8_t)((yy * k + 127) / 255);
            }
        }
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(row);
    *width = w;
    *height = h;
    *out = pixels;
    return 0;
}

int cc_jpeg_encode(const uint8_t *rgb, int width, int height, int quality,
                   uint8_t **out, size_t *out_size, char *err, size_t err_len) {
    struct jpeg_compress_struct cinfo;
    struct cc_jpeg_error jerr;
    unsigned char *volatile buffer = NULL;
    unsigned long buffer_size = 0;
    *out = NULL;
    *out_size = 0;
    if (width <= 0 || height <= 0) {
        set_err(err, err_len, "JPEG: cannot encode an empty %dx%d image", width, height);
        return 1;
    }
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&jerr.base);
    jerr.base.error_exit = cc_jpeg_error_exit;
    jerr.message[0] = 0;
    if (setjmp(jerr.jump)) {
        set_err(err, err_len, "JPEG: %s", jerr.message);
        jpeg_destroy_compress(&cinfo);
        free(buffer);
        return 1;
    }
    jpeg_create_compress(&cinfo);
    unsigned char *mem = NULL;
    jpeg_mem_dest(&cinfo, &mem, &buffer_size);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality < 1 ? 1 : (quality > 100 ? 100 : quality), TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW rows[1] = {(JSAMPROW)(rgb + (size_t)cinfo.next_scanline * (size_t)width * 3)};
        jpeg_write_scanlines(&cinfo, rows, 1);
    }
    jpeg_finish_compress(&cinfo);
    buffer = mem;
    jpeg_destroy_compress(&cinfo);
    *out = buffer;
    *out_size = (size_t)buffer_size;
    return 0;
}

/* ---------------------------------------------------------------- PNG */

int cc_png_decode(const uint8_t *data, size_t size, unsigned long long max_pixels,
                  int *width, int *height, uint8_t **out, char *err, size_t err_len) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    *out = NULL;
    if (!png_image_begin_read_from_memory(&image, data, size)) {
        set_err(err, err_len, "PNG: %s", image.message);
        png_image_free(&image);
        return 1;
    }
    /* libpng's simplified API treats 16-bit data as linear and 8-bit data as sRGB; reading each
     * in its own kind avoids any gamma conversion (PIL does none either). 16-bit output is
     * premultiplied by alpha. */
    if (cc_too_many_pixels("PNG", image.width, image.height, max_pixels, err, err_len)) {
        png_image_free(&image);
        return CC_IMAGE_TOO_LARGE;
    }
    int wide = (image.format & PNG_FORMAT_FLAG_LINEAR) != 0;
    image.format = wide ? PNG_FORMAT_LINEAR_RGB_ALPHA : PNG_FORMAT_RGBA;
    int w = (int)image.width, h = (int)image.height;
    size_t n = (size_t)w * (size_t)h;
    size_t bytes = n * 4 * (wide ? 2 : 1);
    void *buffer = malloc(bytes > 0 ? bytes : 1);
    uint8_t *rgb = malloc(n * 3 > 0 ? n * 3 : 1);
    if (buffer == NULL || rgb == NULL) {
        set_err(err, err_len, "PNG: out of memory for %dx%d pixels", w, h);
        png_image_free(&image);
        free(buffer);
        free(rgb);
        return 1;
    }
    if (!png_image_finish_read(&image, NULL, buffer, 0, NULL)) {
        set_err(err, err_len, "PNG: %s", image.message);
        png_image_free(&image);
        free(buffer);
        free(rgb);
        return 1;
    }
    if (wide) {
        /* Premultiplied 16-bit: on white, c' = c·a/65535 + 65535 − a; then to 8 bits by /257. */
        const uint16_t *rgba = buffer;
        for (size_t i = 0; i < n; i++) {
            unsigned a = rgba[4 * i + 3];
            for (int c = 0; c < 3; c++) {
                unsigned v = rgba[4 * i + (size_t)c] + (65535u - a);
                if (v > 65535u) v = 65535u;
                rgb[3 * i + (size_t)c] = (uint8_t)((v + 128u) / 257u);
            }
        }
    } else {
        /* Composite on white: c' = (c·a + 255·(255−a) + 127) / 255. */
        const uint8_t *rgba = buffer;
        for (size_t i = 0; i < n; i++) {
            unsigned a = rgba[4 * i + 3];
            for (int c = 0; c < 3; c++) {
                unsigned v = rgba[4 * i + (size_t)c];
                rgb[3 * i + (size_t)c] = (uint8_t)(a == 255 ? v : (v * a + 255u * (255u - a) + 127u) / 255u);
            }
        }
    }
    free(buffer);
    *out = rgb;
    *width = w;
    *height = h;
    return 0;
}

int cc_png_encode(const uint8_t *rgb, int width, int height,
                  uint8_t **out, size_t *out_size, char *err, size_t err_len) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = (png_uint_32)width;
    image.height = (png_uint_32)height;
    image.format = PNG_FORMAT_RGB;
    *out = NULL;
    *out_size = 0;
    if (width <= 0 || height <= 0) {
        set_err(err, err_len, "PNG: cannot encode an empty %dx%d image", width, height);
        return 1;
    }
    png_alloc_size_t needed = 0;
    if (!png_image_write_get_memory_size(image, needed, 0, rgb, 0, NULL)) {
        set_err(err, err_len, "PNG: %s", image.message);
        return 1;
    }
    uint8_t *buffer = malloc(needed);
    if (buffer == NULL) {
        set_err(err, err_len, "PNG: out of memory for %zu bytes", (size_t)needed);
        return 1;
    }
    if (!png_image_write_to_memory(&image, buffer, &needed, 0, rgb, 0, NULL)) {
        set_err(err, err_len, "PNG: %s", image.message);
        free(buffer);
        return 1;
    }
    *out = buffer;
    *out_size = (size_t)needed;
    return 0;
}
