#include "auth/jwt.hpp"

#include <array>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "common/crypto.hpp"
#include "common/json_access.hpp"

namespace aragora::auth {

namespace {

namespace json = boost::json;

constexpr char kBase64UrlAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// The only header SignJwt writes.
constexpr std::string_view kHeaderJson = R"({"alg":"HS256","typ":"JWT"})";

constexpr std::size_t kMaxAlgInMessage = 32;

// 0..63 for an alphabet character, -1 otherwise.
constexpr std::array<std::int8_t, 256> MakeDecodeTable() {
    std::array<std::int8_t, 256> table{};
    for (auto& entry : table) entry = -1;
    for (int i = 0; i < 64; ++i) table[static_cast<unsigned char>(kBase64UrlAlphabet[i])] = i;
    return table;
}
constexpr std::array<std::int8_t, 256> kDecodeTable = MakeDecodeTable();

common::Error Fail(std::string message) {
    return common::MakeError(common::ErrorCode::kAuthRequired, std::move(message));
}

// The alg comes from an unauthenticated header: keep only printable ASCII and bound it so
// that it cannot flood or corrupt a log line.
std::string SafeForMessage(std::string_view text) {
    std::string out;
    for (char c : text.substr(0, kMaxAlgInMessage)) {
        out.push_back(c >= 0x20 && c <= 0x7e ? c : '?');
    }
    if (text.size() > kMaxAlgInMessage) out += "...";
    return out;
}

std::optional<json::object> ParseObject(std::string_view text) {
    json::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) return std::nullopt;
    return std::move(v.get_object());
}

// Reads an optional string claim into `out`; an error when present but not a string.
std::optional<common::Error> ReadString(const json::object& payload, std::string_view name,
                                        std::string& out) {
    const json::value* v = payload.if_contains(name);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) return Fail("malformed token: " + std::string(name) + " must be a string");
    out = std::string(v->get_string());
    return std::nullopt;
}

// Reads an optional integer claim; `present` tells whether the token had it.
std::optional<common::Error> ReadInt(const json::object& payload, std::string_view name,
                                     std::int64_t& out, bool& present) {
    present = false;
    const json::value* v = payload.if_contains(name);
    if (v == nullptr) return std::nullopt;
    auto n = common::AsInt64(*v);
    if (!n) return Fail("malformed token: " + std::string(name) + " must be an integer");
    out = *n;
    present = true;
    return std::nullopt;
}

// 128-bit arithmetic so that hostile claim values (near INT64_MAX/MIN) plus the leeway
// cannot overflow.
using Wide = __int128;

}  // namespace

std::string Base64UrlEncode(std::string_view raw) {
    std::string out;
    out.reserve((raw.size() * 4 + 2) / 3);
    std::size_t i = 0;
    auto byte = [&](std::size_t k) {
        return static_cast<unsigned>(static_cast<unsigned char>(raw[k]));
    };
    for (; i + 3 <= raw.size(); i += 3) {
        unsigned n = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
        out.push_back(kBase64UrlAlphabet[(n >> 18) & 63]);
        out.push_back(kBase64UrlAlphabet[(n >> 12) & 63]);
        out.push_back(kBase64UrlAlphabet[(n >> 6) & 63]);
        out.push_back(kBase64UrlAlphabet[n & 63]);
    }
    std::size_t rest = raw.size() - i;
    if (rest == 1) {
        unsigned n = byte(i) << 16;
        out.push_back(kBase64UrlAlphabet[(n >> 18) & 63]);
        out.push_back(kBase64UrlAlphabet[(n >> 12) & 63]);
    } else if (rest == 2) {
        unsigned n = (byte(i) << 16) | (byte(i + 1) << 8);
        out.push_back(kBase64UrlAlphabet[(n >> 18) & 63]);
        out.push_back(kBase64UrlAlphabet[(n >> 12) & 63]);
        out.push_back(kBase64UrlAlphabet[(n >> 6) & 63]);
    }
    return out;
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
    // A lone trailing character carries only 6 bits: never a valid encoding.
    if (text.size() % 4 == 1) return std::nullopt;
    std::string out;
    out.reserve(text.size() / 4 * 3 + 2);
    unsigned acc = 0;
    int bits = 0;
    for (char c : text) {
        std::int8_t d = kDecodeTable[static_cast<unsigned char>(c)];
        if (d < 0) return std::nullopt;
        acc = ((acc << 6) | static_cast<unsigned>(d)) & 0xffffu;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xffu));
        }
    }
    // Unused trailing bits must be zero, so that each byte string has one encoding (a
    // signature must not verify under several spellings).
    if (bits > 0 && (acc & ((1u << bits) - 1u)) != 0) return std::nullopt;
    return out;
}

bool IsAccessToken(const JwtClaims& claims) { return claims.typ.empty() || claims.typ == "access"; }

bool LooksLikeJwt(std::string_view token) {
    int parts = 1;
    std::size_t part_len = 0;
    for (char c : token) {
        if (c == '.') {
            if (part_len == 0 || ++parts > 3) return false;
            part_len = 0;
            continue;
        }
        if (kDecodeTable[static_cast<unsigned char>(c)] < 0) return false;
        ++part_len;
    }
    return parts == 3 && part_len > 0;
}

std::string SignJwt(const JwtClaims& claims, std::string_view secret) {
    json::object payload;
    payload["sub"] = claims.sub;
    payload["email"] = claims.email;
    payload["role"] = claims.role;
    payload["org_id"] = claims.org_id;
    if (!claims.typ.empty()) payload["typ"] = claims.typ;
    payload["jti"] = claims.jti;
    if (!claims.iss.empty()) payload["iss"] = claims.iss;
    if (!claims.aud.empty()) payload["aud"] = claims.aud;
    payload["iat"] = claims.iat;
    if (claims.nbf != 0) payload["nbf"] = claims.nbf;
    payload["exp"] = claims.exp;

    std::string signing_input = Base64UrlEncode(kHeaderJson);
    signing_input.push_back('.');
    signing_input += Base64UrlEncode(json::serialize(payload));
    std::string signature = Base64UrlEncode(common::HmacSha256Raw(secret, signing_input));
    signing_input.push_back('.');
    signing_input += signature;
    return signing_input;
}

common::Result<JwtClaims> VerifyJwt(std::string_view token, const JwtVerifyConfig& config,
                                    std::chrono::system_clock::time_point now) {
    if (token.size() > kMaxJwtSize) return Fail("token too large");

    std::size_t dot1 = token.find('.');
    if (dot1 == std::string_view::npos) return Fail("malformed token");
    std::size_t dot2 = token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
        return Fail("malformed token");
    std::string_view header_b64 = token.substr(0, dot1);
    std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
    std::string_view signature_b64 = token.substr(dot2 + 1);
    if (header_b64.empty() || payload_b64.empty() || signature_b64.empty())
        return Fail("malformed token");

    auto header_json = Base64UrlDecode(header_b64);
    auto payload_json = Base64UrlDecode(payload_b64);
    auto signature = Base64UrlDecode(signature_b64);
    if (!header_json || !payload_json || !signature) return Fail("malformed token");

    // The header is read before the signature is checked: it says how to check it.
    auto header = ParseObject(*header_json);
    if (!header) return Fail("malformed token");
    const json::value* alg = header->if_contains("alg");
    if (alg == nullptr) return Fail("unsupported token algorithm: (missing)");
    if (!alg->is_string())
        return Fail("unsupported token algorithm: " + SafeForMessage(json::serialize(*alg)));
    if (alg->get_string() != "HS256")
        return Fail("unsupported token algorithm: " + SafeForMessage(alg->get_string()));
    // RFC 7515 4.1.11: extensions we do not understand must be rejected; we know none.
    if (header->contains("crit")) return Fail("unsupported token header: crit");

    // An empty key is a valid HMAC key; a server without a secret must accept nothing.
    if (config.secret.empty()) return Fail("token authentication is not configured");
    std::string_view signing_input = token.substr(0, dot2);
    if (!common::ConstantTimeEqual(*signature,
                                   common::HmacSha256Raw(config.secret, signing_input))) {
        bool previous_ok =
            !config.previous_secret.empty() &&
            common::ConstantTimeEqual(*signature,
                                      common::HmacSha256Raw(config.previous_secret, signing_input));
        if (!previous_ok) return Fail("token signature does not match");
        if (config.previous_valid_until && now >= *config.previous_valid_until)
            return Fail("token signed with a retired key");
    }

    auto payload = ParseObject(*payload_json);
    if (!payload) return Fail("malformed token");

    JwtClaims claims;
    claims.typ.clear();
    for (auto [name, field] : {std::pair<std::string_view, std::string*>{"sub", &claims.sub},
                               {"email", &claims.email},
                               {"role", &claims.role},
                               {"typ", &claims.typ},
                               {"jti", &claims.jti},
                               {"iss", &claims.iss}}) {
        if (auto err = ReadString(*payload, name, *field)) return std::move(*err);
    }
    // The original writes "org_id": null for a user without an organisation.
    if (const json::value* org = payload->if_contains("org_id"); org && !org->is_null()) {
        if (auto err = ReadString(*payload, "org_id", claims.org_id)) return std::move(*err);
    }
    // The original Aragora names the kind "type".
    if (payload->contains("type")) {
        std::string type;
        if (auto err = ReadString(*payload, "type", type)) return std::move(*err);
        if (payload->contains("typ") && type != claims.typ)
            return Fail("malformed token: typ and type disagree");
        claims.typ = std::move(type);
    }
    // "" means "no type claim" below: an empty one (never written) is not that.
    if (claims.typ.empty() && (payload->contains("typ") || payload->contains("type")))
        return Fail("malformed token: empty token type");
    bool has_tv = false;
    std::int64_t tv = 0;
    if (auto err = ReadInt(*payload, "tv", tv, has_tv)) return std::move(*err);
    if (has_tv) claims.tv = tv;

    // aud: a string or an array of strings.
    std::vector<std::string_view> audiences;
    if (const json::value* aud = payload->if_contains("aud")) {
        if (aud->is_string()) {
            audiences.push_back(aud->get_string());
        } else if (aud->is_array()) {
            for (const json::value& item : aud->get_array()) {
                if (!item.is_string())
                    return Fail("malformed token: aud must be a string or an array of strings");
                audiences.push_back(item.get_string());
            }
        } else {
            return Fail("malformed token: aud must be a string or an array of strings");
        }
    }

    bool has_exp = false, has_nbf = false, has_iat = false;
    if (auto err = ReadInt(*payload, "exp", claims.exp, has_exp)) return std::move(*err);
    if (auto err = ReadInt(*payload, "nbf", claims.nbf, has_nbf)) return std::move(*err);
    if (auto err = ReadInt(*payload, "iat", claims.iat, has_iat)) return std::move(*err);

    const Wide now_s = std::chrono::floor<std::chrono::seconds>(now.time_since_epoch()).count();
    const Wide leeway = std::max<std::int64_t>(0, config.leeway.count());
    if (!has_exp) return Fail("token has no expiry");
    if (Wide{claims.exp} + leeway <= now_s) return Fail("token expired");
    if (has_nbf && Wide{claims.nbf} - leeway > now_s) return Fail("token not yet valid");
    if (has_iat && Wide{claims.iat} - leeway > now_s) return Fail("token issued in the future");

    if (!config.issuer.empty() && claims.iss != config.issuer)
        return Fail("token issuer does not match");
    if (!config.audience.empty()) {
        bool matched = false;
        for (std::string_view a : audiences) matched = matched || a == config.audience;
        if (!matched) return Fail("token audience does not match");
        claims.aud = config.audience;
    } else if (!audiences.empty()) {
        claims.aud = std::string(audiences.front());
    }

    if (claims.sub.empty()) return Fail("token has no subject");
    return claims;
}

}  // namespace aragora::auth
