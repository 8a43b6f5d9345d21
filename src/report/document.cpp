#include "document.h"

#include <sstream>

#include "format.h"

namespace covscreen::report::detail {
namespace {

// Markdown text: '<' and '>' as entities (so a name like "<demo>" is not taken for HTML).
std::string md_text(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else
      out += c;
  }
  return out;
}

std::string md_cell(const std::string& s) {
  std::string out;
  for (char c : md_text(s)) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n')
      out += ' ';
    else
      out += c;
  }
  return out;
}

std::string html_cell(const std::string& s) {
  std::string out = escape_xml(s);
  for (size_t i = 0; (i = out.find('\n', i)) != std::string::npos;) out.replace(i, 1, "<br>");
  return out;
}

// A column is right-aligned when every body cell is empty, "n/a" or starts with a digit.
std::vector<bool> numeric_columns(const std::vector<std::vector<std::string>>& rows) {
  std::vector<bool> num(rows.empty() ? 0 : rows[0].size(), true);
  for (size_t r = 1; r < rows.size(); ++r)
    for (size_t c = 0; c < rows[r].size() && c < num.size(); ++c) {
      const std::string& v = rows[r][c];
      if (!(v.empty() || v == "n/a" || (v[0] >= '0' && v[0] <= '9'))) num[c] = false;
    }
  if (!num.empty()) num[0] = false;
  return num;
}

constexpr const char* kCss =
    R"(body{font-family:Helvetica,Arial,sans-serif;color:#222;max-width:1200px;margin:2em auto;padding:0 1.2em;line-height:1.45}
h1{font-size:1.7em;margin-bottom:.2em}h2{font-size:1.3em;margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}h3{font-size:1.1em;margin-top:1.4em}
.notice{background:#fff4e5;border:2px solid #d55e00;border-radius:4px;padding:.7em 1em;font-weight:bold;margin:1em 0}
table{border-collapse:collapse;margin:.8em 0;font-size:.88em}th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left}
th{background:#f2f4f7}.num{text-align:right;white-space:nowrap}td:first-child{white-space:nowrap}
.scroll{overflow-x:auto}tr:nth-child(even) td{background:#fafafa}
figure{margin:1em 0;display:inline-block;vertical-align:top}figcaption{font-size:.85em;color:#555;text-align:center}
svg{max-width:100%;height:auto}ul{padding-left:1.3em}
)";

}  // namespace

void Document::list(const std::vector<std::string>& items) {
  Block b;
  b.kind = Block::Kind::kList;
  for (const auto& i : items) b.rows.push_back({i});
  add(std::move(b));
}

std::string Document::markdown() const {
  std::ostringstream o;
  for (const Block& b : blocks_) {
    switch (b.kind) {
      case Block::Kind::kHeading:
        o << std::string(b.level, '#') << ' ' << md_text(b.text) << "\n\n";
        break;
      case Block::Kind::kParagraph:
        o << md_text(b.text) << "\n\n";
        break;
      case Block::Kind::kNotice:
        o << "> **" << md_text(b.text) << "**\n\n";
        break;
      case Block::Kind::kList:
        for (const auto& r : b.rows) o << "- " << md_text(r[0]) << "\n";
        o << "\n";
        break;
      case Block::Kind::kTable: {
        if (b.rows.empty()) break;
        const std::vector<bool> num = numeric_columns(b.rows);
        for (size_t i = 0; i < b.rows.size(); ++i) {
          o << "|";
          for (const auto& c : b.rows[i]) o << ' ' << md_cell(c) << " |";
          o << "\n";
          if (i == 0) {
            o << "|";
            for (size_t c = 0; c < b.rows[0].size(); ++c) o << (num[c] ? " ---: |" : " --- |");
            o << "\n";
          }
        }
        o << "\n";
        break;
      }
      case Block::Kind::kFigure:
        o << "![" << b.text << "](" << b.file << ")\n\n";
        break;
    }
  }
  return o.str();
}

std::string Document::html(const std::string& title) const {
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" "
       "content=\"width=device-width, initial-scale=1\">\n<title>"
    << escape_xml(title) << "</title>\n<style>\n"
    << kCss << "</style>\n</head>\n<body>\n";
  for (const Block& b : blocks_) {
    switch (b.kind) {
      case Block::Kind::kHeading:
        o << "<h" << b.level << ">" << escape_xml(b.text) << "</h" << b.level << ">\n";
        break;
      case Block::Kind::kParagraph:
        o << "<p>" << escape_xml(b.text) << "</p>\n";
        break;
      case Block::Kind::kNotice:
        o << "<div class=\"notice\" role=\"note\">" << escape_xml(b.text) << "</div>\n";
        break;
      case Block::Kind::kList:
        o << "<ul>\n";
        for (const auto& r : b.rows) o << "<li>" << escape_xml(r[0]) << "</li>\n";
        o << "</ul>\n";
        break;
      case Block::Kind::kTable: {
        if (b.rows.empty()) break;
        const std::vector<bool> num = numeric_columns(b.rows);
        o << "<div class=\"scroll\"><table>\n";
        for (size_t i = 0; i < b.rows.size(); ++i) {
          o << "<tr>";
          for (size_t c = 0; c < b.rows[i].size(); ++c) {
            const char* tag = i == 0 ? "th" : "td";
            o << "<" << tag << (c < num.size() && num[c] ? " class=\"num\"" : "") << ">" << html_cell(b.rows[i][c])
              << "</" << tag << ">";
          }
          o << "</tr>\n";
        }
        o << "</table></div>\n";
        break;
      }
      case Block::Kind::kFigure:
        o << "<figure>\n" << b.svg << "<figcaption>" << escape_xml(b.text) << "</figcaption>\n</figure>\n";
        break;
    }
  }
  o << "</body>\n</html>\n";
  return o.str();
}

}  // namespace covscreen::report::detail
