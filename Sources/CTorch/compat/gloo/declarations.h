// Declarations of the few Gloo names that torch/csrc/distributed/c10d/ProcessGroupGloo.hpp
// mentions. The PyTorch wheel ships c10d's headers but not Gloo's, while ProcessGroupGloo.hpp
// includes five Gloo headers. Its class layout depends on Gloo only through std::shared_ptr and
// std::unique_ptr members, so incomplete types suffice for them. gloo::Context declares the one
// member that an inline function of the header names (never called from here). The one complete
// type it needs, gloo::rendezvous::Store, is the base of c10d's GlooStore adapter, which
// ctorch_distributed.cpp never constructs or calls (libtorch_cpu.so builds its own), so only
// the virtual functions that GlooStore overrides are declared (Gloo without
// GLOO_STORE_HAS_STORE_V2).
// Nothing in this folder is a Gloo implementation; the code that runs is libtorch_cpu.so's.
// Checked against torch 2.13's libtorch_cpu.so: compiled with these declarations,
// sizeof(c10d::ProcessGroupGloo) == 0x1e8 and sizeof(ProcessGroupGloo::Options) == 0xb8, the
// sizes that the library itself allocates (operator new in ProcessGroupGloo::split and in
// Options::create_default).
#pragma once
#include <chrono>
#include <string>
#include <vector>

namespace gloo {
class Context {
 public:
  void setTimeout(std::chrono::milliseconds timeout);
};
namespace transport {
class Device;
class UnboundBuffer;
}  // namespace transport
namespace rendezvous {
class Store {
 public:
  virtual ~Store() = default;
  virtual void set(const std::string &key, const std::vector<char> &data) = 0;
  virtual std::vector<char> get(const std::string &key) = 0;
  virtual void wait(const std::vector<std::string> &keys) = 0;
  virtual void wait(const std::vector<std::string> &keys, const std::chrono::milliseconds &timeout) = 0;
};
}  // namespace rendezvous
}  // namespace gloo
