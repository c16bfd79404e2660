#include "common/aws_sigv4.hpp"

#include <algorithm>
#include <ctime>
#include <map>

#include "common/crypto.hpp"
#include "common/strings.hpp"

namespace aragora::common {

namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

bool IsUnreserved(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

bool IsLowerHex64(std::string_view s) {
    return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

// SigV4's "Trimall": no leading/trailing whitespace, runs of spaces inside as one.
std::string CanonicalHeaderValue(std::string_view value) {
    value = Trim(value);
    std::string out;
    out.reserve(value.size());
    bool in_space = false;
    for (char c : value) {
        if (c == ' ' || c == '\t') {
            in_space = true;
            continue;
        }
        if (in_space && !out.empty()) out.push_back(' ');
        in_space = false;
        out.push_back(c);
    }
    return out;
}

bool IsSignerOwned(std::string_view lower_name) {
    return lower_name == "host" || lower_name == "x-amz-date" ||
           lower_name == "x-amz-content-sha256" || lower_name == "x-amz-security-token" ||
           lower_name == "authorization";
}

bool HasLineBreak(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

}  // namespace

Result<AwsCredentials> AwsCredentialsFromEnv(
    const std::function<std::optional<std::string>(std::string_view)>& env) {
    AwsCredentials credentials;
    auto read = [&env](std::string_view name) {
        std::optional<std::string> value = env(name);
        return value ? std::string(Trim(*value)) : std::string();
    };
    credentials.access_key_id = read("AWS_ACCESS_KEY_ID");
    credentials.secret_access_key = read("AWS_SECRET_ACCESS_KEY");
    credentials.session_token = read("AWS_SESSION_TOKEN");
    std::vector<std::string> missing;
    if (credentials.access_key_id.empty()) missing.emplace_back("AWS_ACCESS_KEY_ID");
    if (credentials.secret_access_key.empty()) missing.emplace_back("AWS_SECRET_ACCESS_KEY");
    if (!missing.empty()) {
        return MakeError(ErrorCode::kValidation,
                         "AWS credentials missing: set " + Join(missing, " and "), missing[0]);
    }
    return credentials;
}

std::string AwsUriEncode(std::string_view s, bool keep_slash) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        if (IsUnreserved(c) || (keep_slash && c == '/')) {
            out.push_back(c);
        } else {
            const auto u = static_cast<unsigned char>(c);
            out.push_back('%');
            out.push_back(kHex[u >> 4]);
            out.push_back(kHex[u & 0x0f]);
        }
    }
    return out;
}

std::string CanonicalQueryString(const std::vector<std::pair<std::string, std::string>>& query) {
    std::vector<std::pair<std::string, std::string>> encoded;
    encoded.reserve(query.size());
    for (const auto& [name, value] : query) {
        encoded.emplace_back(AwsUriEncode(name, false), AwsUriEncode(value, false));
    }
    std::sort(encoded.begin(), encoded.end());
    std::string out;
    for (const auto& [name, value] : encoded) {
        if (!out.empty()) out.push_back('&');
        out.append(name).append("=").append(value);
    }
    return out;
}

std::string FormatAmzDate(std::chrono::system_clock::time_point tp) {
    const std::time_t t = std::chrono::system_clock::to_time_t(tp);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    const std::size_t n = std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
    return std::string(buf, n);
}

std::string DeriveSigningKey(std::string_view secret, std::string_view yyyymmdd,
                             std::string_view region, std::string_view service) {
    const std::string k_date = HmacSha256Raw("AWS4" + std::string(secret), yyyymmdd);
    const std::string k_region = HmacSha256Raw(k_date, region);
    const std::string k_service = HmacSha256Raw(k_region, service);
    return HmacSha256Raw(k_service, "aws4_request");
}

Result<SignedRequest> SignV4(const SigV4Request& request, const AwsCredentials& credentials,
                             const SigV4Scope& scope, std::chrono::system_clock::time_point now) {
    if (request.method.empty() || request.host.empty() || scope.region.empty() ||
        scope.service.empty()) {
        return MakeError(ErrorCode::kValidation,
                         "SigV4: method, host, region and service are required");
    }
    if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) {
        return MakeError(ErrorCode::kValidation, "SigV4: access key id and secret are required");
    }
    if (request.path.empty() || request.path.front() != '/') {
        return MakeError(ErrorCode::kValidation, "SigV4: the path must start with '/'");
    }
    if (request.payload_sha256 != kUnsignedPayload && !IsLowerHex64(request.payload_sha256)) {
        return MakeError(ErrorCode::kValidation,
                         "SigV4: payload hash must be 64 lowercase hex digits or UNSIGNED-PAYLOAD");
    }
    if (HasLineBreak(request.host) || HasLineBreak(credentials.session_token)) {
        return MakeError(ErrorCode::kValidation, "SigV4: line break in a header value");
    }

    const std::string amz_date = FormatAmzDate(now);
    const std::string date = amz_date.substr(0, 8);

    // Headers to send, in send order; the canonical form is built from them.
    std::vector<std::pair<std::string, std::string>> send;
    send.emplace_back("Host", request.host);
    for (const auto& [name, value] : request.headers) {
        const std::string lower = ToLower(name);
        if (IsSignerOwned(lower)) {
            return MakeError(ErrorCode::kValidation,
                             "SigV4: header '" + name + "' is set by the signer", "headers");
        }
        if (name.empty() || HasLineBreak(name) || HasLineBreak(value)) {
            return MakeError(ErrorCode::kValidation, "SigV4: bad header '" + name + "'", "headers");
        }
        send.emplace_back(name, value);
    }
    if (request.content_sha256_header) {
        send.emplace_back("X-Amz-Content-Sha256", request.payload_sha256);
    }
    send.emplace_back("X-Amz-Date", amz_date);
    if (!credentials.session_token.empty()) {
        send.emplace_back("X-Amz-Security-Token", credentials.session_token);
    }

    // Lowercased names, sorted; repeated names keep their values in order, comma-joined.
    std::map<std::string, std::string> canonical;
    for (const auto& [name, value] : send) {
        const std::string lower = ToLower(name);
        auto [it, inserted] = canonical.emplace(lower, CanonicalHeaderValue(value));
        if (!inserted) it->second.append(",").append(CanonicalHeaderValue(value));
    }
    std::string canonical_headers;
    std::string signed_headers;
    for (const auto& [name, value] : canonical) {
        canonical_headers.append(name).append(":").append(value).append("\n");
        if (!signed_headers.empty()) signed_headers.push_back(';');
        signed_headers.append(name);
    }

    SignedRequest out;
    const std::string encoded_path = AwsUriEncode(request.path, true);
    const std::string query = CanonicalQueryString(request.query);
    out.target = query.empty() ? encoded_path : encoded_path + "?" + query;
    out.canonical_request = request.method + "\n" + encoded_path + "\n" + query + "\n" +
                            canonical_headers + "\n" + signed_headers + "\n" +
                            request.payload_sha256;
    const std::string credential_scope =
        date + "/" + scope.region + "/" + scope.service + "/aws4_request";
    out.string_to_sign = std::string(kAlgorithm) + "\n" + amz_date + "\n" + credential_scope +
                         "\n" + Sha256Hex(out.canonical_request);
    const std::string key =
        DeriveSigningKey(credentials.secret_access_key, date, scope.region, scope.service);
    out.signature = HexEncode(HmacSha256Raw(key, out.string_to_sign));
    out.signed_headers = signed_headers;
    send.emplace_back("Authorization", std::string(kAlgorithm) +
                                           " Credential=" + credentials.access_key_id + "/" +
                                           credential_scope + ", SignedHeaders=" + signed_headers +
                                           ", Signature=" + out.signature);
    out.headers = std::move(send);
    return out;
}

}  // namespace aragora::common
