#include "sentry/dsn.hpp"

#include <algorithm>
#include <cctype>

namespace aragora::sentry {
namespace {

using common::ErrorCode;

common::Error Bad(std::string why) {
    return common::Error{
        ErrorCode::kValidation,
        "SENTRY_DSN " + why + " (expected https://<public_key>@<host>[:<port>]/<project_id>)",
        "SENTRY_DSN"};
}

bool AllDigits(std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

}  // namespace

bool IsLoopbackHost(std::string_view host) {
    if (host == "localhost" || host == "::1") return true;
    return host.size() > 4 && host.substr(0, 4) == "127.";
}

std::string Dsn::EnvelopeUrl() const {
    const bool default_port =
        (scheme == "https" && port == 443) || (scheme == "http" && port == 80);
    std::string url = scheme + "://";
    url += host.find(':') != std::string::npos ? "[" + host + "]" : host;
    if (!default_port) url += ":" + std::to_string(port);
    url += path + "/api/" + project_id + "/envelope/";
    return url;
}

std::string Dsn::AuthHeader(std::string_view client) const {
    return "Sentry sentry_version=7, sentry_key=" + public_key +
           ", sentry_client=" + std::string(client);
}

common::Result<Dsn> ParseDsn(std::string_view text) {
    Dsn dsn;
    const auto scheme_end = text.find("://");
    if (scheme_end == std::string_view::npos) return Bad("has no scheme");
    dsn.scheme = std::string(text.substr(0, scheme_end));
    if (dsn.scheme != "https" && dsn.scheme != "http") {
        return Bad("scheme must be https, got '" + dsn.scheme + "'");
    }
    std::string_view rest = text.substr(scheme_end + 3);
    const auto at = rest.find('@');
    if (at == std::string_view::npos || at == 0) return Bad("has no public key before '@'");
    std::string_view key = rest.substr(0, at);
    key = key.substr(0, key.find(':'));  // a legacy "key:secret" keeps only the key
    if (key.empty()) return Bad("has an empty public key");
    dsn.public_key = std::string(key);
    rest = rest.substr(at + 1);
    if (rest.find('?') != std::string_view::npos) rest = rest.substr(0, rest.find('?'));

    const auto slash = rest.find('/');
    if (slash == std::string_view::npos) return Bad("has no project id");
    std::string_view authority = rest.substr(0, slash);
    std::string_view path = rest.substr(slash);  // "/.../<project>"
    while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
    const auto last = path.rfind('/');
    const std::string_view project = path.substr(last + 1);
    if (!AllDigits(project)) return Bad("project id must be digits");
    dsn.project_id = std::string(project);
    dsn.path = std::string(path.substr(0, last));

    std::string_view port_text;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) return Bad("has an unclosed '[' in its host");
        dsn.host = std::string(authority.substr(1, close - 1));
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return Bad("has junk after its host");
            port_text = after.substr(1);
        }
    } else {
        const auto colon = authority.find(':');
        dsn.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
    }
    if (dsn.host.empty()) return Bad("has no host");
    if (!port_text.empty() || authority.back() == ':') {
        if (!AllDigits(port_text) || port_text.size() > 5) return Bad("has a bad port");
        dsn.port = std::stoi(std::string(port_text));
        if (dsn.port < 1 || dsn.port > 65535) return Bad("has a bad port");
    } else {
        dsn.port = dsn.scheme == "https" ? 443 : 80;
    }
    if (dsn.scheme == "http" && !IsLoopbackHost(dsn.host)) {
        return Bad("must use https (http only to a loopback host), got http://" + dsn.host);
    }
    return dsn;
}

}  // namespace aragora::sentry
