#include "net/server.hpp"

#include <spdlog/logger.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/logging.hpp"
#include "net/detail/server_core.hpp"

namespace aragora::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// The callbacks' driver for handlers without a coroutine of their own.
asio::awaitable<void> WsHandler::Serve(std::shared_ptr<WsConnection> conn) {
    std::exception_ptr failure;
    auto call = [&](const auto& callback) {
        try {
            callback();
        } catch (...) {
            if (!failure) failure = std::current_exception();
            conn->Close(1011, "internal error");
        }
    };
    call([&] { OnOpen(conn); });
    for (;;) {
        std::optional<std::string> text = co_await conn->Read();
        if (!text) break;
        call([&] { OnMessage(conn, std::move(*text)); });
    }
    call([&] { OnClose(conn); });
    if (failure) std::rethrow_exception(failure);
}

namespace detail {

ServerCore::ServerCore(ServerLimits limits, HttpHandler handler, WsHandler* ws_handler,
                       WsPathPredicate is_ws_path)
    : limits(limits),
      handler(std::move(handler)),
      ws_handler(ws_handler),
      is_ws_path(std::move(is_ws_path)) {}

void ServerCore::AddHttpSession(const std::shared_ptr<Interruptible>& session) {
    std::lock_guard lock(mu_);
    http_sessions_.emplace(session.get(), session);
}

void ServerCore::RemoveHttpSession(const Interruptible* session) {
    std::lock_guard lock(mu_);
    http_sessions_.erase(session);
}

void ServerCore::AddWebSocket(const std::shared_ptr<WsConnection>& conn) {
    std::lock_guard lock(mu_);
    websockets_.emplace(conn->id(), conn);
}

void ServerCore::RemoveWebSocket(uint64_t id) {
    std::lock_guard lock(mu_);
    websockets_.erase(id);
}

void ServerCore::InterruptIdleHttpSessions() {
    std::vector<std::shared_ptr<Interruptible>> sessions;
    {
        std::lock_guard lock(mu_);
        sessions.reserve(http_sessions_.size());
        for (const auto& [key, weak] : http_sessions_) {
            if (auto s = weak.lock()) sessions.push_back(std::move(s));
        }
    }
    for (const auto& s : sessions) s->InterruptIfIdle();
}

void ServerCore::CloseAllWebSockets(uint16_t code, const std::string& reason) {
    std::vector<std::shared_ptr<WsConnection>> conns;
    {
        std::lock_guard lock(mu_);
        conns.reserve(websockets_.size());
        for (const auto& [id, weak] : websockets_) {
            if (auto c = weak.lock()) conns.push_back(std::move(c));
        }
    }
    // Close() only queues work on each connection's strand, so no lock is needed here.
    for (const auto& c : conns) c->Close(code, reason);
}

std::string ClientAddressKey(const asio::ip::address& address) {
    if (address.is_v4()) return address.to_v4().to_string();
    const asio::ip::address_v6 v6 = address.to_v6();
    if (v6.is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, v6).to_string();
    asio::ip::address_v6::bytes_type bytes = v6.to_bytes();
    std::fill(bytes.begin() + 8, bytes.end(), 0);
    return asio::ip::address_v6(bytes).to_string() + "/64";
}

bool ServerCore::TryAddPending(const std::string& key) {
    std::lock_guard lock(admission_mu_);
    auto [it, inserted] = pending_per_client_.try_emplace(key, 0);
    if (limits.max_pending_connections_per_ip != 0 &&
        it->second >= limits.max_pending_connections_per_ip) {
        return false;
    }
    ++it->second;
    return true;
}

void ServerCore::RemovePending(const std::string& key) {
    std::lock_guard lock(admission_mu_);
    auto it = pending_per_client_.find(key);
    if (it == pending_per_client_.end()) return;
    if (--it->second == 0) pending_per_client_.erase(it);
}

uint64_t ServerCore::BeginWait(const std::shared_ptr<Interruptible>& session,
                               const std::string& client_key) {
    std::lock_guard lock(admission_mu_);
    const uint64_t ticket = next_ticket_++;
    waiting_.emplace(ticket, Waiting{session, client_key});
    ++waiting_per_client_[client_key];
    stats.connections_waiting.store(waiting_.size());
    return ticket;
}

void ServerCore::EndWait(uint64_t ticket) {
    std::lock_guard lock(admission_mu_);
    EndWaitLocked(ticket);
}

void ServerCore::EndWaitLocked(uint64_t ticket) {
    auto it = waiting_.find(ticket);
    if (it == waiting_.end()) return;
    auto count = waiting_per_client_.find(it->second.client_key);
    if (count != waiting_per_client_.end() && --count->second == 0) {
        waiting_per_client_.erase(count);
    }
    waiting_.erase(it);
    stats.connections_waiting.store(waiting_.size());
}

bool ServerCore::EvictWaiting() {
    for (;;) {
        uint64_t ticket = 0;
        std::shared_ptr<Interruptible> session;
        {
            std::lock_guard lock(admission_mu_);
            if (waiting_.empty()) return false;
            // Linear in the clients and the waiting sessions (at most max_connections);
            // this runs only when the table is full.
            size_t most = 0;
            for (const auto& [key, count] : waiting_per_client_) most = std::max(most, count);
            auto chosen = waiting_.begin();  // oldest first
            while (chosen != waiting_.end() &&
                   waiting_per_client_[chosen->second.client_key] != most) {
                ++chosen;
            }
            if (chosen == waiting_.end()) chosen = waiting_.begin();  // cannot happen
            ticket = chosen->first;
            session = chosen->second.session.lock();
            EndWaitLocked(ticket);
        }
        // Evict only posts to the session's strand; no lock is held.
        if (session) {
            session->Evict(ticket);
            return true;
        }
    }
}

void ServerCore::WarnThrottled(WarningKind kind, const std::string& message) {
    constexpr std::chrono::seconds kInterval{1};
    const auto now = std::chrono::steady_clock::now();
    uint64_t left_out = 0;
    {
        std::lock_guard lock(admission_mu_);
        Throttle& t = throttles_[static_cast<size_t>(kind)];
        if (now < t.next_warning) {
            ++t.left_out;
            return;
        }
        t.next_warning = now + kInterval;
        left_out = std::exchange(t.left_out, 0);
    }
    if (left_out == 0) {
        LogWarning(message);
    } else {
        LogWarning(message + " (and " + std::to_string(left_out) +
                   " more like it since the last such warning)");
    }
}

bool ServerCore::TryAcquireWsSlot() {
    uint64_t current = stats.ws_connections_active.load();
    while (current < limits.ws_max_connections) {
        if (stats.ws_connections_active.compare_exchange_weak(current, current + 1)) return true;
    }
    return false;
}

void ServerCore::ReleaseWsSlot() { stats.ws_connections_active.fetch_sub(1); }

void ServerCore::LogWarning(std::string_view message) const {
    common::GetLogger("aragora.net")->warn("{}", message);
}

void ServerCore::LogError(std::string_view message) const {
    common::GetLogger("aragora.net")->error("{}", message);
}

}  // namespace detail

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
// Connections over max_connections answered 503 at once; beyond this they are closed
// without an answer, so a flood cannot pin an unbounded number of coroutines.
constexpr size_t kMaxRejecting = 64;
// Connections admitted over max_connections while the ones evicted for them close.
constexpr size_t kMaxEvicting = 64;
// Pause after a failed accept (e.g. EMFILE) instead of spinning on the error.
constexpr std::chrono::milliseconds kAcceptBackoff{100};

struct Listener {
    explicit Listener(asio::io_context& ioc) : ioc(ioc), acceptor(asio::make_strand(ioc)) {}
    asio::io_context& ioc;
    tcp::acceptor acceptor;
    uint16_t port = 0;
};

asio::awaitable<void> AcceptLoop(std::shared_ptr<detail::ServerCore> core,
                                 std::shared_ptr<Listener> listener) {
    tcp::acceptor& acceptor = listener->acceptor;
    for (;;) {
        auto [ec, accepted] =
            co_await acceptor.async_accept(asio::make_strand(listener->ioc), kTuple);
        if (ec) {
            if (ec == asio::error::operation_aborted || !acceptor.is_open()) break;
            core->LogWarning("accept failed on port " + std::to_string(listener->port) + ": " +
                             ec.message());
            asio::steady_timer backoff(acceptor.get_executor(), kAcceptBackoff);
            co_await backoff.async_wait(kTuple);
            if (!acceptor.is_open()) break;
            continue;
        }
        tcp::socket socket(std::move(accepted));
        ServerStats& stats = core->stats;
        stats.connections_accepted.fetch_add(1);
        boost::system::error_code ignored;
        boost::system::error_code endpoint_error;
        const tcp::endpoint remote = socket.remote_endpoint(endpoint_error);
        if (endpoint_error) {  // the peer is gone already
            socket.close(ignored);
            continue;
        }
        std::string client_key = detail::ClientAddressKey(remote.address());
        if (!core->TryAddPending(client_key)) {
            // Closed before reading anything: a client holding many connections that send
            // nothing (slowloris) gets no more of them, and costs no coroutine.
            stats.connections_refused_per_ip.fetch_add(1);
            socket.close(ignored);
            core->WarnThrottled(
                detail::ServerCore::WarningKind::kPerIpLimit,
                "refused a connection from " + remote.address().to_string() + ": " +
                    std::to_string(core->limits.max_pending_connections_per_ip) +
                    " connections from " + client_key +
                    " have not sent a request yet (max_pending_connections_per_ip)");
            continue;
        }
        bool reject = false;
        const size_t active = stats.connections_active.fetch_add(1);
        if (active >= core->limits.max_connections) {
            // Full. A connection waiting for a request header gives up its slot (see
            // EvictWaiting; over the limit by at most kMaxEvicting while those close); only
            // when none waits is the new one refused.
            const bool evicted =
                active < core->limits.max_connections + kMaxEvicting && core->EvictWaiting();
            if (evicted) {
                core->WarnThrottled(detail::ServerCore::WarningKind::kEvicted,
                                    "connection table full (" +
                                        std::to_string(core->limits.max_connections) +
                                        "): closed a connection that waited for a request "
                                        "to serve one from " +
                                        remote.address().to_string());
            } else {
                stats.connections_active.fetch_sub(1);
                stats.connections_rejected.fetch_add(1);
                if (core->rejecting.fetch_add(1) >= kMaxRejecting) {
                    core->rejecting.fetch_sub(1);
                    core->RemovePending(client_key);
                    socket.close(ignored);
                    continue;
                }
                reject = true;
            }
        }
        auto executor = socket.get_executor();
        asio::co_spawn(executor,
                       detail::RunHttpSession(core, std::move(socket), listener->port, reject,
                                              std::move(client_key)),
                       asio::detached);
    }
}

}  // namespace

struct HttpServer::Impl {
    Impl(asio::io_context& ioc, std::shared_ptr<detail::ServerCore> core)
        : ioc(ioc), core(std::move(core)) {}
    asio::io_context& ioc;
    std::shared_ptr<detail::ServerCore> core;
    std::mutex mu;
    std::vector<std::shared_ptr<Listener>> listeners;  // guarded by mu
    bool accepting = true;                             // guarded by mu
};

HttpServer::HttpServer(asio::io_context& ioc, ServerLimits limits, HttpHandler handler,
                       WsHandler* ws_handler, WsPathPredicate is_ws_path)
    : impl_(std::make_unique<Impl>(
          ioc, std::make_shared<detail::ServerCore>(limits, std::move(handler), ws_handler,
                                                    std::move(is_ws_path)))) {}

HttpServer::~HttpServer() { Shutdown(); }

common::Result<uint16_t> HttpServer::Listen(const std::string& host, uint16_t port) {
    std::lock_guard lock(impl_->mu);
    const std::string where = host + ":" + std::to_string(port);
    if (!impl_->accepting) {
        return common::MakeError(common::ErrorCode::kUnavailable,
                                 "cannot listen on " + where + ": server stopped accepting");
    }
    boost::system::error_code ec;
    asio::ip::address address;
    if (host.empty()) {
        address = asio::ip::address_v4::any();
    } else if (host == "localhost") {
        address = asio::ip::address_v4::loopback();
    } else {
        address = asio::ip::make_address(host, ec);
        if (ec) {
            return common::MakeError(common::ErrorCode::kUnavailable,
                                     "cannot listen on " + where + ": invalid address");
        }
    }
    auto listener = std::make_shared<Listener>(impl_->ioc);
    tcp::acceptor& acceptor = listener->acceptor;
    const tcp::endpoint endpoint(address, port);
    auto fail = [&](const char* step) {
        return common::MakeError(common::ErrorCode::kUnavailable,
                                 "cannot listen on " + where + ": " + step + ": " + ec.message());
    };
    acceptor.open(endpoint.protocol(), ec);
    if (ec) return fail("open");
    acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (ec) return fail("option");
    acceptor.bind(endpoint, ec);
    if (ec) return fail("bind");
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return fail("listen");
    const tcp::endpoint bound = acceptor.local_endpoint(ec);
    if (ec) return fail("local endpoint");
    listener->port = bound.port();
    impl_->listeners.push_back(listener);
    asio::co_spawn(acceptor.get_executor(), AcceptLoop(impl_->core, listener), asio::detached);
    return listener->port;
}

void HttpServer::StopAccepting() {
    std::vector<std::shared_ptr<Listener>> listeners;
    {
        std::lock_guard lock(impl_->mu);
        impl_->accepting = false;
        listeners.swap(impl_->listeners);
    }
    // The acceptor is only touched on its strand, where its accept loop runs.
    for (auto& listener : listeners) {
        asio::post(listener->acceptor.get_executor(), [listener] {
            boost::system::error_code ignored;
            listener->acceptor.close(ignored);
        });
    }
}

void HttpServer::CloseAllWebSockets(uint16_t code, std::string reason) {
    impl_->core->CloseAllWebSockets(code, reason);
}

void HttpServer::Shutdown() {
    StopAccepting();
    impl_->core->shutting_down.store(true);
    impl_->core->InterruptIdleHttpSessions();
    impl_->core->CloseAllWebSockets(1001, "server shutting down");
}

const ServerStats& HttpServer::stats() const { return impl_->core->stats; }

const ServerLimits& HttpServer::limits() const { return impl_->core->limits; }

}  // namespace aragora::net
