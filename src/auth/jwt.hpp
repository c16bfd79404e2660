#pragma once

// HS256 JSON Web Tokens (RFC 7519) for user access tokens. Only HS256 is produced or
// accepted. Pure functions: the caller passes the secrets and the current time.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace aragora::auth {

struct JwtClaims {
    std::string sub;  // user id
    std::string email;
    std::string role;    // role name
    std::string org_id;  // VerifyJwt: "" for null (the original writes null for no org)
    // The token's kind. SignJwt writes it as "typ" (unless empty). VerifyJwt reads "typ" or the
    // original Aragora's "type" (both present and different, or empty: refused), "" when
    // neither is present.
    std::string typ = "access";
    // The original's token version ("tv"); VerifyJwt: nullopt when absent. Our users have
    // no token version, so nothing compares it (see IsAccessToken's caller).
    std::optional<std::int64_t> tv;
    std::string jti;
    std::string iss;  // set when configured
    // VerifyJwt: the token's aud string; for an array, the configured audience it matched
    // (or its first element when no audience is configured).
    std::string aud;
    std::int64_t iat = 0, nbf = 0, exp = 0;  // epoch seconds; nbf 0 = absent
};

struct JwtVerifyConfig {
    std::string secret;           // ARAGORA_JWT_SECRET (may be empty = no JWTs accepted)
    std::string previous_secret;  // ARAGORA_JWT_SECRET_PREVIOUS (empty = none)
    // Tokens verifying only under previous_secret are accepted while now < previous_valid_until;
    // nullopt = accepted with no end (the caller logs a warning at start).
    std::optional<std::chrono::system_clock::time_point> previous_valid_until;
    std::string issuer;    // when non-empty: iss must equal it
    std::string audience;  // when non-empty: aud (a string or an array of strings) must hold it
    std::chrono::seconds leeway{30};
};

// Maximum accepted token length in bytes; longer tokens are rejected before decoding.
inline constexpr std::size_t kMaxJwtSize = 8192;

// Header exactly {"alg":"HS256","typ":"JWT"}; base64url without padding. Claims are written
// as sub, email, role, org_id, [typ], jti, [iss], [aud], iat, [nbf], exp; nbf only when
// nonzero, typ/iss/aud only when non-empty (so verified claims signed again verify to the
// same claims). iat/exp must be set by the caller.
std::string SignJwt(const JwtClaims& claims, std::string_view secret);

// Whether verified claims may be used as an access token: typ "access", or no type claim
// at all (the original Aragora reads a missing "type" as access). Refresh and every other
// kind ("refresh", the original's "mfa_pending", ...) are not.
bool IsAccessToken(const JwtClaims& claims);

// Verifies `token` at `now`. Checks, in order: size <= kMaxJwtSize, three parts, strict
// base64url (no padding, canonical trailing bits), a JSON-object header whose "alg" is exactly
// "HS256" (no "crit"), the signature (constant time) under secret, else under previous_secret
// while inside its window; then a JSON-object payload: exp required (exp + leeway > now), nbf
// when present (nbf - leeway <= now), iat when present (iat - leeway <= now), iss/aud when
// configured, sub a non-empty string. Numeric claims (exp, nbf, iat, tv) must be integers
// (integral doubles are accepted); string claims must be strings (org_id may be null).
// Accepts the original Aragora's tokens (HS256 over the same secret, payload
// {sub, email, org_id, role, iat, exp, type, tv}): "type" is read like "typ".
// Every failure is a common::Error with code kAuthRequired and a short message, e.g.
// "token expired", "token signature does not match", "token signed with a retired key",
// "unsupported token algorithm: HS512", "malformed token". Never throws on any input.
common::Result<JwtClaims> VerifyJwt(std::string_view token, const JwtVerifyConfig& config,
                                    std::chrono::system_clock::time_point now);

// Three non-empty base64url parts separated by '.' (cheap syntactic check).
bool LooksLikeJwt(std::string_view token);

std::string Base64UrlEncode(std::string_view raw);  // no padding
// Strict: alphabet A-Z a-z 0-9 '-' '_', no padding, no whitespace, unused trailing bits zero.
// nullopt on bad input.
std::optional<std::string> Base64UrlDecode(std::string_view text);

}  // namespace aragora::auth
