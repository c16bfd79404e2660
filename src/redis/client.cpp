#include "redis/client.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <exception>
#include <mutex>

#include "common/logging.hpp"
#include "redis/detail/connection.hpp"
#include "redis/detail/link.hpp"

namespace aragora::redis {
namespace {

namespace asio = boost::asio;
using common::ErrorCode;
using common::MakeError;
using common::Result;
using common::Status;
using SteadyClock = std::chrono::steady_clock;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// One command between its enqueueing and its reply (or failure). Shared by the issuing
// coroutine (which waits on `timer`) and the queue; touched only on the strand.
struct PendingCommand {
    Result<Reply> result;
    bool done = false;
    asio::steady_timer* timer = nullptr;  // the issuer's wait; null once it stopped waiting
};

}  // namespace

struct RedisClient::Impl : std::enable_shared_from_this<Impl>, detail::LinkUser {
    Impl(asio::any_io_executor ex, ClientOptions o)
        : strand(asio::make_strand(ex)),
          options(std::move(o)),
          log(common::GetLogger("aragora.redis." + options.name)),
          link(strand, options.connection, true, "redis", log) {
        if (options.max_pending == 0) options.max_pending = 1;
        if (options.command_timeout.count() <= 0) options.command_timeout = std::chrono::seconds(1);
    }

    asio::strand<asio::any_io_executor> strand;
    ClientOptions options;
    std::shared_ptr<spdlog::logger> log;
    detail::Link link;  // the connection, its writer and the reconnect loop

    // Strand-only state.
    std::deque<std::shared_ptr<PendingCommand>> pending;  // in send order
    std::vector<asio::steady_timer*> connect_waiters;

    // Readable from any thread.
    std::atomic<bool> is_connected{false};
    mutable std::mutex mu;
    std::string last_error;
    std::atomic<std::uint64_t> commands{0}, timeouts{0}, overloaded{0}, unavailable{0}, connects{0},
        connect_failures{0};

    void SetLastError(std::string e) {
        std::lock_guard lock(mu);
        last_error = std::move(e);
    }
    std::string GetLastError() const {
        std::lock_guard lock(mu);
        return last_error;
    }
    common::Error Unavailable() {
        unavailable.fetch_add(1, std::memory_order_relaxed);
        if (link.stopped()) {
            return MakeError(ErrorCode::kUnavailable, "redis unavailable: client stopped");
        }
        std::string why = GetLastError();
        return MakeError(ErrorCode::kUnavailable,
                         "redis unavailable: " + (why.empty() ? std::string("connecting") : why));
    }

    void NotifyConnectWaiters() {
        for (auto* t : connect_waiters) t->cancel();
    }

    void FailAll(const std::string& reason) {
        for (auto& p : pending) {
            if (p->done) continue;
            p->done = true;
            unavailable.fetch_add(1, std::memory_order_relaxed);
            p->result = MakeError(ErrorCode::kUnavailable, "redis unavailable: " + reason);
            if (p->timer != nullptr) p->timer->cancel();
        }
        pending.clear();
    }

    // detail::LinkUser, on the strand.
    void OnConnectFailed(const std::string& error) override {
        connect_failures.fetch_add(1, std::memory_order_relaxed);
        SetLastError(error);
    }
    void OnConnected(bool again) override {
        connects.fetch_add(1);
        const std::string where = options.connection.url.Redacted();
        if (again) {
            log->info("redis {} connected again", where);
        } else {
            log->info("redis {} connected", where);
        }
        is_connected = true;
        NotifyConnectWaiters();
    }
    void OnReplies(std::vector<Reply>& replies) override {
        for (auto& r : replies) {
            if (pending.empty()) {
                link.EndSession("protocol error: a reply with no command pending");
                return;
            }
            auto p = std::move(pending.front());
            pending.pop_front();
            p->result = std::move(r);
            p->done = true;
            if (p->timer != nullptr) p->timer->cancel();
        }
    }
    void OnSessionEnded(const std::string& reason) override {
        is_connected = false;
        SetLastError(reason);
        FailAll(reason);
    }
    void OnLoopEnded() override {
        is_connected = false;
        FailAll("client stopped");
        NotifyConnectWaiters();
    }

    static asio::awaitable<Result<Reply>> DoCommand(std::shared_ptr<Impl> self,
                                                    std::vector<std::string> args,
                                                    std::chrono::milliseconds timeout) {
        if (!self->is_connected || self->link.session_over() || self->link.stopped()) {
            co_return self->Unavailable();
        }
        if (self->pending.size() >= self->options.max_pending) {
            self->overloaded.fetch_add(1, std::memory_order_relaxed);
            co_return MakeError(ErrorCode::kOverloaded,
                                "redis overloaded: " + std::to_string(self->options.max_pending) +
                                    " commands already pending");
        }
        auto formatted = detail::FormatCommand(args);
        if (!formatted) co_return formatted.error();
        self->commands.fetch_add(1, std::memory_order_relaxed);
        auto p = std::make_shared<PendingCommand>();
        self->link.Queue(*formatted);
        self->pending.push_back(p);
        asio::steady_timer timer(self->strand);
        timer.expires_after(timeout);
        p->timer = &timer;
        co_await timer.async_wait(kTuple);
        p->timer = nullptr;
        if (!p->done) {
            self->timeouts.fetch_add(1, std::memory_order_relaxed);
            const std::string what = "redis command " + args.front() + " timed out after " +
                                     std::to_string(timeout.count()) + " ms";
            self->link.EndSession(what + " (connection reset)");
            co_return MakeError(ErrorCode::kTimeout, what);
        }
        co_return std::move(p->result);
    }

    static asio::awaitable<Status> DoWaitConnected(std::shared_ptr<Impl> self,
                                                   std::chrono::milliseconds timeout) {
        asio::steady_timer timer(self->strand);
        timer.expires_after(timeout);
        self->connect_waiters.push_back(&timer);
        while (!self->is_connected && !self->link.stopped()) {
            auto [ec] = co_await timer.async_wait(kTuple);
            if (!ec) break;  // deadline
        }
        std::erase(self->connect_waiters, &timer);
        if (self->is_connected) co_return Status();
        co_return self->Unavailable();
    }
};

RedisClient::RedisClient(asio::any_io_executor executor, ClientOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(options))) {}

RedisClient::~RedisClient() { Stop(); }

void RedisClient::Start() {
    auto self = impl_;
    auto start = [self] { self->link.Start(self, *self); };
    asio::dispatch(impl_->strand, start);
}

void RedisClient::Stop() {
    auto self = impl_;
    auto stop = [self] {
        if (self->link.stopped()) return;
        self->link.Stop("client stopped");
        self->NotifyConnectWaiters();
        if (!self->link.started()) self->FailAll("client stopped");
    };
    asio::dispatch(impl_->strand, stop);
}

asio::awaitable<Status> RedisClient::WaitConnected(std::chrono::milliseconds timeout) {
    co_return co_await asio::co_spawn(impl_->strand, Impl::DoWaitConnected(impl_, timeout),
                                      asio::use_awaitable);
}

asio::awaitable<Result<Reply>> RedisClient::Command(std::vector<std::string> args) {
    co_return co_await Command(std::move(args), impl_->options.command_timeout);
}

asio::awaitable<Result<Reply>> RedisClient::Command(std::vector<std::string> args,
                                                    std::chrono::milliseconds timeout) {
    if (!impl_->is_connected.load(std::memory_order_relaxed)) co_return impl_->Unavailable();
    co_return co_await asio::co_spawn(
        impl_->strand, Impl::DoCommand(impl_, std::move(args), timeout), asio::use_awaitable);
}

asio::awaitable<Result<std::chrono::microseconds>> RedisClient::Ping(
    std::chrono::milliseconds timeout) {
    const auto start = SteadyClock::now();
    std::vector<std::string> ping{"PING"};
    auto reply = co_await Command(std::move(ping), timeout);
    if (!reply) co_return reply.error();
    if (reply->IsError()) {
        co_return MakeError(ErrorCode::kUnavailable, "redis PING refused: " + reply->str);
    }
    co_return std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - start);
}

bool RedisClient::connected() const { return impl_->is_connected.load(); }

std::string RedisClient::LastError() const { return impl_->GetLastError(); }

ClientStats RedisClient::Stats() const {
    ClientStats s;
    s.commands = impl_->commands.load();
    s.timeouts = impl_->timeouts.load();
    s.overloaded = impl_->overloaded.load();
    s.unavailable = impl_->unavailable.load();
    s.connects = impl_->connects.load();
    s.connect_failures = impl_->connect_failures.load();
    return s;
}

const ClientOptions& RedisClient::options() const { return impl_->options; }

}  // namespace aragora::redis
