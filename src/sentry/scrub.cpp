#include "sentry/scrub.hpp"

#include <algorithm>
#include <array>
#include <cctype>

extern char** environ;  // NOLINT: POSIX

namespace aragora::sentry {
namespace {

char Lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

std::string LowerCopy(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), Lower);
    return out;
}

bool IsTokenChar(char c) {
    const auto u = static_cast<unsigned char>(c);
    return std::isalnum(u) != 0 || c == '-' || c == '_' || c == '.' || c == '~' || c == '+' ||
           c == '/' || c == '=';
}

bool IsWordChar(char c) {
    const auto u = static_cast<unsigned char>(c);
    return std::isalnum(u) != 0 || c == '_' || c == '-';
}

void ReplaceAll(std::string& text, std::string_view needle) {
    if (needle.empty()) return;
    std::size_t pos = 0;
    while ((pos = text.find(needle, pos)) != std::string::npos) {
        text.replace(pos, needle.size(), kFiltered);
        pos += kFiltered.size();
    }
}

// Provider key prefixes: a run of token characters starting with one of these (at a word
// boundary) and at least 16 characters long is a key.
constexpr std::array<std::string_view, 8> kKeyPrefixes = {"sk-",  "sk_",  "xai-", "AIza",
                                                          "ghp_", "gsk_", "pk_",  "rk_"};

void FilterPrefixedKeys(std::string& text) {
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
        const bool boundary = i == 0 || !IsWordChar(text[i - 1]);
        bool matched = false;
        if (boundary) {
            for (std::string_view p : kKeyPrefixes) {
                if (text.compare(i, p.size(), p) != 0) continue;
                std::size_t end = i;
                while (end < text.size() && IsTokenChar(text[end])) ++end;
                if (end - i >= 16) {
                    out += kFiltered;
                    i = end;
                    matched = true;
                }
                break;
            }
        }
        if (!matched) out.push_back(text[i++]);
    }
    text = std::move(out);
}

// "Bearer <x>", "Basic <x>" (any case).
void FilterSchemes(std::string& text) {
    for (std::string_view scheme : {"bearer ", "basic ", "token "}) {
        std::string lower = LowerCopy(text);
        std::size_t pos = 0;
        while ((pos = lower.find(scheme, pos)) != std::string::npos) {
            const std::size_t start = pos + scheme.size();
            std::size_t end = start;
            while (end < text.size() && IsTokenChar(text[end])) ++end;
            if (end - start >= 4 && text.compare(start, kFiltered.size(), kFiltered) != 0) {
                text.replace(start, end - start, kFiltered);
                lower = LowerCopy(text);
                pos = start + kFiltered.size();
            } else {
                pos = start;
            }
        }
    }
}

// scheme://user:password@host -> scheme://[Filtered]@host
void FilterUserInfo(std::string& text) {
    std::size_t pos = 0;
    while ((pos = text.find("://", pos)) != std::string::npos) {
        const std::size_t start = pos + 3;
        std::size_t end = start;
        while (end < text.size() && text[end] != '@' && text[end] != '/' && text[end] != ' ' &&
               text[end] != '"' && text[end] != '\'' && text[end] != '\n')
            ++end;
        if (end < text.size() && text[end] == '@' && end > start) {
            text.replace(start, end - start, kFiltered);
            pos = start + kFiltered.size() + 1;
        } else {
            pos = start;
        }
    }
}

// key=value, key: value, "key": "value", key="value" with a secret-named key.
void FilterPairs(std::string& text) {
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
        if (!IsWordChar(text[i]) || (i > 0 && IsWordChar(text[i - 1]))) {
            out.push_back(text[i++]);
            continue;
        }
        std::size_t key_end = i;
        while (key_end < text.size() && IsWordChar(text[key_end])) ++key_end;
        const std::string_view key(text.data() + i, key_end - i);
        out.append(key);
        std::size_t j = key_end;
        if (j < text.size() && (text[j] == '"' || text[j] == '\'')) ++j;  // "key":
        if (j >= text.size() || (text[j] != '=' && text[j] != ':') ||
            !Scrubber::IsSecretName(key)) {
            i = key_end;
            continue;
        }
        ++j;
        while (j < text.size() && text[j] == ' ') ++j;
        char quote = 0;
        if (j < text.size() && (text[j] == '"' || text[j] == '\'')) quote = text[j++];
        std::size_t v = j;
        if (quote != 0) {
            while (v < text.size() && text[v] != quote) {
                if (text[v] == '\\' && v + 1 < text.size()) ++v;
                ++v;
            }
        } else {
            while (v < text.size() && text[v] != '&' && text[v] != ' ' && text[v] != ',' &&
                   text[v] != ';' && text[v] != '\n' && text[v] != '}' && text[v] != ')')
                ++v;
        }
        out.append(text, key_end, j - key_end);
        if (v > j) out += kFiltered;
        i = v;
    }
    text = std::move(out);
}

}  // namespace

Scrubber::Scrubber(std::vector<std::string> known_secrets) {
    for (auto& s : known_secrets) {
        if (s.size() >= 6) known_.push_back(std::move(s));
    }
    // Longest first: a secret containing another is removed whole.
    std::sort(known_.begin(), known_.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    known_.erase(std::unique(known_.begin(), known_.end()), known_.end());
}

bool Scrubber::IsSecretName(std::string_view name) {
    const std::string n = LowerCopy(name);
    for (std::string_view word : {"password", "passwd", "pwd", "secret", "token", "api_key",
                                  "apikey", "api-key", "authorization", "auth", "cookie", "session",
                                  "credential", "signature", "dsn", "private", "key"}) {
        if (n.find(word) != std::string::npos) return true;
    }
    return false;
}

std::string Scrubber::Text(std::string_view text) const {
    std::string out(text);
    for (const auto& s : known_) ReplaceAll(out, s);
    FilterUserInfo(out);
    FilterSchemes(out);
    FilterPrefixedKeys(out);
    FilterPairs(out);
    return out;
}

std::string Scrubber::Query(std::string_view query) const {
    std::string out;
    std::size_t start = 0;
    while (start <= query.size()) {
        std::size_t end = query.find('&', start);
        if (end == std::string_view::npos) end = query.size();
        const std::string_view part = query.substr(start, end - start);
        if (!out.empty()) out.push_back('&');
        const auto eq = part.find('=');
        if (eq != std::string_view::npos && IsSecretName(part.substr(0, eq))) {
            out.append(part.substr(0, eq + 1));
            out += kFiltered;
        } else {
            out.append(part);
        }
        if (end == query.size()) break;
        start = end + 1;
    }
    return Text(out);
}

std::vector<std::pair<std::string, std::string>> Scrubber::Headers(
    const std::vector<std::pair<std::string, std::string>>& headers) const {
    std::vector<std::pair<std::string, std::string>> out;
    out.reserve(headers.size());
    for (const auto& [name, value] : headers) {
        if (IsSecretName(name)) {
            out.emplace_back(name, std::string(kFiltered));
        } else {
            out.emplace_back(name, Text(value));
        }
    }
    return out;
}

std::vector<std::string> SecretsFromEnvironment(const config::EnvLookup& env,
                                                const std::vector<std::string>& names) {
    std::vector<std::string> out;
    for (const auto& name : names) {
        const auto value = env(name);
        if (!value || value->empty()) continue;
        const auto scheme = value->find("://");
        const auto at = value->find('@');
        const bool url_with_userinfo = scheme != std::string::npos && at != std::string::npos &&
                                       at > scheme && value->find('/', scheme + 3) > at;
        if (url_with_userinfo) {
            const std::string userinfo = value->substr(scheme + 3, at - scheme - 3);
            const auto colon = userinfo.find(':');
            if (colon != std::string::npos)
                out.push_back(userinfo.substr(colon + 1));
            else if (Scrubber::IsSecretName(name))
                out.push_back(userinfo);
        }
        if (Scrubber::IsSecretName(name)) out.push_back(*value);
    }
    return out;
}

std::vector<std::string> ProcessEnvironmentNames() {
    std::vector<std::string> names;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        std::string_view entry(*e);
        names.emplace_back(entry.substr(0, entry.find('=')));
    }
    return names;
}

}  // namespace aragora::sentry
