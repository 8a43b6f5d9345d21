#pragma once
// Errors thrown by the library. Only main() and the HTTP handler catch them.
// Every message names the file (when there is one) and what was wrong with it.
#include <stdexcept>
#include <string>

namespace covscreen {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// A problem with one input file: the batch reports it and goes on.
class FileError : public Error {
 public:
  FileError(std::string path, const std::string& problem)
      : Error(path + ": " + problem), path_(std::move(path)), problem_(problem) {}
  const std::string& path() const { return path_; }
  const std::string& problem() const { return problem_; }

 private:
  std::string path_;
  std::string problem_;
};

// Bad user input (flags, configs) that is not about one file.
class UsageError : public Error {
 public:
  using Error::Error;
};

}  // namespace covscreen
