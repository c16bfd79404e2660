#include "sentry/reporter.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>

#include "common/build_info.hpp"
#include "common/logging.hpp"
#include "common/strings.hpp"

namespace aragora::sentry {
namespace asio = boost::asio;

namespace {
std::shared_ptr<spdlog::logger> Log() { return common::GetLogger("aragora.sentry"); }

std::chrono::seconds RetryAfterOf(const net::ClientResponse& response) {
    const std::string value = response.Header("retry-after");
    try {
        if (!value.empty()) return std::chrono::seconds(std::max(1, std::stoi(value)));
    } catch (const std::exception&) {
    }
    return std::chrono::seconds(60);
}
}  // namespace

struct Reporter::Impl {
    Impl(ReporterOptions o, const common::Clock& c, metrics::Registry& registry)
        : options(std::move(o)),
          clock(c),
          scrubber(options.known_secrets),
          sent(registry
                   .AddCounter("aragora_sentry_events_sent_total",
                               "Error events accepted by Sentry (SENTRY_DSN).")
                   .WithLabels({})),
          dropped(registry.AddCounter(
              "aragora_sentry_events_dropped_total",
              "Error events not delivered to Sentry, by reason: queue_full, rate_limited, "
              "send_failed, shutdown.",
              {"reason"}, metrics::FamilyOptions{.max_series = 8})),
          tokens(options.burst),
          last_refill(clock.SteadyNow()),
          work(asio::make_work_guard(ioc)) {}

    ReporterOptions options;
    const common::Clock& clock;
    Scrubber scrubber;
    metrics::Counter& sent;
    metrics::Family<metrics::Counter>& dropped;
    Transport transport;

    mutable std::mutex mu;
    std::condition_variable idle_cv;
    std::deque<common::ErrorReport> queue;
    bool sending = false;
    bool closed = false;
    double tokens;
    std::chrono::steady_clock::time_point last_refill;
    std::chrono::steady_clock::time_point suspended_until{};
    Counts counts;

    asio::io_context ioc;
    asio::executor_work_guard<asio::io_context::executor_type> work;
    std::unique_ptr<net::HttpClient> http;  // destroyed before ioc
    asio::cancellation_signal cancel;       // touched on the reporter thread only
    std::thread thread;

    void Drop(const char* reason, std::uint64_t Counts::*field) {
        ++(counts.*field);
        dropped.WithLabels({reason}).Inc();
    }

    asio::awaitable<void> SendLoop() {
        while (true) {
            common::ErrorReport report;
            {
                std::lock_guard lock(mu);
                if (queue.empty()) {
                    sending = false;
                    idle_cv.notify_all();
                    co_return;
                }
                report = std::move(queue.front());
                queue.pop_front();
            }
            const std::string event_id = NewEventId();
            common::ErrorReport clean = Scrub(std::move(report));
            net::ClientRequest request;
            request.method = "POST";
            request.url = options.dsn.EnvelopeUrl();
            request.timeout = options.send_timeout;
            request.headers = {
                {"Content-Type", "application/x-sentry-envelope"},
                {"X-Sentry-Auth", options.dsn.AuthHeader(options.context.sdk_name + "/" +
                                                         options.context.sdk_version)}};
            request.body =
                BuildEnvelope(clean, options.context, options.dsn, event_id, clock.SystemNow());
            auto answer = co_await transport(std::move(request));
            std::lock_guard lock(mu);
            if (answer && answer->status >= 200 && answer->status < 300) {
                ++counts.sent;
                sent.Inc();
            } else if (answer && answer->status == 429) {
                suspended_until = clock.SteadyNow() + RetryAfterOf(*answer);
                Drop("rate_limited", &Counts::rate_limited);
            } else {
                Drop("send_failed", &Counts::send_failed);
                if (counts.send_failed == 1 || counts.send_failed % 100 == 0) {
                    Log()->warn(
                        "sentry: event not delivered ({} so far): {}", counts.send_failed,
                        answer ? "HTTP " + std::to_string(answer->status) : answer.error().message);
                }
            }
            if (closed && !answer && answer.error().code == common::ErrorCode::kCancelled) {
                while (!queue.empty()) {
                    queue.pop_front();
                    Drop("shutdown", &Counts::shutdown);
                }
            }
        }
    }

    common::ErrorReport Scrub(common::ErrorReport r) const {
        r.message = scrubber.Text(r.message);
        r.type = scrubber.Text(r.type);
        r.correlation_id = scrubber.Text(r.correlation_id);
        for (auto& [k, v] : r.tags) v = scrubber.Text(v);
        r.path = scrubber.Text(r.path);
        r.query = scrubber.Query(r.query);
        r.headers = scrubber.Headers(r.headers);
        return r;
    }

    // Under mu.
    bool TakeToken() {
        const auto now = clock.SteadyNow();
        if (now < suspended_until) return false;
        const double elapsed = std::chrono::duration<double>(now - last_refill).count();
        last_refill = now;
        tokens = std::min(options.burst, tokens + elapsed * options.events_per_minute / 60.0);
        if (tokens < 1.0) return false;
        tokens -= 1.0;
        return true;
    }
};

Reporter::Reporter(ReporterOptions options, const common::Clock& clock, metrics::Registry& registry)
    : Reporter(std::move(options), clock, registry, Transport{}) {}

Reporter::Reporter(ReporterOptions options, const common::Clock& clock, metrics::Registry& registry,
                   Transport transport)
    : impl_(std::make_shared<Impl>(std::move(options), clock, registry)) {
    if (transport) {
        impl_->transport = std::move(transport);
    } else {
        net::HttpClientOptions http = impl_->options.http;
        http.max_idle_per_host = 1;
        http.user_agent =
            impl_->options.context.sdk_name + "/" + impl_->options.context.sdk_version;
        impl_->http = std::make_unique<net::HttpClient>(impl_->ioc, std::move(http));
        net::HttpClient* client = impl_->http.get();
        impl_->transport = [client](net::ClientRequest request) {
            return client->Send(std::move(request));
        };
    }
    impl_->thread = std::thread([impl = impl_.get()] { impl->ioc.run(); });
}

Reporter::~Reporter() { Close(std::chrono::milliseconds(0)); }

void Reporter::Report(common::ErrorReport report) noexcept {
    Impl& m = *impl_;
    try {
        std::lock_guard lock(m.mu);
        if (m.closed) {
            m.Drop("shutdown", &Counts::shutdown);
            return;
        }
        if (m.queue.size() >= m.options.queue_capacity) {
            m.Drop("queue_full", &Counts::queue_full);
            return;
        }
        if (!m.TakeToken()) {
            m.Drop("rate_limited", &Counts::rate_limited);
            return;
        }
        m.queue.push_back(std::move(report));
        if (m.sending) return;
        m.sending = true;
        asio::post(m.ioc, [impl = impl_.get()] {
            asio::co_spawn(impl->ioc, impl->SendLoop(),
                           asio::bind_cancellation_slot(impl->cancel.slot(), asio::detached));
        });
    } catch (const std::exception& e) {
        Log()->warn("sentry: report not queued: {}", e.what());
    }
}

void Reporter::Close(std::chrono::milliseconds grace) {
    Impl& m = *impl_;
    if (!m.thread.joinable()) return;
    {
        std::unique_lock lock(m.mu);
        m.closed = true;
        m.idle_cv.wait_for(lock, grace, [&m] { return !m.sending; });
        if (m.sending) {
            asio::post(m.ioc, [impl = impl_.get()] {
                impl->cancel.emit(asio::cancellation_type::terminal);
            });
            // A cancelled send returns promptly (HttpClient closes the socket).
            m.idle_cv.wait_for(lock, std::chrono::seconds(5), [&m] { return !m.sending; });
        }
        while (!m.queue.empty()) {
            m.queue.pop_front();
            m.Drop("shutdown", &Counts::shutdown);
        }
    }
    m.work.reset();
    m.ioc.stop();
    m.thread.join();
}

Reporter::Counts Reporter::counts() const {
    std::lock_guard lock(impl_->mu);
    return impl_->counts;
}

common::Result<std::unique_ptr<Reporter>> ReporterFromSettings(const config::Settings& settings,
                                                               net::HttpClientOptions http,
                                                               const common::Clock& clock,
                                                               metrics::Registry& registry) {
    if (settings.sentry.dsn.empty()) return std::unique_ptr<Reporter>();
    auto dsn = ParseDsn(settings.sentry.dsn);
    if (!dsn) return dsn.error();
    ReporterOptions options;
    options.dsn = *dsn;
    options.context.environment = settings.env;
    options.context.release = std::string("aragora@") + build::kVersion;
    options.context.sdk_version = build::kVersion;
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) == 0) options.context.server_name = host;
    options.known_secrets = SecretsFromEnvironment(config::ProcessEnv(), ProcessEnvironmentNames());
    options.http = std::move(http);
    Log()->info("errors reported to Sentry at {} (project {}, environment {})", dsn->host,
                dsn->project_id, settings.env);
    return std::make_unique<Reporter>(std::move(options), clock, registry);
}

}  // namespace aragora::sentry
