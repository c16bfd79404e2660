// HttpClient against scripted servers on 127.0.0.1:0 (plain, TLS with a CA made here,
// and a CONNECT proxy). Servers that must wait for the client use a Gate (lock-step),
// never sleeps; the few wall-clock bounds are on deadlines and cancellation latency.

#include "net/http_client.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "net_test_support.hpp"

namespace aragora::net {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using common::ErrorCode;
using common::Result;
using testing::IoThreads;
using testing::kDeadline;
using namespace std::chrono_literals;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
// The name the test proxy maps to 127.0.0.1; never resolved by the client.
constexpr std::string_view kProxiedHost = "aragora-test.invalid";

std::string Lowered(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// ---------------------------------------------------------------------------------------
// Test PKI: a CA, a server certificate for localhost / 127.0.0.1 / kProxiedHost, and one
// for another name, all made with the OpenSSL 3 API.

struct KeyPair {
    std::string cert_pem;
    std::string key_pem;
};

struct Pki {
    bool ok = false;
    std::string ca_file;  // CA certificate (PEM) on disk
    KeyPair server;       // SAN: localhost, aragora-test.invalid, 127.0.0.1
    KeyPair wrong_name;   // SAN: wrong.example
};

using KeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using CertPtr = std::unique_ptr<X509, decltype(&X509_free)>;

KeyPtr NewKey() {
    return KeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), EVP_PKEY_free);
}

bool AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (ext == nullptr) return false;
    const bool added = X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return added;
}

// A CA certificate when `issuer` is null, else a server certificate for `san`.
CertPtr NewCert(EVP_PKEY* key, const char* common_name, X509* issuer, EVP_PKEY* issuer_key,
                const char* san, long serial) {
    CertPtr cert(X509_new(), X509_free);
    X509* c = cert.get();
    bool ok = X509_set_version(c, 2) == 1 &&
              ASN1_INTEGER_set(X509_get_serialNumber(c), serial) == 1 &&
              X509_gmtime_adj(X509_getm_notBefore(c), -3600) != nullptr &&
              X509_gmtime_adj(X509_getm_notAfter(c), 24 * 3600) != nullptr &&
              X509_set_pubkey(c, key) == 1;
    X509_NAME* name = X509_get_subject_name(c);
    ok = ok && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                          reinterpret_cast<const unsigned char*>(common_name), -1,
                                          -1, 0) == 1;
    ok = ok && X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name) == 1;
    X509* signer = issuer ? issuer : c;
    if (issuer == nullptr) {
        ok = ok && AddExtension(c, signer, NID_basic_constraints, "critical,CA:TRUE") &&
             AddExtension(c, signer, NID_key_usage, "critical,keyCertSign,cRLSign") &&
             AddExtension(c, signer, NID_subject_key_identifier, "hash");
    } else {
        ok = ok && AddExtension(c, signer, NID_basic_constraints, "CA:FALSE") &&
             AddExtension(c, signer, NID_key_usage, "critical,digitalSignature") &&
             AddExtension(c, signer, NID_ext_key_usage, "serverAuth") &&
             AddExtension(c, signer, NID_subject_alt_name, san) &&
             AddExtension(c, signer, NID_authority_key_identifier, "keyid");
    }
    ok = ok && X509_sign(c, issuer_key ? issuer_key : key, EVP_sha256()) > 0;
    if (!ok) cert.reset();
    return cert;
}

std::string CertPem(X509* cert) {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, cert);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return pem;
}

std::string KeyPem(EVP_PKEY* key) {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return pem;
}

Pki MakePki() {
    Pki pki;
    KeyPtr ca_key = NewKey(), server_key = NewKey(), wrong_key = NewKey();
    if (!ca_key || !server_key || !wrong_key) return pki;
    CertPtr ca = NewCert(ca_key.get(), "Aragora Test CA", nullptr, nullptr, nullptr, 1);
    if (!ca) return pki;
    CertPtr server = NewCert(server_key.get(), "localhost", ca.get(), ca_key.get(),
                             "DNS:localhost,DNS:aragora-test.invalid,IP:127.0.0.1", 2);
    CertPtr wrong =
        NewCert(wrong_key.get(), "wrong.example", ca.get(), ca_key.get(), "DNS:wrong.example", 3);
    if (!server || !wrong) return pki;
    pki.server = {CertPem(server.get()), KeyPem(server_key.get())};
    pki.wrong_name = {CertPem(wrong.get()), KeyPem(wrong_key.get())};
    pki.ca_file = (std::filesystem::path(::testing::TempDir()) /
                   ("aragora_http_client_ca_" + std::to_string(::getpid()) + ".pem"))
                      .string();
    std::ofstream(pki.ca_file) << CertPem(ca.get());
    pki.ok = std::filesystem::file_size(pki.ca_file) > 0;
    return pki;
}

const Pki& TestPki() {
    static const Pki pki = MakePki();
    return pki;
}

// ---------------------------------------------------------------------------------------
// What the servers saw, in order; waited on with the suite's deadline.

class Events {
public:
    void Add(std::string event) {
        std::lock_guard lock(mu_);
        log_.push_back(std::move(event));
        cv_.notify_all();
    }
    bool WaitFor(const std::string& event, int count = 1) {
        return testing::WaitUntil(mu_, cv_, [&] { return CountLocked(event) >= count; });
    }
    int Count(const std::string& event) {
        std::lock_guard lock(mu_);
        return CountLocked(event);
    }
    std::string Dump() {
        std::lock_guard lock(mu_);
        std::string out;
        for (const auto& e : log_) out += e + "; ";
        return out;
    }

private:
    int CountLocked(const std::string& event) const {
        return static_cast<int>(std::count(log_.begin(), log_.end(), event));
    }
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<std::string> log_;
};

// Lets server scripts wait until the client saw something (e.g. its n-th sink piece).
// Open: any thread. Wait: on the server's single I/O thread, any number of waiters.
class Gate {
public:
    explicit Gate(asio::io_context& server_ioc) : timer_(server_ioc) {
        timer_.expires_at(asio::steady_timer::time_point::max());
    }
    void Open(int level) {
        asio::post(timer_.get_executor(), [this, level] {
            level_ = std::max(level_, level);
            timer_.cancel();
        });
    }
    asio::awaitable<void> Wait(int level) {
        while (level_ < level) {
            co_await timer_.async_wait(kTuple);  // woken by Open's cancel
        }
    }

private:
    asio::steady_timer timer_;
    int level_ = 0;
};

// ---------------------------------------------------------------------------------------
// Scripted servers.

struct RawRequest {
    std::string method;
    std::string target;
    std::map<std::string, std::string> headers;  // lowercased names
    std::string body;
    std::string Header(const std::string& name) const {
        auto it = headers.find(name);
        return it == headers.end() ? std::string() : it->second;
    }
};

// One accepted connection, plain or TLS. Lives in its coroutine frame (never moved).
class ServerConn {
public:
    ServerConn(tcp::socket socket, ssl::context* tls) : socket_(std::move(socket)) {
        if (tls != nullptr) tls_.emplace(socket_, *tls);
    }

    asio::awaitable<bool> Handshake() {
        if (!tls_) co_return true;
        auto [ec] = co_await tls_->async_handshake(ssl::stream_base::server, kTuple);
        if (ec) co_return false;
        const char* name = SSL_get_servername(tls_->native_handle(), TLSEXT_NAMETYPE_host_name);
        sni_ = name ? name : "";
        co_return true;
    }
    const std::string& sni() const { return sni_; }

    asio::awaitable<std::optional<RawRequest>> ReadRequest() {
        std::size_t end;
        while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
            const bool more = co_await ReadMore();
            if (!more) co_return std::nullopt;
        }
        RawRequest req;
        std::string head = buffer_.substr(0, end);
        buffer_.erase(0, end + 4);
        std::size_t line_end = head.find("\r\n");
        std::string line = head.substr(0, line_end);
        const auto sp1 = line.find(' ');
        const auto sp2 = line.find(' ', sp1 + 1);
        req.method = line.substr(0, sp1);
        req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
        std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
        while (pos < head.size()) {
            std::size_t next = head.find("\r\n", pos);
            if (next == std::string::npos) next = head.size();
            std::string field = head.substr(pos, next - pos);
            const auto colon = field.find(':');
            if (colon != std::string::npos) {
                std::size_t v = colon + 1;
                while (v < field.size() && field[v] == ' ') ++v;
                req.headers[Lowered(field.substr(0, colon))] = field.substr(v);
            }
            pos = next + 2;
        }
        const std::string length = req.Header("content-length");
        const std::size_t n = length.empty() ? 0 : std::stoul(length);
        while (buffer_.size() < n) {
            const bool more = co_await ReadMore();
            if (!more) co_return std::nullopt;
        }
        req.body = buffer_.substr(0, n);
        buffer_.erase(0, n);
        co_return req;
    }

    asio::awaitable<bool> Write(std::string data) {
        boost::system::error_code ec;
        if (tls_) {
            std::tie(ec, std::ignore) =
                co_await asio::async_write(*tls_, asio::buffer(data), kTuple);
        } else {
            std::tie(ec, std::ignore) =
                co_await asio::async_write(socket_, asio::buffer(data), kTuple);
        }
        co_return !ec;
    }

    // Returns once the peer closed (or reset) the connection.
    asio::awaitable<void> WaitClosed() {
        for (;;) {
            const bool more = co_await ReadMore();
            if (!more) co_return;
        }
    }

    void Close() {
        boost::system::error_code ignored;
        socket_.close(ignored);
    }

private:
    asio::awaitable<bool> ReadMore() {
        char chunk[4096];
        boost::system::error_code ec;
        std::size_t n = 0;
        if (tls_) {
            std::tie(ec, n) = co_await tls_->async_read_some(asio::buffer(chunk), kTuple);
        } else {
            std::tie(ec, n) = co_await socket_.async_read_some(asio::buffer(chunk), kTuple);
        }
        buffer_.append(chunk, n);
        co_return !ec;
    }

    tcp::socket socket_;
    std::optional<ssl::stream<tcp::socket&>> tls_;
    std::string buffer_;
    std::string sni_;
};

using Script = std::function<asio::awaitable<void>(ServerConn&)>;

// Accepts on 127.0.0.1:0 and runs `script` per connection. Records "<name> accept",
// "<name> sni <name>" (TLS) and "<name> tls failed".
class TestServer {
public:
    TestServer(asio::io_context& ioc, std::string name, Events& events, Script script,
               ssl::context* tls)
        : acceptor_(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
          name_(std::move(name)),
          events_(events),
          script_(std::move(script)),
          tls_(tls) {
        port_ = acceptor_.local_endpoint().port();
        asio::co_spawn(acceptor_.get_executor(), AcceptLoop(), asio::detached);
    }
    std::uint16_t port() const { return port_; }

private:
    asio::awaitable<void> AcceptLoop() {
        for (;;) {
            auto [ec, socket] = co_await acceptor_.async_accept(kTuple);
            if (ec) co_return;
            events_.Add(name_ + " accept");
            asio::co_spawn(acceptor_.get_executor(), Serve(std::move(socket)), asio::detached);
        }
    }
    asio::awaitable<void> Serve(tcp::socket socket) {
        ServerConn conn(std::move(socket), tls_);
        const bool handshaken = co_await conn.Handshake();
        if (!handshaken) {
            events_.Add(name_ + " tls failed");
            co_return;
        }
        if (tls_ != nullptr) events_.Add(name_ + " sni " + conn.sni());
        co_await script_(conn);
    }

    tcp::acceptor acceptor_;
    std::string name_;
    Events& events_;
    Script script_;
    ssl::context* tls_;
    std::uint16_t port_ = 0;
};

// A CONNECT proxy: maps kProxiedHost to 127.0.0.1 and pipes bytes both ways. Records
// "proxy accept", "proxy CONNECT <authority>", "proxy auth <value>".
class ProxyServer {
public:
    ProxyServer(asio::io_context& ioc, Events& events, bool refuse)
        : acceptor_(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
          events_(events),
          refuse_(refuse) {
        port_ = acceptor_.local_endpoint().port();
        asio::co_spawn(acceptor_.get_executor(), AcceptLoop(), asio::detached);
    }
    std::uint16_t port() const { return port_; }

private:
    asio::awaitable<void> AcceptLoop() {
        for (;;) {
            auto [ec, socket] = co_await acceptor_.async_accept(kTuple);
            if (ec) co_return;
            events_.Add("proxy accept");
            asio::co_spawn(acceptor_.get_executor(),
                           Serve(std::make_shared<tcp::socket>(std::move(socket))), asio::detached);
        }
    }

    asio::awaitable<void> Serve(std::shared_ptr<tcp::socket> client) {
        std::string buffer;
        auto [ec, n] = co_await asio::async_read_until(*client, asio::dynamic_buffer(buffer),
                                                       "\r\n\r\n", kTuple);
        if (ec) co_return;
        const std::string head = buffer.substr(0, n);
        buffer.erase(0, n);
        const auto sp1 = head.find(' ');
        const auto sp2 = head.find(' ', sp1 + 1);
        const std::string authority = head.substr(sp1 + 1, sp2 - sp1 - 1);
        events_.Add("proxy " + head.substr(0, sp1) + " " + authority);
        const std::string lowered = Lowered(head);
        const auto auth = lowered.find("\r\nproxy-authorization: ");
        if (auth != std::string::npos) {
            const auto start = auth + std::strlen("\r\nproxy-authorization: ");
            events_.Add("proxy auth " + head.substr(start, head.find("\r\n", start) - start));
        }
        const auto colon = authority.rfind(':');
        const std::string host = authority.substr(0, colon);
        if (refuse_ || host != kProxiedHost) {
            co_await asio::async_write(
                *client,
                asio::buffer(std::string(
                    "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")),
                kTuple);
            boost::system::error_code ignored;
            client->close(ignored);
            co_return;
        }
        auto upstream = std::make_shared<tcp::socket>(client->get_executor());
        const auto port = static_cast<std::uint16_t>(std::stoi(authority.substr(colon + 1)));
        auto [cec] = co_await upstream->async_connect(
            tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), kTuple);
        if (cec) co_return;
        std::string ok = "HTTP/1.1 200 Connection established\r\n\r\n";
        co_await asio::async_write(*client, asio::buffer(ok), kTuple);
        if (!buffer.empty()) {
            co_await asio::async_write(*upstream, asio::buffer(buffer), kTuple);
        }
        asio::co_spawn(client->get_executor(), Pipe(client, upstream), asio::detached);
        asio::co_spawn(client->get_executor(), Pipe(upstream, client), asio::detached);
    }

    static asio::awaitable<void> Pipe(std::shared_ptr<tcp::socket> from,
                                      std::shared_ptr<tcp::socket> to) {
        char chunk[8192];
        for (;;) {
            auto [ec, n] = co_await from->async_read_some(asio::buffer(chunk), kTuple);
            if (ec) break;
            auto [wec, written] = co_await asio::async_write(*to, asio::buffer(chunk, n), kTuple);
            if (wec) break;
        }
        boost::system::error_code ignored;
        from->close(ignored);
        to->close(ignored);
    }

    tcp::acceptor acceptor_;
    Events& events_;
    bool refuse_;
    std::uint16_t port_ = 0;
};

std::string Answer(int status, std::string_view body, std::string_view extra_headers = "") {
    return "HTTP/1.1 " + std::to_string(status) +
           " X\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
           std::string(extra_headers) + "\r\n" + std::string(body);
}

std::string ChunkedHead(int status) {
    return "HTTP/1.1 " + std::to_string(status) +
           " X\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
}

std::string Chunk(std::string_view data) {
    char size[32];
    std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
    return size + std::string(data) + "\r\n";
}

constexpr std::string_view kLastChunk = "0\r\n\r\n";

// Answers every request on the connection with what it received.
asio::awaitable<void> Echo(ServerConn& conn, Events& events, std::string name) {
    for (;;) {
        auto req = co_await conn.ReadRequest();
        if (!req) co_return;
        events.Add(name + " request " + req->method + " " + req->target);
        const std::string body = req->method + " " + req->target + "\nhost=" + req->Header("host") +
                                 "\nagent=" + req->Header("user-agent") +
                                 "\nx-test=" + req->Header("x-test") + "\nbody=" + req->body;
        const bool written =
            co_await conn.Write(Answer(200, body, "X-Reply: yes\r\nx-reply: second\r\n"));
        if (!written) co_return;
    }
}

// Sink pieces collected on the client's thread; read after Send finished.
struct Pieces {
    std::vector<std::string> list;
    std::string Joined() const {
        std::string out;
        for (const auto& p : list) out += p;
        return out;
    }
};

// ---------------------------------------------------------------------------------------

class HttpClientTest : public ::testing::Test {
protected:
    ~HttpClientTest() override {
        server_io_.Stop();
        client_io_.Stop();
        client_.reset();
    }

    HttpClient& NewClient(HttpClientOptions options = {}) {
        client_ = std::make_unique<HttpClient>(client_io_.ioc(), std::move(options));
        return *client_;
    }

    TestServer& Serve(std::string name, Script script, ssl::context* tls = nullptr) {
        servers_.push_back(std::make_unique<TestServer>(server_io_.ioc(), std::move(name), events_,
                                                        std::move(script), tls));
        return *servers_.back();
    }
    TestServer& ServeEcho(std::string name = "s", ssl::context* tls = nullptr) {
        return Serve(
            name, [this, name](ServerConn& c) { return Echo(c, events_, name); }, tls);
    }

    ssl::context& ServerTls(const KeyPair& pair) {
        auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
        ctx->use_certificate_chain(asio::buffer(pair.cert_pem));
        ctx->use_private_key(asio::buffer(pair.key_pem), ssl::context::pem);
        tls_contexts_.push_back(std::move(ctx));
        return *tls_contexts_.back();
    }

    ProxyServer& StartProxy(bool refuse = false) {
        proxies_.push_back(std::make_unique<ProxyServer>(server_io_.ioc(), events_, refuse));
        return *proxies_.back();
    }

    // Runs one Send on the client's I/O threads and waits for it (bounded).
    Result<ClientResponse> Send(ClientRequest request, BodySink sink = {}) {
        auto f = asio::co_spawn(
            client_io_.ioc(), client_->Send(std::move(request), std::move(sink)), asio::use_future);
        if (f.wait_for(kDeadline) != std::future_status::ready) {
            ADD_FAILURE() << "Send did not finish; server events: " << events_.Dump();
            client_io_.Stop();
            return common::MakeError(ErrorCode::kInternal, "test deadline");
        }
        return f.get();
    }

    ProbeReport Probe(std::string url, std::chrono::milliseconds timeout) {
        auto f = asio::co_spawn(client_io_.ioc(), client_->Probe(std::move(url), timeout),
                                asio::use_future);
        if (f.wait_for(kDeadline) != std::future_status::ready) {
            ADD_FAILURE() << "Probe did not finish";
            client_io_.Stop();
            return {};
        }
        return f.get();
    }

    static ClientRequest Get(std::string url, std::chrono::milliseconds timeout = 5s) {
        ClientRequest r;
        r.method = "GET";
        r.url = std::move(url);
        r.timeout = timeout;
        return r;
    }
    static std::string Url(std::uint16_t port, std::string_view path = "/",
                           std::string_view scheme = "http", std::string_view host = "127.0.0.1") {
        return std::string(scheme) + "://" + std::string(host) + ":" + std::to_string(port) +
               std::string(path);
    }

    // Members are destroyed after the destructor body stopped both io_contexts.
    IoThreads server_io_{1};
    IoThreads client_io_{2};
    Events events_;
    Gate gate_{server_io_.ioc()};
    std::vector<std::unique_ptr<ssl::context>> tls_contexts_;
    std::vector<std::unique_ptr<TestServer>> servers_;
    std::vector<std::unique_ptr<ProxyServer>> proxies_;
    std::unique_ptr<HttpClient> client_;
};

#define EXPECT_ERROR(result, error_code, text)                                             \
    do {                                                                                   \
        const auto& r_ = (result);                                                         \
        ASSERT_FALSE(r_.ok()) << "status " << r_->status;                                  \
        EXPECT_EQ(r_.error().code, (error_code)) << r_.error().message;                    \
        EXPECT_NE(r_.error().message.find(text), std::string::npos) << r_.error().message; \
    } while (false)

TEST_F(HttpClientTest, GetAndPostRoundTrip) {
    auto& server = ServeEcho();
    NewClient();

    auto get = Get(Url(server.port(), "/hello?x=1"));
    get.headers = {{"X-Test", "a"}};
    auto r = Send(get);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "GET /hello?x=1\nhost=127.0.0.1:" + std::to_string(server.port()) +
                           "\nagent=aragora-cpp\nx-test=a\nbody=");
    EXPECT_EQ(r->Header("X-REPLY"), "yes");
    std::vector<std::string> replies;
    for (const auto& [name, value] : r->headers) {
        if (name == "x-reply") replies.push_back(value);
        EXPECT_EQ(name, Lowered(name));
    }
    EXPECT_EQ(replies, (std::vector<std::string>{"yes", "second"}));
    EXPECT_EQ(r->Header("absent"), "");

    ClientRequest post;
    post.url = Url(server.port(), "/v1/chat");
    post.body = R"({"prompt":"hi"})";
    post.headers = {{"Content-Type", "application/json"}, {"User-Agent", "custom"}};
    r = Send(post);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->body, "POST /v1/chat\nhost=127.0.0.1:" + std::to_string(server.port()) +
                           "\nagent=custom\nx-test=\nbody={\"prompt\":\"hi\"}");
    EXPECT_EQ(client_->stats().requests.load(), 2u);
}

TEST_F(HttpClientTest, ABudgetBoundsConcurrentExchangesAndQueuesTheRest) {
    auto& server = ServeEcho();
    common::ManualClock clock;
    HttpClientOptions options;
    options.budget = std::make_shared<ConnectionBudget>(clock, 1, 1);
    NewClient(options);
    auto held = options.budget->TryAcquire();  // another call holds the only connection
    ASSERT_TRUE(held);
    auto waiting = asio::co_spawn(client_io_.ioc(), client_->Send(Get(Url(server.port(), "/w"))),
                                  asio::use_future);
    const auto until = std::chrono::steady_clock::now() + kDeadline;
    while (options.budget->Stats().waiting == 0 && std::chrono::steady_clock::now() < until)
        std::this_thread::yield();
    ASSERT_EQ(options.budget->Stats().waiting, 1u);
    // The wait queue is full: the next exchange is refused at once, nothing is sent.
    EXPECT_ERROR(Send(Get(Url(server.port(), "/refused"))), ErrorCode::kOverloaded,
                 "provider connection budget");
    EXPECT_EQ(events_.Count("s accept"), 0) << events_.Dump();
    // The connection is freed: the waiting exchange proceeds, and gives its permit back.
    held.Release();
    ASSERT_EQ(waiting.wait_for(kDeadline), std::future_status::ready);
    auto r = waiting.get();
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(options.budget->Stats().in_use, 0u);
    EXPECT_EQ(options.budget->Stats().waited, 1u);
    EXPECT_EQ(client_->stats().errors.load(), 1u);
}

TEST_F(HttpClientTest, ReusesKeepAliveConnection) {
    auto& server = ServeEcho();
    NewClient();
    auto first = Send(Get(Url(server.port(), "/1")));
    ASSERT_TRUE(first.ok()) << first.error().message;
    EXPECT_FALSE(first->reused_connection);
    auto second = Send(Get(Url(server.port(), "/2")));
    ASSERT_TRUE(second.ok()) << second.error().message;
    EXPECT_TRUE(second->reused_connection);
    EXPECT_EQ(client_->stats().connections_opened.load(), 1u);
    EXPECT_EQ(client_->stats().connections_reused.load(), 1u);
    EXPECT_EQ(events_.Count("s accept"), 1) << events_.Dump();
}

TEST_F(HttpClientTest, IdleTimeoutAndPoolSizeLimitReuse) {
    auto& server = ServeEcho();
    HttpClientOptions no_idle_time;
    no_idle_time.idle_timeout = 0s;
    NewClient(no_idle_time);
    ASSERT_TRUE(Send(Get(Url(server.port()))).ok());
    auto r = Send(Get(Url(server.port())));
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->reused_connection);
    EXPECT_EQ(client_->stats().connections_opened.load(), 2u);

    HttpClientOptions no_pool;
    no_pool.max_idle_per_host = 0;
    NewClient(no_pool);
    ASSERT_TRUE(Send(Get(Url(server.port()))).ok());
    r = Send(Get(Url(server.port())));
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->reused_connection);
    EXPECT_EQ(client_->stats().connections_opened.load(), 2u);
    EXPECT_EQ(client_->stats().connections_reused.load(), 0u);
}

TEST_F(HttpClientTest, ConnectionCloseAnswerIsNotPooled) {
    auto& server = Serve("s", [](ServerConn& c) -> asio::awaitable<void> {
        auto req = co_await c.ReadRequest();
        if (req) {
            co_await c.Write(Answer(200, "bye", "Connection: close\r\n"));
        }
        c.Close();
    });
    NewClient();
    ASSERT_TRUE(Send(Get(Url(server.port()))).ok());
    auto r = Send(Get(Url(server.port())));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->body, "bye");
    EXPECT_FALSE(r->reused_connection);
    EXPECT_EQ(client_->stats().connections_reused.load(), 0u);
}

TEST_F(HttpClientTest, IdleConnectionClosedByServerIsReplaced) {
    auto& server = Serve("s", [this](ServerConn& c) -> asio::awaitable<void> {
        auto req = co_await c.ReadRequest();
        if (req) {
            co_await c.Write(Answer(200, "ok"));
        }
        c.Close();  // no "Connection: close": the client pools a connection that is gone
        events_.Add("s closed");
    });
    NewClient();
    ASSERT_TRUE(Send(Get(Url(server.port()))).ok());
    ASSERT_TRUE(events_.WaitFor("s closed"));
    auto r = Send(Get(Url(server.port())));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->body, "ok");
    EXPECT_FALSE(r->reused_connection);
    EXPECT_EQ(events_.Count("s accept"), 2);
}

TEST_F(HttpClientTest, PooledConnectionDroppedBeforeAnswerIsRetriedOnce) {
    auto connections = std::make_shared<std::atomic<int>>(0);
    auto& server = Serve("s", [this, connections](ServerConn& c) -> asio::awaitable<void> {
        const int index = ++*connections;
        auto req = co_await c.ReadRequest();
        if (!req) co_return;
        co_await c.Write(Answer(200, "conn " + std::to_string(index)));
        if (index == 1) {
            // The next request arrives on the pooled connection: drop it unanswered.
            auto req = co_await c.ReadRequest();
            if (req) events_.Add("s dropped a request");
            c.Close();
            co_return;
        }
        for (;;) {
            auto next = co_await c.ReadRequest();
            if (!next) co_return;
            co_await c.Write(Answer(200, "again"));
        }
    });
    NewClient();
    ASSERT_TRUE(Send(Get(Url(server.port()))).ok());
    auto r = Send(Get(Url(server.port())));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->body, "conn 2");
    EXPECT_FALSE(r->reused_connection);
    EXPECT_EQ(events_.Count("s dropped a request"), 1);
    EXPECT_EQ(client_->stats().connections_opened.load(), 2u);
    EXPECT_EQ(client_->stats().connections_reused.load(), 1u);
    EXPECT_EQ(client_->stats().errors.load(), 0u);
}

TEST_F(HttpClientTest, FreshConnectionDroppedBeforeAnswerIsNotRetried) {
    auto& server = Serve("s", [](ServerConn& c) -> asio::awaitable<void> {
        co_await c.ReadRequest();
        c.Close();
    });
    NewClient();
    EXPECT_ERROR(Send(Get(Url(server.port()))), ErrorCode::kUnavailable, "closed");
    EXPECT_EQ(events_.Count("s accept"), 1);
    EXPECT_EQ(client_->stats().errors.load(), 1u);
}

// The server sends the next event only after the sink got the previous one: a client
// that buffered the body would never see the end (and would time out).
TEST_F(HttpClientTest, StreamsChunkedBodyAsItArrives) {
    auto& server = Serve("s", [this](ServerConn& c) -> asio::awaitable<void> {
        auto req = co_await c.ReadRequest();
        if (!req) co_return;
        co_await c.Write(ChunkedHead(200) + Chunk("data: 1\n\n"));
        for (int i = 2; i <= 3; ++i) {
            co_await gate_.Wait(i - 1);
            co_await c.Write(Chunk("data: " + std::to_string(i) + "\n\n"));
        }
        co_await gate_.Wait(3);
        co_await c.Write(std::string(kLastChunk));
        auto next = co_await c.ReadRequest();
        if (next) {
            co_await c.Write(Answer(200, "next"));
        }
        co_await c.WaitClosed();
    });
    NewClient();
    Pieces pieces;
    auto r = Send(Get(Url(server.port(), "/stream")), [&](std::string_view piece) {
        pieces.list.emplace_back(piece);
        gate_.Open(static_cast<int>(pieces.list.size()));
        return true;
    });
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "");
    EXPECT_EQ(r->Header("content-type"), "text/event-stream");
    EXPECT_EQ(pieces.list, (std::vector<std::string>{"data: 1\n\n", "data: 2\n\n", "data: 3\n\n"}));
    // The stream ended cleanly, so the connection went back to the pool.
    auto again = Send(Get(Url(server.port())));
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_EQ(again->body, "next");
    EXPECT_TRUE(again->reused_connection);
}

TEST_F(HttpClientTest, StreamsContentLengthBodyAsItArrives) {
    auto& server = Serve("s", [this](ServerConn& c) -> asio::awaitable<void> {
        auto req = co_await c.ReadRequest();
        if (!req) co_return;
        co_await c.Write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello");
        co_await gate_.Wait(1);
        co_await c.Write("world");
        co_await c.WaitClosed();
    });
    NewClient();
    Pieces pieces;
    auto r = Send(Get(Url(server.port())), [&](std::string_view piece) {
        pieces.list.emplace_back(piece);
        gate_.Open(static_cast<int>(pieces.list.size()));
        return true;
    });
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(pieces.list, (std::vector<std::string>{"hello", "world"}));
}

TEST_F(HttpClientTest, SinkReturningFalseStopsAndClosesConnection) {
    auto& server = Serve("s", [this](ServerConn& c) -> asio::awaitable<void> {
        auto req = co_await c.ReadRequest();
        if (!req) co_return;
        co_await c.Write(ChunkedHead(200) + Chunk("first"));
        co_await c.WaitClosed();
        events_.Add("s saw close");
    });
    NewClient();
    Pieces pieces;
    auto r = Send(Get(Url(server.port())), [&](std::string_view piece) {
        pieces.list.emplace_back(piece);
        return false;
    });
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "");
    EXPECT_EQ(pieces.list, (std::vector<std::string>{"first"}));
    EXPECT_TRUE(events_.WaitFor("s saw close"));
}

// A sink that stops at a stream's last event while the body's end came in the same read
// (a provider's last SSE event and the closing chunk): the response is complete, so the
// connection goes back to the pool and the next request reuses it (issue 20: every streamed
// provider call reconnected).
TEST_F(HttpClientTest, SinkStoppingWithTheBodyCompleteKeepsTheConnection) {
    auto& server = Serve("s", [this](ServerConn& c) -> asio::awaitable<void> {
        for (int n = 0; n < 2; ++n) {
            auto req = co_await c.ReadRequest();
            if (!req) co_return;
            events_.Add("s request " + req->target);
            if (n == 0) {
                co_await c.Write(ChunkedHead(200) + Chunk("data: [DONE]\n\n") +
                                 std::string(kLastChunk));
            } else {
                co_await c.Write(Answer(200, "again"));
            }
        }
    });
    NewClient();
    auto r = Send(Get(Url(server.port(), "/stream")), [](std::string_view) { return false; });
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->status, 200);
    auto again = Send(Get(Url(server.port(), "/2")));
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_EQ(again->body, "again");
    EXPECT_TRUE(again->reused_connection);
    EXPECT_EQ(client_->stats().connections_opened.load(), 1u);
}

TEST_F(HttpClientTest, NonSuccessBodyIsCollectedEvenWithSink) {
    auto& server = Serve("s", [](ServerConn& c) -> asio::awaitable<void> {
        auto req = co_await c.ReadRequest();
        if (!req) co_return;
        co_await c.Write(ChunkedHead(503) + Chunk("{\"error\":") + Chunk("\"busy\"}") +
                         std::string(kLastChunk));
        co_await c.WaitClosed();
    });
    NewClient();
    int calls = 0;
    auto r = Send(Get(Url(server.port())), [&](std::string_view) {
        ++calls;
        return true;
    });
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(r->body, "{\"error\":\"busy\"}");
    EXPECT_EQ(calls, 0);
}

TEST_F(HttpClientTest, TimesOutOnServerThatNeverAnswers) {
    auto& server = Serve("s", [this](ServerConn& c) -> asio::awaitable<void> {
        auto req = co_await c.ReadRequest();
        if (req) events_.Add("s got request");
        co_await c.WaitClosed();
        events_.Add("s saw close");
    });
    NewClient();
    const auto start = std::chrono::steady_clock::now();
    auto r = Send(Get(Url(server.port()), 200ms));
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_ERROR(r, ErrorCode::kTimeout, "timed out");
    EXPECT_GE(elapsed, 195ms);
    EXPECT_LT(elapsed, 1200ms);
    EXPECT_TRUE(events_.WaitFor("s saw close"));
    EXPECT_EQ(events_.Count("s got request"), 1);
    EXPECT_EQ(client_->stats().timeouts.load(), 1u);
}

TEST_F(HttpClientTest, DeadlineCoversStreamedBody) {
    auto& server = Serve("s", [](ServerConn& c) -> asio::awaitable<void> {
        auto req = co_await c.ReadRequest();
        if (!req) co_return;
        co_await c.Write(ChunkedHead(200) + Chunk("only piece"));
        co_await c.WaitClosed();
    });
    NewClient();
    Pieces pieces;
    auto r = Send(Get(Url(server.port()), 300ms), [&](std::string_view piece) {
        pieces.list.emplace_back(piece);
        return true;
    });
    EXPECT_ERROR(r, ErrorCode::kTimeout, "timed out");
    EXPECT_EQ(pieces.list, (std::vector<std::string>{"only piece"}));
}

// Spawned with a cancellation slot; `widen` lets partial and total cancellation through
// the coroutine's default (terminal-only) filter.
asio::awaitable<Result<ClientResponse>> SendFromCoroutine(HttpClient& client, ClientRequest request,
                                                          bool widen) {
    if (widen) {
        co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());
    }
    co_return co_await client.Send(std::move(request));
}

class HttpClientCancelTest : public HttpClientTest {
protected:
    void ExpectPromptCancellation(asio::cancellation_type type) {
        auto& server = Serve("s", [this](ServerConn& c) -> asio::awaitable<void> {
            auto req = co_await c.ReadRequest();
            if (req) events_.Add("s got request");
            co_await c.WaitClosed();
            events_.Add("s saw close");
        });
        auto& client = NewClient();
        using Clock = std::chrono::steady_clock;
        asio::cancellation_signal signal;
        std::promise<std::pair<Result<ClientResponse>, Clock::time_point>> done;
        auto finished = done.get_future();
        asio::co_spawn(client_io_.ioc(),
                       SendFromCoroutine(client, Get(Url(server.port()), 10s),
                                         type != asio::cancellation_type::terminal),
                       asio::bind_cancellation_slot(
                           signal.slot(), [&](std::exception_ptr, Result<ClientResponse> r) {
                               done.set_value({std::move(r), Clock::now()});
                           }));
        if (!events_.WaitFor("s got request")) {
            client_io_.Stop();
            FAIL() << "the server never saw the request";
        }
        std::promise<Clock::time_point> emitted;
        asio::post(client_io_.ioc(), [&] {
            emitted.set_value(Clock::now());
            signal.emit(type);
        });
        const auto emitted_at = emitted.get_future().get();
        if (finished.wait_for(kDeadline) != std::future_status::ready) {
            client_io_.Stop();
            FAIL() << "Send did not end after the cancellation";
        }
        auto [result, finished_at] = finished.get();
        EXPECT_ERROR(result, ErrorCode::kCancelled, "cancelled");
        EXPECT_LT(finished_at - emitted_at, 100ms);
        EXPECT_TRUE(events_.WaitFor("s saw close"));
        EXPECT_EQ(client.stats().cancellations.load(), 1u);
    }
};

TEST_F(HttpClientCancelTest, TerminalCancellationClosesConnectionPromptly) {
    ExpectPromptCancellation(asio::cancellation_type::terminal);
}
TEST_F(HttpClientCancelTest, PartialCancellationClosesConnectionPromptly) {
    ExpectPromptCancellation(asio::cancellation_type::partial);
}
TEST_F(HttpClientCancelTest, TotalCancellationClosesConnectionPromptly) {
    ExpectPromptCancellation(asio::cancellation_type::total);
}

std::uint16_t UnusedPort(asio::io_context& ioc) {
    tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    return acceptor.local_endpoint().port();  // closed again on return
}

TEST_F(HttpClientTest, RefusedConnectionIsUnavailable) {
    NewClient();
    auto r = Send(Get(Url(UnusedPort(client_io_.ioc()))));
    EXPECT_ERROR(r, ErrorCode::kUnavailable, "connect");
    EXPECT_EQ(client_->stats().errors.load(), 1u);
}

TEST_F(HttpClientTest, OversizedResponsesAreProviderErrors) {
    auto& server = Serve("s", [](ServerConn& c) -> asio::awaitable<void> {
        for (;;) {
            auto req = co_await c.ReadRequest();
            if (!req) co_return;
            const std::string big(4000, 'x');
            if (req->target == "/length") {
                co_await c.Write(Answer(200, big));
            } else if (req->target == "/chunked") {
                co_await c.Write(ChunkedHead(500) + Chunk(big.substr(0, 800)) +
                                 Chunk(big.substr(0, 800)) + std::string(kLastChunk));
            } else if (req->target == "/header") {
                co_await c.Write(Answer(200, "", "X-Big: " + big + "\r\n"));
            } else {
                co_await c.Write(ChunkedHead(200) + Chunk(big) + std::string(kLastChunk));
            }
        }
    });
    HttpClientOptions options;
    options.max_response_bytes = 1024;
    NewClient(options);
    EXPECT_ERROR(Send(Get(Url(server.port(), "/length"))), ErrorCode::kProviderError, "too large");
    EXPECT_ERROR(Send(Get(Url(server.port(), "/chunked"))), ErrorCode::kProviderError, "too large");
    EXPECT_ERROR(Send(Get(Url(server.port(), "/header"))), ErrorCode::kProviderError, "too large");
    // A streamed 2xx body is not buffered, hence not bounded.
    Pieces pieces;
    auto r = Send(Get(Url(server.port(), "/stream")), [&](std::string_view piece) {
        pieces.list.emplace_back(piece);
        return true;
    });
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(pieces.Joined(), std::string(4000, 'x'));
    // The same body without a sink is buffered and bounded.
    EXPECT_ERROR(Send(Get(Url(server.port(), "/stream"))), ErrorCode::kProviderError, "too large");
}

TEST_F(HttpClientTest, CutStreamIsProviderErrorAfterDeliveredPieces) {
    auto& server = Serve("s", [this](ServerConn& c) -> asio::awaitable<void> {
        auto req = co_await c.ReadRequest();
        if (!req) co_return;
        co_await c.Write(ChunkedHead(200) + Chunk("one"));
        co_await gate_.Wait(1);
        co_await c.Write(Chunk("two"));
        co_await gate_.Wait(2);
        c.Close();
    });
    NewClient();
    Pieces pieces;
    auto r = Send(Get(Url(server.port())), [&](std::string_view piece) {
        pieces.list.emplace_back(piece);
        gate_.Open(static_cast<int>(pieces.list.size()));
        return true;
    });
    EXPECT_ERROR(r, ErrorCode::kProviderError, "before the body ended");
    EXPECT_EQ(pieces.list, (std::vector<std::string>{"one", "two"}));
}

TEST_F(HttpClientTest, CutBufferedBodyAndMalformedAnswerAreProviderErrors) {
    auto& server = Serve("s", [](ServerConn& c) -> asio::awaitable<void> {
        auto req = co_await c.ReadRequest();
        if (!req) co_return;
        if (req->target == "/cut") {
            co_await c.Write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b");
        } else {
            co_await c.Write("HELLO THERE\r\n\r\n");
        }
        c.Close();
    });
    NewClient();
    EXPECT_ERROR(Send(Get(Url(server.port(), "/cut"))), ErrorCode::kProviderError,
                 "before the body ended");
    EXPECT_ERROR(Send(Get(Url(server.port(), "/garbage"))), ErrorCode::kProviderError, "malformed");
}

TEST_F(HttpClientTest, InvalidRequestsAreValidationErrors) {
    NewClient();
    for (std::string url : {"ftp://example.com/", "http://", "127.0.0.1:80/x", "http://ho st/",
                            "http://[::1/", "http://h:99999/", "http://user@h/", "http://h:x/"}) {
        auto r = Send(Get(url));
        ASSERT_FALSE(r.ok()) << url;
        EXPECT_EQ(r.error().code, ErrorCode::kValidation) << url << ": " << r.error().message;
    }
    auto bad_header = Get("http://127.0.0.1:1/");
    bad_header.headers = {{"X-Evil", "a\r\nInjected: yes"}};
    EXPECT_ERROR(Send(bad_header), ErrorCode::kValidation, "header");
    auto bad_method = Get("http://127.0.0.1:1/");
    bad_method.method = "GE T";
    EXPECT_ERROR(Send(bad_method), ErrorCode::kValidation, "method");
    EXPECT_ERROR(Send(Get("http://127.0.0.1:1/", 0ms)), ErrorCode::kValidation, "timeout");
    EXPECT_EQ(client_->stats().connections_opened.load(), 0u);
}

TEST_F(HttpClientTest, ConcurrentSendsShareThePool) {
    constexpr int kParallel = 8;
    // The first wave is answered only once all of it arrived, so it needs 8 connections.
    auto arrived = std::make_shared<int>(0);  // server thread only
    auto& server = Serve("s", [this, arrived](ServerConn& c) -> asio::awaitable<void> {
        for (;;) {
            auto req = co_await c.ReadRequest();
            if (!req) co_return;
            if (*arrived < kParallel) {
                ++*arrived;
                gate_.Open(*arrived);
                co_await gate_.Wait(kParallel);
            }
            co_await c.Write(Answer(200, req->method + " " + req->target));
        }
    });
    NewClient();
    for (int wave = 0; wave < 2; ++wave) {
        std::vector<std::future<Result<ClientResponse>>> futures;
        for (int i = 0; i < kParallel; ++i) {
            futures.push_back(asio::co_spawn(
                client_io_.ioc(), client_->Send(Get(Url(server.port(), "/" + std::to_string(i)))),
                asio::use_future));
        }
        for (int i = 0; i < kParallel; ++i) {
            ASSERT_EQ(futures[i].wait_for(kDeadline), std::future_status::ready);
            auto r = futures[i].get();
            ASSERT_TRUE(r.ok()) << r.error().message;
            EXPECT_EQ(r->body, "GET /" + std::to_string(i));
            EXPECT_EQ(r->reused_connection, wave == 1);
        }
    }
    EXPECT_EQ(client_->stats().connections_opened.load(), 8u);
    EXPECT_EQ(client_->stats().connections_reused.load(), 8u);
}

// --- TLS --------------------------------------------------------------------------------

class HttpClientTlsTest : public HttpClientTest {
protected:
    void SetUp() override { ASSERT_TRUE(TestPki().ok) << "could not build the test PKI"; }
    HttpClientOptions Trusting() {
        HttpClientOptions options;
        options.ca_file = TestPki().ca_file;
        return options;
    }
};

TEST_F(HttpClientTlsTest, RoundTripWithCaFileAndSni) {
    auto& server = ServeEcho("tls", &ServerTls(TestPki().server));
    NewClient(Trusting());
    auto r = Send(Get(Url(server.port(), "/secure", "https")));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->body.substr(0, r->body.find('\n')), "GET /secure");
    auto again = Send(Get(Url(server.port(), "/again", "https")));
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_TRUE(again->reused_connection);
    EXPECT_EQ(events_.Count("tls sni "), 1) << events_.Dump();  // no SNI for an IP address

    auto by_name = Send(Get(Url(server.port(), "/named", "https", "localhost")));
    ASSERT_TRUE(by_name.ok()) << by_name.error().message;
    EXPECT_EQ(events_.Count("tls sni localhost"), 1) << events_.Dump();
}

TEST_F(HttpClientTlsTest, UntrustedCertificateIsUnavailable) {
    auto& server = ServeEcho("tls", &ServerTls(TestPki().server));
    NewClient();  // system trust store only
    EXPECT_ERROR(Send(Get(Url(server.port(), "/", "https"))), ErrorCode::kUnavailable,
                 "certificate verification failed");
    EXPECT_TRUE(events_.WaitFor("tls tls failed"));
}

TEST_F(HttpClientTlsTest, HostNameMismatchIsUnavailable) {
    auto& server = ServeEcho("tls", &ServerTls(TestPki().wrong_name));
    NewClient(Trusting());
    EXPECT_ERROR(Send(Get(Url(server.port(), "/", "https"))), ErrorCode::kUnavailable, "mismatch");
    EXPECT_ERROR(Send(Get(Url(server.port(), "/", "https", "localhost"))), ErrorCode::kUnavailable,
                 "hostname mismatch");
    EXPECT_EQ(events_.Count("tls request GET /"), 0);
}

TEST_F(HttpClientTlsTest, StreamsOverTls) {
    auto& server = Serve(
        "tls",
        [this](ServerConn& c) -> asio::awaitable<void> {
            auto req = co_await c.ReadRequest();
            if (!req) co_return;
            co_await c.Write(ChunkedHead(200) + Chunk("event: a\n\n"));
            co_await gate_.Wait(1);
            co_await c.Write(Chunk("event: b\n\n") + std::string(kLastChunk));
            co_await c.WaitClosed();
        },
        &ServerTls(TestPki().server));
    NewClient(Trusting());
    Pieces pieces;
    auto r = Send(Get(Url(server.port(), "/", "https")), [&](std::string_view piece) {
        pieces.list.emplace_back(piece);
        gate_.Open(static_cast<int>(pieces.list.size()));
        return true;
    });
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(pieces.list, (std::vector<std::string>{"event: a\n\n", "event: b\n\n"}));
}

TEST_F(HttpClientTlsTest, ProxyTunnelCarriesHttpsWithBasicAuth) {
    auto& server = ServeEcho("tls", &ServerTls(TestPki().server));
    auto& proxy = StartProxy();
    auto options = Trusting();
    options.https_proxy = "http://user:p%40ss@127.0.0.1:" + std::to_string(proxy.port());
    NewClient(options);
    const std::string authority = std::string(kProxiedHost) + ":" + std::to_string(server.port());
    auto r = Send(Get("https://" + authority + "/via-proxy"));
    ASSERT_TRUE(r.ok()) << r.error().message << "; events: " << events_.Dump();
    EXPECT_EQ(r->body.substr(0, r->body.find('\n')), "GET /via-proxy");
    EXPECT_EQ(events_.Count("proxy CONNECT " + authority), 1) << events_.Dump();
    EXPECT_EQ(events_.Count("proxy auth Basic dXNlcjpwQHNz"), 1) << events_.Dump();  // user:p@ss
    EXPECT_EQ(events_.Count("tls sni " + std::string(kProxiedHost)), 1) << events_.Dump();

    auto again = Send(Get("https://" + authority + "/again"));
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_TRUE(again->reused_connection);
    EXPECT_EQ(events_.Count("proxy accept"), 1);
}

TEST_F(HttpClientTlsTest, ProxyRefusingConnectIsUnavailable) {
    auto& proxy = StartProxy(/*refuse=*/true);
    auto options = Trusting();
    options.https_proxy = "127.0.0.1:" + std::to_string(proxy.port());
    NewClient(options);
    auto r = Send(Get("https://" + std::string(kProxiedHost) + ":443/"));
    EXPECT_ERROR(r, ErrorCode::kUnavailable, "407");
    EXPECT_EQ(events_.Count("proxy CONNECT " + std::string(kProxiedHost) + ":443"), 1);
}

TEST_F(HttpClientTlsTest, LoopbackTargetsBypassTheProxy) {
    auto& server = ServeEcho("tls", &ServerTls(TestPki().server));
    auto& proxy = StartProxy();
    auto options = Trusting();
    options.https_proxy = "http://127.0.0.1:" + std::to_string(proxy.port());
    NewClient(options);
    auto r = Send(Get(Url(server.port(), "/", "https")));
    ASSERT_TRUE(r.ok()) << r.error().message;
    r = Send(Get(Url(server.port(), "/", "https", "localhost")));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(events_.Count("proxy accept"), 0);
}

TEST(HttpClientProxyRules, GoesDirectForLoopbackAndNoProxyMatches) {
    EXPECT_TRUE(GoesDirect("localhost", ""));
    EXPECT_TRUE(GoesDirect("LOCALHOST", ""));
    EXPECT_TRUE(GoesDirect("127.0.0.1", ""));
    EXPECT_TRUE(GoesDirect("127.8.9.10", ""));
    EXPECT_TRUE(GoesDirect("::1", ""));
    EXPECT_TRUE(GoesDirect("[::1]", ""));
    EXPECT_FALSE(GoesDirect("api.openai.com", ""));
    EXPECT_FALSE(GoesDirect("10.0.0.1", ""));
    EXPECT_TRUE(GoesDirect("api.openai.com", "*"));
    EXPECT_TRUE(GoesDirect("api.openai.com", "example.org, openai.com"));
    EXPECT_TRUE(GoesDirect("api.openai.com", ".openai.com"));
    EXPECT_TRUE(GoesDirect("openai.com", ".openai.com"));
    EXPECT_TRUE(GoesDirect("API.OpenAI.com", "openai.COM"));
    EXPECT_FALSE(GoesDirect("notopenai.com", "openai.com"));
    EXPECT_FALSE(GoesDirect("openai.com.evil", "openai.com"));
    EXPECT_TRUE(GoesDirect("10.0.0.1", "10.0.0.1"));
    EXPECT_FALSE(GoesDirect("api.openai.com", " , "));
}

// --- Probe ------------------------------------------------------------------------------

TEST_F(HttpClientTlsTest, ProbeReportsEveryStage) {
    auto& server = ServeEcho("tls", &ServerTls(TestPki().server));
    NewClient(Trusting());
    auto report = Probe(Url(server.port(), "/", "https", "localhost"), 5s);
    EXPECT_TRUE(report.dns.attempted && report.dns.ok) << report.dns.error;
    EXPECT_TRUE(report.tcp.attempted && report.tcp.ok) << report.tcp.error;
    EXPECT_TRUE(report.tls.attempted && report.tls.ok) << report.tls.error;
    EXPECT_EQ(report.resolved_address, "127.0.0.1");
    EXPECT_GE(report.tls.latency_ms, 0.0);
    EXPECT_TRUE(events_.WaitFor("tls sni localhost"));
    EXPECT_EQ(events_.Count("tls request GET /"), 0);  // no request sent

    auto plain = Probe(Url(server.port(), "/", "http"), 5s);
    EXPECT_TRUE(plain.tcp.ok) << plain.tcp.error;
    EXPECT_FALSE(plain.tls.attempted);
    EXPECT_EQ(client_->stats().connections_opened.load(), 0u);  // probes are not pooled
}

TEST_F(HttpClientTlsTest, ProbeNamesTheFailingStage) {
    auto& server = ServeEcho("tls", &ServerTls(TestPki().server));
    NewClient();  // does not trust the test CA
    auto refused = Probe(Url(UnusedPort(client_io_.ioc()), "/", "https"), 5s);
    EXPECT_TRUE(refused.dns.ok);
    EXPECT_TRUE(refused.tcp.attempted);
    EXPECT_FALSE(refused.tcp.ok);
    EXPECT_NE(refused.tcp.error.find("connect"), std::string::npos) << refused.tcp.error;
    EXPECT_FALSE(refused.tls.attempted);

    auto untrusted = Probe(Url(server.port(), "/", "https"), 5s);
    EXPECT_TRUE(untrusted.tcp.ok);
    EXPECT_TRUE(untrusted.tls.attempted);
    EXPECT_FALSE(untrusted.tls.ok);
    EXPECT_NE(untrusted.tls.error.find("certificate"), std::string::npos) << untrusted.tls.error;

    auto bad_url = Probe("gopher://x", 5s);
    EXPECT_TRUE(bad_url.dns.attempted);
    EXPECT_FALSE(bad_url.dns.ok);
    EXPECT_FALSE(bad_url.tcp.attempted);
}

TEST_F(HttpClientTest, ProbeTimesOutInTheStalledStage) {
    // Accepts TCP but never answers the TLS handshake.
    auto& server =
        Serve("s", [](ServerConn& c) -> asio::awaitable<void> { co_await c.WaitClosed(); });
    NewClient();
    const auto start = std::chrono::steady_clock::now();
    auto report = Probe(Url(server.port(), "/", "https"), 200ms);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1200ms);
    EXPECT_TRUE(report.tcp.ok);
    EXPECT_TRUE(report.tls.attempted);
    EXPECT_FALSE(report.tls.ok);
    EXPECT_NE(report.tls.error.find("timed out"), std::string::npos) << report.tls.error;
}

}  // namespace
}  // namespace aragora::net
