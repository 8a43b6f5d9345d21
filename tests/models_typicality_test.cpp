// Typicality (models/typicality.h): fitted on features from one distribution, it scores held-out
// points of that distribution as typical and points of another as atypical; it survives a
// checkpoint round trip, and a damaged reference is refused by name.
#include <cmath>

#include "checkpoint_fixture.h"
#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "covscreen/models/checkpoint.h"
#include "covscreen/models/typicality.h"
#include "test_util.h"

namespace covscreen {
namespace {

// N points in D dimensions around a mean of 2 in every feature: a few strong directions (drawn
// with `directions`) plus isotropic noise. Another `directions` is another distribution.
torch::Tensor features(int64_t n, int64_t d, uint64_t directions, uint64_t seed) {
  torch::manual_seed(directions);
  const torch::Tensor dirs = torch::randn({4, d});
  const torch::Tensor mean = 2.0 + torch::randn({d});
  torch::manual_seed(seed);
  return torch::randn({n, 4}).mul(3).matmul(dirs) + 0.3 * torch::randn({n, d}) + mean;
}

double auc(const std::vector<double>& pos, const std::vector<double>& neg) {  // P(pos > neg)
  double wins = 0;
  for (double p : pos)
    for (double q : neg) wins += p > q ? 1.0 : p == q ? 0.5 : 0.0;
  return wins / double(pos.size() * neg.size());
}

TEST(Typicality, SeparatesAnotherDistributionFromHeldOutPoints) {
  const Typicality t = fit_typicality(features(400, 64, 7, 1), {});
  EXPECT_EQ(t.dim(), 64);
  EXPECT_EQ(t.basis.size(0), 32);
  EXPECT_EQ(t.info.value("images_fitted", 0), 320);
  EXPECT_EQ(t.reference.size(), 80u);
  // Rows of the basis are orthonormal.
  EXPECT_LT((t.basis.matmul(t.basis.t()) - torch::eye(32)).abs().max().item<double>(), 1e-4);

  const torch::Tensor same = t.distances(features(200, 64, 7, 2));
  const torch::Tensor other = t.distances(features(200, 64, 8, 3));
  std::vector<double> typical, atypical;
  int flagged_same = 0, flagged_other = 0;
  for (int64_t i = 0; i < 200; ++i) {
    typical.push_back(t.score(same[i].item<double>()));
    atypical.push_back(t.score(other[i].item<double>()));
    flagged_same += t.atypical(typical.back());
    flagged_other += t.atypical(atypical.back());
  }
  EXPECT_GT(auc(typical, atypical), 0.97);
  EXPECT_LT(flagged_same, 20) << "new points of the training distribution flagged";
  EXPECT_GT(flagged_other, 180) << "points of another distribution not flagged";
  // Scores are shares of the reference: 1 at the mean, 0 beyond every reference point.
  EXPECT_EQ(t.score(0.0), 1.0);
  EXPECT_EQ(t.score(1e30), 0.0);
}

TEST(Typicality, TooFewImagesAreRefused) {
  EXPECT_THROW(fit_typicality(features(12, 16, 7, 1), {}), UsageError);
  EXPECT_THROW(fit_typicality(torch::zeros({100}), {}), UsageError);
}

TEST(Typicality, ConstantFeaturesDoNotDivideByZero) {
  torch::Tensor x = features(100, 16, 7, 4);
  x.select(1, 3).fill_(2.0);  // a feature that never varies
  const Typicality t = fit_typicality(x, {});
  const torch::Tensor d = t.distances(x);
  EXPECT_TRUE(torch::isfinite(d).all().item<bool>());
}

TEST(Typicality, SurvivesACheckpointAndADamagedOneIsRefused) {
  test::TempDir dir;
  Checkpoint ck = test::untrained_checkpoint(1);
  ck.typicality = fit_typicality(features(100, 1024, 7, 5), {});
  const std::string path = dir.file("t.ckpt");
  save_checkpoint(path, ck, /*half=*/true);
  const Checkpoint back = load_checkpoint(path);
  ASSERT_FALSE(back.typicality.empty());
  EXPECT_TRUE(torch::equal(back.typicality.mean, ck.typicality.mean));  // fp32 whatever the weights
  EXPECT_TRUE(torch::equal(back.typicality.basis, ck.typicality.basis));
  EXPECT_EQ(back.typicality.reference, ck.typicality.reference);
  EXPECT_EQ(model_card(back).at("typicality").at("components"), 32);

  Container c = read_container(path, std::string(kCheckpointMagic, 8), kCheckpointVersion, "a checkpoint");
  c.blobs["typicality/basis"].resize(12);
  const std::string damaged = dir.file("damaged.ckpt");
  write_container(damaged, c);
  try {
    load_checkpoint(damaged);
    FAIL() << "a damaged typicality reference was read";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("typicality/basis"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace covscreen
