// The libtorch shim. Every extern "C" entry point runs its body inside CT_PROTECT, which turns
// any C++ exception into a nonzero return and a thread-local message (read by ct_last_error).
#include "ctorch.h"
#include "ctorch_internal.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/generated/variable_factories.h>
#include <torch/version.h>

#include <atomic>
#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <sstream>
#include <optional>
#include <string>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

struct ct_generator_s {
  at::Generator g;
};

namespace {
thread_local std::string last_error;
std::atomic<int64_t> live_tensors{0};
thread_local int64_t thread_balance = 0;
std::atomic<int64_t> host_reads{0};
thread_local int64_t thread_host_reads = 0;

/// Counts one device→host read (see ct_host_read_count).
void count_host_read() {
  host_reads.fetch_add(1, std::memory_order_relaxed);
  ++thread_host_reads;
}
thread_local std::vector<std::unique_ptr<c10::InferenceMode>> inference_guards;

ct_tensor wrap(at::Tensor t) {
  live_tensors.fetch_add(1, std::memory_order_relaxed);
  ++thread_balance;
  return new ct_tensor_s{std::move(t)};
}

at::ScalarType scalar_type(int code) {
  switch (code) {
    case CT_DTYPE_FLOAT32: return at::kFloat;
    case CT_DTYPE_FLOAT64: return at::kDouble;
    case CT_DTYPE_BFLOAT16: return at::kBFloat16;
    case CT_DTYPE_FLOAT16: return at::kHalf;
    case CT_DTYPE_INT64: return at::kLong;
    case CT_DTYPE_INT32: return at::kInt;
    case CT_DTYPE_UINT8: return at::kByte;
    case CT_DTYPE_BOOL: return at::kBool;
    case CT_DTYPE_INT8: return at::kChar;
    case CT_DTYPE_INT16: return at::kShort;
  }
  throw std::invalid_argument("unknown dtype code " + std::to_string(code));
}

int dtype_code(at::ScalarType s) {
  switch (s) {
    case at::kFloat: return CT_DTYPE_FLOAT32;
    case at::kDouble: return CT_DTYPE_FLOAT64;
    case at::kBFloat16: return CT_DTYPE_BFLOAT16;
    case at::kHalf: return CT_DTYPE_FLOAT16;
    case at::kLong: return CT_DTYPE_INT64;
    case at::kInt: return CT_DTYPE_INT32;
    case at::kByte: return CT_DTYPE_UINT8;
    case at::kBool: return CT_DTYPE_BOOL;
    case at::kChar: return CT_DTYPE_INT8;
    case at::kShort: return CT_DTYPE_INT16;
    default: break;
  }
  throw std::invalid_argument(std::string("dtype not supported by ClipGuard: ") + c10::toString(s));
}

at::Device device(int type, int index) {
  if (type == CT_DEVICE_CPU) return at::Device(at::kCPU);
  if (type == CT_DEVICE_CUDA) return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index));
  throw std::invalid_argument("unknown device type " + std::to_string(type));
}

at::TensorOptions options(int dtype, int dev, int index) {
  return at::TensorOptions().dtype(scalar_type(dtype)).device(device(dev, index));
}

at::IntArrayRef dims(const int64_t *d, int n) { return at::IntArrayRef(d, static_cast<size_t>(n)); }

const at::Tensor &T(ct_tensor t) {
  if (t == nullptr) throw std::invalid_argument("null tensor handle");
  return t->t;
}

std::optional<at::Tensor> opt(ct_tensor t) {
  if (t == nullptr || !t->t.defined()) return std::nullopt;
  return t->t;
}

std::optional<at::Generator> gen(ct_generator g) {
  if (g == nullptr) return std::nullopt;
  return g->g;
}

std::vector<at::Tensor> list(const ct_tensor *ts, int n) {
  std::vector<at::Tensor> v;
  v.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) v.push_back(T(ts[i]));
  return v;
}

at::Tensor binary(int op, const at::Tensor &a, const at::Tensor &b) {
  switch (op) {
    case CT_ADD: return at::add(a, b);
    case CT_SUB: return at::sub(a, b);
    case CT_MUL: return at::mul(a, b);
    case CT_DIV: return at::div(a, b);
    case CT_POW: return at::pow(a, b);
    case CT_MAXIMUM: return at::maximum(a, b);
    case CT_MINIMUM: return at::minimum(a, b);
    case CT_EQ: return at::eq(a, b);
    case CT_NE: return at::ne(a, b);
    case CT_LT: return at::lt(a, b);
    case CT_LE: return at::le(a, b);
    case CT_GT: return at::gt(a, b);
    case CT_GE: return at::ge(a, b);
    case CT_LOGICAL_AND: return at::logical_and(a, b);
    case CT_LOGICAL_OR: return at::logical_or(a, b);
    case CT_REMAINDER: return at::remainder(a, b);
    case CT_ATAN2: return at::atan2(a, b);
    case CT_FLOOR_DIVIDE: return at::floor_divide(a, b);
  }
  throw std::invalid_argument("unknown binary op " + std::to_string(op));
}

at::Tensor binary_scalar(int op, const at::Tensor &a, const at::Scalar &b) {
  switch (op) {
    case CT_ADD: return at::add(a, b);
    case CT_SUB: return at::sub(a, b);
    case CT_MUL: return at::mul(a, b);
    case CT_DIV: return at::div(a, b);
    case CT_POW: return at::pow(a, b);
    case CT_EQ: return at::eq(a, b);
    case CT_NE: return at::ne(a, b);
    case CT_LT: return at::lt(a, b);
    case CT_LE: return at::le(a, b);
    case CT_GT: return at::gt(a, b);
    case CT_GE: return at::ge(a, b);
    case CT_REMAINDER: return at::remainder(a, b);
    case CT_FLOOR_DIVIDE: return at::floor_divide(a, b);
    case CT_MAXIMUM: return at::clamp_min(a, b);
    case CT_MINIMUM: return at::clamp_max(a, b);
  }
  throw std::invalid_argument("binary op " + std::to_string(op) + " has no scalar form");
}

at::Tensor unary(int op, const at::Tensor &a) {
  switch (op) {
    case CT_NEG: return at::neg(a);
    case CT_EXP: return at::exp(a);
    case CT_LOG: return at::log(a);
    case CT_SQRT: return at::sqrt(a);
    case CT_RSQRT: return at::rsqrt(a);
    case CT_ABS: return at::abs(a);
    case CT_SIN: return at::sin(a);
    case CT_COS: return at::cos(a);
    case CT_TANH: return at::tanh(a);
    case CT_SIGMOID: return at::sigmoid(a);
    case CT_RELU: return at::relu(a);
    case CT_GELU: return at::gelu(a);
    case CT_GELU_TANH: return at::gelu(a, "tanh");
    case CT_QUICK_GELU: return a * at::sigmoid(a * 1.702);
    case CT_SIGN: return at::sign(a);
    case CT_FLOOR: return at::floor(a);
    case CT_CEIL: return at::ceil(a);
    case CT_ROUND: return at::round(a);
    case CT_RECIPROCAL: return at::reciprocal(a);
    case CT_SQUARE: return at::square(a);
    case CT_LOGICAL_NOT: return at::logical_not(a);
    case CT_ERF: return at::erf(a);
    case CT_ISNAN: return at::isnan(a);
    case CT_ISFINITE: return at::isfinite(a);
    case CT_LOG1P: return at::log1p(a);
    case CT_EXPM1: return at::expm1(a);
    case CT_SILU: return at::silu(a);
  }
  throw std::invalid_argument("unknown unary op " + std::to_string(op));
}

std::optional<at::Scalar> opt_scalar(double v, int has) {
  if (!has) return std::nullopt;
  return at::Scalar(v);
}

at::OptionalIntArrayRef opt_dims(const int64_t *d, int n) {
  if (n == 0) return std::nullopt;
  return dims(d, n);
}

}  // namespace

ct_tensor ctorch_internal::wrap_tensor(at::Tensor t) { return wrap(std::move(t)); }
void ctorch_internal::set_last_error(std::string message) { last_error = std::move(message); }

#define CT_PROTECT(...)                      \
  try {                                      \
    __VA_ARGS__;                                    \
    return 0;                                \
  } catch (const c10::Error &e) {            \
    last_error = e.what_without_backtrace(); \
  } catch (const std::exception &e) {        \
    last_error = e.what();                   \
  } catch (...) {                            \
    last_error = "unknown C++ exception";    \
  }                                          \
  return 1;

#define CT_OUT(...) CT_PROTECT(*out = wrap(__VA_ARGS__))

extern "C" {

// ---- errors, library, threads -------------------------------------------------------------
const char *ct_last_error(void) { return last_error.c_str(); }

int ct_torch_version(char *buf, size_t len) { CT_PROTECT(std::snprintf(buf, len, "%s", TORCH_VERSION)) }

int ct_set_num_threads(int n) { CT_PROTECT(at::set_num_threads(n)) }
int ct_get_num_threads(void) { return at::get_num_threads(); }
int ct_retain_freed_memory(void) {
#if defined(__GLIBC__)
  const int applied = mallopt(M_MMAP_MAX, 0) & mallopt(M_TRIM_THRESHOLD, INT_MAX);
  return applied == 1 ? 0 : 1;
#else
  return 1;
#endif
}

int ct_set_num_interop_threads(int n) {
  static std::mutex m;
  static bool done = false;
  CT_PROTECT({
    std::lock_guard<std::mutex> lock(m);
    if (done) throw std::runtime_error("the inter-op thread count can be set only once per process");
    at::set_num_interop_threads(n);
    done = true;
  })
}
int ct_get_num_interop_threads(void) { return at::get_num_interop_threads(); }
int ct_cuda_is_available(void) {
  try {
    return at::hasCUDA() ? 1 : 0;
  } catch (...) {
    return 0;
  }
}
int ct_cuda_device_count(void) {
  try {
    if (!at::hasCUDA()) return 0;
    return static_cast<int>(at::detail::getCUDAHooks().deviceCount());
  } catch (...) {
    return 0;
  }
}
int ct_cuda_synchronize(void) {
  CT_PROTECT({
    if (at::hasCUDA()) at::detail::getCUDAHooks().deviceSynchronize(0);
  })
}
int ct_manual_seed(uint64_t seed) { CT_PROTECT(at::manual_seed(seed)) }
int64_t ct_live_tensor_count(void) { return live_tensors.load(std::memory_order_relaxed); }
int64_t ct_thread_tensor_balance(void) { return thread_balance; }
int64_t ct_host_read_count(void) { return host_reads.load(std::memory_order_relaxed); }
int64_t ct_thread_host_read_count(void) { return thread_host_reads; }
int ct_config_string(char *buf, size_t len) {
  CT_PROTECT({
    std::string s = at::show_config() + at::get_parallel_info();
    std::snprintf(buf, len, "%s", s.c_str());
  })
}

// ---- error capture -----------------------------------------------------------------------
namespace {
thread_local int capture_depth = 0;
thread_local bool capture_has = false;
thread_local std::string capture_message;
}  // namespace
int ct_capture_begin(void) {
  if (capture_depth == 0) {
    capture_has = false;
    capture_message.clear();
  }
  return ++capture_depth;
}
int ct_capture_active(void) { return capture_depth > 0 ? 1 : 0; }
void ct_capture_record(const char *msg) {
  if (capture_depth > 0 && !capture_has) {
    capture_has = true;
    capture_message = msg ? msg : "";
  }
}
int ct_capture_end(char *buf, size_t len) {
  if (capture_depth > 0) --capture_depth;
  if (capture_depth == 0 && capture_has) {
    std::snprintf(buf, len, "%s", capture_message.c_str());
    capture_has = false;
    return 1;
  }
  return 0;
}

// ---- generators ---------------------------------------------------------------------------
int ct_generator_new(ct_generator *out, uint64_t seed, int device_type) {
  CT_PROTECT({
    at::Generator g;
    if (device_type == CT_DEVICE_CUDA) {
      g = at::detail::getCUDAHooks().getNewGenerator(0);
    } else {
      g = at::detail::createCPUGenerator(seed);
    }
    {
      std::lock_guard<std::mutex> lock(g.mutex());
      g.set_current_seed(seed);
    }
    *out = new ct_generator_s{g};
  })
}
void ct_generator_free(ct_generator g) { delete g; }
int ct_generator_get_state(ct_generator g, ct_tensor *out) {
  CT_PROTECT({
    std::lock_guard<std::mutex> lock(g->g.mutex());
    *out = wrap(g->g.get_state());
  })
}
int ct_generator_set_state(ct_generator g, ct_tensor state) {
  CT_PROTECT({
    std::lock_guard<std::mutex> lock(g->g.mutex());
    g->g.set_state(T(state));
  })
}

// ---- lifetime and metadata ----------------------------------------------------------------
void ct_tensor_free(ct_tensor t) {
  if (t == nullptr) return;
  live_tensors.fetch_sub(1, std::memory_order_relaxed);
  --thread_balance;
  delete t;
}
int ct_undefined(ct_tensor *out) { CT_OUT(at::Tensor()) }
int ct_is_defined(ct_tensor t) { return (t != nullptr && t->t.defined()) ? 1 : 0; }
int ct_ndim(ct_tensor t, int64_t *out) { CT_PROTECT(*out = T(t).dim()) }
int ct_shape(ct_tensor t, int64_t *d, int max_dims) {
  CT_PROTECT({
    auto s = T(t).sizes();
    if (static_cast<int>(s.size()) > max_dims) throw std::invalid_argument("shape buffer too small");
    for (size_t i = 0; i < s.size(); ++i) d[i] = s[i];
  })
}
int ct_dtype(ct_tensor t, int *out) { CT_PROTECT(*out = dtype_code(T(t).scalar_type())) }
int ct_device(ct_tensor t, int *type, int *index) {
  CT_PROTECT({
    auto d = T(t).device();
    *type = d.is_cuda() ? CT_DEVICE_CUDA : CT_DEVICE_CPU;
    *index = d.has_index() ? d.index() : 0;
  })
}
int ct_numel(ct_tensor t, int64_t *out) { CT_PROTECT(*out = T(t).numel()) }
int ct_is_contiguous(ct_tensor t, int *out) { CT_PROTECT(*out = T(t).is_contiguous() ? 1 : 0) }
int ct_is_channels_last(ct_tensor t, int *out) {
  CT_PROTECT(*out = (T(t).dim() == 4 && T(t).is_contiguous(at::MemoryFormat::ChannelsLast)) ? 1 : 0)
}
int ct_item_double(ct_tensor t, double *out) {
  count_host_read();
  CT_PROTECT(*out = T(t).item<double>())
}
int ct_item_int64(ct_tensor t, int64_t *out) {
  count_host_read();
  CT_PROTECT(*out = T(t).item<int64_t>())
}
int ct_to_string(ct_tensor t, char *buf, size_t len) {
  CT_PROTECT({
    std::ostringstream os;
    os << T(t);
    std::snprintf(buf, len, "%s", os.str().c_str());
  })
}

// ---- creation and data exchange -----------------------------------------------------------
int ct_from_data(ct_tensor *out, const void *data, size_t nbytes, const int64_t *shape, int ndim, int dtype) {
  CT_PROTECT({
    auto t = at::empty(dims(shape, ndim), options(dtype, CT_DEVICE_CPU, 0));
    size_t need = static_cast<size_t>(t.numel()) * t.element_size();
    if (need != nbytes)
      throw std::invalid_argument("ct_from_data: " + std::to_string(nbytes) + " bytes given, shape needs " +
                                  std::to_string(need));
    if (need > 0) std::memcpy(t.data_ptr(), data, need);
    *out = wrap(std::move(t));
  })
}
int ct_copy_to_host(ct_tensor t, void *dst, size_t nbytes) {
  count_host_read();
  CT_PROTECT({
    auto c = T(t).detach().to(at::kCPU).contiguous();
    size_t have = static_cast<size_t>(c.numel()) * c.element_size();
    if (have != nbytes)
      throw std::invalid_argument("ct_copy_to_host: tensor has " + std::to_string(have) + " bytes, buffer " +
                                  std::to_string(nbytes));
    if (have > 0) std::memcpy(dst, c.data_ptr(), have);
  })
}
int ct_data_ptr(ct_tensor t, void **out) {
  CT_PROTECT({
    const auto &x = T(t);
    *out = (x.device().is_cpu() && x.is_contiguous()) ? x.data_ptr() : nullptr;
    if (*out) count_host_read();  // otherwise the caller copies (ct_copy_to_host counts)
  })
}
int ct_zeros(ct_tensor *out, const int64_t *s, int n, int dtype, int dev, int di) {
  CT_OUT(at::zeros(dims(s, n), options(dtype, dev, di)))
}
int ct_ones(ct_tensor *out, const int64_t *s, int n, int dtype, int dev, int di) {
  CT_OUT(at::ones(dims(s, n), options(dtype, dev, di)))
}
int ct_full(ct_tensor *out, const int64_t *s, int n, double v, int dtype, int dev, int di) {
  CT_OUT(at::full(dims(s, n), v, options(dtype, dev, di)))
}
int ct_empty(ct_tensor *out, const int64_t *s, int n, int dtype, int dev, int di) {
  CT_OUT(at::empty(dims(s, n), options(dtype, dev, di)))
}
int ct_arange(ct_tensor *out, double start, double end, double step, int dtype, int dev, int di) {
  CT_OUT(at::arange(start, end, step, options(dtype, dev, di)))
}
int ct_linspace(ct_tensor *out, double start, double end, int64_t steps, int dtype, int dev, int di) {
  CT_OUT(at::linspace(start, end, steps, options(dtype, dev, di)))
}
int ct_eye(ct_tensor *out, int64_t n, int dtype, int dev, int di) { CT_OUT(at::eye(n, options(dtype, dev, di))) }
int ct_rand(ct_tensor *out, const int64_t *s, int n, int dtype, int dev, int di, ct_generator g) {
  CT_OUT(at::rand(dims(s, n), gen(g), options(dtype, dev, di)))
}
int ct_randn(ct_tensor *out, const int64_t *s, int n, int dtype, int dev, int di, ct_generator g) {
  CT_OUT(at::randn(dims(s, n), gen(g), options(dtype, dev, di)))
}
int ct_randint(ct_tensor *out, int64_t low, int64_t high, const int64_t *s, int n, int dev, int di, ct_generator g) {
  CT_OUT(at::randint(low, high, dims(s, n), gen(g), options(CT_DTYPE_INT64, dev, di)))
}
int ct_randperm(ct_tensor *out, int64_t n, int dev, int di, ct_generator g) {
  CT_OUT(at::randperm(n, gen(g), options(CT_DTYPE_INT64, dev, di)))
}
int ct_bernoulli(ct_tensor *out, ct_tensor p, ct_generator g) { CT_OUT(at::bernoulli(T(p), gen(g))) }
int ct_zeros_like(ct_tensor *out, ct_tensor t) { CT_OUT(at::zeros_like(T(t))) }
int ct_ones_like(ct_tensor *out, ct_tensor t) { CT_OUT(at::ones_like(T(t))) }
int ct_full_like(ct_tensor *out, ct_tensor t, double v) { CT_OUT(at::full_like(T(t), v)) }

// ---- conversion, copies, autograd ---------------------------------------------------------
int ct_to(ct_tensor *out, ct_tensor t, int dtype, int dev, int di, int non_blocking) {
  CT_OUT(T(t).to(device(dev, di), scalar_type(dtype), non_blocking != 0))
}
int ct_contiguous(ct_tensor *out, ct_tensor t) { CT_OUT(T(t).contiguous()) }
int ct_channels_last(ct_tensor *out, ct_tensor t) { CT_OUT(T(t).contiguous(at::MemoryFormat::ChannelsLast)) }
int ct_clone(ct_tensor *out, ct_tensor t) { CT_OUT(T(t).clone()) }
int ct_detach(ct_tensor *out, ct_tensor t) { CT_OUT(T(t).detach()) }
int ct_shallow_copy(ct_tensor *out, ct_tensor t) { CT_OUT(T(t)) }
int ct_copy_(ct_tensor dst, ct_tensor src) { CT_PROTECT(dst->t.copy_(T(src))) }
int ct_set_data(ct_tensor dst, ct_tensor src) { CT_PROTECT(dst->t.set_data(T(src))) }
int ct_fill_(ct_tensor t, double v) { CT_PROTECT(t->t.fill_(v)) }
int ct_zero_(ct_tensor t) { CT_PROTECT(t->t.zero_()) }
int ct_requires_grad(ct_tensor t, int *out) { CT_PROTECT(*out = T(t).requires_grad() ? 1 : 0) }
int ct_set_requires_grad(ct_tensor t, int flag) { CT_PROTECT(t->t.set_requires_grad(flag != 0)) }
int ct_grad(ct_tensor *out, ct_tensor t) {
  CT_PROTECT({
    const auto &g = T(t).grad();
    *out = g.defined() ? wrap(g) : nullptr;
  })
}
int ct_set_grad(ct_tensor t, ct_tensor grad) {
  CT_PROTECT(t->t.mutable_grad() = grad ? T(grad) : at::Tensor())
}
int ct_zero_grad(ct_tensor t) { CT_PROTECT(t->t.mutable_grad() = at::Tensor()) }
int ct_backward(ct_tensor t, ct_tensor grad_output, int retain_graph, int create_graph) {
  CT_PROTECT({
    std::optional<bool> retain;
    if (retain_graph) retain = true;
    T(t).backward(grad_output ? T(grad_output) : at::Tensor(), retain, create_graph != 0);
  })
}
int ct_autograd_grad(ct_tensor *outs, const ct_tensor *outputs, const ct_tensor *grad_outputs, int n_outputs,
                     const ct_tensor *inputs, int n_inputs, int retain_graph, int create_graph, int allow_unused) {
  CT_PROTECT({
    std::vector<at::Tensor> go;
    if (grad_outputs) {
      for (int i = 0; i < n_outputs; ++i) go.push_back(grad_outputs[i] ? T(grad_outputs[i]) : at::Tensor());
    }
    std::optional<bool> retain;
    if (retain_graph) retain = true;
    auto gs = torch::autograd::grad(list(outputs, n_outputs), list(inputs, n_inputs), go, retain,
                                    create_graph != 0, allow_unused != 0);
    for (int i = 0; i < n_inputs; ++i) outs[i] = gs[i].defined() ? wrap(gs[i]) : nullptr;
  })
}
int ct_grad_enabled(void) { return at::GradMode::is_enabled() ? 1 : 0; }
int ct_set_grad_enabled(int flag) { CT_PROTECT(at::GradMode::set_enabled(flag != 0)) }
int ct_inference_mode_enter(void) { CT_PROTECT(inference_guards.push_back(std::make_unique<c10::InferenceMode>())) }
int ct_inference_mode_exit(void) {
  CT_PROTECT({
    if (inference_guards.empty()) throw std::logic_error("inference mode exit without enter");
    inference_guards.pop_back();
  })
}
namespace {
struct AutocastState {
  bool enabled;
  at::ScalarType dtype;
};
thread_local std::vector<std::pair<int, AutocastState>> autocast_stack;
}  // namespace
int ct_autocast_enter(int dev, int dtype) {
  CT_PROTECT({
    auto type = dev == CT_DEVICE_CUDA ? at::kCUDA : at::kCPU;
    autocast_stack.push_back({dev, {at::autocast::is_autocast_enabled(type), at::autocast::get_autocast_dtype(type)}});
    at::autocast::set_autocast_enabled(type, true);
    at::autocast::set_autocast_dtype(type, scalar_type(dtype));
    at::autocast::increment_nesting();
  })
}
int ct_autocast_exit(int dev) {
  CT_PROTECT({
    if (autocast_stack.empty() || autocast_stack.back().first != dev)
      throw std::logic_error("autocast exit without matching enter");
    auto type = dev == CT_DEVICE_CUDA ? at::kCUDA : at::kCPU;
    auto prev = autocast_stack.back().second;
    autocast_stack.pop_back();
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_autocast_enabled(type, prev.enabled);
    at::autocast::set_autocast_dtype(type, prev.dtype);
  })
}

// ---- elementwise --------------------------------------------------------------------------
int ct_binary(ct_tensor *out, int op, ct_tensor a, ct_tensor b) { CT_OUT(binary(op, T(a), T(b))) }
int ct_binary_scalar(ct_tensor *out, int op, ct_tensor a, double b) { CT_OUT(binary_scalar(op, T(a), b)) }
int ct_scalar_binary(ct_tensor *out, int op, double a, ct_tensor b) {
  CT_PROTECT({
    const auto &x = T(b);
    at::Tensor r;
    switch (op) {
      case CT_ADD: r = at::add(x, a); break;
      case CT_SUB: r = at::rsub(x, a); break;
      case CT_MUL: r = at::mul(x, a); break;
      case CT_DIV: r = at::mul(at::reciprocal(x), a); break;
      case CT_POW: r = at::pow(at::Scalar(a), x); break;
      default: r = binary(op, at::scalar_tensor(a, x.options()), x);
    }
    *out = wrap(std::move(r));
  })
}
int ct_binary_(int op, ct_tensor a, ct_tensor b) {
  CT_PROTECT({
    auto &x = a->t;
    switch (op) {
      case CT_ADD: x.add_(T(b)); break;
      case CT_SUB: x.sub_(T(b)); break;
      case CT_MUL: x.mul_(T(b)); break;
      case CT_DIV: x.div_(T(b)); break;
      default: throw std::invalid_argument("binary op " + std::to_string(op) + " has no in-place form");
    }
  })
}
int ct_binary_scalar_(int op, ct_tensor a, double b) {
  CT_PROTECT({
    auto &x = a->t;
    switch (op) {
      case CT_ADD: x.add_(b); break;
      case CT_SUB: x.sub_(b); break;
      case CT_MUL: x.mul_(b); break;
      case CT_DIV: x.div_(b); break;
      default: throw std::invalid_argument("binary op " + std::to_string(op) + " has no in-place form");
    }
  })
}
int ct_unary(ct_tensor *out, int op, ct_tensor a) { CT_OUT(unary(op, T(a))) }
int ct_clamp(ct_tensor *out, ct_tensor a, double lo, double hi, int has_lo, int has_hi) {
  CT_OUT(at::clamp(T(a), opt_scalar(lo, has_lo), opt_scalar(hi, has_hi)))
}
int ct_clamp_(ct_tensor a, double lo, double hi, int has_lo, int has_hi) {
  CT_PROTECT(a->t.clamp_(opt_scalar(lo, has_lo), opt_scalar(hi, has_hi)))
}
int ct_where(ct_tensor *out, ct_tensor c, ct_tensor a, ct_tensor b) { CT_OUT(at::where(T(c), T(a), T(b))) }
int ct_masked_fill(ct_tensor *out, ct_tensor t, ct_tensor mask, double v) { CT_OUT(T(t).masked_fill(T(mask), v)) }
int ct_add_scaled_(ct_tensor a, ct_tensor b, double alpha) { CT_PROTECT(a->t.add_(T(b), alpha)) }
int ct_addcmul_(ct_tensor a, ct_tensor b, ct_tensor c, double v) { CT_PROTECT(a->t.addcmul_(T(b), T(c), v)) }
int ct_addcdiv_(ct_tensor a, ct_tensor b, ct_tensor c, double v) { CT_PROTECT(a->t.addcdiv_(T(b), T(c), v)) }
int ct_lerp_(ct_tensor a, ct_tensor end, double w) { CT_PROTECT(a->t.lerp_(T(end), w)) }

// ---- reductions ---------------------------------------------------------------------------
int ct_sum(ct_tensor *out, ct_tensor t, const int64_t *d, int n, int keep) {
  CT_OUT(n == 0 ? at::sum(T(t)) : at::sum(T(t), dims(d, n), keep != 0))
}
int ct_mean(ct_tensor *out, ct_tensor t, const int64_t *d, int n, int keep) {
  CT_OUT(n == 0 ? at::mean(T(t)) : at::mean(T(t), dims(d, n), keep != 0))
}
int ct_var(ct_tensor *out, ct_tensor t, const int64_t *d, int n, int unbiased, int keep) {
  CT_OUT(at::var(T(t), opt_dims(d, n), unbiased != 0, keep != 0))
}
int ct_norm(ct_tensor *out, ct_tensor t, double p, const int64_t *d, int n, int keep) {
  CT_OUT(n == 0 ? at::norm(T(t), p) : at::norm(T(t), p, dims(d, n), keep != 0))
}
int ct_logsumexp(ct_tensor *out, ct_tensor t, int64_t dim, int keep) { CT_OUT(at::logsumexp(T(t), {dim}, keep != 0)) }
int ct_max_all(ct_tensor *out, ct_tensor t) { CT_OUT(at::max(T(t))) }
int ct_min_all(ct_tensor *out, ct_tensor t) { CT_OUT(at::min(T(t))) }
int ct_max_dim(ct_tensor *values, ct_tensor *indices, ct_tensor t, int64_t dim, int keep) {
  CT_PROTECT({
    auto r = at::max(T(t), dim, keep != 0);
    *values = wrap(std::get<0>(r));
    *indices = wrap(std::get<1>(r));
  })
}
int ct_min_dim(ct_tensor *values, ct_tensor *indices, ct_tensor t, int64_t dim, int keep) {
  CT_PROTECT({
    auto r = at::min(T(t), dim, keep != 0);
    *values = wrap(std::get<0>(r));
    *indices = wrap(std::get<1>(r));
  })
}
int ct_argmax(ct_tensor *out, ct_tensor t, int64_t dim, int has_dim, int keep) {
  CT_OUT(has_dim ? at::argmax(T(t), dim, keep != 0) : at::argmax(T(t)))
}
int ct_argmin(ct_tensor *out, ct_tensor t, int64_t dim, int has_dim, int keep) {
  CT_OUT(has_dim ? at::argmin(T(t), dim, keep != 0) : at::argmin(T(t)))
}
int ct_topk(ct_tensor *values, ct_tensor *indices, ct_tensor t, int64_t k, int64_t dim, int largest, int sorted) {
  CT_PROTECT({
    auto r = at::topk(T(t), k, dim, largest != 0, sorted != 0);
    *values = wrap(std::get<0>(r));
    *indices = wrap(std::get<1>(r));
  })
}
int ct_sort(ct_tensor *values, ct_tensor *indices, ct_tensor t, int64_t dim, int descending) {
  CT_PROTECT({
    auto r = at::sort(T(t), /*stable=*/true, dim, descending != 0);
    *values = wrap(std::get<0>(r));
    *indices = wrap(std::get<1>(r));
  })
}
int ct_cumsum(ct_tensor *out, ct_tensor t, int64_t dim) { CT_OUT(at::cumsum(T(t), dim)) }
int ct_all(ct_tensor *out, ct_tensor t) { CT_OUT(at::all(T(t))) }
int ct_any(ct_tensor *out, ct_tensor t) { CT_OUT(at::any(T(t))) }
int ct_allclose(ct_tensor a, ct_tensor b, double rtol, double atol, int *out) {
  count_host_read();
  CT_PROTECT(*out = at::allclose(T(a), T(b), rtol, atol) ? 1 : 0)
}
int ct_equal(ct_tensor a, ct_tensor b, int *out) {
  count_host_read();
  CT_PROTECT(*out = at::equal(T(a), T(b)) ? 1 : 0) }

// ---- linear algebra -----------------------------------------------------------------------
int ct_matmul(ct_tensor *out, ct_tensor a, ct_tensor b) { CT_OUT(at::matmul(T(a), T(b))) }

// ---- views and indexing -------------------------------------------------------------------
int ct_reshape(ct_tensor *out, ct_tensor t, const int64_t *s, int n) { CT_OUT(T(t).reshape(dims(s, n))) }
int ct_view(ct_tensor *out, ct_tensor t, const int64_t *s, int n) { CT_OUT(T(t).view(dims(s, n))) }
int ct_permute(ct_tensor *out, ct_tensor t, const int64_t *d, int n) { CT_OUT(T(t).permute(dims(d, n))) }
int ct_transpose(ct_tensor *out, ct_tensor t, int64_t a, int64_t b) { CT_OUT(T(t).transpose(a, b)) }
int ct_narrow(ct_tensor *out, ct_tensor t, int64_t dim, int64_t start, int64_t len) {
  CT_OUT(T(t).narrow(dim, start, len))
}
int ct_slice(ct_tensor *out, ct_tensor t, int64_t dim, int64_t start, int64_t end, int64_t step) {
  CT_OUT(T(t).slice(dim, start, end, step))
}
int ct_select(ct_tensor *out, ct_tensor t, int64_t dim, int64_t i) { CT_OUT(T(t).select(dim, i)) }
int ct_index_select(ct_tensor *out, ct_tensor t, int64_t dim, ct_tensor idx) {
  CT_OUT(at::index_select(T(t), dim, T(idx)))
}
int ct_index_with_mask(ct_tensor *out, ct_tensor t, ct_tensor mask) { CT_OUT(T(t).index({T(mask)})) }
int ct_gather(ct_tensor *out, ct_tensor t, int64_t dim, ct_tensor idx) { CT_OUT(at::gather(T(t), dim, T(idx))) }
int ct_scatter(ct_tensor *out, ct_tensor t, int64_t dim, ct_tensor idx, ct_tensor src) {
  CT_OUT(at::scatter(T(t), dim, T(idx), T(src)))
}
int ct_index_put_(ct_tensor t, ct_tensor index, ct_tensor values, int accumulate) {
  CT_PROTECT({
    c10::List<std::optional<at::Tensor>> idx;
    idx.push_back(T(index));
    t->t.index_put_(idx, T(values), accumulate != 0);
  })
}
int ct_cat(ct_tensor *out, const ct_tensor *ts, int n, int64_t dim) { CT_OUT(at::cat(list(ts, n), dim)) }
int ct_stack(ct_tensor *out, const ct_tensor *ts, int n, int64_t dim) { CT_OUT(at::stack(list(ts, n), dim)) }
int ct_split(ct_tensor *outs, int n_outs, ct_tensor t, int64_t size, int64_t dim) {
  CT_PROTECT({
    auto parts = at::split(T(t), size, dim);
    if (static_cast<int>(parts.size()) != n_outs)
      throw std::invalid_argument("ct_split: " + std::to_string(parts.size()) + " parts, " + std::to_string(n_outs) +
                                  " outputs");
    for (int i = 0; i < n_outs; ++i) outs[i] = wrap(parts[static_cast<size_t>(i)]);
  })
}
int ct_squeeze(ct_tensor *out, ct_tensor t, int64_t dim) { CT_OUT(T(t).squeeze(dim)) }
int ct_unsqueeze(ct_tensor *out, ct_tensor t, int64_t dim) { CT_OUT(T(t).unsqueeze(dim)) }
int ct_expand(ct_tensor *out, ct_tensor t, const int64_t *s, int n) { CT_OUT(T(t).expand(dims(s, n))) }
int ct_flatten(ct_tensor *out, ct_tensor t, int64_t a, int64_t b) { CT_OUT(T(t).flatten(a, b)) }
int ct_repeat(ct_tensor *out, ct_tensor t, const int64_t *r, int n) { CT_OUT(T(t).repeat(dims(r, n))) }
int ct_flip(ct_tensor *out, ct_tensor t, const int64_t *d, int n) { CT_OUT(at::flip(T(t), dims(d, n))) }
int ct_roll(ct_tensor *out, ct_tensor t, int64_t shift, int64_t dim) { CT_OUT(at::roll(T(t), {shift}, {dim})) }
int ct_triu(ct_tensor *out, ct_tensor t, int64_t d) { CT_OUT(at::triu(T(t), d)) }
int ct_tril(ct_tensor *out, ct_tensor t, int64_t d) { CT_OUT(at::tril(T(t), d)) }
int ct_one_hot(ct_tensor *out, ct_tensor t, int64_t n) { CT_OUT(at::one_hot(T(t), n)) }

// ---- neural-network functions -------------------------------------------------------------
int ct_linear(ct_tensor *out, ct_tensor x, ct_tensor w, ct_tensor b) { CT_OUT(at::linear(T(x), T(w), opt(b))) }
int ct_conv2d(ct_tensor *out, ct_tensor x, ct_tensor w, ct_tensor b, const int64_t *stride, const int64_t *padding,
              const int64_t *dilation, int64_t groups) {
  CT_OUT(at::conv2d(T(x), T(w), opt(b), dims(stride, 2), dims(padding, 2), dims(dilation, 2), groups))
}
int ct_avg_pool2d(ct_tensor *out, ct_tensor x, const int64_t *k, const int64_t *s, const int64_t *p, int ceil_mode,
                  int count_include_pad) {
  CT_OUT(at::avg_pool2d(T(x), dims(k, 2), dims(s, 2), dims(p, 2), ceil_mode != 0, count_include_pad != 0))
}
int ct_max_pool2d(ct_tensor *out, ct_tensor x, const int64_t *k, const int64_t *s, const int64_t *p, int ceil_mode) {
  CT_OUT(at::max_pool2d(T(x), dims(k, 2), dims(s, 2), dims(p, 2), {1, 1}, ceil_mode != 0))
}
int ct_adaptive_avg_pool2d(ct_tensor *out, ct_tensor x, const int64_t *size) {
  CT_OUT(at::adaptive_avg_pool2d(T(x), dims(size, 2)))
}
int ct_batch_norm(ct_tensor *out, ct_tensor x, ct_tensor w, ct_tensor b, ct_tensor rm, ct_tensor rv, int training,
                  double momentum, double eps) {
  CT_OUT(at::batch_norm(T(x), opt(w), opt(b), opt(rm), opt(rv), training != 0, momentum, eps, true))
}
int ct_layer_norm(ct_tensor *out, ct_tensor x, const int64_t *ns, int n, ct_tensor w, ct_tensor b, double eps) {
  CT_OUT(at::layer_norm(T(x), dims(ns, n), opt(w), opt(b), eps))
}
int ct_embedding(ct_tensor *out, ct_tensor w, ct_tensor idx) { CT_OUT(at::embedding(T(w), T(idx))) }
int ct_softmax(ct_tensor *out, ct_tensor x, int64_t dim) { CT_OUT(at::softmax(T(x), dim)) }
int ct_log_softmax(ct_tensor *out, ct_tensor x, int64_t dim) { CT_OUT(at::log_softmax(T(x), dim)) }
int ct_cross_entropy(ct_tensor *out, ct_tensor logits, ct_tensor target, int reduction, double smoothing) {
  CT_OUT(at::cross_entropy_loss(T(logits), T(target), std::nullopt, reduction, -100, smoothing))
}
int ct_mse_loss(ct_tensor *out, ct_tensor a, ct_tensor b, int reduction) { CT_OUT(at::mse_loss(T(a), T(b), reduction)) }
int ct_dropout(ct_tensor *out, ct_tensor x, double p, int training, ct_generator g) {
  CT_PROTECT({
    const auto &t = T(x);
    if (!training || p == 0.0) {
      *out = wrap(t);
    } else if (p >= 1.0) {
      *out = wrap(t * 0.0);
    } else {
      auto keep = at::empty_like(t).bernoulli_(1.0 - p, gen(g));
      *out = wrap(t * keep / (1.0 - p));
    }
  })
}
int ct_scaled_dot_product_attention(ct_tensor *out, ct_tensor q, ct_tensor k, ct_tensor v, ct_tensor mask,
                                    double dropout_p, int is_causal, double scale, int has_scale) {
  CT_PROTECT({
    std::optional<double> s;
    if (has_scale) s = scale;
    *out = wrap(at::scaled_dot_product_attention(T(q), T(k), T(v), opt(mask), dropout_p, is_causal != 0, s));
  })
}
int ct_interpolate(ct_tensor *out, ct_tensor x, int64_t h, int64_t w, int mode, int align_corners, int antialias) {
  CT_PROTECT({
    std::vector<int64_t> size{h, w};
    at::Tensor r;
    switch (mode) {
      case 0: r = at::upsample_nearest2d(T(x), size); break;
      case 1:
        r = antialias ? at::_upsample_bilinear2d_aa(T(x), size, align_corners != 0)
                      : at::upsample_bilinear2d(T(x), size, align_corners != 0);
        break;
      case 2:
        r = antialias ? at::_upsample_bicubic2d_aa(T(x), size, align_corners != 0)
                      : at::upsample_bicubic2d(T(x), size, align_corners != 0);
        break;
      default: throw std::invalid_argument("unknown interpolation mode " + std::to_string(mode));
    }
    *out = wrap(std::move(r));
  })
}
int ct_grid_sample(ct_tensor *out, ct_tensor x, ct_tensor grid, int mode, int padding_mode, int align_corners) {
  CT_OUT(at::grid_sampler(T(x), T(grid), mode, padding_mode, align_corners != 0))
}
int ct_normalize(ct_tensor *out, ct_tensor x, double p, int64_t dim, double eps) {
  CT_PROTECT({
    const auto &t = T(x);
    auto denom = at::norm(t, p, {dim}, true).clamp_min(eps).expand_as(t);
    *out = wrap(t / denom);
  })
}
int ct_pad(ct_tensor *out, ct_tensor x, const int64_t *pad, int npad, double value) {
  CT_OUT(at::constant_pad_nd(T(x), dims(pad, npad), value))
}

// ---- optimizers ---------------------------------------------------------------------------
int ct_fused_adamw_(const ct_tensor *params, const ct_tensor *grads, const ct_tensor *exp_avgs,
                    const ct_tensor *exp_avg_sqs, const ct_tensor *steps, int n, double lr, double beta1, double beta2,
                    double weight_decay, double eps) {
  CT_PROTECT({
    at::NoGradGuard no_grad;
    auto p = list(params, n), g = list(grads, n), m = list(exp_avgs, n), v = list(exp_avg_sqs, n), s = list(steps, n);
    for (auto &step : s) step.add_(1);
    at::_fused_adamw_(p, g, m, v, {}, s, lr, beta1, beta2, weight_decay, eps, false, false);
  })
}
int ct_clip_grad_norm_(const ct_tensor *grads, int n, double max_norm, double *total_norm) {
  CT_PROTECT({
    at::NoGradGuard no_grad;
    auto g = list(grads, n);
    if (g.empty()) {
      *total_norm = 0;
      return 0;
    }
    std::vector<at::Tensor> norms;
    norms.reserve(g.size());
    for (auto &x : g) norms.push_back(at::norm(x.to(at::kFloat), 2.0));
    auto total = at::norm(at::stack(norms), 2.0);
    count_host_read();
    double t = total.item<double>();
    *total_norm = t;
    double coef = max_norm / (t + 1e-6);
    if (coef < 1.0)
      for (auto &x : g) x.mul_(coef);
  })
}

int ct_clip_grad_norm_tensor_(const ct_tensor *grads, int n, double max_norm, ct_tensor *total_norm) {
  CT_PROTECT({
    at::NoGradGuard no_grad;
    auto g = list(grads, n);
    if (g.empty()) {
      *total_norm = wrap(at::zeros({}, at::kFloat));
      return 0;
    }
    // torch/nn/utils/clip_grad.py: _get_total_norm, then _clip_grads_with_norm_ (whose
    // `max_norm / (total_norm + 1e-6)` is Tensor.__rtruediv__: reciprocal, then a multiply).
    auto norms = at::_foreach_norm(g, 2.0);
    auto total = at::linalg_vector_norm(at::stack(norms), 2.0);
    auto coef = at::clamp((total + 1e-6).reciprocal() * max_norm, std::optional<at::Scalar>(), std::optional<at::Scalar>(1.0));
    at::_foreach_mul_(g, coef);
    *total_norm = wrap(total);
  })
}

}  // extern "C"
