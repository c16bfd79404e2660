#include "redis/subscriber.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <exception>
#include <map>

#include "common/logging.hpp"
#include "redis/detail/connection.hpp"
#include "redis/detail/link.hpp"

namespace aragora::redis {
namespace {

namespace asio = boost::asio;
using common::ErrorCode;
using common::MakeError;
using common::Status;
using SteadyClock = std::chrono::steady_clock;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
// Names per SUBSCRIBE command when re-subscribing many channels.
constexpr std::size_t kNamesPerCommand = 128;
// Messages delivered before the dispatcher yields to the reader.
constexpr int kDeliveriesPerTurn = 64;

enum class Kind { kChannel, kPattern };

}  // namespace

struct RedisSubscriber::Impl : std::enable_shared_from_this<Impl>, detail::LinkUser {
    Impl(asio::any_io_executor ex, SubscriberOptions o, MessageHandler h)
        : strand(asio::make_strand(ex)),
          options(std::move(o)),
          handler(std::move(h)),
          inbox_wake(strand),
          log(common::GetLogger("aragora.redis.sub." + options.name)),
          link(strand, options.connection, false, "redis subscriber", log) {
        if (options.max_buffered_messages == 0) options.max_buffered_messages = 1;
    }

    asio::strand<asio::any_io_executor> strand;
    SubscriberOptions options;
    MessageHandler handler;
    asio::steady_timer inbox_wake;  // dispatcher
    std::shared_ptr<spdlog::logger> log;
    detail::Link link;  // the connection, its writer and the reconnect loop

    // Strand-only state.
    std::map<std::string, bool> channels;  // name -> confirmed on the current connection
    std::map<std::string, bool> patterns;
    std::deque<Message> inbox;
    bool overflow_logged = false;
    std::vector<asio::steady_timer*> waiters;  // woken on every state change

    std::atomic<bool> is_connected{false};
    std::atomic<bool> is_ready{false};
    std::atomic<std::uint64_t> messages{0}, dropped{0}, connects{0}, connect_failures{0};
    std::string last_error;  // strand-only

    std::map<std::string, bool>& Set(Kind k) { return k == Kind::kChannel ? channels : patterns; }

    void Changed() {
        bool ready = is_connected.load();
        for (const auto& [name, ok] : channels) ready = ready && ok;
        for (const auto& [name, ok] : patterns) ready = ready && ok;
        is_ready = ready;
        for (auto* t : waiters) t->cancel();
    }

    void Send(std::string_view command, std::vector<std::string> names) {
        if (link.session_over() || names.empty()) return;
        for (std::size_t i = 0; i < names.size(); i += kNamesPerCommand) {
            std::vector<std::string> args{std::string(command)};
            const std::size_t end = std::min(names.size(), i + kNamesPerCommand);
            for (std::size_t j = i; j < end; ++j) args.push_back(names[j]);
            auto formatted = detail::FormatCommand(args);
            if (formatted) link.Queue(*formatted);
        }
    }

    void Deliver(Message m) {
        if (inbox.size() >= options.max_buffered_messages) {
            inbox.pop_front();
            dropped.fetch_add(1, std::memory_order_relaxed);
            if (!overflow_logged) {
                log->warn(
                    "redis subscriber inbox full ({} messages): dropping the oldest until the "
                    "handler catches up",
                    options.max_buffered_messages);
                overflow_logged = true;
            }
        }
        inbox.push_back(std::move(m));
        inbox_wake.cancel();
    }

    void OnReply(const Reply& r) {
        if (r.IsError()) {
            log->warn("redis subscriber: server error: {}", r.str);
            return;
        }
        if (!r.IsArray() || r.elements.empty() || !r.elements[0].IsString()) return;
        const std::string& type = r.elements[0].str;
        const auto& e = r.elements;
        if (type == "message" && e.size() == 3) {
            if (channels.count(e[1].str) == 0) return;
            Deliver(Message{"", e[1].str, e[2].str});
        } else if (type == "pmessage" && e.size() == 4) {
            if (patterns.count(e[1].str) == 0) return;
            Deliver(Message{e[1].str, e[2].str, e[3].str});
        } else if ((type == "subscribe" || type == "psubscribe") && e.size() >= 2) {
            auto& set = type == "subscribe" ? channels : patterns;
            if (auto it = set.find(e[1].str); it != set.end()) it->second = true;
            Changed();
        }
    }

    static asio::awaitable<void> Dispatcher(std::shared_ptr<Impl> self) {
        while (!self->link.stopped()) {
            if (self->inbox.empty()) {
                self->overflow_logged = false;
                self->inbox_wake.expires_at(SteadyClock::time_point::max());
                co_await self->inbox_wake.async_wait(kTuple);
                continue;
            }
            for (int i = 0; i < kDeliveriesPerTurn && !self->inbox.empty() && !self->link.stopped();
                 ++i) {
                Message m = std::move(self->inbox.front());
                self->inbox.pop_front();
                self->messages.fetch_add(1, std::memory_order_relaxed);
                try {
                    if (self->handler) self->handler(m);
                } catch (const std::exception& e) {
                    self->log->error("redis subscriber handler threw on channel {}: {}", m.channel,
                                     e.what());
                }
            }
            co_await asio::post(self->strand, asio::use_awaitable);
        }
    }

    // detail::LinkUser, on the strand.
    void OnConnectFailed(const std::string& error) override {
        connect_failures.fetch_add(1, std::memory_order_relaxed);
        last_error = error;
    }
    void OnConnected(bool /*again*/) override {
        connects.fetch_add(1, std::memory_order_relaxed);
        is_connected = true;
        std::vector<std::string> names;
        for (auto& [name, ok] : channels) names.push_back(name);
        Send("SUBSCRIBE", std::move(names));
        names.clear();
        for (auto& [name, ok] : patterns) names.push_back(name);
        Send("PSUBSCRIBE", std::move(names));
        log->info("redis subscriber {} connected; subscribing {} channels, {} patterns",
                  options.connection.url.Redacted(), channels.size(), patterns.size());
        Changed();
    }
    void OnReplies(std::vector<Reply>& replies) override {
        for (const auto& r : replies) OnReply(r);
    }
    void OnSessionEnded(const std::string& reason) override {
        is_connected = false;
        for (auto& [name, ok] : channels) ok = false;
        for (auto& [name, ok] : patterns) ok = false;
        last_error = reason;
        Changed();
    }
    void OnLoopEnded() override {
        is_connected = false;
        Changed();
    }

    Status NotReady() const {
        if (link.stopped()) return MakeError(ErrorCode::kUnavailable, "redis subscriber stopped");
        if (!is_connected) {
            return MakeError(ErrorCode::kUnavailable,
                             "redis unavailable: " +
                                 (last_error.empty() ? std::string("connecting") : last_error) +
                                 " (subscriptions are kept and made on reconnect)");
        }
        return MakeError(ErrorCode::kTimeout, "redis subscription not confirmed in time");
    }

    // Waits until `done()` or the deadline; on the strand.
    template <typename Pred>
    static asio::awaitable<Status> WaitUntil(std::shared_ptr<Impl> self, Pred done,
                                             std::chrono::milliseconds timeout) {
        asio::steady_timer timer(self->strand);
        timer.expires_after(timeout);
        self->waiters.push_back(&timer);
        while (!done() && !self->link.stopped()) {
            auto [ec] = co_await timer.async_wait(kTuple);
            if (!ec) break;
        }
        std::erase(self->waiters, &timer);
        if (done() && !self->link.stopped()) co_return Status();
        co_return self->NotReady();
    }

    static asio::awaitable<Status> DoSubscribe(std::shared_ptr<Impl> self, Kind kind,
                                               std::string name,
                                               std::chrono::milliseconds timeout) {
        if (name.empty()) co_return MakeError(ErrorCode::kBadRequest, "redis: empty channel");
        if (self->link.stopped()) co_return self->NotReady();
        auto& set = self->Set(kind);
        if (set.count(name) == 0) {
            if (self->channels.size() + self->patterns.size() >= self->options.max_subscriptions) {
                co_return MakeError(ErrorCode::kOverloaded,
                                    "redis subscriber: more than " +
                                        std::to_string(self->options.max_subscriptions) +
                                        " subscriptions");
            }
            set.emplace(name, false);
            self->is_ready = false;
            std::vector<std::string> names{name};
            self->Send(kind == Kind::kChannel ? "SUBSCRIBE" : "PSUBSCRIBE", std::move(names));
        }
        auto confirmed = [self, kind, &name] {
            auto& s = self->Set(kind);
            auto it = s.find(name);
            return it == s.end() || it->second;
        };
        co_return co_await WaitUntil(self, confirmed, timeout);
    }

    static asio::awaitable<Status> DoUnsubscribe(std::shared_ptr<Impl> self, Kind kind,
                                                 std::string name) {
        if (self->Set(kind).erase(name) > 0) {
            std::vector<std::string> names{name};
            self->Send(kind == Kind::kChannel ? "UNSUBSCRIBE" : "PUNSUBSCRIBE", std::move(names));
            self->Changed();
        }
        co_return Status();
    }
};

RedisSubscriber::RedisSubscriber(asio::any_io_executor executor, SubscriberOptions options,
                                 MessageHandler handler)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(options), std::move(handler))) {}

RedisSubscriber::~RedisSubscriber() { Stop(); }

void RedisSubscriber::Start() {
    auto self = impl_;
    auto start = [self] {
        if (self->link.Start(self, *self)) {
            asio::co_spawn(self->strand, Impl::Dispatcher(self), self->link.CrashLogger());
        }
    };
    asio::dispatch(impl_->strand, start);
}

void RedisSubscriber::Stop() {
    auto self = impl_;
    auto stop = [self] {
        if (self->link.stopped()) return;
        self->link.Stop("subscriber stopped");
        self->inbox_wake.cancel();
        self->inbox.clear();
        self->is_connected = false;
        self->Changed();
    };
    asio::dispatch(impl_->strand, stop);
}

asio::awaitable<Status> RedisSubscriber::Subscribe(std::string channel,
                                                   std::chrono::milliseconds timeout) {
    co_return co_await asio::co_spawn(
        impl_->strand, Impl::DoSubscribe(impl_, Kind::kChannel, std::move(channel), timeout),
        asio::use_awaitable);
}

asio::awaitable<Status> RedisSubscriber::PSubscribe(std::string pattern,
                                                    std::chrono::milliseconds timeout) {
    co_return co_await asio::co_spawn(
        impl_->strand, Impl::DoSubscribe(impl_, Kind::kPattern, std::move(pattern), timeout),
        asio::use_awaitable);
}

asio::awaitable<Status> RedisSubscriber::Unsubscribe(std::string channel) {
    co_return co_await asio::co_spawn(
        impl_->strand, Impl::DoUnsubscribe(impl_, Kind::kChannel, std::move(channel)),
        asio::use_awaitable);
}

asio::awaitable<Status> RedisSubscriber::PUnsubscribe(std::string pattern) {
    co_return co_await asio::co_spawn(
        impl_->strand, Impl::DoUnsubscribe(impl_, Kind::kPattern, std::move(pattern)),
        asio::use_awaitable);
}

asio::awaitable<Status> RedisSubscriber::WaitReady(std::chrono::milliseconds timeout) {
    auto self = impl_;
    auto ready = [self] { return self->is_ready.load(); };
    co_return co_await asio::co_spawn(impl_->strand, Impl::WaitUntil(impl_, ready, timeout),
                                      asio::use_awaitable);
}

bool RedisSubscriber::connected() const { return impl_->is_connected.load(); }
bool RedisSubscriber::ready() const { return impl_->is_ready.load(); }

SubscriberStats RedisSubscriber::Stats() const {
    SubscriberStats s;
    s.messages = impl_->messages.load();
    s.dropped = impl_->dropped.load();
    s.connects = impl_->connects.load();
    s.connect_failures = impl_->connect_failures.load();
    return s;
}

}  // namespace aragora::redis
