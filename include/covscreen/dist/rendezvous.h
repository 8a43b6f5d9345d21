#pragma once
// Where a data-parallel job meets: the torchrun environment (MASTER_ADDR, MASTER_PORT,
// WORLD_SIZE, RANK, LOCAL_RANK) or the same values from flags. Rank 0 hosts the TCPStore at
// MASTER_ADDR:MASTER_PORT; every rank connects to it, then the process group forms over it.
#include <optional>
#include <string>

namespace covscreen::dist {

struct Rendezvous {
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  int world_size = 1;
  int rank = 0;
  int local_rank = 0;
  void validate() const;  // throws UsageError naming the bad value
};

// The torchrun variables when WORLD_SIZE is set in the environment, else nullopt. Missing
// RANK with WORLD_SIZE > 1, or a value that is not a number, is a UsageError.
std::optional<Rendezvous> rendezvous_from_env();

// A TCP port on 127.0.0.1 that was free a moment ago (for local launches).
int free_local_port();

}  // namespace covscreen::dist
