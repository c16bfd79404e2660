#include "redis/detail/link.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace aragora::redis::detail {
namespace {

namespace asio = boost::asio;
using common::Status;
using SteadyClock = std::chrono::steady_clock;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

}  // namespace

Link::Link(asio::strand<asio::any_io_executor> strand, ConnectionOptions options, bool select_db,
           std::string label, std::shared_ptr<spdlog::logger> log)
    : strand_(std::move(strand)),
      options_(std::move(options)),
      select_db_(select_db),
      label_(std::move(label)),
      log_(std::move(log)),
      reconnect_({options_.reconnect_min, options_.reconnect_max, 0}),
      tls_(options_.tls, options_.url.tls),
      wake_(strand_),
      backoff_(strand_) {}

bool Link::Start(std::shared_ptr<void> owner, LinkUser& user) {
    if (started_ || stopped()) return false;
    started_ = true;
    asio::co_spawn(strand_, Run(std::move(owner), *this, user), CrashLogger());
    return true;
}

std::function<void(std::exception_ptr)> Link::CrashLogger() const {
    return [log = log_, label = label_](std::exception_ptr ep) {
        if (!ep) return;
        try {
            std::rethrow_exception(ep);
        } catch (const std::exception& e) {
            log->error("{} loop ended by an exception: {}", label, e.what());
        }
    };
}

void Link::Queue(std::string_view formatted) {
    if (session_over_ || formatted.empty()) return;
    out_ += formatted;
    wake_.cancel();
}

void Link::EndSession(std::string reason) {
    if (session_over_) return;
    session_over_ = true;
    end_reason_ = std::move(reason);
    if (conn_) conn_->Close();
    wake_.cancel();
}

void Link::Stop(std::string reason) {
    if (stopped_.exchange(true)) return;
    EndSession(std::move(reason));
    if (conn_) conn_->Close();
    backoff_.cancel();
}

asio::awaitable<void> Link::Reader(std::shared_ptr<void> owner, Link& link, LinkUser& user,
                                   std::shared_ptr<Connection> c) {
    while (!link.session_over_) {
        auto replies = co_await c->ReadReplies();
        if (!replies) {
            link.EndSession(replies.error().message);
            co_return;
        }
        user.OnReplies(*replies);
    }
}

asio::awaitable<void> Link::Writer(std::shared_ptr<void> owner, Link& link,
                                   std::shared_ptr<Connection> c) {
    while (!link.session_over_) {
        if (link.out_.empty()) {
            link.wake_.expires_at(SteadyClock::time_point::max());
            co_await link.wake_.async_wait(kTuple);
            continue;
        }
        std::string data;
        data.swap(link.out_);
        Status written = co_await c->Write(data);
        if (!written) {
            link.EndSession(written.error().message);
            co_return;
        }
    }
}

asio::awaitable<void> Link::Run(std::shared_ptr<void> owner, Link& link, LinkUser& user) {
    using namespace asio::experimental::awaitable_operators;
    const std::string where = link.options_.url.Redacted();
    int failures = 0;
    bool down_logged = false;
    bool connected_before = false;
    while (!link.stopped_) {
        auto c = std::make_shared<Connection>(link.strand_, link.tls_);
        link.conn_ = c;
        const auto deadline = SteadyClock::now() + link.options_.connect_timeout;
        Status opened = co_await c->Open(link.options_, link.select_db_, deadline);
        if (link.stopped_) break;
        if (!opened) {
            user.OnConnectFailed(opened.error().message);
            if (!down_logged) {
                link.log_->warn("{} {} unavailable: {} (retrying in the background)", link.label_,
                                where, opened.error().message);
                down_logged = true;
            }
            ++failures;
            link.backoff_.expires_after(link.reconnect_.Ceiling(failures - 1));
            co_await link.backoff_.async_wait(kTuple);
            continue;
        }
        failures = 0;
        link.session_over_ = false;
        user.OnConnected(down_logged || connected_before);
        connected_before = true;
        down_logged = false;
        auto reader = Reader(owner, link, user, c);
        auto writer = Writer(owner, link, c);
        co_await (std::move(reader) && std::move(writer));
        link.conn_.reset();
        link.out_.clear();
        const std::string reason = link.end_reason_;
        user.OnSessionEnded(reason);
        if (link.stopped_) break;
        link.log_->warn("{} {} connection lost: {} (reconnecting)", link.label_, where, reason);
        down_logged = true;
    }
    user.OnLoopEnded();
}

}  // namespace aragora::redis::detail
