#include "covscreen/train/sampling.h"

#include <algorithm>
#include <map>
#include <random>

namespace covscreen {

std::vector<int64_t> epoch_order(const std::vector<int64_t>& items, uint64_t seed, int epoch) {
  std::vector<int64_t> v = items;
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch) + 1);
  for (size_t i = v.size(); i > 1; --i) {
    const size_t j = static_cast<size_t>(rng() % i);
    std::swap(v[i - 1], v[j]);
  }
  return v;
}

std::vector<int64_t> source_balanced_order(const std::vector<int64_t>& items, const std::vector<std::string>& sources,
                                           uint64_t seed, int epoch) {
  std::map<std::string, std::vector<int64_t>> by_source;
  for (int64_t i : items) by_source[sources.at(static_cast<size_t>(i))].push_back(i);
  const size_t n = items.size(), k = by_source.size();
  std::vector<int64_t> out;
  out.reserve(n);
  size_t s = 0;
  for (const auto& [name, members] : by_source) {
    const size_t share = n / k + (s < n % k ? 1 : 0);
    // A stream of its own per (source, epoch, cycle), apart from the final shuffle's (seed, epoch).
    const uint64_t source_seed = seed ^ (0xA5A5A5A5ull * (s + 1));
    for (size_t left = share, cycle = 0; left > 0; ++cycle) {
      const auto order = epoch_order(members, source_seed, epoch * 4096 + static_cast<int>(cycle));
      const size_t take = std::min(left, order.size());
      out.insert(out.end(), order.begin(), order.begin() + static_cast<std::ptrdiff_t>(take));
      left -= take;
    }
    ++s;
  }
  return epoch_order(out, seed, epoch);
}

}  // namespace covscreen
