#include "covscreen/data/csv.h"

#include <algorithm>
#include <cctype>

#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "covscreen/core/strings.h"

namespace covscreen {
namespace {

[[noreturn]] void too_long(const std::string& name, size_t line, size_t max) {
  throw FileError(name, "line " + std::to_string(line) + ": record longer than " + std::to_string(max) +
                            " bytes (the limit; an unbalanced quote or not a CSV file?)");
}

}  // namespace

std::vector<CsvRecord> parse_csv(const std::string& text, const std::string& name, size_t max_record_bytes) {
  std::vector<CsvRecord> out;
  const size_t n = text.size();
  size_t pos = 0, line = 1;
  if (n >= 3 && text.compare(0, 3, "\xEF\xBB\xBF") == 0) pos = 3;  // UTF-8 BOM
  auto at_eol = [&](size_t p) { return text[p] == '\n' || (text[p] == '\r' && (p + 1 == n || text[p + 1] == '\n')); };
  while (pos < n) {
    if (at_eol(pos)) {  // blank line
      pos += text[pos] == '\r' ? 2 : 1;
      ++line;
      continue;
    }
    CsvRecord rec;
    rec.line = line;
    const size_t start = pos;
    for (;;) {
      std::string field;
      if (pos < n && text[pos] == '"') {
        const size_t open_line = line;
        ++pos;
        for (;;) {
          if (pos >= n) throw FileError(name, "line " + std::to_string(open_line) + ": quoted field is never closed");
          if (pos - start > max_record_bytes) too_long(name, rec.line, max_record_bytes);
          const char c = text[pos];
          if (c == '"') {
            if (pos + 1 < n && text[pos + 1] == '"') {
              field.push_back('"');
              pos += 2;
              continue;
            }
            ++pos;
            break;
          }
          if (c == '\n') ++line;
          field.push_back(c);
          ++pos;
        }
      }
      // Unquoted field, or text after a closing quote (kept literally).
      while (pos < n && text[pos] != ',' && !at_eol(pos)) {
        field.push_back(text[pos]);
        ++pos;
      }
      if (pos - start > max_record_bytes) too_long(name, rec.line, max_record_bytes);
      if (rec.fields.size() == kMaxCsvFields)
        throw FileError(name, "line " + std::to_string(rec.line) + ": more than " + std::to_string(kMaxCsvFields) +
                                  " fields in one record (the limit; not a CSV file?)");
      rec.fields.push_back(std::move(field));
      if (pos < n && text[pos] == ',') {
        ++pos;
        continue;
      }
      if (pos < n) {  // end of line
        pos += text[pos] == '\r' ? 2 : 1;
        ++line;
      }
      break;
    }
    out.push_back(std::move(rec));
  }
  return out;
}

CsvTable::CsvTable(std::vector<std::string> header, std::vector<CsvRecord> rows, std::string name)
    : header_(std::move(header)), rows_(std::move(rows)), name_(std::move(name)) {}

int CsvTable::column(const std::string& name) const {
  for (size_t i = 0; i < header_.size(); ++i)
    if (header_[i] == name) return static_cast<int>(i);
  const std::string want = lower(name);
  for (size_t i = 0; i < header_.size(); ++i)
    if (lower(header_[i]) == want) return static_cast<int>(i);
  return -1;
}

int CsvTable::column_any(const std::vector<std::string>& names) const {
  for (const auto& n : names)
    if (int c = column(n); c >= 0) return c;
  return -1;
}

const std::string& CsvTable::field(size_t r, int col) const {
  static const std::string kEmpty;
  if (col < 0 || r >= rows_.size()) return kEmpty;
  const auto& f = rows_[r].fields;
  return static_cast<size_t>(col) < f.size() ? f[static_cast<size_t>(col)] : kEmpty;
}

CsvTable read_csv_table(const std::string& path, size_t max_record_bytes) {
  std::vector<CsvRecord> recs = parse_csv(read_file(path), path, max_record_bytes);
  if (recs.empty()) throw FileError(path, "empty CSV file (no header row)");
  std::vector<std::string> header = std::move(recs.front().fields);
  for (auto& h : header) {  // trim header names
    while (!h.empty() && std::isspace(static_cast<unsigned char>(h.back()))) h.pop_back();
    size_t a = 0;
    while (a < h.size() && std::isspace(static_cast<unsigned char>(h[a]))) ++a;
    h.erase(0, a);
  }
  recs.erase(recs.begin());
  return CsvTable(std::move(header), std::move(recs), path);
}

std::string csv_escape(const std::string& field) {
  const bool needs = field.find_first_of(",\"\r\n") != std::string::npos ||
                     (!field.empty() && (std::isspace(static_cast<unsigned char>(field.front())) ||
                                         std::isspace(static_cast<unsigned char>(field.back()))));
  if (!needs) return field;
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string csv_record(const std::vector<std::string>& fields) {
  std::string out;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i) out.push_back(',');
    out += csv_escape(fields[i]);
  }
  out.push_back('\n');
  return out;
}

}  // namespace covscreen
