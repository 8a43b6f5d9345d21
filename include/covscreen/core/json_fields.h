#pragma once
// A config struct's JSON fields, listed once. The list is a function that calls f(key, member)
// for every field, written as a generic lambda or template so it serves const and non-const:
//
//   template <class C, class F> void model_fields(C& c, F&& f) {
//     f("arch", c.arch);
//     f("num_classes", c.num_classes);
//   }
//   write_fields(j, cfg, [](auto& c, auto&& f) { model_fields(c, f); });        // to_json
//   merge_fields(j, cfg, [](auto& c, auto&& f) { model_fields(c, f); }, "model config");
//
// merge_fields: keys absent from `j` keep the member's value; unknown keys are an error that
// lists the valid keys; a member is read with from_json(value, member) on the member itself, so
// a nested config struct whose from_json merges (keeps what `value` does not name) merges too.
// Enums parse through their own from_json (core/registry.h EnumNames), which names the valid values.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "covscreen/core/error.h"
#include "covscreen/core/strings.h"

namespace covscreen {

template <class T, class Fields>
void write_fields(nlohmann::json& j, const T& obj, Fields&& fields) {
  if (!j.is_object()) j = nlohmann::json::object();
  fields(obj, [&](const char* key, const auto& member) { j[key] = member; });
}

template <class T, class Fields>
std::vector<std::string> field_keys(T& obj, Fields&& fields) {
  std::vector<std::string> keys;
  fields(obj, [&](const char* key, const auto&) { keys.emplace_back(key); });
  return keys;
}

// `extra_keys`: keys accepted and ignored (written for information only, e.g. "optimizer").
template <class T, class Fields>
void merge_fields(const nlohmann::json& j, T& obj, Fields&& fields, const std::string& what,
                  const std::set<std::string>& extra_keys = {}) {
  if (!j.is_object()) throw UsageError(what + ": expected a JSON object, got " + std::string(j.type_name()));
  const std::vector<std::string> keys = field_keys(obj, fields);
  for (const auto& item : j.items())
    if (!extra_keys.count(item.key()) && std::find(keys.begin(), keys.end(), item.key()) == keys.end())
      throw UsageError(what + ": unknown key '" + item.key() + "' (valid: " + join(keys, ", ") + ")");
  fields(obj, [&](const char* key, auto& member) {
    const auto it = j.find(key);
    if (it == j.end()) return;
    try {
      using M = std::decay_t<decltype(member)>;
      nlohmann::adl_serializer<M>::from_json(*it, member);
    } catch (const nlohmann::json::exception& e) {
      throw UsageError(what + ": key '" + key + "': " + e.what());
    } catch (const UsageError& e) {
      const std::string msg = e.what();
      // Messages of nested parsers already start with the key (EnumNames: "amp: unknown ...").
      throw UsageError(starts_with(msg, key) ? what + ": " + msg : what + ": key '" + key + "': " + msg);
    }
  });
}

}  // namespace covscreen
