#include "covscreen/core/preprocess_spec.h"

#include "covscreen/core/error.h"
#include "covscreen/core/strings.h"

namespace covscreen {

const EnumNames<LungMethod>& lung_method_names() {
  static const EnumNames<LungMethod> n{"lung method", {{LungMethod::kCt, "ct"}, {LungMethod::kXray, "xray"}}};
  return n;
}

void PreprocessSpec::validate() const {
  if (stage1.size < 32 || stage1.size > 2048) throw UsageError("preprocess: size must be in [32, 2048]");
  if (stage1.window.width <= 0) throw UsageError("preprocess: window width must be > 0");
  if (stage1.lungs.margin < 0 || stage1.lungs.margin > 1)
    throw UsageError("preprocess: lung crop margin must be in [0, 1]");
  if (stage1.lungs.version != 1)
    throw UsageError("preprocess: lung crop version " + std::to_string(stage1.lungs.version) +
                     " is not known to this covscreen (it has version 1)");
  if (stage2.scale_fraction < 0 || stage2.scale_fraction > 0.5)
    throw UsageError("preprocess: scale_fraction must be in [0, 0.5]");
  if (stage2.gamma_log < 0 || stage2.gamma_log > 1) throw UsageError("preprocess: gamma_log must be in [0, 1]");
  if (!(stage2.annotate_probability >= 0 && stage2.annotate_probability <= 1))
    throw UsageError("preprocess: annotate_probability must be in [0, 1]");
  if (!(stage2.jpeg_probability >= 0 && stage2.jpeg_probability <= 1))
    throw UsageError("preprocess: jpeg_probability must be in [0, 1]");
  if (stage2.rotate_degrees < 0 || stage2.rotate_degrees > 180)
    throw UsageError("preprocess: rotate_degrees must be in [0, 180]");
  if (stage2.translate_fraction < 0 || stage2.translate_fraction > 0.5)
    throw UsageError("preprocess: translate_fraction must be in [0, 0.5]");
  if (stage2.blur_ksize != 0 && (stage2.blur_ksize < 3 || stage2.blur_ksize % 2 == 0))
    throw UsageError("preprocess: blur_ksize must be 0 or an odd number >= 3");
  if (stage2.blur_sigma <= 0) throw UsageError("preprocess: blur_sigma must be > 0");
  if (stage2.channels != 1 && stage2.channels != 3) throw UsageError("preprocess: channels must be 1 or 3");
}

void to_json(nlohmann::json& j, const PreprocessSpec& s) {
  j = {{"stage1",
        {{"size", s.stage1.size},
         {"equalize", s.stage1.equalize},
         {"window",
          {{"center", s.stage1.window.center},
           {"width", s.stage1.window.width},
           {"use_file_voi", s.stage1.window.use_file_voi}}},
         {"lungs",
          {{"crop", s.stage1.lungs.enabled},
           {"method", lung_method_names().name(s.stage1.lungs.method)},
           {"margin", s.stage1.lungs.margin},
           {"mask", s.stage1.lungs.mask},
           {"version", s.stage1.lungs.version}}}}},
       {"stage2",
        {{"rotate_degrees", s.stage2.rotate_degrees},
         {"translate_fraction", s.stage2.translate_fraction},
         {"scale_fraction", s.stage2.scale_fraction},
         {"gamma_log", s.stage2.gamma_log},
         {"annotate_probability", s.stage2.annotate_probability},
         {"jpeg_probability", s.stage2.jpeg_probability},
         {"blur_ksize", s.stage2.blur_ksize},
         {"blur_sigma", s.stage2.blur_sigma},
         {"channels", s.stage2.channels},
         {"normalization", "per_image_standardize"}}}};
}

void from_json(const nlohmann::json& j, PreprocessSpec& s) {
  PreprocessSpec d;
  s = d;
  if (auto a = j.find("stage1"); a != j.end()) {
    s.stage1.size = a->value("size", d.stage1.size);
    s.stage1.equalize = a->value("equalize", d.stage1.equalize);
    if (auto w = a->find("window"); w != a->end()) {
      s.stage1.window.center = w->value("center", d.stage1.window.center);
      s.stage1.window.width = w->value("width", d.stage1.window.width);
      s.stage1.window.use_file_voi = w->value("use_file_voi", d.stage1.window.use_file_voi);
    }
    if (auto l = a->find("lungs"); l != a->end()) {  // absent in packs and checkpoints before the lung crop
      s.stage1.lungs.enabled = l->value("crop", d.stage1.lungs.enabled);
      if (auto m = l->find("method"); m != l->end())
        s.stage1.lungs.method = lung_method_names().parse(m->get<std::string>());
      s.stage1.lungs.margin = l->value("margin", d.stage1.lungs.margin);
      s.stage1.lungs.mask = l->value("mask", d.stage1.lungs.mask);
      s.stage1.lungs.version = l->value("version", d.stage1.lungs.version);
    }
  }
  if (auto b = j.find("stage2"); b != j.end()) {
    s.stage2.rotate_degrees = b->value("rotate_degrees", d.stage2.rotate_degrees);
    s.stage2.translate_fraction = b->value("translate_fraction", d.stage2.translate_fraction);
    s.stage2.scale_fraction = b->value("scale_fraction", d.stage2.scale_fraction);
    s.stage2.gamma_log = b->value("gamma_log", d.stage2.gamma_log);
    s.stage2.annotate_probability = b->value("annotate_probability", d.stage2.annotate_probability);
    s.stage2.jpeg_probability = b->value("jpeg_probability", d.stage2.jpeg_probability);
    s.stage2.blur_ksize = b->value("blur_ksize", d.stage2.blur_ksize);
    s.stage2.blur_sigma = b->value("blur_sigma", d.stage2.blur_sigma);
    s.stage2.channels = b->value("channels", d.stage2.channels);
  }
  s.validate();
}

std::string screening_difference(const PreprocessSpec& a, const PreprocessSpec& b, bool ignore_size) {
  const nlohmann::json ja = a, jb = b;
  const nlohmann::json &s1a = ja.at("stage1"), &s1b = jb.at("stage1"), &s2a = ja.at("stage2"), &s2b = jb.at("stage2");
  std::vector<std::string> out;
  auto compare = [&](const char* what, const nlohmann::json& x, const nlohmann::json& y) {
    if (x != y) out.push_back(std::string(what) + " " + x.dump() + " vs " + y.dump());
  };
  if (!ignore_size) compare("size", s1a.at("size"), s1b.at("size"));
  compare("equalization", s1a.at("equalize"), s1b.at("equalize"));
  compare("DICOM window", s1a.at("window"), s1b.at("window"));
  if (a.stage1.lungs != b.stage1.lungs) compare("lung crop", s1a.at("lungs"), s1b.at("lungs"));
  for (const char* key : {"blur_ksize", "blur_sigma", "channels"}) compare(key, s2a.at(key), s2b.at(key));
  return join(out, "; ");
}

}  // namespace covscreen
