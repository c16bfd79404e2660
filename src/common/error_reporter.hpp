#pragma once

// Where components hand the errors an operator must hear about (5xx answers, failed
// debates, agent calls that failed past their retries) to an error tracker (Sentry, see
// src/sentry/). Components hold a nullable ErrorReporter*: null = nothing is reported.
//
// Contract of Report: never blocks and never throws; callable from any thread, including
// the I/O threads and the debates' strands. The implementation copies what it keeps,
// scrubs secrets before anything leaves the process, and may drop (bounded queue, rate
// limit) and count what it drops.

#include <string>
#include <utility>
#include <vector>

namespace aragora::common {

struct ErrorReport {
    std::string level = "error";  // "fatal", "error" or "warning"
    // What failed, as Sentry's exception type: "http_500", "internal_error",
    // "debate_failed", "agent_call_failed".
    std::string type;
    std::string message;
    std::string correlation_id;  // "" when none
    // Low-cardinality context: route, status, error_code, agent, provider, debate_id.
    std::vector<std::pair<std::string, std::string>> tags;
    // HTTP errors only: the request as received (scrubbed by the reporter).
    std::string method;
    std::string path;   // the route template, never the raw path with ids
    std::string query;  // raw query string, "" when none
    std::vector<std::pair<std::string, std::string>> headers;
};

class ErrorReporter {
public:
    virtual ~ErrorReporter() = default;
    virtual void Report(ErrorReport report) noexcept = 0;
};

}  // namespace aragora::common
