#include "aws/secrets_manager.hpp"

#include <boost/json.hpp>

#include "common/crypto.hpp"
#include "common/strings.hpp"

namespace aragora::aws {

namespace json = boost::json;
using common::ErrorCode;
using common::MakeError;
using common::Result;

namespace {

// A service-supplied text made safe for a one-line error message.
std::string OneLine(std::string_view text, std::size_t max = 300) {
    std::string out;
    for (char c : text) {
        if (out.size() >= max) {
            out += "...";
            break;
        }
        const auto u = static_cast<unsigned char>(c);
        out.push_back(u < 0x20 || u == 0x7f ? ' ' : c);
    }
    return std::string(common::Trim(out));
}

bool IsVariableName(std::string_view name) {
    if (name.empty()) return false;
    auto alpha = [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    };
    if (!alpha(name[0])) return false;
    for (char c : name) {
        if (!alpha(c) && !(c >= '0' && c <= '9')) return false;
    }
    return true;
}

// "ResourceNotFoundException" from "com.amazonaws.secretsmanager#ResourceNotFoundException"
// or "ResourceNotFoundException:http://internal.amazon.com/...".
std::string ShortErrorType(std::string_view type) {
    if (auto hash = type.rfind('#'); hash != std::string_view::npos) type = type.substr(hash + 1);
    if (auto colon = type.find(':'); colon != std::string_view::npos) type = type.substr(0, colon);
    return std::string(common::Trim(type));
}

bool IsCredentialError(std::string_view type) {
    return type == "AccessDeniedException" || type == "AccessDenied" ||
           type == "InvalidSignatureException" || type == "UnrecognizedClientException" ||
           type == "ExpiredTokenException" || type == "IncompleteSignature" ||
           type == "InvalidClientTokenId" || type == "MissingAuthenticationToken" ||
           type == "SignatureDoesNotMatch";
}

}  // namespace

Result<EndpointParts> ParseEndpoint(std::string_view url) {
    EndpointParts out;
    std::string_view rest;
    if (url.substr(0, 7) == "http://") {
        out.scheme = "http";
        rest = url.substr(7);
    } else if (url.substr(0, 8) == "https://") {
        out.scheme = "https";
        rest = url.substr(8);
    } else {
        return MakeError(
            ErrorCode::kValidation,
            "Secrets Manager endpoint must be http(s)://host[:port], got '" + OneLine(url) + "'");
    }
    const std::size_t slash = rest.find('/');
    std::string_view host = rest.substr(0, slash);
    out.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
    if (out.path.find_first_of("?#") != std::string::npos) {
        return MakeError(
            ErrorCode::kValidation,
            "Secrets Manager endpoint must not have a query, got '" + OneLine(url) + "'");
    }
    if (host.empty() || host.find('@') != std::string_view::npos) {
        return MakeError(ErrorCode::kValidation,
                         "Secrets Manager endpoint has no host: '" + OneLine(url) + "'");
    }
    // The default port is not part of the Host header the service signs.
    const std::string default_port = out.scheme == "http" ? ":80" : ":443";
    if (host.size() > default_port.size() &&
        host.substr(host.size() - default_port.size()) == default_port && host.back() != ']') {
        host.remove_suffix(default_port.size());
    }
    out.host = common::ToLower(host);
    return out;
}

Result<net::ClientRequest> BuildGetSecretValueRequest(const SecretsManagerTarget& target,
                                                      const common::AwsCredentials& credentials,
                                                      std::chrono::system_clock::time_point now,
                                                      std::chrono::milliseconds timeout,
                                                      common::SignedRequest* signed_out) {
    if (target.secret_id.empty()) {
        return MakeError(ErrorCode::kValidation, "the secret name is empty",
                         "ARAGORA_SECRETS_NAME");
    }
    auto endpoint = ParseEndpoint(target.endpoint);
    if (!endpoint) return endpoint.error();

    const std::string body = json::serialize(json::object{{"SecretId", target.secret_id}});
    common::SigV4Request sig;
    sig.method = "POST";
    sig.host = endpoint->host;
    sig.path = endpoint->path;
    sig.headers = {{"Content-Type", std::string(kAmzJson11)},
                   {"X-Amz-Target", std::string(kGetSecretValueTarget)}};
    sig.payload_sha256 = common::Sha256Hex(body);
    sig.content_sha256_header = false;
    auto signed_request =
        common::SignV4(sig, credentials, common::SigV4Scope{target.region, "secretsmanager"}, now);
    if (!signed_request) return signed_request.error();

    net::ClientRequest request;
    request.method = "POST";
    request.url = endpoint->scheme + "://" + endpoint->host + signed_request->target;
    request.headers = signed_request->headers;
    request.body = body;
    request.timeout = timeout;
    if (signed_out) *signed_out = std::move(*signed_request);
    return request;
}

Result<SecretValues> ParseGetSecretValueResponse(const net::ClientResponse& response,
                                                 std::string_view secret_id) {
    const std::string what = "Secrets Manager secret '" + std::string(secret_id) + "'";
    if (response.status < 200 || response.status > 299) {
        std::string type = ShortErrorType(response.Header("x-amzn-errortype"));
        std::string message;
        boost::system::error_code ec;
        json::value v = json::parse(response.body, ec);
        if (!ec && v.is_object()) {
            const auto& o = v.as_object();
            if (type.empty()) {
                if (auto* t = o.if_contains("__type"); t && t->is_string()) {
                    type = ShortErrorType(t->as_string());
                }
            }
            for (const char* key : {"message", "Message"}) {
                if (auto* m = o.if_contains(key); m && m->is_string()) {
                    message = OneLine(m->as_string());
                    break;
                }
            }
        }
        ErrorCode code = ErrorCode::kProviderError;
        if (IsCredentialError(type) || response.status == 403) code = ErrorCode::kForbidden;
        if (type == "ResourceNotFoundException") code = ErrorCode::kNotFound;
        std::string text =
            what + ": GetSecretValue answered HTTP " + std::to_string(response.status);
        if (!type.empty()) text += " " + type;
        if (!message.empty()) text += ": " + message;
        return MakeError(code, text);
    }

    boost::system::error_code ec;
    json::value v = json::parse(response.body, ec);
    if (ec || !v.is_object()) {
        return MakeError(ErrorCode::kProviderError,
                         what + ": GetSecretValue answer is not a JSON object");
    }
    const auto& o = v.as_object();
    const json::value* secret = o.if_contains("SecretString");
    if (!secret || !secret->is_string()) {
        if (o.contains("SecretBinary")) {
            return MakeError(ErrorCode::kProviderError,
                             what +
                                 " holds a SecretBinary; store the variables as a JSON object "
                                 "in SecretString (aws secretsmanager update-secret "
                                 "--secret-string '{\"NAME\":\"value\"}')");
        }
        return MakeError(ErrorCode::kProviderError, what + " has no SecretString");
    }
    json::value parsed = json::parse(secret->as_string(), ec);
    if (ec || !parsed.is_object()) {
        // Never quote the text: it is the secret.
        return MakeError(ErrorCode::kProviderError,
                         what +
                             ": SecretString is not a JSON object of variable names to values "
                             "(e.g. {\"ANTHROPIC_API_KEY\":\"...\"})");
    }
    SecretValues out;
    for (const auto& [key, value] : parsed.as_object()) {
        const std::string name(key);
        if (!IsVariableName(name)) {
            return MakeError(ErrorCode::kProviderError,
                             what + ": key '" + OneLine(name, 80) +
                                 "' is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
        }
        if (value.is_string()) {
            out[name] = std::string(value.as_string());
        } else if (value.is_int64() || value.is_uint64() || value.is_double() || value.is_bool()) {
            out[name] = json::serialize(value);
        } else {
            return MakeError(ErrorCode::kProviderError,
                             what + ": the value of " + name +
                                 " must be a string (or a number or boolean), not " +
                                 (value.is_null()    ? "null"
                                  : value.is_array() ? "an array"
                                                     : "an object"));
        }
        if (out[name].find('\0') != std::string::npos) {
            return MakeError(ErrorCode::kProviderError,
                             what + ": the value of " + name + " holds a NUL byte");
        }
    }
    return out;
}

boost::asio::awaitable<Result<SecretValues>> GetSecretValues(net::HttpClient& http,
                                                             SecretsManagerTarget target,
                                                             common::AwsCredentials credentials,
                                                             std::chrono::milliseconds timeout) {
    auto request =
        BuildGetSecretValueRequest(target, credentials, std::chrono::system_clock::now(), timeout);
    if (!request) co_return request.error();
    auto response = co_await http.Send(std::move(*request));
    if (!response) {
        co_return MakeError(response.error().code, "Secrets Manager secret '" + target.secret_id +
                                                       "': " + target.endpoint + ": " +
                                                       response.error().message);
    }
    co_return ParseGetSecretValueResponse(*response, target.secret_id);
}

}  // namespace aragora::aws
