#include "ccodecs_gzip.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static void set_err(char *err, size_t err_len, const char *what, const char *detail) {
  if (err && err_len) snprintf(err, err_len, "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
}

int cc_inflate(const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len,
               char *err, size_t err_len) {
  const size_t chunk_max = 0x40000000u;
  *out = NULL;
  *out_len = 0;
  if (in_len == 0) { set_err(err, err_len, "empty input", NULL); return 1; }
  size_t cap = in_len * 4 + 1024, len = 0;
  uint8_t *buf = malloc(cap);
  if (!buf) { set_err(err, err_len, "out of memory", NULL); return 1; }
  size_t pos = 0;
  /* One pass per gzip member: `cat a.gz b.gz` is a valid gzip file. */
  while (pos < in_len) {
    z_stream s;
    memset(&s, 0, sizeof s);
    if (inflateInit2(&s, 15 + 32) != Z_OK) { /* 15+32: detect a gzip or zlib header */
      free(buf); set_err(err, err_len, "inflateInit2 failed", NULL); return 1;
    }
    size_t fed = 0; /* bytes of this member handed to zlib so far */
    int rc;
    for (;;) {
      if (s.avail_in == 0 && pos + fed < in_len) {
        size_t rest = in_len - pos - fed;
        s.next_in = (Bytef *)(in + pos + fed);
        s.avail_in = (uInt)(rest > chunk_max ? chunk_max : rest);
        fed += s.avail_in;
      }
      if (len == cap) {
        if (cap >= CC_INFLATE_MAX_BYTES) {
          inflateEnd(&s); free(buf);
          set_err(err, err_len, "inflated data exceeds the 1 GiB limit", "a corrupt file or a decompression bomb");
          return 1;
        }
        size_t grown = cap * 2 < CC_INFLATE_MAX_BYTES ? cap * 2 : CC_INFLATE_MAX_BYTES;
        uint8_t *nb = realloc(buf, grown);
        if (!nb) { inflateEnd(&s); free(buf); set_err(err, err_len, "out of memory", NULL); return 1; }
        buf = nb; cap = grown;
      }
      size_t room = cap - len;
      s.next_out = buf + len;
      s.avail_out = (uInt)(room > chunk_max ? chunk_max : room);
      uInt before = s.avail_out;
      rc = inflate(&s, Z_NO_FLUSH);
      len += before - s.avail_out;
      if (rc == Z_STREAM_END) break;
      if (rc == Z_OK) continue;
      if (rc == Z_BUF_ERROR && s.avail_in == 0 && pos + fed >= in_len) {
        inflateEnd(&s); free(buf);
        set_err(err, err_len, "truncated compressed data", "input ends before the stream's end marker");
        return 1;
      }
      if (rc == Z_BUF_ERROR) continue;
      set_err(err, err_len, "corrupt compressed data", s.msg ? s.msg : zError(rc));
      inflateEnd(&s); free(buf); return 1;
    }
    pos += s.total_in;
    inflateEnd(&s);
    while (pos < in_len && in[pos] == 0) pos++; /* tolerate zero padding after the last member */
  }
  *out = buf;
  *out_len = len;
  return 0;
}

int cc_deflate(const uint8_t *in, size_t in_len, int level, int gzip, uint8_t **out, size_t *out_len,
               char *err, size_t err_len) {
  *out = NULL;
  *out_len = 0;
  z_stream s;
  memset(&s, 0, sizeof s);
  if (deflateInit2(&s, level, Z_DEFLATED, gzip ? 15 + 16 : 15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    set_err(err, err_len, "deflateInit2 failed", NULL);
    return 1;
  }
  size_t cap = deflateBound(&s, (uLong)in_len) + 64;
  uint8_t *buf = malloc(cap);
  if (!buf) { deflateEnd(&s); set_err(err, err_len, "out of memory", NULL); return 1; }
  s.next_in = (Bytef *)in;
  s.next_out = buf;
  size_t left_in = in_len;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (s.avail_in == 0 && left_in > 0) {
      uInt take = left_in > 0x40000000u ? 0x40000000u : (uInt)left_in;
      s.avail_in = take;
      left_in -= take;
    }
    size_t room = cap - (size_t)(s.next_out - buf);
    s.avail_out = (uInt)(room > 0x40000000u ? 0x40000000u : room);
    rc = deflate(&s, left_in == 0 ? Z_FINISH : Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      deflateEnd(&s); free(buf); set_err(err, err_len, "deflate failed", zError(rc)); return 1;
    }
    if (rc == Z_BUF_ERROR && s.avail_out == 0) {
      deflateEnd(&s); free(buf); set_err(err, err_len, "deflate output exceeded its bound", NULL); return 1;
    }
  }
  *out_len = (size_t)(s.next_out - buf);
  *out = buf;
  deflateEnd(&s);
  return 0;
}

uint32_t cc_crc32(uint32_t crc, const uint8_t *data, size_t len) {
  while (len > 0) {
    uInt chunk = len > 0x40000000u ? 0x40000000u : (uInt)len;
    crc = (uint32_t)crc32(crc, data, chunk);
    data += chunk; len -= chunk;
  }
  return crc;
}

void cc_buffer_free(uint8_t *buffer) { free(buffer); }
