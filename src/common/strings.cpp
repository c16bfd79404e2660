#include "common/strings.hpp"

#include <algorithm>

namespace aragora::common {

std::string ToLower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = ToLowerAscii(c);
    return out;
}

std::string ToUpper(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = ToUpperAscii(c);
    return out;
}

bool IEquals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return ToLowerAscii(x) == ToLowerAscii(y);
           });
}

std::string_view Trim(std::string_view s) {
    while (!s.empty() && IsAsciiSpace(s.front())) s.remove_prefix(1);
    while (!s.empty() && IsAsciiSpace(s.back())) s.remove_suffix(1);
    return s;
}

std::string_view TrimOws(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    while (true) {
        const std::size_t at = s.find(sep);
        out.push_back(s.substr(0, at));
        if (at == std::string_view::npos) break;
        s.remove_prefix(at + 1);
    }
    return out;
}

std::string Join(const std::vector<std::string>& items, std::string_view sep) {
    std::string out;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out.append(sep);
        out.append(items[i]);
    }
    return out;
}

namespace {

// Appends `c`, or its entity when it is one of the first `count` of & < > " '.
void AppendEscaped(std::string& out, char c, int count) {
    static constexpr std::string_view kEntities[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&#39;"};
    static constexpr std::string_view kChars = "&<>\"'";
    const std::size_t i = kChars.substr(0, count).find(c);
    if (i == std::string_view::npos) {
        out.push_back(c);
    } else {
        out.append(kEntities[i]);
    }
}

}  // namespace

std::string HtmlEscape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) AppendEscaped(out, c, 5);
    return out;
}

std::string MarkdownEscape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) AppendEscaped(out, c, 3);
    return out;
}

std::string MarkdownTableCell(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        if (c == '|') {
            out.append("\\|");
        } else if (c == '\n' || c == '\r') {
            out.push_back(' ');
        } else {
            AppendEscaped(out, c, 3);
        }
    }
    return out;
}

}  // namespace aragora::common
