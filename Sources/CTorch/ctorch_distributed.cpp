// c10d process groups behind the plain-C interface of ctorch_distributed.h.
//
// Gloo (CPU) is compiled with USE_C10D_GLOO against the declaration-only Gloo headers in
// compat/ (see compat/gloo/declarations.h); libtorch_cpu.so exports ProcessGroupGloo and
// TCPStore. NCCL needs libtorch_cuda.so and nccl.h and is compiled only when both are present.
#include "ctorch_distributed.h"
#include "ctorch_internal.hpp"

#define USE_C10D_GLOO 1
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#if defined(CT_WITH_CUDA) && __has_include(<nccl.h>)
#define CT_WITH_NCCL 1
#define USE_C10D_NCCL 1
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

struct ct_process_group_s {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;
  int rank;
  int world_size;
  int backend_kind;
};

namespace {
using std::chrono::milliseconds;

/// An error whose message already names the rank and the operation.
struct ranked_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string seconds_text(int64_t ms) {
  char buf[32];
  if (ms % 1000 == 0) {
    std::snprintf(buf, sizeof buf, "%lld s", static_cast<long long>(ms / 1000));
  } else {
    std::snprintf(buf, sizeof buf, "%.3g s", static_cast<double>(ms) / 1000.0);
  }
  return buf;
}

bool mentions_timeout(const std::string &m) {
  return m.find("timed out") != std::string::npos || m.find("Timed out") != std::string::npos ||
         m.find("timeout") != std::string::npos || m.find("Timeout") != std::string::npos;
}

/// Only the first line of c10 messages: the rest is a C++ backtrace or source excerpt.
std::string first_line(const std::string &m) {
  auto end = m.find('\n');
  return end == std::string::npos ? m : m.substr(0, end);
}

[[noreturn]] void fail(int rank, const char *op, int64_t timeout_ms, const std::string &message) {
  std::string text = "rank " + std::to_string(rank) + ": " + op;
  if (mentions_timeout(message)) {
    text += " timed out after " + seconds_text(timeout_ms) + " (" + first_line(message) + ")";
  } else {
    text += " failed: " + first_line(message);
  }
  throw ranked_error(text);
}

/// Runs body; any exception becomes a ranked_error naming the rank and op.
template <class F>
void ranked(int rank, const char *op, int64_t timeout_ms, F &&body) {
  try {
    body();
  } catch (const ranked_error &) {
    throw;
  } catch (const c10::Error &e) {
    fail(rank, op, timeout_ms, e.what_without_backtrace());
  } catch (const std::exception &e) {
    fail(rank, op, timeout_ms, e.what());
  }
}

ct_process_group_s &PG(ct_process_group pg) {
  if (pg == nullptr) throw std::invalid_argument("null process group handle");
  return *pg;
}

milliseconds checked_timeout(int64_t ms) {
  if (ms <= 0) throw std::invalid_argument("timeout must be positive, got " + std::to_string(ms) + " ms");
  return milliseconds(ms);
}

const at::Tensor &tensor(ct_tensor t) {
  if (t == nullptr || !t->t.defined()) throw std::invalid_argument("null or undefined tensor");
  return t->t;
}

bool is_loopback(const std::string &address) {
  return address == "localhost" || address.rfind("127.", 0) == 0 || address == "::1";
}

c10d::ReduceOp reduce_op(int op) {
  switch (op) {
    case CT_REDUCE_SUM: return c10d::ReduceOp::SUM;
    case CT_REDUCE_AVG: return c10d::ReduceOp::AVG;
    case CT_REDUCE_PRODUCT: return c10d::ReduceOp::PRODUCT;
    case CT_REDUCE_MIN: return c10d::ReduceOp::MIN;
    case CT_REDUCE_MAX: return c10d::ReduceOp::MAX;
  }
  throw std::invalid_argument("unknown reduce op " + std::to_string(op));
}

/// Tensors that a collective may write: a detached alias (no autograd checks on the in-place
/// write) when contiguous, otherwise a contiguous copy to be copied back afterwards.
struct io_tensors {
  std::vector<at::Tensor> targets;  // what the caller passed (detached aliases)
  std::vector<at::Tensor> buffers;  // what the backend reads and writes

  io_tensors(const ct_tensor *ts, int n) {
    if (n < 0 || (n > 0 && ts == nullptr)) throw std::invalid_argument("bad tensor list");
    for (int i = 0; i < n; ++i) {
      at::Tensor t = tensor(ts[i]).detach();
      buffers.push_back(t.is_contiguous() ? t : t.contiguous());
      targets.push_back(std::move(t));
    }
  }

  void copy_back() {
    for (size_t i = 0; i < targets.size(); ++i) {
      if (!buffers[i].is_same(targets[i])) targets[i].copy_(buffers[i]);
    }
  }
};

void wait_all(std::vector<c10::intrusive_ptr<c10d::Work>> &works, milliseconds timeout) {
  // One deadline for the whole batch.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (auto &w : works) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() < 1) left = milliseconds(1);
    w->wait(left);
  }
}

// Starts one collective per buffer (`start` maps a one-tensor list to its Work) and waits for all
// of them under one deadline.
template <typename Start>
void run_each(std::vector<at::Tensor> &buffers, milliseconds timeout, Start start) {
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  for (auto &b : buffers) {
    std::vector<at::Tensor> one{b};
    works.push_back(start(one));
  }
  wait_all(works, timeout);
}
}  // namespace

#define CT_DIST_PROTECT(...)                                  \
  try {                                                       \
    __VA_ARGS__;                                              \
    return 0;                                                 \
  } catch (const c10::Error &e) {                             \
    ctorch_internal::set_last_error(e.what_without_backtrace()); \
  } catch (const std::exception &e) {                         \
    ctorch_internal::set_last_error(e.what());                \
  } catch (...) {                                             \
    ctorch_internal::set_last_error("unknown C++ exception"); \
  }                                                           \
  return 1;

extern "C" {

int ct_dist_backend_available(int backend) {
  if (backend == CT_BACKEND_GLOO) return 1;
#ifdef CT_WITH_NCCL
  if (backend == CT_BACKEND_NCCL) return 1;
#endif
  return 0;
}

int ct_pg_new(ct_process_group *out, const char *master_addr, int master_port, int rank, int world_size,
              int backend, int64_t timeout_ms) {
  CT_DIST_PROTECT({
    *out = nullptr;
    if (master_addr == nullptr) throw std::invalid_argument("null master address");
    if (world_size < 1 || rank < 0 || rank >= world_size) {
      throw std::invalid_argument("rank " + std::to_string(rank) + " is outside a world of size " +
                                  std::to_string(world_size));
    }
    if (master_port < 1 || master_port > 65535) {
      throw std::invalid_argument("master port " + std::to_string(master_port) + " is not in 1...65535");
    }
    const auto timeout = checked_timeout(timeout_ms);
    const std::string address(master_addr);
    auto pg = std::make_unique<ct_process_group_s>();
    pg->rank = rank;
    pg->world_size = world_size;
    pg->backend_kind = backend;

    ranked(rank, "connecting to the store", timeout_ms, [&] {
      c10d::TCPStoreOptions options;
      options.port = static_cast<std::uint16_t>(master_port);
      options.isServer = rank == 0;
      options.numWorkers = static_cast<std::size_t>(world_size);
      options.waitWorkers = true;
      options.timeout = timeout;
      pg->store = c10::make_intrusive<c10d::TCPStore>(address, options);
      // Under torchrun the agent serves the store (TCPStore then connects as a client) and
      // restarts the workers with TORCHELASTIC_RESTART_COUNT; each attempt gets its own key
      // space, as torch.distributed's env:// rendezvous does.
      const char *agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
      if (agent != nullptr && std::string(agent) == "True") {
        const char *attempt = std::getenv("TORCHELASTIC_RESTART_COUNT");
        pg->store = c10::make_intrusive<c10d::PrefixStore>(
            std::string("/worker/attempt_") + (attempt != nullptr ? attempt : "0"), pg->store);
      }
    });

    if (backend == CT_BACKEND_GLOO) {
      ranked(rank, "gloo rendezvous", timeout_ms, [&] {
        auto options = c10d::ProcessGroupGloo::Options::create(timeout);
        const char *interface = std::getenv("GLOO_SOCKET_IFNAME");
        if (interface != nullptr && *interface != '\0') {
          options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
        } else if (is_loopback(address)) {
          options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
        } else {
          options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
        }
        options->threads = 2;
        pg->backend = c10::make_intrusive<c10d::ProcessGroupGloo>(pg->store, rank, world_size, options);
      });
    } else if (backend == CT_BACKEND_NCCL) {
#ifdef CT_WITH_NCCL
      ranked(rank, "nccl setup", timeout_ms, [&] {
        auto options = c10d::ProcessGroupNCCL::Options::create();
        options->timeout = timeout;
        pg->backend = c10::make_intrusive<c10d::ProcessGroupNCCL>(pg->store, rank, world_size, options);
      });
#else
      throw std::invalid_argument("rank " + std::to_string(rank) +
                                  ": the NCCL backend is not available in this build (needs libtorch_cuda.so and nccl.h)");
#endif
    } else {
      throw std::invalid_argument("unknown backend code " + std::to_string(backend));
    }
    *out = pg.release();
  })
}

void ct_pg_free(ct_process_group pg) {
  if (pg == nullptr) return;
  try {
    delete pg;
  } catch (...) {
    // A destructor that throws while peers are gone must not take the process down here.
  }
}

int ct_pg_rank(ct_process_group pg) { return pg == nullptr ? -1 : pg->rank; }
int ct_pg_world_size(ct_process_group pg) { return pg == nullptr ? -1 : pg->world_size; }

int ct_pg_allreduce(ct_process_group pg, const ct_tensor *tensors, int n, int op, int64_t timeout_ms) {
  CT_DIST_PROTECT({
    auto &g = PG(pg);
    const auto timeout = checked_timeout(timeout_ms);
    io_tensors io(tensors, n);
    auto reduce = reduce_op(op);
    // Gloo has no native average: sum, then divide.
    const bool divide = op == CT_REDUCE_AVG && g.backend_kind == CT_BACKEND_GLOO;
    if (divide) reduce = c10d::ReduceOp::SUM;
    ranked(g.rank, "allreduce", timeout_ms, [&] {
      c10d::AllreduceOptions options;
      options.reduceOp = reduce;
      options.timeout = timeout;
      run_each(io.buffers, timeout, [&](std::vector<at::Tensor> &one) { return g.backend->allreduce(one, options); });
    });
    if (divide) {
      for (auto &b : io.buffers) {
        if (at::isIntegralType(b.scalar_type(), /*includeBool=*/true)) {
          b.div_(g.world_size, "floor");
        } else {
          b.div_(g.world_size);
        }
      }
    }
    io.copy_back();
  })
}

int ct_pg_allgather(ct_process_group pg, ct_tensor *outs, ct_tensor input, int64_t timeout_ms) {
  CT_DIST_PROTECT({
    auto &g = PG(pg);
    const auto timeout = checked_timeout(timeout_ms);
    if (outs == nullptr) throw std::invalid_argument("null output list");
    std::vector<at::Tensor> inputs{tensor(input).detach().contiguous()};
    std::vector<std::vector<at::Tensor>> outputs(1);
    for (int r = 0; r < g.world_size; ++r) outputs[0].push_back(at::empty_like(inputs[0]));
    ranked(g.rank, "allgather", timeout_ms, [&] {
      c10d::AllgatherOptions options;
      options.timeout = timeout;
      auto work = g.backend->allgather(outputs, inputs, options);
      work->wait(timeout);
    });
    for (int r = 0; r < g.world_size; ++r) outs[r] = ctorch_internal::wrap_tensor(outputs[0][static_cast<size_t>(r)]);
  })
}

int ct_pg_broadcast(ct_process_group pg, const ct_tensor *tensors, int n, int root, int64_t timeout_ms) {
  CT_DIST_PROTECT({
    auto &g = PG(pg);
    const auto timeout = checked_timeout(timeout_ms);
    if (root < 0 || root >= g.world_size) {
      throw std::invalid_argument("rank " + std::to_string(g.rank) + ": broadcast root " + std::to_string(root) +
                                  " is outside a world of size " + std::to_string(g.world_size));
    }
    io_tensors io(tensors, n);
    ranked(g.rank, "broadcast", timeout_ms, [&] {
      c10d::BroadcastOptions options;
      options.rootRank = root;
      options.timeout = timeout;
      run_each(io.buffers, timeout, [&](std::vector<at::Tensor> &one) { return g.backend->broadcast(one, options); });
    });
    io.copy_back();
  })
}

int ct_pg_barrier(ct_process_group pg, int64_t timeout_ms) {
  CT_DIST_PROTECT({
    auto &g = PG(pg);
    const auto timeout = checked_timeout(timeout_ms);
    ranked(g.rank, "barrier", timeout_ms, [&] {
      c10d::BarrierOptions options;
      options.timeout = timeout;
      g.backend->barrier(options)->wait(timeout);
    });
  })
}

}  // extern "C"
