#include "model_data.h"

#include "covscreen/core/labels.h"
#include "covscreen/core/log.h"

namespace covscreen {

ModelData load_for_model(const std::string& source, const std::string& layout, const std::string& split,
                         const Checkpoint& ck, const std::string& cache_dir) {
  DataSourceOptions ds;
  ds.layout = layout;
  ds.split = split;
  ds.stage1 = ck.spec.stage1;  // labels as the data has them; mapped onto the model's classes below
  ds.cache_dir = cache_dir;
  ModelData md{load_data(source, ds), {}};
  for (const auto& f : md.data.failures) log_info("skipped " + f.path + ": " + f.reason);
  std::vector<int> to_model;  // per data class
  for (const auto& c : md.data.pack.classes) to_model.push_back(class_index(ck.classes, c));
  for (int64_t l : md.data.pack.labels) md.labels.push_back(l < 0 ? -1 : to_model[static_cast<size_t>(l)]);
  return md;
}

}  // namespace covscreen
