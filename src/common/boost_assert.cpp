// The BOOST_ASSERT handler of every Debug build (boost_assert.hpp).

#include "common/boost_assert.hpp"

#include <boost/assert.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace aragora::common {

namespace {

bool EndsWith(const char* s, const char* suffix) {
    const std::size_t n = std::strlen(s);
    const std::size_t m = std::strlen(suffix);
    return n >= m && std::strcmp(s + n - m, suffix) == 0;
}

}  // namespace

bool IsKnownFalseBoostAssertion(const char* expr, const char* file) {
    return expr != nullptr && file != nullptr && std::strcmp(expr, "n >= 5") == 0 &&
           EndsWith(file, "boost/beast/http/impl/basic_parser.ipp");
}

}  // namespace aragora::common

namespace boost {

void assertion_failed(char const* expr, char const* function, char const* file, long line) {
    if (aragora::common::IsKnownFalseBoostAssertion(expr, file)) return;
    std::fprintf(stderr, "%s:%ld: %s: Assertion `%s' failed.\n", file, line, function, expr);
    std::abort();
}

void assertion_failed_msg(char const* expr, char const* msg, char const* function, char const* file,
                          long line) {
    if (aragora::common::IsKnownFalseBoostAssertion(expr, file)) return;
    std::fprintf(stderr, "%s:%ld: %s: Assertion `%s' failed: %s\n", file, line, function, expr,
                 msg);
    std::abort();
}

}  // namespace boost
