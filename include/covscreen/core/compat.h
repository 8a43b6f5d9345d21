#pragma once
// The few LibTorch calls whose spelling differs between 1.13 (Debian) and 2.x (pip wheels).
#include <ATen/autocast_mode.h>
#include <torch/version.h>

namespace covscreen::compat {

// Turns autocast on/off for `device` (CPU: bf16; CUDA: the given dtype).
inline void set_autocast(c10::DeviceType device, bool on, c10::ScalarType dtype) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  if (on) at::autocast::set_autocast_dtype(device, dtype);
  at::autocast::set_autocast_enabled(device, on);
#else
  if (device == c10::DeviceType::CPU) {
    if (on) at::autocast::set_autocast_cpu_dtype(dtype);
    at::autocast::set_cpu_enabled(on);
  } else {
    if (on) at::autocast::set_autocast_gpu_dtype(dtype);
    at::autocast::set_enabled(on);
  }
#endif
  if (!on) at::autocast::clear_cache();
}

// RAII: autocast on for the scope when `on`.
class AutocastGuard {
 public:
  AutocastGuard(c10::DeviceType device, bool on, c10::ScalarType dtype) : device_(device), on_(on) {
    if (on_) set_autocast(device_, true, dtype);
  }
  ~AutocastGuard() {
    if (on_) set_autocast(device_, false, c10::ScalarType::Float);
  }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  c10::DeviceType device_;
  bool on_;
};

}  // namespace covscreen::compat
