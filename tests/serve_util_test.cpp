// The HTTP helpers of `covscreen serve` (serve/http_util.h) and option validation.
#include "covscreen/core/error.h"
#include "covscreen/serve/http_util.h"
#include "serve_fixture.h"

namespace covscreen {
namespace {

using namespace serve_test;

// ---------------------------------------------------------------- helpers
TEST(ServeHttpUtil, ConstantTimeCompareAndBearer) {
  EXPECT_TRUE(http::constant_time_equal("abc", "abc"));
  EXPECT_TRUE(http::constant_time_equal("", ""));
  EXPECT_FALSE(http::constant_time_equal("abc", "abd"));
  EXPECT_FALSE(http::constant_time_equal("abc", "abcd"));
  EXPECT_FALSE(http::constant_time_equal("abc", ""));
  EXPECT_FALSE(http::constant_time_equal(std::string("a\0b", 3), "a"));
  EXPECT_TRUE(http::bearer_ok("Bearer t0k", "t0k"));
  EXPECT_TRUE(http::bearer_ok("BEARER t0k", "t0k"));
  EXPECT_FALSE(http::bearer_ok("Bearer t0", "t0k"));
  EXPECT_FALSE(http::bearer_ok("t0k", "t0k"));
  EXPECT_FALSE(http::bearer_ok("", "t0k"));
}

TEST(ServeHttpUtil, Base64MatchesRfc4648) {
  // RFC 4648, section 10.
  EXPECT_EQ(http::base64_encode(""), "");
  EXPECT_EQ(http::base64_encode("f"), "Zg==");
  EXPECT_EQ(http::base64_encode("fo"), "Zm8=");
  EXPECT_EQ(http::base64_encode("foo"), "Zm9v");
  EXPECT_EQ(http::base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(http::base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(http::base64_encode("foobar"), "Zm9vYmFy");
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  EXPECT_EQ(base64_decode(http::base64_encode(all)), all);
}

TEST(ServeHttpUtil, DecodeProblemsMapToStatuses) {
  EXPECT_EQ(http::status_for_decode_problem("empty file"), 400);
  EXPECT_EQ(http::status_for_decode_problem("image too large (65535 x 65535 ...)"), 413);
  EXPECT_EQ(http::status_for_decode_problem("file too large (5 bytes ...)"), 413);
  EXPECT_EQ(http::status_for_decode_problem("not an image (looks like text)"), 415);
  EXPECT_EQ(http::status_for_decode_problem("unsupported format (gif)"), 415);
  EXPECT_EQ(http::status_for_decode_problem("truncated PNG (no IEND chunk)"), 422);
  EXPECT_EQ(http::media_type(" Image/PNG ; q=1"), "image/png");
  EXPECT_TRUE(http::accepted_raw_type("application/dicom"));
  EXPECT_FALSE(http::accepted_raw_type("text/plain"));
}

TEST(ServeOptionsTest, ValidateRejectsNonsense) {
  ServeOptions o;
  EXPECT_NO_THROW(o.validate());
  o.queue_capacity = 0;
  EXPECT_THROW(o.validate(), UsageError);
  o = ServeOptions{};
  o.port = 70000;
  EXPECT_THROW(o.validate(), UsageError);
  o = ServeOptions{};
  o.token = "has space";
  EXPECT_THROW(o.validate(), UsageError);
}

}  // namespace
}  // namespace covscreen
