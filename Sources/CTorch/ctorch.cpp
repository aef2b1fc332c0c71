// The libtorch shim. Every extern "C" entry point runs its body inside CT_PROTECT, which turns
// any C++ exception into a nonzero return and a thread-local message.
#include "ctorch.h"
#include <ATen/ATen.h>
#include <torch/version.h>
#include <cstring>
#include <string>

namespace {
thread_local std::string last_error;
}

#define CT_PROTECT(body)                                                   \
  try {                                                                    \
    body;                                                                  \
    return 0;                                                              \
  } catch (const c10::Error &e) {                                          \
    last_error = e.what_without_backtrace();                               \
  } catch (const std::exception &e) {                                      \
    last_error = e.what();                                                 \
  } catch (...) {                                                          \
    last_error = "unknown C++ exception";                                  \
  }                                                                        \
  return 1;

extern "C" {

const char *ct_last_error(void) { return last_error.c_str(); }

int ct_torch_version(char *buf, size_t len) {
  CT_PROTECT({
    std::snprintf(buf, len, "%s", TORCH_VERSION);
  })
}

}  // extern "C"
