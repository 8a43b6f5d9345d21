#pragma once
// Sharding an epoch between ranks, as torch.utils.data.DistributedSampler(shuffle=True,
// drop_last=False): the caller shuffles the epoch's global order from (seed, epoch), the
// order is padded by wrapping around to a multiple of the world size, and rank r takes
// positions r, r + W, r + 2W, ... So every rank has ceil(n / W) samples, and with a per-rank
// batch B, step s of all ranks together covers global positions [s*B*W, (s+1)*B*W): exactly
// what one process with batch B*W sees at step s.
#include <cstdint>
#include <vector>

namespace covscreen::dist {

// Positions in [0, ceil(n / world) * world) for `rank`; position p means sample order[p % n].
std::vector<int64_t> shard_positions(int64_t n, int rank, int world_size);

}  // namespace covscreen::dist
