#pragma once

// Which address a request comes from, given the socket peer and the proxy headers.
// Pure function; thread-safe; never throws.

#include <string>
#include <string_view>

#include "ratelimit/ip.hpp"

namespace aragora::ratelimit {

// The client address of a request. `peer` is the socket peer (may be "[::1]" or
// "::ffff:127.0.0.1" form).
//
// - Peer not inside `trusted`: the peer (proxy headers are ignored: anyone can send them).
// - Otherwise X-Forwarded-For (comma-separated, possibly several header values joined by
//   ','; empty entries skipped) is walked from the right, skipping addresses inside
//   `trusted`; the first untrusted valid address wins. An unparsable entry stops the walk:
//   the last address walked (valid and trusted) is used, or the peer when there is none.
//   If every entry is trusted, the leftmost.
// - With no X-Forwarded-For entries at all (absent or blank), X-Real-IP when it parses.
// - Else the peer.
//
// Returns the canonical string (IpAddress::ToString()), or the peer text as given if the
// peer itself does not parse.
std::string ClientIp(std::string_view peer, std::string_view x_forwarded_for,
                     std::string_view x_real_ip, const CidrList& trusted);

}  // namespace aragora::ratelimit
