#pragma once

// BOOST_ASSERT in Debug builds. aragora_common defines BOOST_ENABLE_ASSERT_DEBUG_HANDLER
// for itself and everything linking it: a failed Boost assertion calls the handler in
// boost_assert.cpp, which aborts as assert() would, except for the known false
// assertions below, which it lets pass so that the code goes on as in a Release build
// (NDEBUG: no Boost assertion is evaluated at all).

namespace aragora::common {

// True for a Boost assertion known to fail on correct input where the code after it is
// right. Today one: Boost 1.81 Beast's parse_chunk_header asserts `n >= 5`, which fails
// when a chunked body's last chunk "0\r\n" and the first byte after it arrive in separate
// reads; the parser then asks for more bytes, as it should (fixed upstream in Beast by
// boostorg/beast pull request 2861, after 1.81). Left as it is, any client could abort a
// Debug server (the one `make serve` runs) with one request.
bool IsKnownFalseBoostAssertion(const char* expr, const char* file);

}  // namespace aragora::common
