// Image reading: fixtures written here with cv::imwrite (PNG, JPEG, BMP, TIFF; 8/16-bit, float;
// gray, RGB, RGBA) decode to the expected gray values; broken files give FileError naming the file.
#include <cmath>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>

#include "covscreen/core/error.h"
#include "covscreen/io/image_reader.h"
#include "test_util.h"

namespace covscreen {
namespace {

using test::TempDir;

// A seeded test picture: smooth gradient plus noise, `type` any of CV_8UC1/3/4, CV_16UC1/3, CV_32FC1.
cv::Mat make_image(int type, int rows = 48, int cols = 64, unsigned seed = 7) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> noise(-20, 20);
  cv::Mat m(rows, cols, type);
  const int ch = m.channels();
  const double range = CV_MAT_DEPTH(type) == CV_16U ? 65535.0 : CV_MAT_DEPTH(type) == CV_32F ? 3.0 : 255.0;
  for (int y = 0; y < rows; ++y)
    for (int x = 0; x < cols; ++x)
      for (int c = 0; c < ch; ++c) {
        double v = (double(x) / cols * 0.6 + double(y) / rows * 0.3 + 0.05 * c) * range;
        if (CV_MAT_DEPTH(type) == CV_32F) {
          v -= 1.0;  // negative values too
        } else {
          v = std::min(range, std::max(0.0, v + noise(rng) * range / 255.0));
        }
        switch (CV_MAT_DEPTH(type)) {
          case CV_8U:
            m.ptr<uint8_t>(y)[x * ch + c] = uint8_t(v);
            break;
          case CV_16U:
            m.ptr<uint16_t>(y)[x * ch + c] = uint16_t(v);
            break;
          default:
            m.ptr<float>(y)[x * ch + c] = float(v);
            break;
        }
      }
  return m;
}

// Independent expected gray value for one pixel (BGR order as OpenCV stores it).
double expected_gray(const cv::Mat& m, int y, int x) {
  auto at = [&](int c) {
    switch (m.depth()) {
      case CV_8U:
        return double(m.ptr<uint8_t>(y)[x * m.channels() + c]);
      case CV_16U:
        return double(m.ptr<uint16_t>(y)[x * m.channels() + c]);
      default:
        return double(m.ptr<float>(y)[x * m.channels() + c]);
    }
  };
  const double lum = m.channels() == 1 ? at(0) : 0.114 * at(0) + 0.587 * at(1) + 0.299 * at(2);
  return m.depth() == CV_16U ? lum / 257.0 : lum;
}

std::string write_file(const TempDir& dir, const std::string& name, const std::string& bytes) {
  const std::string path = dir.file(name);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The FileError's problem for reading `path` (and checks that it names the file).
std::string reader_problem(const std::string& path, const ReadOptions& opt = {}) {
  try {
    read_image(path, opt);
  } catch (const FileError& e) {
    EXPECT_EQ(e.path(), path);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
    return e.problem();
  }
  ADD_FAILURE() << "expected FileError for " << path;
  return "";
}

struct Case {
  const char* ext;
  int type;
  double tolerance;  // max |gray - expected|
  const char* format;
};

TEST(ImageReader, FixturesDecodeToExpectedGray) {
  const Case cases[] = {
      {".png", CV_8UC1, 0.0, "png"},    {".png", CV_8UC3, 1.0, "png"},  {".png", CV_8UC4, 1.0, "png"},
      {".png", CV_16UC1, 0.5, "png"},   {".png", CV_16UC3, 1.0, "png"}, {".bmp", CV_8UC1, 0.0, "bmp"},
      {".bmp", CV_8UC3, 1.0, "bmp"},    {".tif", CV_8UC1, 0.0, "tiff"}, {".tiff", CV_8UC3, 1.0, "tiff"},
      {".tif", CV_16UC1, 0.5, "tiff"},  {".tif", CV_8UC4, 1.0, "tiff"}, {".jpg", CV_8UC1, 12.0, "jpeg"},
      {".jpeg", CV_8UC3, 12.0, "jpeg"},
  };
  TempDir dir;
  for (const Case& c : cases) {
    const cv::Mat m = make_image(c.type);
    const std::string path = dir.file("scan (" + std::to_string(c.type) + ") copy" + c.ext);
    SCOPED_TRACE(path);
    ASSERT_TRUE(cv::imwrite(path, m));
    const DecodedImage img = read_image(path);
    EXPECT_EQ(img.format, c.format);
    EXPECT_EQ(img.width, m.cols);
    EXPECT_EQ(img.height, m.rows);
    EXPECT_EQ(img.channels, m.channels());
    EXPECT_EQ(img.bit_depth, m.depth() == CV_16U ? 16 : 8);
    ASSERT_EQ(img.gray.type(), CV_8UC1);
    ASSERT_EQ(img.gray.size(), m.size());
    double worst = 0, sum = 0;
    for (int y = 0; y < m.rows; ++y)
      for (int x = 0; x < m.cols; ++x) {
        const double d = std::fabs(img.gray.at<uint8_t>(y, x) - expected_gray(m, y, x));
        worst = std::max(worst, d);
        sum += d;
      }
    if (std::string(c.format) == "jpeg") {
      EXPECT_LT(sum / m.total(), 3.0);  // lossy: small mean error, bounded worst case
    }
    EXPECT_LE(worst, c.tolerance + 1e-6);
  }
}

TEST(ImageReader, RgbaDropsAlpha) {
  cv::Mat rgba = make_image(CV_8UC4);
  cv::Mat opaque = rgba.clone();
  for (int y = 0; y < rgba.rows; ++y)
    for (int x = 0; x < rgba.cols; ++x) {
      rgba.at<cv::Vec4b>(y, x)[3] = uint8_t((x * 37 + y) % 256);
      opaque.at<cv::Vec4b>(y, x)[3] = 255;
    }
  TempDir dir;
  ASSERT_TRUE(cv::imwrite(dir.file("a.png"), rgba));
  ASSERT_TRUE(cv::imwrite(dir.file("b.png"), opaque));
  EXPECT_EQ(cv::norm(read_image(dir.file("a.png")).gray, read_image(dir.file("b.png")).gray, cv::NORM_INF), 0.0);
}

TEST(ImageReader, GraySlicesStoredAsRgbKeepTheirValues) {
  // CT-COV19 stores gray slices as 24-bit RGB: R = G = B must give back the same gray value.
  const cv::Mat gray = make_image(CV_8UC1);
  cv::Mat rgb;
  cv::merge(std::vector<cv::Mat>{gray, gray, gray}, rgb);
  TempDir dir;
  ASSERT_TRUE(cv::imwrite(dir.file("slice.png"), rgb));
  const DecodedImage img = read_image(dir.file("slice.png"));
  EXPECT_EQ(img.channels, 3);
  EXPECT_EQ(cv::norm(img.gray, gray, cv::NORM_INF), 0.0);
}

// DecodedImage::color_share (the input gate's colour check): 0 for gray stored as RGB and for a gray
// picture tinted blue (a photographed film), most pixels for a picture of several colours.
TEST(ImageReader, ColourShareTellsPhotographsFromTintedGray) {
  auto share = [](const cv::Mat& bgr) {
    std::vector<uchar> buf;
    EXPECT_TRUE(cv::imencode(".png", bgr, buf));
    return decode_image(std::string(buf.begin(), buf.end()), "x.png").color_share;
  };
  const cv::Mat gray = make_image(CV_8UC1);
  cv::Mat rgb, tinted, photo(gray.size(), CV_8UC3);
  cv::cvtColor(gray, rgb, cv::COLOR_GRAY2BGR);
  EXPECT_EQ(share(rgb), 0.0);
  std::vector<cv::Mat> ch = {gray * 0.9 + 40, gray * 0.8 + 20, gray * 0.6};  // B, G, R: a blue cast
  cv::merge(ch, tinted);
  EXPECT_LT(share(tinted), 0.02);
  for (int y = 0; y < photo.rows; ++y)  // red on the left, green on the right, blue in the middle rows
    for (int x = 0; x < photo.cols; ++x)
      photo.at<cv::Vec3b>(y, x) = y > photo.rows / 3 && y < 2 * photo.rows / 3 ? cv::Vec3b(200, 40, 40)
                                  : x < photo.cols / 2                         ? cv::Vec3b(30, 30, 200)
                                                                               : cv::Vec3b(30, 180, 30);
  EXPECT_GT(share(photo), 0.5);
}

TEST(ImageReader, FloatTiffIsStretchedMinMax) {
  const cv::Mat f = make_image(CV_32FC1);
  TempDir dir;
  ASSERT_TRUE(cv::imwrite(dir.file("f.tif"), f));
  const DecodedImage img = read_image(dir.file("f.tif"));
  EXPECT_EQ(img.bit_depth, 32);
  double lo = 0, hi = 0;
  cv::minMaxLoc(f, &lo, &hi);
  for (int y = 0; y < f.rows; y += 5)
    for (int x = 0; x < f.cols; x += 3)
      EXPECT_NEAR(img.gray.at<uint8_t>(y, x), (f.at<float>(y, x) - lo) / (hi - lo) * 255.0, 0.5 + 1e-3);
}

TEST(ImageReader, DecodeFromBytesMatchesFile) {
  TempDir dir;
  const std::string path = dir.file("x.png");
  ASSERT_TRUE(cv::imwrite(path, make_image(CV_8UC3)));
  const DecodedImage a = read_image(path), b = decode_image(slurp(path), "upload");
  EXPECT_EQ(cv::norm(a.gray, b.gray, cv::NORM_INF), 0.0);
  EXPECT_EQ(b.format, "png");
}

TEST(ImageReader, BrokenFilesGiveClearErrors) {
  TempDir dir;
  const cv::Mat m = make_image(CV_8UC3, 64, 80);
  std::vector<uint8_t> buf;
  ASSERT_TRUE(cv::imencode(".jpg", m, buf));
  const std::string jpeg(buf.begin(), buf.end());
  ASSERT_TRUE(cv::imencode(".png", m, buf));
  const std::string png(buf.begin(), buf.end());
  ASSERT_TRUE(cv::imencode(".bmp", m, buf));
  const std::string bmp(buf.begin(), buf.end());
  ASSERT_TRUE(cv::imencode(".tif", m, buf));
  const std::string tif(buf.begin(), buf.end());

  auto has = [](const std::string& problem, const std::string& what) {
    EXPECT_NE(problem.find(what), std::string::npos) << "problem '" << problem << "' lacks '" << what << "'";
  };
  has(reader_problem(write_file(dir, "empty (1).png", "")), "empty file");
  has(reader_problem(write_file(dir, "notes.png", "patient list\nno images here\n")), "not an image (looks like text)");
  has(reader_problem(write_file(dir, "cut.jpg", jpeg.substr(0, jpeg.size() - 200))), "truncated JPEG");
  has(reader_problem(write_file(dir, "cut2.jpg", jpeg.substr(0, 300))), "truncated JPEG");
  has(reader_problem(write_file(dir, "cut.png", png.substr(0, png.size() / 2))), "truncated PNG");
  has(reader_problem(write_file(dir, "cut.bmp", bmp.substr(0, bmp.size() - 10))), "truncated BMP");
  has(reader_problem(write_file(dir, "cut.tif", tif.substr(0, tif.size() / 2))), "truncated TIFF");
  has(reader_problem(write_file(dir, "anim.gif", "GIF89a\x01\x00\x01\x00\x00\x00\x00;")), "unsupported format");
  has(reader_problem(write_file(dir, "blob.png", std::string("\x01\x02\x03\x04\x00\x00\x7f\x80", 8))),
      "unsupported format");
  has(reader_problem(dir.file("missing.png")), "not found");
  has(reader_problem(dir.path().string()), "directory");
  ReadOptions small;
  small.max_file_bytes = 100;
  has(reader_problem(write_file(dir, "big.png", png), small), "file too large");
  small = ReadOptions{};
  small.max_pixels = 80 * 64 - 1;
  has(reader_problem(write_file(dir, "px.png", png), small), "image too large (80 x 64");
  has(reader_problem(write_file(dir, "px.tif", tif), small), "image too large (80 x 64");
}

// A PNG whose IHDR claims w x h, with an empty IDAT and IEND (CRCs are not checked before the size).
std::string png_header(uint32_t w, uint32_t h) {
  auto be32 = [](uint32_t v) { return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; };
  std::string s("\x89PNG\r\n\x1a\n", 8);
  s += be32(13) + "IHDR" + be32(w) + be32(h) + std::string("\x08\x00\x00\x00\x00", 5) + be32(0);
  s += be32(0) + "IDAT" + be32(0);
  s += be32(0) + "IEND" + be32(0xAE426082);
  return s;
}

TEST(ImageReader, HugeHeadersAreRefusedBeforeDecoding) {
  TempDir dir;
  const std::string png = write_file(dir, "bomb.png", png_header(65535, 65535));
  EXPECT_NE(reader_problem(png).find("image too large (65535 x 65535 exceeds limit"), std::string::npos);

  std::vector<uint8_t> buf;
  ASSERT_TRUE(cv::imencode(".jpg", make_image(CV_8UC1), buf));
  std::string jpeg(buf.begin(), buf.end());
  const size_t sof = jpeg.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  jpeg[sof + 5] = jpeg[sof + 6] = jpeg[sof + 7] = jpeg[sof + 8] = '\xFF';  // height, width = 65535
  EXPECT_NE(reader_problem(write_file(dir, "bomb.jpg", jpeg)).find("65535 x 65535"), std::string::npos);

  ASSERT_TRUE(cv::imencode(".bmp", make_image(CV_8UC1), buf));
  std::string bmp(buf.begin(), buf.end());
  bmp.replace(18, 8, std::string("\x00\x00\x01\x00\x00\x00\x01\x00", 8));  // 65536 x 65536
  EXPECT_NE(reader_problem(write_file(dir, "bomb.bmp", bmp)).find("65536 x 65536"), std::string::npos);
}

TEST(ImageReader, PngColourProfileIsIgnoredQuietly) {
  // Many exports carry an iCCP chunk that makes libpng print warnings on stderr; it is dropped
  // before decoding. This one even has a wrong CRC (libpng would complain about it).
  std::vector<uint8_t> buf;
  const cv::Mat m = make_image(CV_8UC1);
  ASSERT_TRUE(cv::imencode(".png", m, buf));
  std::string png(buf.begin(), buf.end());
  const std::string body = std::string("ICC\0\0", 5) + "not a real profile";
  const std::string chunk = std::string{0, 0, 0, char(body.size())} + "iCCP" + body + "CRC!";
  png.insert(8 + 25, chunk);  // after the signature and IHDR
  testing::internal::CaptureStderr();
  const DecodedImage img = decode_image(png, "profile.png");
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(cv::norm(img.gray, m, cv::NORM_INF), 0.0);
  EXPECT_EQ(err, "");
}

TEST(ImageReader, ExtensionsAndSniffing) {
  EXPECT_TRUE(has_image_extension("a/b/Scan (1).PNG"));
  EXPECT_TRUE(has_image_extension("x.jpeg"));
  EXPECT_TRUE(has_image_extension("x.JPG"));
  EXPECT_TRUE(has_image_extension("x.tiff"));
  EXPECT_TRUE(has_image_extension("x.dcm"));
  EXPECT_FALSE(has_image_extension("x.txt"));
  EXPECT_FALSE(has_image_extension("metadata.csv"));
  EXPECT_FALSE(has_image_extension("png"));
  // The format comes from the bytes, not the name: a PNG called .jpg reads as PNG.
  TempDir dir;
  std::vector<uint8_t> buf;
  ASSERT_TRUE(cv::imencode(".png", make_image(CV_8UC1), buf));
  EXPECT_EQ(read_image(write_file(dir, "really a png.jpg", std::string(buf.begin(), buf.end()))).format, "png");
}

TEST(ImageReader, RealCovidCtImagesRead) {
  COVSCREEN_REQUIRE_DATASET(root, "COVID-CT/Images-processed");
  int n = 0;
  for (const char* cls : {"CT_COVID", "CT_NonCOVID"}) {
    int per_class = 0;
    for (const auto& e : test::fs::directory_iterator(root + "/" + cls)) {
      if (!has_image_extension(e.path().string()) || per_class >= 5) continue;
      const DecodedImage img = read_image(e.path().string());
      EXPECT_GT(img.width, 32) << e.path();
      EXPECT_GT(img.height, 32) << e.path();
      EXPECT_EQ(img.gray.type(), CV_8UC1);
      cv::Scalar mean, sd;
      cv::meanStdDev(img.gray, mean, sd);
      EXPECT_GT(sd[0], 5.0) << e.path() << " looks blank";
      ++per_class;
      ++n;
    }
  }
  EXPECT_EQ(n, 10);
}

}  // namespace
}  // namespace covscreen
