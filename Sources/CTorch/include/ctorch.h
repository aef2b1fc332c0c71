/* ctorch.h — the plain-C boundary between Swift and libtorch.
 *
 * Every function that can fail returns 0 on success and nonzero on failure; the message is then
 * available from ct_last_error() on the same thread until the next failing call. Tensors cross
 * as opaque handles; every handle returned through an out-parameter is new (+1) and must be
 * released with ct_tensor_free exactly once. No C++ type or exception crosses this header. */
#ifndef CTORCH_H
#define CTORCH_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_tensor_s *ct_tensor;

/** The last error message on this thread (empty when none). Valid until the next failing call. */
const char *ct_last_error(void);
/** Writes libtorch's version string (e.g. "2.13.0") into buf. */
int ct_torch_version(char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
