#pragma once
// The output folder of a build, written so that an interrupted build never leaves a half-written
// file and a re-run converges to exactly the files of a clean build:
//   - open(): refuses a non-empty folder that is not a covscreen data set (no card.json and no
//     in-progress marker), then drops the in-progress marker `.covscreen-build-in-progress`;
//   - write(): temp file + fsync + rename (core/container.h); an existing file with the same
//     bytes is left alone;
//   - finish(): removes every file the build did not write (stale temp files of a killed run,
//     slices of an earlier build with other options) and empty folders, then the marker.
#include <set>
#include <string>

namespace covscreen::publish {

inline constexpr const char* kInProgressMarker = ".covscreen-build-in-progress";

class OutputTree {
 public:
  explicit OutputTree(std::string root);
  void open();                                                   // throws UsageError / FileError
  void write(const std::string& rel, const std::string& bytes);  // rel uses '/'
  std::string path(const std::string& rel) const;                // absolute path of `rel`
  void keep(const std::string& rel);                             // written by someone else (atomically)
  size_t finish();                                               // returns the number of stale files removed
  const std::string& root() const { return root_; }
  size_t written() const { return written_; }

 private:
  std::string root_;
  std::set<std::string> files_;
  size_t written_ = 0;
};

}  // namespace covscreen::publish
