#include "redis/url.hpp"

#include <algorithm>
#include <cctype>

#include "common/strings.hpp"

namespace aragora::redis {
namespace {

using common::ErrorCode;
using common::MakeError;

// Percent-decoding; a malformed escape is an error (a password must round-trip exactly).
bool PercentDecode(std::string_view s, std::string& out) {
    out.clear();
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out.push_back(s[i]);
            continue;
        }
        if (i + 2 >= s.size()) return false;
        const int hi = common::HexDigitValue(s[i + 1]);
        const int lo = common::HexDigitValue(s[i + 2]);
        if (hi < 0 || lo < 0) return false;
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
    }
    return true;
}

bool IsHostChar(char c) {
    const auto u = static_cast<unsigned char>(c);
    return std::isalnum(u) || c == '-' || c == '.' || c == '_';
}

bool AllDigits(std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

common::Result<RedisUrl> RedisUrl::Parse(std::string_view text, std::string_view fallback_password,
                                         std::string_view field_name) {
    const std::string field(field_name);
    auto fail = [&](const std::string& why) {
        return MakeError(
            ErrorCode::kValidation,
            field + ": " + why + " (expected redis://[:password@]host[:port][/db] or rediss://...)",
            field);
    };
    RedisUrl url;
    std::string_view rest;
    if (text.substr(0, 8) == "redis://") {
        rest = text.substr(8);
    } else if (text.substr(0, 9) == "rediss://") {
        url.tls = true;
        rest = text.substr(9);
    } else {
        const auto scheme_end = text.find("://");
        return fail(scheme_end == std::string_view::npos
                        ? std::string("not a URL")
                        : "unsupported scheme '" + std::string(text.substr(0, scheme_end)) + "'");
    }
    if (rest.find_first_of("?#") != std::string_view::npos) {
        return fail("query strings and fragments are not supported");
    }
    // Authority ends at the first '/' after the userinfo; a password may contain '/' only
    // percent-encoded, so the last '@' before that '/' ends the userinfo.
    std::string_view path;
    const auto at = rest.rfind('@');
    std::string_view userinfo;
    if (at != std::string_view::npos) {
        userinfo = rest.substr(0, at);
        rest = rest.substr(at + 1);
    }
    if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
        path = rest.substr(slash + 1);
        rest = rest.substr(0, slash);
    }
    if (userinfo.find('/') != std::string_view::npos) {
        return fail("'/' in the user or password must be percent-encoded (%2F)");
    }
    if (!userinfo.empty()) {
        const auto colon = userinfo.find(':');
        std::string_view user = userinfo.substr(0, colon);
        std::string_view pass =
            colon == std::string_view::npos ? std::string_view() : userinfo.substr(colon + 1);
        if (colon == std::string_view::npos) {
            // redis://secret@host: the historic form where the userinfo is the password.
            pass = user;
            user = {};
        }
        if (!PercentDecode(user, url.username)) return fail("bad percent-escape in the user");
        if (!PercentDecode(pass, url.password)) return fail("bad percent-escape in the password");
    }
    if (url.password.empty()) url.password = std::string(fallback_password);
    if (!url.username.empty() && url.password.empty()) {
        return fail("a user name needs a password");
    }

    std::string_view port_text;
    if (!rest.empty() && rest.front() == '[') {
        const auto close = rest.find(']');
        if (close == std::string_view::npos) return fail("unterminated IPv6 address");
        url.host = std::string(rest.substr(1, close - 1));
        if (url.host.empty() ||
            url.host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string::npos) {
            return fail("bad IPv6 address");
        }
        std::string_view after = rest.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return fail("bad text after the IPv6 address");
            port_text = after.substr(1);
            if (port_text.empty()) return fail("empty port");
        }
    } else {
        const auto colon = rest.find(':');
        url.host = std::string(rest.substr(0, colon));
        if (colon != std::string_view::npos) {
            port_text = rest.substr(colon + 1);
            if (port_text.empty()) return fail("empty port");
        }
        if (url.host.empty()) return fail("no host");
        if (!std::all_of(url.host.begin(), url.host.end(), IsHostChar)) {
            return fail("bad character in the host name");
        }
    }
    if (!port_text.empty()) {
        if (!AllDigits(port_text) || port_text.size() > 5) return fail("bad port");
        const int port = std::stoi(std::string(port_text));
        if (port < 1 || port > 65535) return fail("port out of range 1-65535");
        url.port = static_cast<std::uint16_t>(port);
    }
    if (!path.empty()) {
        if (!AllDigits(path) || path.size() > 5) {
            return fail("the path must be a database number, got '/" + std::string(path) + "'");
        }
        url.db = std::stoi(std::string(path));
    }
    return url;
}

std::string RedisUrl::Authority() const {
    const bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string RedisUrl::Redacted() const {
    std::string out = tls ? "rediss://" : "redis://";
    if (!password.empty()) out += username + ":***@";
    out += Authority() + "/" + std::to_string(db);
    return out;
}

}  // namespace aragora::redis
