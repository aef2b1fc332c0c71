#include "ccodecs_tokenizer.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int cc_tok_gunzip_file(const char *path, uint8_t **out, size_t *out_len, char *err, size_t err_len) {
    *out = NULL;
    *out_len = 0;
    gzFile f = gzopen(path, "rb");
    if (!f) {
        snprintf(err, err_len, "cannot open %s: %s", path, strerror(errno));
        return 1;
    }
    size_t cap = 1 << 20, len = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        gzclose(f);
        snprintf(err, err_len, "out of memory");
        return 1;
    }
    for (;;) {
        if (cap - len < (1 << 16)) {
            uint8_t *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                gzclose(f);
                snprintf(err, err_len, "out of memory");
                return 1;
            }
            buf = bigger;
            cap *= 2;
        }
        int n = gzread(f, buf + len, (unsigned)(cap - len));
        if (n < 0) {
            int code = 0;
            const char *msg = gzerror(f, &code);
            snprintf(err, err_len, "%s: %s", path, msg ? msg : "gzip read error");
            free(buf);
            gzclose(f);
            return 1;
        }
        if (n == 0) break;
        len += (size_t)n;
    }
    gzclose(f);
    *out = buf;
    *out_len = len;
    return 0;
}

void cc_tok_free(void *p) { free(p); }
