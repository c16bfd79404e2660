#pragma once

// The Sentry error reporter (SENTRY_DSN): Report() copies the report into a bounded queue
// under a token-bucket rate limit and returns; a coroutine on the reporter's own thread
// (its own io_context and HTTPS client) scrubs each report (Scrubber), builds its
// envelope and POSTs it to the DSN's envelope endpoint, one at a time, each bounded by
// send_timeout. Nothing waits on Sentry: a request, an I/O thread or a debate strand only
// takes a short mutex. A 429 from Sentry suspends sending for its Retry-After.
//
// Metrics: aragora_sentry_events_sent_total, aragora_sentry_events_dropped_total{reason}
// with reason queue_full, rate_limited (ours or Sentry's 429), send_failed (transport
// error or a non-2xx answer), shutdown (still queued at Close).

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.hpp"
#include "common/error_reporter.hpp"
#include "common/result.hpp"
#include "config/settings.hpp"
#include "metrics/registry.hpp"
#include "net/http_client.hpp"
#include "sentry/dsn.hpp"
#include "sentry/envelope.hpp"
#include "sentry/scrub.hpp"

namespace aragora::sentry {

struct ReporterOptions {
    Dsn dsn;
    EventContext context;
    std::vector<std::string> known_secrets;  // exact values scrubbed (SecretsFromEnvironment)
    std::size_t queue_capacity = 100;
    // Token bucket: `burst` events at once, refilled at events_per_minute.
    double events_per_minute = 60;
    double burst = 20;
    std::chrono::milliseconds send_timeout{5'000};
    net::HttpClientOptions http;  // CA file and proxy, as for the providers
};

// Sends one request; runs on the reporter's thread. The default is an HttpClient.
using Transport =
    std::function<boost::asio::awaitable<common::Result<net::ClientResponse>>(net::ClientRequest)>;

class Reporter final : public common::ErrorReporter {
public:
    Reporter(ReporterOptions options, const common::Clock& clock, metrics::Registry& registry);
    // Tests: `transport` instead of the HTTPS client.
    Reporter(ReporterOptions options, const common::Clock& clock, metrics::Registry& registry,
             Transport transport);
    ~Reporter() override;
    Reporter(const Reporter&) = delete;
    Reporter& operator=(const Reporter&) = delete;

    void Report(common::ErrorReport report) noexcept override;

    // Stops taking reports, sends what is queued for at most `grace`, then cancels the
    // send in flight, counts the rest as dropped (shutdown) and joins the thread.
    // Idempotent; the destructor calls Close(0).
    void Close(std::chrono::milliseconds grace);

    struct Counts {
        std::uint64_t sent = 0;
        std::uint64_t queue_full = 0;
        std::uint64_t rate_limited = 0;
        std::uint64_t send_failed = 0;
        std::uint64_t shutdown = 0;
    };
    Counts counts() const;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

// The reporter `serve` and `worker` run: nullptr without SENTRY_DSN; kValidation naming
// SENTRY_DSN when it does not parse. Environment = ARAGORA_ENV, release =
// aragora@<version>, server_name = the host name, known secrets = the process
// environment's (SecretsFromEnvironment). `http`: CA file and proxy (the providers').
common::Result<std::unique_ptr<Reporter>> ReporterFromSettings(const config::Settings& settings,
                                                               net::HttpClientOptions http,
                                                               const common::Clock& clock,
                                                               metrics::Registry& registry);

}  // namespace aragora::sentry
