/* ctorch.h — the plain-C boundary between Swift and libtorch.
 *
 * Conventions
 * - Every function that can fail returns 0 on success and nonzero on failure; the message is
 *   then available from ct_last_error() on the same thread until the next failing call.
 * - Tensors cross as opaque handles. Every handle returned through an out-parameter is new (+1)
 *   and must be released with ct_tensor_free exactly once. An out-parameter may be set to NULL
 *   where a result is optional (e.g. ct_grad of a tensor without a gradient).
 * - Optional tensor arguments are NULL when absent. Shapes are (const int64_t *, int ndim).
 * - dtype codes are CT_DTYPE_*; device codes are (CT_DEVICE_*, index).
 * No C++ type or exception crosses this header. */
#ifndef CTORCH_H
#define CTORCH_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_tensor_s *ct_tensor;
typedef struct ct_generator_s *ct_generator;

enum {
  CT_DTYPE_FLOAT32 = 0, CT_DTYPE_FLOAT64 = 1, CT_DTYPE_BFLOAT16 = 2, CT_DTYPE_FLOAT16 = 3,
  CT_DTYPE_INT64 = 4, CT_DTYPE_INT32 = 5, CT_DTYPE_UINT8 = 6, CT_DTYPE_BOOL = 7,
  CT_DTYPE_INT8 = 8, CT_DTYPE_INT16 = 9
};
enum { CT_DEVICE_CPU = 0, CT_DEVICE_CUDA = 1 };

/* ---- errors, library, threads ---------------------------------------------------------- */
const char *ct_last_error(void);
int ct_torch_version(char *buf, size_t len);
int ct_set_num_threads(int n);
int ct_get_num_threads(void);
/** May be called once per process before any parallel work; fails (not aborts) afterwards. */
int ct_set_num_interop_threads(int n);
/* Keeps freed memory in the C heap for reuse (glibc: no mmap for large blocks, trim only above
   2 GiB), so that a training step's large activation buffers are not unmapped and faulted in
   again every step. Returns 0 when applied, 1 where the C library has no such settings. */
int ct_retain_freed_memory(void);
int ct_get_num_interop_threads(void);
int ct_cuda_is_available(void);
int ct_cuda_device_count(void);
int ct_cuda_synchronize(void);
int ct_manual_seed(uint64_t seed);
/** Number of tensor handles currently alive (created and not yet freed). */
int64_t ct_live_tensor_count(void);
/** Handles created minus handles freed on the calling thread (for leak checks that run beside
 *  other threads' work). */
int64_t ct_thread_tensor_balance(void);
/** Device→host reads so far: every call that hands tensor values to the host (ct_item_*,
 *  ct_copy_to_host, ct_data_ptr, ct_allclose, ct_equal, and the norm read of
 *  ct_clip_grad_norm_). On a GPU each is a synchronisation with the device. */
int64_t ct_host_read_count(void);
/** The same count for the calling thread only (for checks that run beside other threads' work). */
int64_t ct_thread_host_read_count(void);
/** Build configuration string (BLAS, oneDNN, OpenMP, CPU capability). */
int ct_config_string(char *buf, size_t len);

/* ---- error capture ---------------------------------------------------------------------- */
/* While capture is active on a thread, the Swift layer records the first failing op's message
 * here instead of trapping, and ops continue on undefined tensors (which fail in turn). */
int ct_capture_begin(void);
int ct_capture_active(void);
void ct_capture_record(const char *msg);
/** Ends one level of capture. When the outermost level ends with a recorded message, copies it
 *  into buf and returns 1; otherwise returns 0. */
int ct_capture_end(char *buf, size_t len);

/* ---- generators ------------------------------------------------------------------------- */
int ct_generator_new(ct_generator *out, uint64_t seed, int device_type);
void ct_generator_free(ct_generator g);
int ct_generator_get_state(ct_generator g, ct_tensor *out);
int ct_generator_set_state(ct_generator g, ct_tensor state);

/* ---- lifetime and metadata --------------------------------------------------------------- */
void ct_tensor_free(ct_tensor t);
int ct_undefined(ct_tensor *out);
int ct_is_defined(ct_tensor t);
int ct_ndim(ct_tensor t, int64_t *out);
int ct_shape(ct_tensor t, int64_t *dims, int max_dims);
int ct_dtype(ct_tensor t, int *out);
int ct_device(ct_tensor t, int *type, int *index);
int ct_numel(ct_tensor t, int64_t *out);
int ct_is_contiguous(ct_tensor t, int *out);
/* Whether a 4-d tensor is dense in channels-last (NHWC) order. */
int ct_is_channels_last(ct_tensor t, int *out);
int ct_item_double(ct_tensor t, double *out);
int ct_item_int64(ct_tensor t, int64_t *out);
int ct_to_string(ct_tensor t, char *buf, size_t len);

/* ---- creation and data exchange ---------------------------------------------------------- */
/** Copies nbytes of host data into a new contiguous CPU tensor of the given shape and dtype. */
int ct_from_data(ct_tensor *out, const void *data, size_t nbytes, const int64_t *shape, int ndim, int dtype);
/** Copies the tensor (moved to CPU, made contiguous) into dst, which must hold exactly nbytes. */
int ct_copy_to_host(ct_tensor t, void *dst, size_t nbytes);
/** Pointer to the data of a contiguous CPU tensor (NULL otherwise); valid while t lives. */
int ct_data_ptr(ct_tensor t, void **out);
int ct_zeros(ct_tensor *out, const int64_t *shape, int ndim, int dtype, int dev, int dev_index);
int ct_ones(ct_tensor *out, const int64_t *shape, int ndim, int dtype, int dev, int dev_index);
int ct_full(ct_tensor *out, const int64_t *shape, int ndim, double value, int dtype, int dev, int dev_index);
int ct_empty(ct_tensor *out, const int64_t *shape, int ndim, int dtype, int dev, int dev_index);
int ct_arange(ct_tensor *out, double start, double end, double step, int dtype, int dev, int dev_index);
int ct_linspace(ct_tensor *out, double start, double end, int64_t steps, int dtype, int dev, int dev_index);
int ct_eye(ct_tensor *out, int64_t n, int dtype, int dev, int dev_index);
int ct_rand(ct_tensor *out, const int64_t *shape, int ndim, int dtype, int dev, int dev_index, ct_generator g);
int ct_randn(ct_tensor *out, const int64_t *shape, int ndim, int dtype, int dev, int dev_index, ct_generator g);
int ct_randint(ct_tensor *out, int64_t low, int64_t high, const int64_t *shape, int ndim, int dev, int dev_index, ct_generator g);
int ct_randperm(ct_tensor *out, int64_t n, int dev, int dev_index, ct_generator g);
int ct_bernoulli(ct_tensor *out, ct_tensor probabilities, ct_generator g);
int ct_zeros_like(ct_tensor *out, ct_tensor t);
int ct_ones_like(ct_tensor *out, ct_tensor t);
int ct_full_like(ct_tensor *out, ct_tensor t, double value);

/* ---- conversion, copies, autograd -------------------------------------------------------- */
int ct_to(ct_tensor *out, ct_tensor t, int dtype, int dev, int dev_index, int non_blocking);
int ct_contiguous(ct_tensor *out, ct_tensor t);
int ct_channels_last(ct_tensor *out, ct_tensor t);
int ct_clone(ct_tensor *out, ct_tensor t);
int ct_detach(ct_tensor *out, ct_tensor t);
/** A new handle to the same tensor (shares storage and autograd identity). */
int ct_shallow_copy(ct_tensor *out, ct_tensor t);
int ct_copy_(ct_tensor dst, ct_tensor src);
/** Makes `dst` use `src`'s storage, sizes and strides, keeping its autograd identity (`dst.data = src`). */
int ct_set_data(ct_tensor dst, ct_tensor src);
int ct_fill_(ct_tensor t, double value);
int ct_zero_(ct_tensor t);
int ct_requires_grad(ct_tensor t, int *out);
int ct_set_requires_grad(ct_tensor t, int flag);
int ct_grad(ct_tensor *out, ct_tensor t);
int ct_set_grad(ct_tensor t, ct_tensor grad);
int ct_zero_grad(ct_tensor t);
int ct_backward(ct_tensor t, ct_tensor grad_output, int retain_graph, int create_graph);
/** Gradients of outputs w.r.t. inputs (torch.autograd.grad); outs[i] is NULL where unused. */
int ct_autograd_grad(ct_tensor *outs, const ct_tensor *outputs, const ct_tensor *grad_outputs, int n_outputs,
                     const ct_tensor *inputs, int n_inputs, int retain_graph, int create_graph, int allow_unused);
int ct_grad_enabled(void);
int ct_set_grad_enabled(int flag);
/** Enters/exits c10::InferenceMode on this thread; calls must nest properly. */
int ct_inference_mode_enter(void);
int ct_inference_mode_exit(void);
/** Autocast for a device type (CPU or CUDA) to dtype (bfloat16/float16); nests like torch.autocast. */
int ct_autocast_enter(int dev, int dtype);
int ct_autocast_exit(int dev);

/* ---- elementwise ------------------------------------------------------------------------- */
enum {
  CT_ADD = 0, CT_SUB, CT_MUL, CT_DIV, CT_POW, CT_MAXIMUM, CT_MINIMUM, CT_EQ, CT_NE, CT_LT, CT_LE,
  CT_GT, CT_GE, CT_LOGICAL_AND, CT_LOGICAL_OR, CT_REMAINDER, CT_ATAN2, CT_FLOOR_DIVIDE
};
int ct_binary(ct_tensor *out, int op, ct_tensor a, ct_tensor b);
int ct_binary_scalar(ct_tensor *out, int op, ct_tensor a, double b);
/** Scalar on the left: out = b op a (e.g. 1 - x, 2 / x, 2 ** x). */
int ct_scalar_binary(ct_tensor *out, int op, double a, ct_tensor b);
int ct_binary_(int op, ct_tensor a, ct_tensor b);
int ct_binary_scalar_(int op, ct_tensor a, double b);
enum {
  CT_NEG = 0, CT_EXP, CT_LOG, CT_SQRT, CT_RSQRT, CT_ABS, CT_SIN, CT_COS, CT_TANH, CT_SIGMOID,
  CT_RELU, CT_GELU, CT_GELU_TANH, CT_QUICK_GELU, CT_SIGN, CT_FLOOR, CT_CEIL, CT_ROUND,
  CT_RECIPROCAL, CT_SQUARE, CT_LOGICAL_NOT, CT_ERF, CT_ISNAN, CT_ISFINITE, CT_LOG1P, CT_EXPM1,
  CT_SILU
};
int ct_unary(ct_tensor *out, int op, ct_tensor a);
int ct_clamp(ct_tensor *out, ct_tensor a, double lo, double hi, int has_lo, int has_hi);
int ct_clamp_(ct_tensor a, double lo, double hi, int has_lo, int has_hi);
int ct_where(ct_tensor *out, ct_tensor cond, ct_tensor a, ct_tensor b);
int ct_masked_fill(ct_tensor *out, ct_tensor t, ct_tensor mask, double value);
/** a += alpha * b (in place). */
int ct_add_scaled_(ct_tensor a, ct_tensor b, double alpha);
/** a = a * beta + value * b * c  (addcmul_) */
int ct_addcmul_(ct_tensor a, ct_tensor b, ct_tensor c, double value);
/** a += value * b / c (addcdiv_) */
int ct_addcdiv_(ct_tensor a, ct_tensor b, ct_tensor c, double value);
int ct_lerp_(ct_tensor a, ct_tensor end, double weight);

/* ---- reductions -------------------------------------------------------------------------- */
/** ndims == 0 reduces over all dimensions. */
int ct_sum(ct_tensor *out, ct_tensor t, const int64_t *dims, int ndims, int keepdim);
int ct_mean(ct_tensor *out, ct_tensor t, const int64_t *dims, int ndims, int keepdim);
int ct_var(ct_tensor *out, ct_tensor t, const int64_t *dims, int ndims, int unbiased, int keepdim);
int ct_norm(ct_tensor *out, ct_tensor t, double p, const int64_t *dims, int ndims, int keepdim);
int ct_logsumexp(ct_tensor *out, ct_tensor t, int64_t dim, int keepdim);
int ct_max_all(ct_tensor *out, ct_tensor t);
int ct_min_all(ct_tensor *out, ct_tensor t);
int ct_max_dim(ct_tensor *values, ct_tensor *indices, ct_tensor t, int64_t dim, int keepdim);
int ct_min_dim(ct_tensor *values, ct_tensor *indices, ct_tensor t, int64_t dim, int keepdim);
/** has_dim == 0: argmax over the flattened tensor. */
int ct_argmax(ct_tensor *out, ct_tensor t, int64_t dim, int has_dim, int keepdim);
int ct_argmin(ct_tensor *out, ct_tensor t, int64_t dim, int has_dim, int keepdim);
int ct_topk(ct_tensor *values, ct_tensor *indices, ct_tensor t, int64_t k, int64_t dim, int largest, int sorted);
int ct_sort(ct_tensor *values, ct_tensor *indices, ct_tensor t, int64_t dim, int descending);
int ct_cumsum(ct_tensor *out, ct_tensor t, int64_t dim);
int ct_all(ct_tensor *out, ct_tensor t);
int ct_any(ct_tensor *out, ct_tensor t);
int ct_allclose(ct_tensor a, ct_tensor b, double rtol, double atol, int *out);
int ct_equal(ct_tensor a, ct_tensor b, int *out);

/* ---- linear algebra ---------------------------------------------------------------------- */
int ct_matmul(ct_tensor *out, ct_tensor a, ct_tensor b);

/* ---- views and indexing ------------------------------------------------------------------ */
int ct_reshape(ct_tensor *out, ct_tensor t, const int64_t *shape, int ndim);
int ct_view(ct_tensor *out, ct_tensor t, const int64_t *shape, int ndim);
int ct_permute(ct_tensor *out, ct_tensor t, const int64_t *dims, int ndim);
int ct_transpose(ct_tensor *out, ct_tensor t, int64_t d0, int64_t d1);
int ct_narrow(ct_tensor *out, ct_tensor t, int64_t dim, int64_t start, int64_t length);
int ct_slice(ct_tensor *out, ct_tensor t, int64_t dim, int64_t start, int64_t end, int64_t step);
int ct_select(ct_tensor *out, ct_tensor t, int64_t dim, int64_t index);
int ct_index_select(ct_tensor *out, ct_tensor t, int64_t dim, ct_tensor index);
int ct_index_with_mask(ct_tensor *out, ct_tensor t, ct_tensor mask);
int ct_gather(ct_tensor *out, ct_tensor t, int64_t dim, ct_tensor index);
int ct_scatter(ct_tensor *out, ct_tensor t, int64_t dim, ct_tensor index, ct_tensor src);
int ct_index_put_(ct_tensor t, ct_tensor index, ct_tensor values, int accumulate);
int ct_cat(ct_tensor *out, const ct_tensor *ts, int n, int64_t dim);
int ct_stack(ct_tensor *out, const ct_tensor *ts, int n, int64_t dim);
int ct_split(ct_tensor *outs, int n_outs, ct_tensor t, int64_t split_size, int64_t dim);
int ct_squeeze(ct_tensor *out, ct_tensor t, int64_t dim);
int ct_unsqueeze(ct_tensor *out, ct_tensor t, int64_t dim);
int ct_expand(ct_tensor *out, ct_tensor t, const int64_t *shape, int ndim);
int ct_flatten(ct_tensor *out, ct_tensor t, int64_t start, int64_t end);
int ct_repeat(ct_tensor *out, ct_tensor t, const int64_t *repeats, int ndim);
int ct_flip(ct_tensor *out, ct_tensor t, const int64_t *dims, int ndim);
int ct_roll(ct_tensor *out, ct_tensor t, int64_t shift, int64_t dim);
int ct_triu(ct_tensor *out, ct_tensor t, int64_t diagonal);
int ct_tril(ct_tensor *out, ct_tensor t, int64_t diagonal);
int ct_one_hot(ct_tensor *out, ct_tensor t, int64_t num_classes);

/* ---- neural-network functions ------------------------------------------------------------ */
int ct_linear(ct_tensor *out, ct_tensor x, ct_tensor w, ct_tensor b);
int ct_conv2d(ct_tensor *out, ct_tensor x, ct_tensor w, ct_tensor b, const int64_t *stride,
              const int64_t *padding, const int64_t *dilation, int64_t groups);
int ct_avg_pool2d(ct_tensor *out, ct_tensor x, const int64_t *kernel, const int64_t *stride,
                  const int64_t *padding, int ceil_mode, int count_include_pad);
int ct_max_pool2d(ct_tensor *out, ct_tensor x, const int64_t *kernel, const int64_t *stride,
                  const int64_t *padding, int ceil_mode);
int ct_adaptive_avg_pool2d(ct_tensor *out, ct_tensor x, const int64_t *size);
int ct_batch_norm(ct_tensor *out, ct_tensor x, ct_tensor w, ct_tensor b, ct_tensor running_mean,
                  ct_tensor running_var, int training, double momentum, double eps);
int ct_layer_norm(ct_tensor *out, ct_tensor x, const int64_t *normalized_shape, int ndim,
                  ct_tensor w, ct_tensor b, double eps);
int ct_embedding(ct_tensor *out, ct_tensor weight, ct_tensor indices);
int ct_softmax(ct_tensor *out, ct_tensor x, int64_t dim);
int ct_log_softmax(ct_tensor *out, ct_tensor x, int64_t dim);
/** reduction: 0 none, 1 mean, 2 sum. target: int64 class indices or float probabilities. */
int ct_cross_entropy(ct_tensor *out, ct_tensor logits, ct_tensor target, int reduction, double label_smoothing);
int ct_mse_loss(ct_tensor *out, ct_tensor a, ct_tensor b, int reduction);
int ct_dropout(ct_tensor *out, ct_tensor x, double p, int training, ct_generator g);
int ct_scaled_dot_product_attention(ct_tensor *out, ct_tensor q, ct_tensor k, ct_tensor v,
                                    ct_tensor attn_mask, double dropout_p, int is_causal,
                                    double scale, int has_scale);
/** mode: 0 nearest, 1 bilinear, 2 bicubic. */
int ct_interpolate(ct_tensor *out, ct_tensor x, int64_t height, int64_t width, int mode,
                   int align_corners, int antialias);
/** mode: 0 bilinear, 1 nearest, 2 bicubic; padding: 0 zeros, 1 border, 2 reflection. */
int ct_grid_sample(ct_tensor *out, ct_tensor x, ct_tensor grid, int mode, int padding_mode, int align_corners);
int ct_normalize(ct_tensor *out, ct_tensor x, double p, int64_t dim, double eps);
int ct_pad(ct_tensor *out, ct_tensor x, const int64_t *pad, int npad, double value);

/* ---- optimizers -------------------------------------------------------------------------- */
/** One AdamW step over n parameters in place (torch.optim.AdamW semantics, step counts are
 *  float tensors incremented in place). Uses libtorch's fused CPU/CUDA kernel. */
int ct_fused_adamw_(const ct_tensor *params, const ct_tensor *grads, const ct_tensor *exp_avgs,
                    const ct_tensor *exp_avg_sqs, const ct_tensor *steps, int n, double lr,
                    double beta1, double beta2, double weight_decay, double eps);
/** Global L2 norm of all gradients; scales them in place when above max_norm (clip_grad_norm_).
 *  Reads the norm back to the host (one device synchronisation). */
int ct_clip_grad_norm_(const ct_tensor *grads, int n, double max_norm, double *total_norm);
/** torch.nn.utils.clip_grad_norm_ without reading anything back: the global L2 norm
 *  (_foreach_norm, then the norm of their stack) as a float32 scalar tensor on the gradients'
 *  device in *total_norm, and every gradient multiplied in place by
 *  clamp(max_norm · 1/(norm + 1e-6), max = 1) as PyTorch computes it. With n = 0, *total_norm is
 *  a CPU zero. */
int ct_clip_grad_norm_tensor_(const ct_tensor *grads, int n, double max_norm, ct_tensor *total_norm);

#ifdef __cplusplus
}
#endif
#endif

/* The distributed (c10d) part of the shim has its own header. */
#include "ctorch_distributed.h"
