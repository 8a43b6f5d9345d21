// Checkpoint loading: load_checkpoint() for inputs that start like a covscreen checkpoint
// (checksum fixed up, fuzz_util.h, so mutations reach the header and tensor table), and
// read_state_dict() - the torch.save zip reader and pickle interpreter behind
// `covscreen model import` - for everything else. Bad input must give FileError; anything else
// escaping or a crash is a finding.
#include <cstdint>
#include <string>

#include "covscreen/core/error.h"
#include "covscreen/models/checkpoint.h"
#include "covscreen/models/state_dict.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace covscreen;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    if (bytes.rfind("CVSCKPT", 0) == 0) {
      const Checkpoint ck = load_checkpoint(fuzz::write_scratch("in.ckpt", fuzz::with_container_checksum(bytes)));
      fuzz::check(ck.net != nullptr, "checkpoint without a model");
      (void)model_card(ck);
    } else {
      const StateDict sd = read_state_dict(fuzz::write_scratch("in.pt", bytes));
      for (const auto& [name, t] : sd) fuzz::check(t.defined(), "state_dict entry without a tensor");
    }
  } catch (const FileError&) {
  }
  return 0;
}
