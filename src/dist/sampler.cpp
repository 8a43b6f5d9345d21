#include "covscreen/dist/sampler.h"

#include "covscreen/core/error.h"

namespace covscreen::dist {

std::vector<int64_t> shard_positions(int64_t n, int rank, int world_size) {
  if (world_size < 1 || rank < 0 || rank >= world_size)
    throw UsageError("shard: rank " + std::to_string(rank) + " of world size " + std::to_string(world_size));
  if (n <= 0) return {};
  const int64_t per_rank = (n + world_size - 1) / world_size;
  std::vector<int64_t> pos;
  pos.reserve(per_rank);
  for (int64_t k = 0; k < per_rank; ++k) pos.push_back(rank + k * world_size);
  return pos;
}

}  // namespace covscreen::dist
