#pragma once

// Outbound HTTP/1.1 client for LLM providers: plain http:// and https:// (OpenSSL,
// certificate and host-name verification on, SNI), keep-alive connection reuse per
// host, HTTPS_PROXY via CONNECT, streamed response bodies (SSE), a deadline on every
// exchange and real cancellation. Plain structs only: Beast and the SSL headers stay in
// http_client.cpp.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "net/connection_budget.hpp"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace aragora::net {

struct ClientRequest {
    std::string method = "POST";
    // Absolute URL: http://host[:port]/path?query or https://... (IPv6 hosts in brackets).
    std::string url;
    // Extra header fields (Host, Content-Length, Connection and User-Agent are set by
    // the client unless given here).
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    // Deadline of the whole exchange: connect (incl. proxy and TLS), write, and the read
    // of the last body byte. Past it the connection is closed and the answer is kTimeout.
    // Must be positive (else kValidation).
    std::chrono::milliseconds timeout{60'000};
};

struct ClientResponse {
    int status = 0;
    // Header fields in arrival order, names lowercased.
    std::vector<std::pair<std::string, std::string>> headers;
    // The whole body, except for a 2xx answer read through a BodySink (then empty).
    std::string body;
    // True when the connection came from the keep-alive pool.
    bool reused_connection = false;

    // Value of the first header named `name` (any case); "" when absent.
    std::string Header(std::string_view name) const;
};

// Receives a 2xx response body piece by piece as it arrives (chunked or not), in order,
// on the awaiting coroutine's executor. Returning false stops the read: the connection
// is closed and Send answers with what was read so far (status set, body empty).
using BodySink = std::function<bool(std::string_view piece)>;

struct HttpClientOptions {
    // Idle keep-alive connections kept per (scheme, host, port); extra ones are closed.
    std::size_t max_idle_per_host = 8;
    // An idle pooled connection older than this is closed instead of reused.
    std::chrono::seconds idle_timeout{30};
    // Bound on a buffered body (non-2xx answers, or 2xx without a sink) and on a
    // header section; beyond it: kProviderError "response too large".
    std::size_t max_response_bytes = 16 * 1024 * 1024;
    // Extra trust anchors (PEM file), added to the system's default verify paths
    // (which honour SSL_CERT_FILE / SSL_CERT_DIR). Empty: system store only.
    std::string ca_file;
    // "http://[user:pass@]host:port" of an HTTPS proxy (HTTPS_PROXY): https:// requests
    // tunnel through it with CONNECT. Empty: direct. Loopback targets (127.0.0.0/8,
    // ::1, localhost) and hosts matching `no_proxy` always go direct.
    std::string https_proxy;
    // NO_PROXY syntax: comma-separated host names or domain suffixes (".example.com" or
    // "example.com" both match sub.example.com), "*" for all.
    std::string no_proxy;
    std::string user_agent = "aragora-cpp";
    // Process-wide bound on concurrent exchanges (the provider calls; shared by every
    // client that draws on the same descriptor budget). Send holds one permit from before
    // it connects until it returns; beyond the budget it waits, within the request's
    // timeout (then kTimeout), or fails at once with kOverloaded when the budget's wait
    // FIFO is full. Null: unbounded. Idle pooled connections hold no permit
    // (max_idle_per_host bounds them).
    std::shared_ptr<ConnectionBudget> budget;
};

// Counters for metrics and tests (monotonic).
struct HttpClientStats {
    std::atomic<std::uint64_t> requests{0};            // Send calls
    std::atomic<std::uint64_t> connections_opened{0};  // fresh connections (Send only)
    std::atomic<std::uint64_t> connections_reused{0};  // taken from the pool (even if dead)
    std::atomic<std::uint64_t> timeouts{0};            // Sends that ended in kTimeout
    std::atomic<std::uint64_t> cancellations{0};       // ... in kCancelled
    std::atomic<std::uint64_t> errors{0};              // ... in any other error
};

// The proxy decision for an https:// target host: true when it goes direct (loopback
// target or a `no_proxy` match, see HttpClientOptions). Pure; exposed for tests and
// diagnostics.
bool GoesDirect(std::string_view host, std::string_view no_proxy);

// What a connectivity probe found, stage by stage (each stage only runs when the one
// before it succeeded). Never an exception, never an error value: failures are data.
struct ProbeReport {
    struct Stage {
        bool attempted = false;
        bool ok = false;
        double latency_ms = 0;
        std::string error;  // "" when ok or not attempted
    };
    Stage dns;
    Stage tcp;
    Stage tls;                     // attempted only for https://
    std::string resolved_address;  // first address that answered, e.g. "127.0.0.1"
};

// Thread-safe: Send and Probe may be called concurrently from coroutines on any
// executor of the io_context given at construction. Nothing blocks (DNS uses the async
// resolver). The client must outlive every call; destroy it before its io_context.
class HttpClient {
public:
    HttpClient(boost::asio::io_context& ioc, HttpClientOptions options = {});
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    // One request/response exchange. Errors (never thrown):
    //  - kValidation: bad URL or unsupported scheme;
    //  - kUnavailable: DNS failure, connection refused/reset, proxy refused CONNECT, TLS
    //    handshake or certificate verification failure (message names the stage);
    //  - kTimeout: request.timeout passed (connection closed);
    //  - kCancelled: the awaiting coroutine's cancellation slot fired (terminal or
    //    partial); the socket is closed at once and Send returns promptly;
    //  - kProviderError: malformed HTTP, response too large, connection closed before
    //    the body ended (a cut stream: data already handed to the sink stays delivered).
    //  - kOverloaded: options.budget is exhausted and its wait FIFO full (nothing sent);
    //    a wait for the budget counts against request.timeout (kTimeout).
    // A reused pooled connection that turns out dead before any response byte is
    // retried once on a fresh connection. Any HTTP status is a value, not an error.
    boost::asio::awaitable<common::Result<ClientResponse>> Send(ClientRequest request,
                                                                BodySink sink = {});

    // DNS, TCP connect and (for https) TLS handshake to the URL's host, each timed.
    // Bounded by `timeout` overall. Does not send a request; never pooled. Honors
    // the proxy settings (then dns = the proxy's name, tcp = the proxy connection +
    // CONNECT). A bad URL, a timeout or a cancellation is reported as the error of the
    // stage it stopped (a bad URL: dns). IP literals skip the resolver (dns ok, ~0 ms).
    boost::asio::awaitable<ProbeReport> Probe(std::string url, std::chrono::milliseconds timeout);

    const HttpClientStats& stats() const;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace aragora::net
