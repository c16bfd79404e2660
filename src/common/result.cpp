#include "common/result.hpp"

namespace aragora::common {

std::string_view ToString(ErrorCode code) {
    switch (code) {
        case ErrorCode::kBadRequest:
            return "bad_request";
        case ErrorCode::kValidation:
            return "validation_error";
        case ErrorCode::kAuthRequired:
            return "auth_required";
        case ErrorCode::kForbidden:
            return "forbidden";
        case ErrorCode::kNotFound:
            return "not_found";
        case ErrorCode::kConflict:
            return "conflict";
        case ErrorCode::kPayloadTooLarge:
            return "payload_too_large";
        case ErrorCode::kRateLimited:
            return "rate_limit_exceeded";
        case ErrorCode::kOverloaded:
            return "overloaded";
        case ErrorCode::kUnavailable:
            return "unavailable";
        case ErrorCode::kTimeout:
            return "timeout";
        case ErrorCode::kCancelled:
            return "cancelled";
        case ErrorCode::kNotImplemented:
            return "not_implemented";
        case ErrorCode::kProviderError:
            return "provider_error";
        case ErrorCode::kStorage:
            return "storage_error";
        case ErrorCode::kCrypto:
            return "crypto_error";
        case ErrorCode::kInternal:
            return "internal_error";
    }
    return "internal_error";
}

}  // namespace aragora::common
