#pragma once
// Internal: a tiny document model (headings, paragraphs, tables, figures) rendered both as
// Markdown and as self-contained HTML, so report.md and report.html say the same thing.
#include <string>
#include <vector>

namespace covscreen::report::detail {

struct Block {
  enum class Kind { kHeading, kParagraph, kNotice, kTable, kFigure, kList };
  Kind kind = Kind::kParagraph;
  int level = 2;                               // headings
  std::string text;                            // heading / paragraph / notice text; figure caption
  std::vector<std::vector<std::string>> rows;  // table: rows[0] is the header; list: rows[i][0]
  std::string svg;                             // figure: inline SVG for HTML
  std::string file;                            // figure: file name for Markdown
};

class Document {
 public:
  void heading(const std::string& text, int level = 2) { add({Block::Kind::kHeading, level, text, {}, {}, {}}); }
  void paragraph(const std::string& text) { add({Block::Kind::kParagraph, 0, text, {}, {}, {}}); }
  void notice(const std::string& text) { add({Block::Kind::kNotice, 0, text, {}, {}, {}}); }
  void table(std::vector<std::vector<std::string>> rows) { add({Block::Kind::kTable, 0, {}, std::move(rows), {}, {}}); }
  void list(const std::vector<std::string>& items);
  void figure(const std::string& caption, const std::string& svg, const std::string& file) {
    add({Block::Kind::kFigure, 0, caption, {}, svg, file});
  }
  std::string markdown() const;
  std::string html(const std::string& title) const;

 private:
  void add(Block b) { blocks_.push_back(std::move(b)); }
  std::vector<Block> blocks_;
};

}  // namespace covscreen::report::detail
