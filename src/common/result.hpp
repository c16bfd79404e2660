#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace aragora::common {

// One error-code enum for the whole program; the HTTP layer maps each code once.
enum class ErrorCode {
    kBadRequest,
    kValidation,
    kAuthRequired,
    kForbidden,
    kNotFound,
    kConflict,
    kPayloadTooLarge,
    kRateLimited,
    kOverloaded,
    kUnavailable,
    kTimeout,
    kCancelled,
    kNotImplemented,
    kProviderError,
    kStorage,
    kCrypto,
    kInternal,
};

// Stable snake_case name of a code (the `code` of error bodies and logs).
std::string_view ToString(ErrorCode code);

struct Error {
    ErrorCode code = ErrorCode::kInternal;
    std::string message;
    // Optional field name for validation errors (400 "errors": [{field, message}]).
    std::string field;
};

inline Error MakeError(ErrorCode code, std::string message, std::string field = {}) {
    return Error{code, std::move(message), std::move(field)};
}

// Expected-style result: either a value or an Error. Small on purpose; C++23's
// std::expected is not available in C++20 mode of g++ 12.
template <typename T>
class [[nodiscard]] Result {
public:
    // An empty result is an internal error (needed by Asio, which default-constructs
    // the value of a coroutine that ended with an exception).
    Result() : v_(std::in_place_index<1>, Error{ErrorCode::kInternal, "no result", {}}) {}
    Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}      // NOLINT
    Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    const Error& error() const { return std::get<1>(v_); }

private:
    std::variant<T, Error> v_;
};

struct Unit {};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT
    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const Error& error() const { return error_; }

private:
    Error error_;
    bool ok_ = true;
};

using Status = Result<void>;

// Status ↔ Result glue: BlockingPool::Run and other templates want a value type, so a
// Status travels as Result<Unit>; ToStatus drops the value of any Result.
inline Result<Unit> ToUnit(const Status& s) { return s ? Result<Unit>(Unit{}) : s.error(); }
template <typename T>
Status ToStatus(const Result<T>& r) {
    return r ? Status() : Status(r.error());
}

}  // namespace aragora::common
