#include "storage/postgres/pg_dsn.hpp"

#include <libpq-fe.h>

#include <cctype>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/strings.hpp"

namespace aragora::storage {

namespace {

using common::ErrorCode;
using common::IsAsciiSpace;
using common::MakeError;
using common::ToLower;

constexpr std::string_view kRedacted = "***";

// --- URL form

struct UrlParts {
    std::string scheme;    // lower case (libpq only knows lower-case schemes)
    std::string userinfo;  // without '@'
    bool has_at = false;
    std::string hosts;                                       // host[:port][,host[:port]...]
    std::string path;                                        // "/db" or ""
    std::vector<std::pair<std::string, std::string>> query;  // raw key/value
    bool has_query = false;

    bool UserinfoHasPassword() const {
        const auto colon = userinfo.find(':');
        return colon != std::string::npos && colon + 1 < userinfo.size();
    }
    bool QueryHas(std::string_view key) const {
        for (const auto& [k, v] : query) {
            if (k == key && !v.empty()) return true;
        }
        return false;
    }
    std::string Join() const {
        std::string out = scheme + "://";
        if (has_at) out += userinfo + "@";
        out += hosts + path;
        if (has_query) {
            out += '?';
            for (std::size_t i = 0; i < query.size(); ++i) {
                if (i != 0) out += '&';
                out += query[i].first;
                if (!query[i].second.empty() || query[i].first.empty()) out += "=";
                out += query[i].second;
            }
        }
        return out;
    }
};

// nullopt: not a URL (no "://"). An error: a URL of another scheme.
std::optional<common::Result<UrlParts>> ParseUrl(std::string_view dsn) {
    const auto sep = dsn.find("://");
    if (sep == std::string_view::npos) return std::nullopt;
    UrlParts parts;
    parts.scheme = ToLower(dsn.substr(0, sep));
    if (parts.scheme != "postgresql" && parts.scheme != "postgres") {
        return common::Result<UrlParts>(
            MakeError(ErrorCode::kValidation,
                      "PostgreSQL URL must start with postgresql:// or postgres:// (got " +
                          std::string(dsn.substr(0, sep)) + "://)",
                      "dsn"));
    }
    std::string_view rest = dsn.substr(sep + 3);
    const auto authority_end = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, authority_end);
    rest =
        authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
    // The last '@': a password that was not percent-encoded may contain one.
    const auto at = authority.rfind('@');
    if (at != std::string_view::npos) {
        parts.has_at = true;
        parts.userinfo = std::string(authority.substr(0, at));
        parts.hosts = std::string(authority.substr(at + 1));
    } else {
        parts.hosts = std::string(authority);
    }
    const auto q = rest.find('?');
    parts.path = std::string(rest.substr(0, q));
    if (q != std::string_view::npos) {
        parts.has_query = true;
        std::string_view query = rest.substr(q + 1);
        while (!query.empty()) {
            const auto amp = query.find('&');
            std::string_view item = query.substr(0, amp);
            const auto eq = item.find('=');
            parts.query.emplace_back(
                std::string(item.substr(0, eq)),
                eq == std::string_view::npos ? std::string() : std::string(item.substr(eq + 1)));
            if (amp == std::string_view::npos) break;
            query = query.substr(amp + 1);
        }
    }
    return common::Result<UrlParts>(std::move(parts));
}

// --- keyword form ("host=x dbname='a b' password=secret")

struct Keyword {
    std::string key;
    std::string value;  // unescaped
};

// nullopt when the string does not follow libpq's key = value grammar.
std::optional<std::vector<Keyword>> ParseKeywords(std::string_view s) {
    std::vector<Keyword> out;
    std::size_t i = 0;
    auto skip_space = [&] {
        while (i < s.size() && IsAsciiSpace(s[i])) ++i;
    };
    while (true) {
        skip_space();
        if (i >= s.size()) break;
        Keyword kw;
        while (i < s.size() && s[i] != '=' && !IsAsciiSpace(s[i])) kw.key += s[i++];
        skip_space();
        if (kw.key.empty() || i >= s.size() || s[i] != '=') return std::nullopt;
        ++i;
        skip_space();
        if (i < s.size() && s[i] == '\'') {
            ++i;
            bool closed = false;
            while (i < s.size()) {
                if (s[i] == '\\' && i + 1 < s.size()) {
                    kw.value += s[i + 1];
                    i += 2;
                } else if (s[i] == '\'') {
                    ++i;
                    closed = true;
                    break;
                } else {
                    kw.value += s[i++];
                }
            }
            if (!closed) return std::nullopt;
        } else {
            while (i < s.size() && !IsAsciiSpace(s[i])) {
                if (s[i] == '\\' && i + 1 < s.size()) {
                    kw.value += s[i + 1];
                    i += 2;
                } else {
                    kw.value += s[i++];
                }
            }
        }
        out.push_back(std::move(kw));
    }
    return out;
}

std::string QuoteKeywordValue(std::string_view value) {
    std::string out = "'";
    for (char c : value) {
        if (c == '\'' || c == '\\') out += '\\';
        out += c;
    }
    out += '\'';
    return out;
}

bool KeywordsHave(const std::vector<Keyword>& kws, std::string_view key) {
    for (const auto& kw : kws) {
        if (kw.key == key && !kw.value.empty()) return true;
    }
    return false;
}

std::string Replace(std::string text, std::string_view needle, std::string_view with) {
    if (needle.empty()) return text;
    for (auto pos = text.find(needle); pos != std::string::npos;
         pos = text.find(needle, pos + with.size())) {
        text.replace(pos, needle.size(), with);
    }
    return text;
}

// libpq's own check of the final string, without connecting.
common::Status ValidateWithLibpq(const std::string& conninfo, std::string_view password) {
    char* err = nullptr;
    PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &err);
    if (options != nullptr) {
        PQconninfoFree(options);
        return {};
    }
    std::string message = err != nullptr ? err : "out of memory";
    PQfreemem(err);
    while (!message.empty() && IsAsciiSpace(message.back())) message.pop_back();
    // libpq quotes parts of the input; never let a password through.
    message = Replace(std::move(message), password, kRedacted);
    message = Replace(std::move(message), PercentEncode(password), kRedacted);
    return MakeError(
        ErrorCode::kValidation,
        "invalid PostgreSQL connection string " + RedactPgDsn(conninfo) + ": " + message, "dsn");
}

}  // namespace

std::string PercentEncode(std::string_view text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
            out += ch;
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 0xF];
        }
    }
    return out;
}

common::Result<std::string> BuildPgDsn(std::string_view dsn, std::string_view password,
                                       int default_connect_timeout_s) {
    const std::string_view trimmed = common::Trim(dsn);
    if (trimmed.empty())
        return MakeError(ErrorCode::kValidation, "PostgreSQL connection string is empty", "dsn");

    std::string out;
    if (auto url = ParseUrl(trimmed)) {
        if (!*url) return url->error();
        UrlParts parts = std::move(**url);
        if (!password.empty() && !parts.UserinfoHasPassword() && !parts.QueryHas("password")) {
            const auto colon = parts.userinfo.find(':');
            parts.userinfo = parts.userinfo.substr(0, colon) + ":" + PercentEncode(password);
            parts.has_at = true;
        }
        if (default_connect_timeout_s > 0 && !parts.QueryHas("connect_timeout")) {
            parts.has_query = true;
            parts.query.emplace_back("connect_timeout", std::to_string(default_connect_timeout_s));
        }
        out = parts.Join();
    } else {
        auto keywords = ParseKeywords(trimmed);
        out = std::string(trimmed);
        if (keywords) {
            if (!password.empty() && !KeywordsHave(*keywords, "password"))
                out += " password=" + QuoteKeywordValue(password);
            if (default_connect_timeout_s > 0 && !KeywordsHave(*keywords, "connect_timeout"))
                out += " connect_timeout=" + std::to_string(default_connect_timeout_s);
        }  // else libpq reports the syntax error below
    }
    if (auto s = ValidateWithLibpq(out, password); !s) return s.error();
    return out;
}

std::string RedactPgDsn(std::string_view dsn) {
    if (auto url = ParseUrl(dsn)) {
        if (!*url) return std::string(dsn.substr(0, dsn.find("://"))) + "://<redacted>";
        UrlParts parts = std::move(**url);
        const auto colon = parts.userinfo.find(':');
        if (colon != std::string::npos)
            parts.userinfo = parts.userinfo.substr(0, colon + 1) + std::string(kRedacted);
        for (auto& [key, value] : parts.query) {
            if (key == "password") value = kRedacted;
        }
        return parts.Join();
    }
    auto keywords = ParseKeywords(dsn);
    if (!keywords) return "<unparsable postgres dsn>";
    std::string out;
    for (const auto& kw : *keywords) {
        if (!out.empty()) out += ' ';
        out += kw.key + "=";
        if (kw.key == "password") {
            out += kRedacted;
        } else if (kw.value.empty() || kw.value.find_first_of(" \t\n'\\") != std::string::npos) {
            out += QuoteKeywordValue(kw.value);
        } else {
            out += kw.value;
        }
    }
    return out;
}

}  // namespace aragora::storage
