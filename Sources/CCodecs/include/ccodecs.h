/* ccodecs.h — small C helpers over libjpeg-turbo, libpng and zlib for the Datasets module.
 * libjpeg and libpng report errors by longjmp, which Swift cannot take part in, so every
 * decoder and encoder lives here and returns an error string instead. */
#ifndef CCODECS_H
#define CCODECS_H
#include <stddef.h>
#include <stdint.h>

/** Version of the linked zlib, e.g. "1.2.13". */
const char *cc_zlib_version(void);

#endif
