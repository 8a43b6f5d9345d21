#pragma once
// Named choices in one place: a Registry of extension points (architectures, backbones, data set
// layouts, threshold rules) and an EnumNames table for closed option sets (lr_schedule, amp, ...).
// Both parse a user's string once, at the edge, and fail with the valid values listed:
//
//   enum class Amp { kNone, kBf16, kFp16 };
//   const EnumNames<Amp> kAmpNames{"amp", {{Amp::kNone, "none"}, {Amp::kBf16, "bf16"}, {Amp::kFp16, "fp16"}}};
//   Amp a = kAmpNames.parse("bf16");       // "amp: unknown value 'bf17' (valid: none, bf16, fp16)"
//   kAmpNames.name(a) == "bf16";  kAmpNames.choices() == "none|bf16|fp16"   (CLI help)
//
//   Registry<Architecture> r("architecture");  r.add("deep-ct-net", {...});
//   r.get("deep-ct-net");   r.names();  r.choices();
// Registries keep registration order (help texts list them in that order).
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "covscreen/core/error.h"
#include "covscreen/core/strings.h"

namespace covscreen {

template <class Entry>
class Registry {
 public:
  explicit Registry(std::string what) : what_(std::move(what)) {}

  // Throws std::logic_error on a duplicate name (a programming error).
  Registry& add(std::string name, Entry entry) {
    if (find(name)) throw std::logic_error(what_ + " '" + name + "' registered twice");
    entries_.emplace_back(std::move(name), std::move(entry));
    return *this;
  }
  const Entry* find(const std::string& name) const {
    for (const auto& [n, e] : entries_)
      if (n == name) return &e;
    return nullptr;
  }
  // Throws UsageError "unknown <what> 'x' (valid: a, b, c)".
  const Entry& get(const std::string& name) const {
    if (const Entry* e = find(name)) return *e;
    throw UsageError("unknown " + what_ + " '" + name + "' (valid: " + join(names(), ", ") + ")");
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [n, e] : entries_) out.push_back(n);
    return out;
  }
  std::string choices(const std::string& sep = "|") const { return join(names(), sep); }
  const std::vector<std::pair<std::string, Entry>>& entries() const { return entries_; }
  const std::string& what() const { return what_; }

 private:
  std::string what_;
  std::vector<std::pair<std::string, Entry>> entries_;
};

template <class E>
class EnumNames {
 public:
  EnumNames(std::string key, std::vector<std::pair<E, std::string>> names)
      : key_(std::move(key)), names_(std::move(names)) {}

  // Throws UsageError "<key>: unknown value 'x' (valid: a, b, c)".
  E parse(const std::string& value) const {
    for (const auto& [e, n] : names_)
      if (n == value) return e;
    throw UsageError(key_ + ": unknown value '" + value + "' (valid: " + join(list(), ", ") + ")");
  }
  const std::string& name(E e) const {
    for (const auto& [v, n] : names_)
      if (v == e) return n;
    throw std::logic_error(key_ + ": enum value without a name");
  }
  std::vector<std::string> list() const {
    std::vector<std::string> out;
    for (const auto& [e, n] : names_) out.push_back(n);
    return out;
  }
  std::string choices(const std::string& sep = "|") const { return join(list(), sep); }
  const std::string& key() const { return key_; }

 private:
  std::string key_;
  std::vector<std::pair<E, std::string>> names_;
};

}  // namespace covscreen
