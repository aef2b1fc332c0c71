#include "ccodecs.h"
#include <zlib.h>

const char *cc_zlib_version(void) { return zlibVersion(); }
