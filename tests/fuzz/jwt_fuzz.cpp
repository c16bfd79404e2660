// libFuzzer target: JWT verification (auth/jwt.hpp) as the auth middleware runs it on a
// bearer token, and the strict base64url codec under it.
//
// Each input is used twice: as a token (what a client sends; almost never signed
// right), and as the header and payload JSON of a token signed here with the current or
// the previous secret, so that the claim checks behind the signature are fuzzed too:
// "<header>\n<payload>", or a payload alone under {"alg":"HS256","typ":"JWT"}.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "auth/jwt.hpp"
#include "common/crypto.hpp"
#include "common/result.hpp"
#include "fuzz_check.hpp"

namespace {

namespace auth = aragora::auth;
using aragora::fuzz::Check;
using Clock = std::chrono::system_clock;

const Clock::time_point kNow{std::chrono::seconds(1'700'000'000)};
constexpr std::string_view kSecret = "fuzz-current-secret";
constexpr std::string_view kPreviousSecret = "fuzz-previous-secret";
constexpr std::string_view kDefaultHeader = R"({"alg":"HS256","typ":"JWT"})";

// Production-like: issuer and audience required, the previous key inside its window.
auth::JwtVerifyConfig StrictConfig() {
    auth::JwtVerifyConfig config;
    config.secret = kSecret;
    config.previous_secret = kPreviousSecret;
    config.previous_valid_until = kNow + std::chrono::hours(1);
    config.issuer = "aragora";
    config.audience = "aragora-api";
    return config;
}

// No issuer or audience; the previous key accepted with no end.
auth::JwtVerifyConfig OpenConfig() {
    auth::JwtVerifyConfig config;
    config.secret = kSecret;
    config.previous_secret = kPreviousSecret;
    return config;
}

bool SameClaims(const auth::JwtClaims& a, const auth::JwtClaims& b) {
    return a.sub == b.sub && a.email == b.email && a.role == b.role && a.org_id == b.org_id &&
           a.typ == b.typ && a.jti == b.jti && a.iss == b.iss && a.aud == b.aud &&
           a.iat == b.iat && a.nbf == b.nbf && a.exp == b.exp;
}

void Verify(std::string_view token, const auth::JwtVerifyConfig& config) {
    const auto claims = auth::VerifyJwt(token, config, kNow);
    if (!claims) {
        Check(claims.error().code == aragora::common::ErrorCode::kAuthRequired,
              "every rejection is kAuthRequired");
        return;
    }
    Check(auth::LooksLikeJwt(token), "an accepted token looks like a JWT");
    Check(token.size() <= auth::kMaxJwtSize, "an accepted token is within kMaxJwtSize");
    Check(!claims->sub.empty(), "an accepted token has a subject");
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(kNow.time_since_epoch());
    // In 128 bits: exp near INT64_MAX must not overflow here.
    Check(static_cast<__int128>(claims->exp) + config.leeway.count() > now.count(),
          "an accepted token has not expired");
    if (!config.issuer.empty()) Check(claims->iss == config.issuer, "issuer matches");
    if (!config.audience.empty()) Check(claims->aud == config.audience, "audience matches");
    // The claims signed again verify to the same claims.
    const std::string resigned = auth::SignJwt(*claims, config.secret);
    const auto again = auth::VerifyJwt(resigned, config, kNow);
    Check(again.ok(), "re-signed claims verify");
    Check(SameClaims(*claims, *again), "re-signed claims are the same");
}

std::string Sign(std::string_view header, std::string_view payload, std::string_view secret) {
    std::string token = auth::Base64UrlEncode(header);
    token.push_back('.');
    token += auth::Base64UrlEncode(payload);
    const std::string signature = aragora::common::HmacSha256Raw(secret, token);
    token.push_back('.');
    token += auth::Base64UrlEncode(signature);
    return token;
}

void CheckBase64Url(std::string_view input) {
    const std::string encoded = auth::Base64UrlEncode(input);
    const auto decoded = auth::Base64UrlDecode(encoded);
    Check(decoded.has_value() && *decoded == input, "base64url round trip");
    // Strict decoding accepts only canonical text: re-encoding gives the input back.
    if (const auto raw = auth::Base64UrlDecode(input)) {
        Check(auth::Base64UrlEncode(*raw) == input, "base64url decoding is canonical");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    static const auth::JwtVerifyConfig kStrict = StrictConfig();
    static const auth::JwtVerifyConfig kOpen = OpenConfig();

    Verify(input, kStrict);
    Verify(input, kOpen);

    std::string_view header = kDefaultHeader;
    std::string_view payload = input;
    if (const size_t newline = input.find('\n'); newline != std::string_view::npos) {
        header = input.substr(0, newline);
        payload = input.substr(newline + 1);
    }
    const std::string token = Sign(header, payload, size % 2 == 0 ? kSecret : kPreviousSecret);
    Verify(token, kStrict);
    Verify(token, kOpen);

    CheckBase64Url(input);
    return 0;
}
