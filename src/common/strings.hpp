#pragma once

// Small text helpers used across modules: ASCII case and whitespace, splitting and
// joining, and the escapers of the HTML and Markdown exports. Pure functions, ASCII only
// and independent of the C locale; bytes >= 0x80 (UTF-8) pass through unchanged.

#include <string>
#include <string_view>
#include <vector>

namespace aragora::common {

// ' ', '\t', '\n', '\r', '\f', '\v' (what std::isspace accepts in the "C" locale).
constexpr bool IsAsciiSpace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
constexpr char ToLowerAscii(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
constexpr char ToUpperAscii(char c) {
    return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

// The value of a hexadecimal digit (0-9, a-f, A-F), or -1.
constexpr int HexDigitValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string ToLower(std::string_view s);
std::string ToUpper(std::string_view s);
// Equal ignoring ASCII case ("Chunked" == "chunked").
bool IEquals(std::string_view a, std::string_view b);

// `s` without leading and trailing ASCII whitespace (IsAsciiSpace).
std::string_view Trim(std::string_view s);
// `s` without leading and trailing spaces and tabs only: HTTP's optional whitespace
// (RFC 9110 §5.6.3) around header values and list items.
std::string_view TrimOws(std::string_view s);

// Every piece of `s` between `sep`s, empty ones included: "a,,b" → {"a", "", "b"},
// "" → {""}. The pieces point into `s`.
std::vector<std::string_view> Split(std::string_view s, char sep);
// The items with `sep` between them.
std::string Join(const std::vector<std::string>& items, std::string_view sep);

// Text with the HTML metacharacters & < > " ' turned into entities (element content and
// quoted attribute values).
std::string HtmlEscape(std::string_view text);
// Text for a Markdown document: & < > become entities, so a viewer that renders inline
// HTML shows agent- or user-written markup as text instead of running it.
std::string MarkdownEscape(std::string_view text);
// One Markdown table cell: MarkdownEscape, then '|' as "\|" and CR/LF as spaces.
std::string MarkdownTableCell(std::string_view text);

}  // namespace aragora::common
