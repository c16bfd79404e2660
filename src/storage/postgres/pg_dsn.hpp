#pragma once

// PostgreSQL connection strings: the runbooks' DATABASE_URL / ARAGORA_POSTGRES_DSN
// (`postgresql://` or `postgres://` URLs, or libpq "key=value" strings) combined with
// POSTGRES_PASSWORD, and their redacted form for logs. Pure functions, no I/O.

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace aragora::storage {

// Returns the connection string to hand to libpq:
// - a URL (`postgresql://[user[:password]@]host[:port][,...][/db][?k=v&...]`, scheme
//   case-insensitive, written lower case) keeps its form; when it carries no password (none in the
//   user info, none as a `password=` query parameter) and `password` is non-empty, `password` is
//   put into the user info, percent-encoded (RFC 3986 unreserved characters stay as they are);
// - a "key=value ..." string gets ` password='...'` (quoted, escaped) in the same case;
// - `connect_timeout=<default_connect_timeout_s>` is added when the string sets none (so
//   that every connect attempt has a deadline; 0 adds nothing).
// Empty input, another URL scheme, or a string libpq cannot parse is kValidation (the
// message never contains the password).
common::Result<std::string> BuildPgDsn(std::string_view dsn, std::string_view password,
                                       int default_connect_timeout_s = 5);

// The same string with every password replaced by "***" (user info of a URL, `password=`
// query parameter, `password=` keyword). For logs and error messages; never fails (an
// unparsable string comes back as "<unparsable postgres dsn>").
std::string RedactPgDsn(std::string_view dsn);

// Percent-encodes everything but RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~).
std::string PercentEncode(std::string_view text);

}  // namespace aragora::storage
