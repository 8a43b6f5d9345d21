#pragma once
// Which images an epoch visits, in which order (TrainConfig::sampler). Deterministic in
// (seed, epoch) on every standard library, so a resumed run sees the same orders.
//   auto order = epoch_order(labelled, seed, epoch);                          // shuffle
//   auto order = source_balanced_order(labelled, pack.sources, seed, epoch);  // source
#include <cstdint>
#include <string>
#include <vector>

namespace covscreen {

// `items` in a seeded order (Fisher-Yates on std::mt19937_64 from (seed, epoch)).
std::vector<int64_t> epoch_order(const std::vector<int64_t>& items, uint64_t seed, int epoch);

// As many entries as `items`, an equal share from each source (sources[item]; the remainder goes
// to the first sources by name): each source's items in a seeded order, cycled through fresh
// orders when its share exceeds them, dropped at random when it is smaller; then all shuffled.
std::vector<int64_t> source_balanced_order(const std::vector<int64_t>& items, const std::vector<std::string>& sources,
                                           uint64_t seed, int epoch);

}  // namespace covscreen
