#include "redis/subscriber.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <exception>
#include <map>

#include "common/logging.hpp"
#include "redis/detail/connection.hpp"
#include "resilience/backoff.hpp"

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

struct RedisSubscriber::Impl : std::enable_shared_from_this<Impl> {
    Impl(asio::any_io_executor ex, SubscriberOptions o, MessageHandler h)
        : strand(asio::make_strand(ex)),
          options(std::move(o)),
          reconnect({options.connection.reconnect_min, options.connection.reconnect_max, 0}),
          handler(std::move(h)),
          tls(options.connection.tls, options.connection.url.tls),
          wake(strand),
          inbox_wake(strand),
          backoff(strand),
          log(common::GetLogger("aragora.redis.sub." + options.name)) {
        if (options.max_buffered_messages == 0) options.max_buffered_messages = 1;
    }

    asio::strand<asio::any_io_executor> strand;
    SubscriberOptions options;
    resilience::Backoff reconnect;  // its Ceiling: reconnect_min doubling to reconnect_max
    MessageHandler handler;
    detail::TlsContext tls;
    asio::steady_timer wake;        // writer
    asio::steady_timer inbox_wake;  // dispatcher
    asio::steady_timer backoff;

    // Strand-only state.
    std::shared_ptr<detail::Connection> conn;
    std::map<std::string, bool> channels;  // name -> confirmed on the current connection
    std::map<std::string, bool> patterns;
    std::string out;
    std::deque<Message> inbox;
    bool overflow_logged = false;
    bool started = false;
    bool stopped = false;
    bool session_over = true;
    std::string end_reason;
    std::vector<asio::steady_timer*> waiters;  // woken on every state change

    std::atomic<bool> is_connected{false};
    std::atomic<bool> is_ready{false};
    std::atomic<std::uint64_t> messages{0}, dropped{0}, connects{0}, connect_failures{0};
    std::shared_ptr<spdlog::logger> log;
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
        if (session_over || names.empty()) return;
        for (std::size_t i = 0; i < names.size(); i += kNamesPerCommand) {
            std::vector<std::string> args{std::string(command)};
            const std::size_t end = std::min(names.size(), i + kNamesPerCommand);
            for (std::size_t j = i; j < end; ++j) args.push_back(names[j]);
            auto formatted = detail::FormatCommand(args);
            if (formatted) out += *formatted;
        }
        wake.cancel();
    }

    void EndSession(std::string reason) {
        if (session_over) return;
        session_over = true;
        end_reason = std::move(reason);
        if (conn) conn->Close();
        wake.cancel();
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

    static asio::awaitable<void> Reader(std::shared_ptr<Impl> self,
                                        std::shared_ptr<detail::Connection> c) {
        while (!self->session_over) {
            auto replies = co_await c->ReadReplies();
            if (!replies) {
                self->EndSession(replies.error().message);
                co_return;
            }
            for (const auto& r : *replies) self->OnReply(r);
        }
    }

    static asio::awaitable<void> Writer(std::shared_ptr<Impl> self,
                                        std::shared_ptr<detail::Connection> c) {
        while (!self->session_over) {
            if (self->out.empty()) {
                self->wake.expires_at(SteadyClock::time_point::max());
                co_await self->wake.async_wait(kTuple);
                continue;
            }
            std::string data;
            data.swap(self->out);
            Status written = co_await c->Write(data);
            if (!written) {
                self->EndSession(written.error().message);
                co_return;
            }
        }
    }

    static asio::awaitable<void> Session(std::shared_ptr<Impl> self,
                                         std::shared_ptr<detail::Connection> c) {
        using namespace asio::experimental::awaitable_operators;
        auto reader = Reader(self, c);
        auto writer = Writer(self, c);
        co_await (std::move(reader) && std::move(writer));
    }

    static asio::awaitable<void> Dispatcher(std::shared_ptr<Impl> self) {
        while (!self->stopped) {
            if (self->inbox.empty()) {
                self->overflow_logged = false;
                self->inbox_wake.expires_at(SteadyClock::time_point::max());
                co_await self->inbox_wake.async_wait(kTuple);
                continue;
            }
            for (int i = 0; i < kDeliveriesPerTurn && !self->inbox.empty() && !self->stopped; ++i) {
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

    static asio::awaitable<void> Run(std::shared_ptr<Impl> self) {
        const std::string where = self->options.connection.url.Redacted();
        int failures = 0;
        bool down_logged = false;
        while (!self->stopped) {
            auto c = std::make_shared<detail::Connection>(self->strand, self->tls);
            self->conn = c;
            const auto deadline = SteadyClock::now() + self->options.connection.connect_timeout;
            Status opened = co_await c->Open(self->options.connection, false, deadline);
            if (self->stopped) break;
            if (!opened) {
                self->connect_failures.fetch_add(1, std::memory_order_relaxed);
                self->last_error = opened.error().message;
                if (!down_logged) {
                    self->log->warn("redis subscriber {} unavailable: {} (retrying)", where,
                                    opened.error().message);
                    down_logged = true;
                }
                ++failures;
                self->backoff.expires_after(self->reconnect.Ceiling(failures - 1));
                co_await self->backoff.async_wait(kTuple);
                continue;
            }
            failures = 0;
            self->connects.fetch_add(1, std::memory_order_relaxed);
            self->session_over = false;
            self->is_connected = true;
            std::vector<std::string> names;
            for (auto& [name, ok] : self->channels) names.push_back(name);
            self->Send("SUBSCRIBE", std::move(names));
            names.clear();
            for (auto& [name, ok] : self->patterns) names.push_back(name);
            self->Send("PSUBSCRIBE", std::move(names));
            self->log->info("redis subscriber {} connected; subscribing {} channels, {} patterns",
                            where, self->channels.size(), self->patterns.size());
            down_logged = false;
            self->Changed();
            co_await Session(self, c);
            self->is_connected = false;
            self->conn.reset();
            self->out.clear();
            for (auto& [name, ok] : self->channels) ok = false;
            for (auto& [name, ok] : self->patterns) ok = false;
            self->last_error = self->end_reason;
            self->Changed();
            if (self->stopped) break;
            self->log->warn("redis subscriber {} connection lost: {} (reconnecting)", where,
                            self->end_reason);
            down_logged = true;
        }
        self->is_connected = false;
        self->Changed();
    }

    Status NotReady() const {
        if (stopped) return MakeError(ErrorCode::kUnavailable, "redis subscriber stopped");
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
        while (!done() && !self->stopped) {
            auto [ec] = co_await timer.async_wait(kTuple);
            if (!ec) break;
        }
        std::erase(self->waiters, &timer);
        if (done() && !self->stopped) co_return Status();
        co_return self->NotReady();
    }

    static asio::awaitable<Status> DoSubscribe(std::shared_ptr<Impl> self, Kind kind,
                                               std::string name,
                                               std::chrono::milliseconds timeout) {
        if (name.empty()) co_return MakeError(ErrorCode::kBadRequest, "redis: empty channel");
        if (self->stopped) co_return self->NotReady();
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
        if (self->started || self->stopped) return;
        self->started = true;
        auto done = [self](std::exception_ptr ep) {
            if (!ep) return;
            try {
                std::rethrow_exception(ep);
            } catch (const std::exception& e) {
                self->log->error("redis subscriber loop ended by an exception: {}", e.what());
            }
        };
        asio::co_spawn(self->strand, Impl::Run(self), done);
        asio::co_spawn(self->strand, Impl::Dispatcher(self), done);
    };
    asio::dispatch(impl_->strand, start);
}

void RedisSubscriber::Stop() {
    auto self = impl_;
    auto stop = [self] {
        if (self->stopped) return;
        self->stopped = true;
        self->EndSession("subscriber stopped");
        if (self->conn) self->conn->Close();
        self->backoff.cancel();
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
