/* ccodecs_tokenizer.h — gzip reading for the CLIP tokenizer's vocabulary file.
 * (Private to the tokenizer for now; the lead may fold it into a shared gzip helper.) */
#ifndef CCODECS_TOKENIZER_H
#define CCODECS_TOKENIZER_H
#include <stddef.h>
#include <stdint.h>

/** Reads and inflates the whole gzip file at `path`.
 * On success returns 0 and sets `*out` (free it with cc_tok_free) and `*out_len`.
 * On failure returns nonzero and writes a NUL-terminated message into `err` (size `err_len`). */
int cc_tok_gunzip_file(const char *path, uint8_t **out, size_t *out_len, char *err, size_t err_len);

/** Frees a buffer returned by cc_tok_gunzip_file. */
void cc_tok_free(void *p);

#endif
