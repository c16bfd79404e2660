#pragma once

// Who is calling: what the auth middleware hands to the handlers.

#include <string>

#include "auth/roles.hpp"

namespace aragora::auth {

struct Principal {
    enum class Kind {
        kAnonymous,  // the open development mode (no credential configured, loopback only)
        kService,    // ARAGORA_API_TOKEN
        kUser,       // a JWT access token
        kApiKey,     // an ara_ API key (acts as its user, with the user's current role)
    };
    Kind kind = Kind::kAnonymous;
    Role role = Role::kOwner;  // anonymous and service principals have full access
    std::string user_id;       // "" for anonymous and service
    std::string email;
    std::string org_id;
    std::string key_id;  // the API key's prefix (kApiKey)

    bool Allows(Permission p) const { return RoleAllows(role, p); }
    // The audit log's and the debate record's actor: the user id, "service", or "".
    std::string ActorId() const {
        if (kind == Kind::kService) return "service";
        return user_id;
    }
    // Key of the per-principal rate limit ("" = none: anonymous callers are limited by IP).
    std::string RateKey() const {
        if (kind == Kind::kService) return "service";
        if (kind == Kind::kApiKey) return "key:" + key_id;
        if (kind == Kind::kUser) return "user:" + user_id;
        return {};
    }
    std::string_view KindName() const {
        switch (kind) {
            case Kind::kAnonymous:
                return "anonymous";
            case Kind::kService:
                return "service_token";
            case Kind::kUser:
                return "jwt";
            case Kind::kApiKey:
                return "api_key";
        }
        return "anonymous";
    }
};

}  // namespace aragora::auth
