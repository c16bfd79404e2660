#include "aws/credentials.hpp"

#include <boost/json.hpp>
#include <fstream>
#include <sstream>

#include "common/strings.hpp"

namespace aragora::aws {

namespace json = boost::json;
using common::AwsCredentials;
using common::ErrorCode;
using common::MakeError;
using common::Result;

namespace {

constexpr std::string_view kEcsHost = "http://169.254.170.2";
constexpr std::string_view kImdsDefault = "http://169.254.169.254";

std::string Text(const EnvFn& env, std::string_view name) {
    auto v = env(name);
    return v ? std::string(common::Trim(*v)) : std::string();
}

// An error of a credential exchange: the status and the source, never the body (a
// metadata service may echo a token).
common::Error HttpError(std::string_view source, std::string_view url, int status) {
    return MakeError(
        status == 401 || status == 403 ? ErrorCode::kForbidden : ErrorCode::kUnavailable,
        std::string(source) + " at " + std::string(url) + " answered HTTP " +
            std::to_string(status));
}

common::Error SendError(std::string_view source, std::string_view url, const common::Error& e) {
    return MakeError(e.code, std::string(source) + " at " + std::string(url) + ": " + e.message);
}

boost::asio::awaitable<Result<ResolvedCredentials>> FromContainer(
    net::HttpClient& http, const EnvFn& env, std::chrono::milliseconds timeout) {
    constexpr std::string_view kSource = "container credential endpoint";
    net::ClientRequest request;
    request.method = "GET";
    request.timeout = timeout;
    const std::string relative = Text(env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    request.url = relative.empty() ? Text(env, "AWS_CONTAINER_CREDENTIALS_FULL_URI")
                                   : std::string(kEcsHost) + relative;
    std::string token = Text(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
    if (const std::string file = Text(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
        !file.empty()) {
        std::ifstream in(file, std::ios::binary);
        if (!in) {
            co_return MakeError(ErrorCode::kValidation,
                                "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE " + file,
                                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
        }
        std::ostringstream ss;
        ss << in.rdbuf();
        token = std::string(common::Trim(ss.str()));
    }
    if (!token.empty()) request.headers.emplace_back("Authorization", token);
    const std::string url = request.url;
    auto response = co_await http.Send(std::move(request));
    if (!response) co_return SendError(kSource, url, response.error());
    if (response->status != 200) co_return HttpError(kSource, url, response->status);
    auto creds = ParseCredentialDocument(response->body, kSource);
    if (!creds) co_return creds.error();
    co_return ResolvedCredentials{std::move(*creds), std::string(kSource)};
}

boost::asio::awaitable<Result<ResolvedCredentials>> FromInstanceMetadata(
    net::HttpClient& http, const EnvFn& env, std::chrono::milliseconds timeout) {
    constexpr std::string_view kSource = "instance metadata (IMDSv2)";
    std::string base = Text(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if (base.empty()) base = std::string(kImdsDefault);
    while (!base.empty() && base.back() == '/') base.pop_back();

    net::ClientRequest put;
    put.method = "PUT";
    put.url = base + "/latest/api/token";
    put.headers = {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}};
    put.timeout = timeout;
    auto token = co_await http.Send(std::move(put));
    if (!token) co_return SendError(kSource, base, token.error());
    if (token->status != 200) co_return HttpError(kSource, base, token->status);
    const std::string session = std::string(common::Trim(token->body));

    net::ClientRequest list;
    list.method = "GET";
    list.url = base + "/latest/meta-data/iam/security-credentials/";
    list.headers = {{"X-aws-ec2-metadata-token", session}};
    list.timeout = timeout;
    auto roles = co_await http.Send(std::move(list));
    if (!roles) co_return SendError(kSource, base, roles.error());
    if (roles->status == 404) {
        co_return MakeError(ErrorCode::kNotFound,
                            std::string(kSource) + ": the instance has no IAM role");
    }
    if (roles->status != 200) co_return HttpError(kSource, base, roles->status);
    std::string role(common::Trim(roles->body));
    if (auto nl = role.find('\n'); nl != std::string::npos) role = role.substr(0, nl);
    role = std::string(common::Trim(role));
    if (role.empty() || role.find_first_of("/?#") != std::string::npos) {
        co_return MakeError(ErrorCode::kProviderError,
                            std::string(kSource) + ": no usable role name");
    }

    net::ClientRequest get;
    get.method = "GET";
    get.url = base + "/latest/meta-data/iam/security-credentials/" + role;
    get.headers = {{"X-aws-ec2-metadata-token", session}};
    get.timeout = timeout;
    auto doc = co_await http.Send(std::move(get));
    if (!doc) co_return SendError(kSource, base, doc.error());
    if (doc->status != 200) co_return HttpError(kSource, base, doc->status);
    auto creds = ParseCredentialDocument(doc->body, kSource);
    if (!creds) co_return creds.error();
    co_return ResolvedCredentials{std::move(*creds), std::string(kSource)};
}

}  // namespace

Result<AwsCredentials> ParseCredentialDocument(std::string_view body, std::string_view source) {
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec || !v.is_object()) {
        return MakeError(ErrorCode::kProviderError,
                         std::string(source) + " answered something other than a JSON object");
    }
    const auto& o = v.as_object();
    auto field = [&](std::string_view key) -> std::string {
        const json::value* f = o.if_contains(key);
        return f && f->is_string() ? std::string(f->as_string()) : std::string();
    };
    AwsCredentials c;
    c.access_key_id = field("AccessKeyId");
    c.secret_access_key = field("SecretAccessKey");
    c.session_token = field("Token");
    if (c.access_key_id.empty() || c.secret_access_key.empty()) {
        return MakeError(ErrorCode::kProviderError,
                         std::string(source) + " answered without " +
                             (c.access_key_id.empty() ? "AccessKeyId" : "SecretAccessKey"));
    }
    return c;
}

boost::asio::awaitable<Result<ResolvedCredentials>> ResolveCredentials(
    net::HttpClient& http, EnvFn env, std::chrono::milliseconds timeout) {
    const bool have_id = !Text(env, "AWS_ACCESS_KEY_ID").empty();
    const bool have_secret = !Text(env, "AWS_SECRET_ACCESS_KEY").empty();
    if (have_id || have_secret) {
        auto creds = common::AwsCredentialsFromEnv(env);
        if (!creds) co_return creds.error();
        co_return ResolvedCredentials{std::move(*creds), "environment"};
    }
    if (!Text(env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").empty() ||
        !Text(env, "AWS_CONTAINER_CREDENTIALS_FULL_URI").empty()) {
        co_return co_await FromContainer(http, env, timeout);
    }
    if (common::ToLower(Text(env, "AWS_EC2_METADATA_DISABLED")) == "true") {
        co_return MakeError(ErrorCode::kNotFound,
                            "no AWS credentials: set AWS_ACCESS_KEY_ID and "
                            "AWS_SECRET_ACCESS_KEY, or run with a container or instance role "
                            "(AWS_EC2_METADATA_DISABLED=true rules out instance metadata)");
    }
    auto imds = co_await FromInstanceMetadata(http, env, timeout);
    if (!imds) {
        co_return MakeError(imds.error().code,
                            "no AWS credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and "
                            "AWS_CONTAINER_CREDENTIALS_* are unset and " +
                                imds.error().message);
    }
    co_return imds;
}

}  // namespace aragora::aws
