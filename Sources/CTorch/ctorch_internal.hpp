// Private to the shim's C++ files (not part of the C interface): the tensor handle's definition
// and the two helpers that other translation units need to follow ctorch.cpp's conventions.
#pragma once
#include "ctorch.h"

#include <ATen/ATen.h>

#include <string>

struct ct_tensor_s {
  at::Tensor t;
};

namespace ctorch_internal {
/// A new +1 handle, counted like every handle ctorch.cpp creates (ct_live_tensor_count).
ct_tensor wrap_tensor(at::Tensor t);
/// Stores the message that ct_last_error returns on this thread.
void set_last_error(std::string message);
}  // namespace ctorch_internal
