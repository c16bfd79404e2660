#pragma once

// A Sentry envelope (https envelope format, one "event" item) for one error report:
//   {"event_id":..,"sent_at":..,"dsn":..}\n{"type":"event","length":N}\n<event JSON>\n
// The event carries level, message, one exception {type, value}, tags (correlation_id
// among them), environment, release, server_name, platform "native", and for HTTP errors
// a request {method, url (route template), query_string, headers}. Pure: the caller has
// scrubbed the report already.

#include <chrono>
#include <string>

#include "common/error_reporter.hpp"
#include "sentry/dsn.hpp"

namespace aragora::sentry {

struct EventContext {
    std::string environment;
    std::string release;
    std::string server_name;
    std::string sdk_name = "aragora.cpp";
    std::string sdk_version;
};

// 32 lowercase hex digits (random).
std::string NewEventId();

std::string BuildEnvelope(const common::ErrorReport& report, const EventContext& context,
                          const Dsn& dsn, const std::string& event_id,
                          std::chrono::system_clock::time_point now);

}  // namespace aragora::sentry
