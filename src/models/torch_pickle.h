#pragma once
// Internal: reads the dict of tensors inside a PyTorch zip file (torch.save, torch >= 1.6).
//
// Why not torch::pickle_load: LibTorch 1.13's unpickler turns collections.OrderedDict (what
// model.state_dict() returns) into None and then fails on SETITEMS, so the files users actually
// have are unreadable there. This is a small pickle interpreter for what torch.save writes
// (protocols 2-4): dicts, OrderedDicts (their _metadata BUILD state is dropped), lists, tuples,
// strings, numbers, tensors via torch._utils._rebuild_tensor_v2 / _rebuild_parameter and
// persistent-id storages read from the archive's data/<key> records.
#include <torch/types.h>

#include <string>
#include <utility>
#include <vector>

namespace covscreen::detail {

// Entries of the top-level dict whose values are tensors, in file order, plus the names of any
// nested dicts (a checkpoint may wrap the state_dict under "state_dict"). Throws FileError.
struct PickledDict {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  std::vector<std::pair<std::string, PickledDict>> dicts;
};
PickledDict read_torch_zip(const std::string& path);

}  // namespace covscreen::detail
