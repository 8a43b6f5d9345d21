#pragma once
// RFC 4180 CSV: fields separated by commas, records by line breaks (CRLF or LF on input),
// fields may be quoted with '"', a quote inside a quoted field is doubled, and quoted fields
// may hold commas and line breaks. Lenient where real files need it: an unquoted field may
// hold a bare '"', text after a closing quote is appended, blank lines are skipped, and a
// UTF-8 byte-order mark at the start is dropped. The writer quotes only when needed and ends
// records with LF (not CRLF, so `cut`/`awk` see no stray CR); the reader accepts both.
//
// Limits: one record (a logical row, embedded newlines included) may be at most
// kMaxCsvRecordBytes long and hold at most kMaxCsvFields fields; longer or wider input is
// refused with a FileError naming the line.
#include <cstddef>
#include <string>
#include <vector>

namespace covscreen {

inline constexpr size_t kMaxCsvRecordBytes = 1u << 20;  // 1 MiB
inline constexpr size_t kMaxCsvFields = 4096;           // per record (manifests have 6)

struct CsvRecord {
  std::vector<std::string> fields;
  size_t line = 0;  // 1-based line where the record starts (for error messages)
};

// Parses `text`; `name` (a path) is used in error messages. Throws FileError for an
// unterminated quoted field, a record over `max_record_bytes` or over kMaxCsvFields fields.
std::vector<CsvRecord> parse_csv(const std::string& text, const std::string& name,
                                 size_t max_record_bytes = kMaxCsvRecordBytes);

// A CSV with a header row. Column lookup is by exact name or, failing that, case-insensitive.
class CsvTable {
 public:
  CsvTable() = default;
  CsvTable(std::vector<std::string> header, std::vector<CsvRecord> rows, std::string name);

  const std::vector<std::string>& header() const { return header_; }
  const std::vector<CsvRecord>& rows() const { return rows_; }
  const std::string& name() const { return name_; }
  // Index of the column, or -1.
  int column(const std::string& name) const;
  // The first of `names` that exists, or -1.
  int column_any(const std::vector<std::string>& names) const;
  // Field `col` of row `r`, "" when the row is short or col < 0.
  const std::string& field(size_t r, int col) const;

 private:
  std::vector<std::string> header_;
  std::vector<CsvRecord> rows_;
  std::string name_;
};

// Reads a whole CSV file with a header row. Throws FileError (missing, empty, malformed).
CsvTable read_csv_table(const std::string& path, size_t max_record_bytes = kMaxCsvRecordBytes);

// One field, quoted when it holds a comma, quote, CR, LF or leading/trailing space.
std::string csv_escape(const std::string& field);
// One record with its terminating LF.
std::string csv_record(const std::vector<std::string>& fields);

}  // namespace covscreen
