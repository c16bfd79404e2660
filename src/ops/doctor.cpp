#include "ops/doctor.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <pqxx/pqxx>
#include <set>
#include <system_error>
#include <utility>

#include "common/crypto.hpp"
#include "common/json_access.hpp"
#include "common/strings.hpp"
#include "common/time.hpp"
#include "debate/receipt.hpp"
#include "debate/receipt_keys.hpp"
#include "redis/client.hpp"
#include "redis/url.hpp"
#include "storage/open_stores.hpp"
#include "storage/postgres/pg_dsn.hpp"
#include "storage/postgres/pg_pool.hpp"
#include "storage/postgres/pg_store.hpp"

namespace aragora::ops {
namespace {

namespace fs = std::filesystem;
namespace asio = boost::asio;
using common::ErrorCode;
using std::chrono::milliseconds;
using std::chrono::steady_clock;
using std::chrono::system_clock;

constexpr std::uint64_t kMiB = 1024ull * 1024;
constexpr std::uint64_t kMinFreeBytes = 100 * kMiB;
constexpr double kMaxClockSkewSeconds = 5.0;
constexpr std::size_t kMaxManifestBytes = 64 * kMiB;
constexpr std::size_t kMaxHttpAnswerBytes = 64 * 1024;

CheckOutcome Ok(std::string detail) { return {CheckStatus::kOk, std::move(detail)}; }
CheckOutcome Warn(std::string detail) { return {CheckStatus::kWarn, std::move(detail)}; }
CheckOutcome Fail(std::string detail) { return {CheckStatus::kFail, std::move(detail)}; }
CheckOutcome Skip(std::string reason) { return {CheckStatus::kSkip, std::move(reason)}; }

CheckOutcome SkipForSetting(const std::string& variable) {
    if (variable == "settings") return Skip("the settings could not be read, see settings");
    return Skip(variable + " is invalid, see settings");
}

std::string Errno(int err) { return std::strerror(err); }

// A value one thread publishes once and another awaits with a deadline.
template <typename T>
class Mailbox {
public:
    void Put(T value) {
        {
            std::lock_guard lock(mu_);
            if (value_) return;
            value_ = std::move(value);
        }
        cv_.notify_all();
    }
    std::optional<T> WaitUntil(steady_clock::time_point deadline) {
        std::unique_lock lock(mu_);
        cv_.wait_until(lock, deadline, [this] { return value_.has_value(); });
        return value_;
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::optional<T> value_;
};

// What the database check learnt of the server's clock, for the clock check.
struct DbClock {
    std::optional<double> skew_seconds;  // server minus local
    std::string not_measured;            // why not, when skew_seconds is unset ("" = SQLite)
};

// Everything the checks read, shared with their threads (an abandoned check outlives
// RunDoctor's frame).
struct Context {
    DoctorOptions options;
    SettingsProbe probe;
    steady_clock::time_point start;
    Mailbox<DbClock> db_clock;

    const config::Settings& settings() const { return probe.settings; }
};

// ---- directories ----

// Creates and removes a probe file in `dir`; the error text when that fails.
std::optional<std::string> ProbeWrite(const fs::path& dir) {
    const fs::path probe =
        dir / (".aragora-doctor-" + common::HexEncode(common::RandomBytes(6)) + ".tmp");
    const int fd =
        ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return Errno(errno);
    std::optional<std::string> error;
    if (::write(fd, "x", 1) != 1) error = Errno(errno);
    ::close(fd);
    if (::unlink(probe.c_str()) != 0 && !error)
        error = "cannot remove a probe file: " + Errno(errno);
    return error;
}

CheckOutcome CheckDirectory(const std::string& configured, std::string_view variable) {
    const fs::path path(configured);
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    fs::path existing = path;
    std::string state;
    if (fs::exists(st)) {
        if (!fs::is_directory(st)) {
            return Fail(configured + " is not a directory (" + std::string(variable) + ")");
        }
        if (auto err = ProbeWrite(path)) {
            return Fail(configured + " is not writable: " + *err + " (" + std::string(variable) +
                        ")");
        }
        state = configured + ": writable";
    } else {
        // Not there yet: the nearest existing parent must be a writable directory.
        existing = fs::absolute(path, ec).lexically_normal();
        if (!existing.has_filename()) existing = existing.parent_path();  // "dir/"
        existing = existing.parent_path();
        while (!existing.empty() && !fs::exists(existing, ec) && existing != existing.root_path()) {
            existing = existing.parent_path();
        }
        if (!fs::is_directory(existing, ec)) {
            return Fail(configured + " cannot be created: " + existing.string() +
                        " is not a directory (" + std::string(variable) + ")");
        }
        if (auto err = ProbeWrite(existing)) {
            return Fail(configured + " cannot be created: " + existing.string() +
                        " is not writable: " + *err + " (" + std::string(variable) + ")");
        }
        state = configured + ": does not exist yet, can be created in " + existing.string();
    }
    struct statvfs vfs {};
    if (::statvfs(existing.c_str(), &vfs) != 0) {
        return Warn(state + "; free space unknown: " + Errno(errno));
    }
    const std::uint64_t available = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
    const std::uint64_t total = static_cast<std::uint64_t>(vfs.f_blocks) * vfs.f_frsize;
    CheckOutcome space = ClassifyFreeSpace(available, total);
    space.detail = state + ", " + space.detail;
    return space;
}

// ---- database ----

CheckOutcome MigrationOutcome(const std::string& where, const storage::MigrationStatus& m) {
    const std::string latest = std::to_string(m.latest_version);
    if (m.current_version == 0 && !m.pending.empty()) {
        return Ok(where + ": empty database; `aragora serve` creates the schema (version " +
                  latest + ") at start");
    }
    if (!m.pending.empty()) {
        return Fail(where + ": schema version " + std::to_string(m.current_version) + ", " +
                    std::to_string(m.pending.size()) + " migration(s) pending (latest " + latest +
                    "); apply them with `aragora db migrate --upgrade` (serve applies them at "
                    "start, under the migration lock)");
    }
    if (!m.unknown_versions.empty()) {
        return Warn(where + ": schema version " + std::to_string(m.current_version) +
                    " is newer than this binary's (" + latest +
                    "); the newer migrations are additive, so it runs; upgrade aragora");
    }
    return Ok(where + ": schema version " + std::to_string(m.current_version) + " (current)");
}

CheckOutcome PostgresCheck(Context& c) {
    const auto& st = c.settings().storage;
    const auto io_seconds = std::max<long>(
        2, static_cast<long>(
               std::chrono::duration_cast<std::chrono::seconds>(c.options.io_timeout).count()));
    auto dsn =
        storage::BuildPgDsn(st.postgres_dsn, st.postgres_password, static_cast<int>(io_seconds));
    if (!dsn) {
        c.db_clock.Put({std::nullopt, "bad DSN"});
        return Fail(dsn.error().message);
    }
    const std::string where = "postgresql " + storage::RedactPgDsn(st.postgres_dsn);
    storage::PgPoolOptions options;
    options.dsn = *dsn;
    options.pool_size = 1;
    options.max_overflow = 0;
    options.acquire_timeout = c.options.io_timeout;
    options.command_timeout = c.options.io_timeout;
    options.recycle = std::chrono::seconds(0);
    auto pool = storage::PgPool::Create(options);
    if (!pool) {
        c.db_clock.Put({std::nullopt, "bad DSN"});
        return Fail(where + ": " + pool.error().message);
    }
    auto status = storage::CheckPgMigrations(**pool);
    if (!status) {
        c.db_clock.Put({std::nullopt, "PostgreSQL did not answer"});
        return Fail(where + ": " + status.error().message);
    }
    double server_epoch = 0;
    const system_clock::time_point before = system_clock::now();
    auto read_clock = (*pool)->Run("read the server clock", [&](pqxx::connection_base& conn) {
        pqxx::nontransaction tx(conn);
        const pqxx::result r = tx.exec("SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8");
        server_epoch = r[0][0].as<double>();
        return common::Status();
    });
    const system_clock::time_point after = system_clock::now();
    if (read_clock) {
        const double local = common::EpochSeconds(before + (after - before) / 2);
        c.db_clock.Put({server_epoch - local, ""});
    } else {
        c.db_clock.Put({std::nullopt, read_clock.error().message});
    }
    return MigrationOutcome(where, *status);
}

CheckOutcome SqliteCheck(Context& c) {
    c.db_clock.Put({std::nullopt, ""});
    const auto& st = c.settings().storage;
    const std::string& path = st.sqlite_path;
    if (path == ":memory:") return Ok("sqlite in memory (nothing persists)");
    std::string location;
    auto status = storage::CheckConfiguredMigrations(st, &location);
    const std::string where = "sqlite " + location;
    if (!status) return Fail(where + ": " + status.error().message);
    std::error_code ec;
    if (path.rfind("file:", 0) != 0 && !fs::exists(path, ec)) {
        return Ok(where + ": does not exist yet; `aragora serve` creates it (schema version " +
                  std::to_string(status->latest_version) + ") at start");
    }
    return MigrationOutcome(where, *status);
}

CheckOutcome DatabaseCheck(Context& c) {
    if (auto failed =
            FailedSetting(c.probe, {"DATABASE_URL", "ARAGORA_POSTGRES_DSN", "POSTGRES_PASSWORD",
                                    "ARAGORA_DB_*", "ARAGORA_DATA_DIR", "SUPABASE_*"})) {
        c.db_clock.Put({std::nullopt, "database settings invalid"});
        return SkipForSetting(*failed);
    }
    if (c.settings().storage.backend == config::DbBackend::kPostgres) return PostgresCheck(c);
    return SqliteCheck(c);
}

// ---- Redis ----

CheckOutcome RedisCheck(const Context& c) {
    if (auto failed = FailedSetting(c.probe, {"ARAGORA_REDIS_URL", "REDIS_PASSWORD"})) {
        return SkipForSetting(*failed);
    }
    const auto& d = c.settings().distributed;
    if (d.redis_url.empty()) {
        return Skip("ARAGORA_REDIS_URL unset: rate limits and events stay in this process");
    }
    auto url = redis::RedisUrl::Parse(d.redis_url, d.redis_password);
    if (!url) return Fail(url.error().message);
    const std::string where = url->Redacted();
    redis::ClientOptions options;
    options.connection.url = *url;
    options.connection.connect_timeout = c.options.io_timeout;
    options.command_timeout = c.options.io_timeout;
    options.name = "doctor";
    if (auto valid = redis::Validate(options.connection); !valid) {
        return Fail(where + ": " + valid.error().message);
    }
    const milliseconds timeout = c.options.io_timeout;
    common::Result<std::chrono::microseconds> pong =
        common::MakeError(ErrorCode::kTimeout, "no answer");
    asio::io_context io;
    {
        redis::RedisClient client(io.get_executor(), options);
        client.Start();
        auto probe = [&client, &pong, &io, timeout]() -> asio::awaitable<void> {
            common::Status connected = co_await client.WaitConnected(timeout);
            if (connected) {
                pong = co_await client.Ping(timeout);
            } else {
                pong = connected.error();
            }
            client.Stop();
            io.stop();
        };
        asio::co_spawn(io, probe(), asio::detached);
        io.run_for(2 * timeout + std::chrono::seconds(1));
    }
    if (!pong) return Fail(where + ": " + pong.error().message);
    char latency[32];
    std::snprintf(latency, sizeof latency, "%.1f ms", static_cast<double>(pong->count()) / 1000.0);
    return Ok(where + ": PONG in " + latency);
}

// ---- ports ----

struct AddrInfoDeleter {
    void operator()(addrinfo* ai) const { ::freeaddrinfo(ai); }
};

class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }

private:
    int fd_;
};

int RemainingMs(steady_clock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now()).count();
    return left > 0 ? static_cast<int>(left) : 0;
}

// Waits for `events` on `fd` until `deadline`; false on timeout or error.
bool WaitFd(int fd, short events, steady_clock::time_point deadline) {
    for (;;) {
        pollfd p{fd, events, 0};
        const int rc = ::poll(&p, 1, RemainingMs(deadline));
        if (rc > 0) return true;
        if (rc == 0) return false;
        if (errno != EINTR) return false;
    }
}

struct HttpAnswer {
    int status = 0;
    std::string headers;  // lower-cased
    std::string body;
};

// One GET over a fresh connection, everything before `deadline`. nullopt (with `why`) when
// nothing that looks like an HTTP answer came back.
std::optional<HttpAnswer> HttpGet(const sockaddr* addr, socklen_t len, const std::string& path,
                                  const std::string& request_id, steady_clock::time_point deadline,
                                  std::string* why) {
    Fd fd(::socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) {
        *why = "socket: " + Errno(errno);
        return std::nullopt;
    }
    if (::connect(fd.get(), addr, len) != 0) {
        if (errno != EINPROGRESS) {
            *why = "connect: " + Errno(errno);
            return std::nullopt;
        }
        if (!WaitFd(fd.get(), POLLOUT, deadline)) {
            *why = "no connection within the deadline";
            return std::nullopt;
        }
        int err = 0;
        socklen_t err_len = sizeof err;
        ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &err_len);
        if (err != 0) {
            *why = "connect: " + Errno(err);
            return std::nullopt;
        }
    }
    const std::string request = "GET " + path +
                                " HTTP/1.1\r\nHost: localhost\r\nUser-Agent: aragora-doctor\r\n"
                                "Accept: */*\r\nX-Request-ID: " +
                                request_id + "\r\nConnection: close\r\n\r\n";
    std::string_view rest = request;
    while (!rest.empty()) {
        const ssize_t n = ::send(fd.get(), rest.data(), rest.size(), MSG_NOSIGNAL);
        if (n > 0) {
            rest.remove_prefix(static_cast<std::size_t>(n));
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (!WaitFd(fd.get(), POLLOUT, deadline)) {
                *why = "no answer within the deadline";
                return std::nullopt;
            }
        } else {
            *why = "send: " + Errno(errno);
            return std::nullopt;
        }
    }
    std::string in;
    std::optional<std::size_t> body_at;
    std::optional<std::size_t> content_length;
    char buf[4096];
    while (in.size() < kMaxHttpAnswerBytes) {
        if (body_at && content_length && in.size() >= *body_at + *content_length) break;
        if (!WaitFd(fd.get(), POLLIN, deadline)) break;
        const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
        if (n == 0) break;
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            break;
        }
        in.append(buf, static_cast<std::size_t>(n));
        if (!body_at) {
            const auto end = in.find("\r\n\r\n");
            if (end != std::string::npos) {
                body_at = end + 4;
                const std::string head = common::ToLower(in.substr(0, end));
                const auto cl = head.find("\r\ncontent-length:");
                if (cl != std::string::npos) {
                    content_length = std::strtoull(head.c_str() + cl + 17, nullptr, 10);
                }
            }
        }
    }
    int status = 0;
    if (in.rfind("HTTP/1.", 0) != 0 || in.size() < 12 ||
        std::sscanf(in.c_str() + 9, "%3d", &status) != 1) {
        *why = in.empty() ? "no HTTP answer" : "not an HTTP answer";
        return std::nullopt;
    }
    HttpAnswer answer;
    answer.status = status;
    const std::size_t head_end = body_at ? *body_at : in.size();
    answer.headers = common::ToLower(in.substr(0, head_end));
    if (body_at) answer.body = in.substr(*body_at);
    return answer;
}

// The address to probe a port in use at: a wildcard bind address becomes loopback.
void ToProbeAddress(sockaddr_storage* addr) {
    if (addr->ss_family == AF_INET) {
        auto* in = reinterpret_cast<sockaddr_in*>(addr);
        if (in->sin_addr.s_addr == htonl(INADDR_ANY)) in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (addr->ss_family == AF_INET6) {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(addr);
        if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr)) in6->sin6_addr = in6addr_loopback;
    }
}

CheckOutcome CheckPort(const std::string& host, int port, const std::string& variable,
                       milliseconds timeout) {
    const std::string where = (host.find(':') != std::string::npos ? "[" + host + "]" : host) +
                              ":" + std::to_string(port);
    if (port == 0) return Skip(variable + "=0: a free port is picked at start");
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const std::string service = std::to_string(port);
    const int gai =
        ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found);
    if (gai != 0 || found == nullptr) {
        return Fail("ARAGORA_HOST " + host + " does not resolve: " + ::gai_strerror(gai));
    }
    std::unique_ptr<addrinfo, AddrInfoDeleter> list(found);
    sockaddr_storage addr{};
    std::memcpy(&addr, found->ai_addr, found->ai_addrlen);
    const socklen_t addr_len = found->ai_addrlen;
    {
        Fd fd(::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (fd.get() < 0) return Fail(where + ": socket: " + Errno(errno));
        const int one = 1;
        ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (::bind(fd.get(), found->ai_addr, found->ai_addrlen) == 0) return Ok(where + " free");
        const int err = errno;
        if (err == EADDRNOTAVAIL) {
            return Fail("ARAGORA_HOST " + host + " is not an address of this machine");
        }
        if (err == EACCES) {
            return Fail(where + ": binding needs privileges (ports below 1024); set " + variable +
                        " to 1024 or above");
        }
        if (err != EADDRINUSE) return Fail(where + ": cannot bind: " + Errno(err));
    }
    // In use: is it an aragora?
    ToProbeAddress(&addr);
    const auto* probe_addr = reinterpret_cast<const sockaddr*>(&addr);
    const steady_clock::time_point deadline = steady_clock::now() + timeout;
    const std::string request_id = "doctor-" + common::HexEncode(common::RandomBytes(8));
    std::string why;
    auto healthz = HttpGet(probe_addr, addr_len, "/healthz", request_id, deadline, &why);
    if (healthz && healthz->status == 200 &&
        healthz->body.find("\"status\":\"ok\"") != std::string::npos &&
        healthz->headers.find("\r\nx-correlation-id: " + request_id) != std::string::npos) {
        return Ok(where + " held by aragora (GET /healthz answered)");
    }
    if (healthz) {
        std::string why_metrics;
        auto metrics =
            HttpGet(probe_addr, addr_len, "/metrics", request_id, deadline, &why_metrics);
        if (metrics && metrics->status == 200 &&
            metrics->body.find("aragora_") != std::string::npos) {
            return Ok(where + " held by aragora (its metrics endpoint answered)");
        }
        why = "HTTP " + std::to_string(healthz->status) + " to GET /healthz, not aragora's answer";
    } else if (why == "no HTTP answer" || why == "no connection within the deadline") {
        why = "no HTTP answer within " + FormatSeconds(timeout);
    }
    return Fail(where + " is in use by another program (" + why + "); stop it or set " + variable);
}

CheckOutcome PortCheck(const Context& c, const std::string& variable) {
    if (auto failed = FailedSetting(
            c.probe, {"ARAGORA_HOST", variable, "ARAGORA_METRICS_ENABLED", "METRICS_ENABLED"})) {
        return SkipForSetting(*failed);
    }
    const auto& server = c.settings().server;
    int port = 0;
    if (variable == "ARAGORA_API_PORT") {
        port = server.api_port;
    } else if (variable == "ARAGORA_WS_PORT") {
        port = server.ws_port;
    } else {
        if (!server.metrics_enabled) return Skip("metrics disabled (ARAGORA_METRICS_ENABLED)");
        port = server.metrics_port;
    }
    return CheckPort(server.host, port, variable, c.options.io_timeout);
}

// ---- receipt keys ----

CheckOutcome ReceiptKeysCheck(const Context& c) {
    if (auto failed = FailedSetting(c.probe, {"ARAGORA_RECEIPT_*", "ARAGORA_DATA_DIR"})) {
        return SkipForSetting(*failed);
    }
    config::Settings settings = c.settings();
    const auto& r = settings.receipts;
    if (r.signing_key.empty() && settings.production) {
        return Skip("ARAGORA_RECEIPT_SIGNING_KEY is not set, see secrets");
    }
    std::string hmac_source = "ARAGORA_RECEIPT_SIGNING_KEY";
    std::optional<CheckOutcome> caution;
    bool local_key_missing = false;
    if (r.signing_key.empty()) {
        // Development: LoadReceiptKeys would create the local key when missing, and the
        // doctor creates nothing; an existing one is read as `serve` reads it.
        const fs::path path = fs::path(settings.storage.data_dir) / "receipt_signing.key";
        std::error_code ec;
        if (!fs::exists(path, ec)) {
            local_key_missing = true;
            hmac_source = path.string();
            settings.receipts.signing_key = "doctor stand-in (never used)";
        } else {
            hmac_source = path.string();
            struct stat st {};
            if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
                caution = Warn(path.string() + " is readable by other users; chmod 600 it");
            }
        }
    }
    auto keys = debate::LoadReceiptKeys(settings);
    if (!keys) return Fail(keys.error().message);
    std::string detail;
    if (local_key_missing) {
        detail = "development: no local key yet (" + hmac_source + " is created at first start)";
    } else {
        detail = "HMAC key id " + debate::KeyId(keys->hmac_current) + " (" + hmac_source + ")";
    }
    if (!keys->hmac_previous.empty()) {
        detail += ", previous HMAC key id " + debate::KeyId(keys->hmac_previous) +
                  " (ARAGORA_RECEIPT_SIGNING_KEY_PREVIOUS)";
    }
    if (keys->ed25519) {
        detail += ", Ed25519 key id " + debate::KeyId(keys->ed25519->public_key) + " (" +
                  r.ed25519_key_file + ")";
    }
    if (caution) return Warn(detail + "; " + caution->detail);
    return Ok(detail);
}

// ---- backups ----

CheckOutcome BackupsCheck(const Context& c) {
    if (auto failed =
            FailedSetting(c.probe, {"BACKUP_*", "ARAGORA_BACKUP_*", "ARAGORA_DATA_DIR"})) {
        return SkipForSetting(*failed);
    }
    const auto& b = c.settings().backup;
    std::error_code ec;
    if (!fs::is_directory(b.dir, ec)) {
        if (b.enabled) return Warn("BACKUP_ENABLED=true and no backup yet (" + b.dir + " missing)");
        return Skip("no backup dir " + b.dir);
    }
    const fs::path manifest = fs::path(b.dir) / "manifest.json";
    if (!fs::exists(manifest, ec)) {
        if (b.enabled) {
            return Warn("BACKUP_ENABLED=true and no backup yet (no " + manifest.string() + ")");
        }
        return Skip("no backups in " + b.dir);
    }
    std::ifstream in(manifest, std::ios::binary);
    if (!in) return Fail("cannot read " + manifest.string() + ": " + Errno(errno));
    std::string text;
    text.resize(kMaxManifestBytes + 1);
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxManifestBytes) return Fail(manifest.string() + " is too large");
    auto summary = SummarizeBackupManifest(text);
    if (!summary) return Fail(manifest.string() + ": " + summary.error().message);
    return BackupAgeOutcome(*summary, system_clock::now(), b);
}

// ---- clock ----

CheckOutcome ClockCheck(Context& c) {
    const system_clock::time_point now = system_clock::now();
    const std::string reads = "UTC " + common::FormatIso8601(now);
    if (auto built = common::ParseIso8601(c.options.build_time); built && now < *built) {
        return Fail("the clock reads " + common::FormatIso8601(now) +
                    ", before this binary was built (" + c.options.build_time +
                    "); set the time (NTP)");
    }
    auto db = c.db_clock.WaitUntil(c.start + c.options.check_deadline + milliseconds(500));
    if (!db) return Ok(reads + "; skew against PostgreSQL not measured (no answer)");
    if (db->skew_seconds) {
        char skew[32];
        std::snprintf(skew, sizeof skew, "%.2f s", std::fabs(*db->skew_seconds));
        if (std::fabs(*db->skew_seconds) > kMaxClockSkewSeconds) {
            return Warn(reads + "; PostgreSQL's clock differs by " + skew +
                        " (receipts and leases compare times across hosts: sync with NTP)");
        }
        return Ok(reads + "; PostgreSQL's clock within " + skew);
    }
    if (!db->not_measured.empty()) {
        return Ok(reads + "; skew against PostgreSQL not measured (" + db->not_measured + ")");
    }
    return Ok(reads);
}

// Server messages (libpq's) may span lines; each check is one line.
std::string OneLine(std::string_view text) {
    std::string out;
    bool space = false;
    for (char ch : text) {
        if (ch == '\n' || ch == '\r' || ch == '\t' || ch == ' ') {
            space = !out.empty();
            continue;
        }
        if (space) out.push_back(' ');
        space = false;
        out.push_back(ch);
    }
    return out;
}

// ---- settings and secrets ----

CheckOutcome SettingsCheck(const Context& c) {
    const SettingsProbe& p = c.probe;
    if (!p.errors.empty()) {
        std::string detail = p.errors[0].message;
        for (std::size_t i = 1; i < p.errors.size(); ++i) detail += "; " + p.errors[i].message;
        return Fail(detail);
    }
    const auto& s = p.settings;
    std::string detail = "ARAGORA_ENV=" + s.env;
    if (s.env != "production" && s.env != "development") {
        detail += s.production ? " (production)" : " (development)";
    }
    detail += s.storage.backend == config::DbBackend::kPostgres ? ", PostgreSQL" : ", SQLite";
    if (!s.distributed.redis_url.empty()) detail += ", Redis";
    return Ok(detail);
}

CheckOutcome SecretsCheck(const Context& c) {
    const SettingsProbe& p = c.probe;
    if (p.defaults_only) return SkipForSetting("settings");
    if (p.secrets_error) return Fail(p.secrets_error->message);
    const auto& s = p.settings;
    if (s.production) {
        return Ok("production: ARAGORA_RECEIPT_SIGNING_KEY and ARAGORA_JWT_SECRET (" +
                  std::to_string(s.server.jwt_secret.size()) + " bytes) set");
    }
    return Ok("ARAGORA_ENV=" + s.env + ": no secret required");
}

}  // namespace

// ---- pure parts ----

SettingsProbe ProbeSettings(const config::EnvLookup& env) {
    SettingsProbe out;
    std::set<std::string, std::less<>> hidden;
    bool as_development = false;
    const config::EnvLookup overlay = [&](std::string_view name) -> std::optional<std::string> {
        if (hidden.count(name) != 0) return std::nullopt;
        if (as_development && name == "ARAGORA_ENV") return std::string("development");
        return env(name);
    };
    for (int attempt = 0; attempt < 64; ++attempt) {
        auto loaded = config::LoadSettings(overlay, config::RunMode::kServer);
        if (loaded) {
            out.settings = std::move(*loaded);
            if (as_development) {
                // Read as in development only to get past the missing secret.
                out.settings.env = env("ARAGORA_ENV").value_or("production");
                if (out.settings.env.empty()) out.settings.env = "production";
                out.settings.production =
                    out.settings.env == "production" || out.settings.env == "prod";
            }
            return out;
        }
        const common::Error& e = loaded.error();
        // The production secrets are checked last, once everything else parsed.
        if (!as_development &&
            (e.field == "ARAGORA_RECEIPT_SIGNING_KEY" || e.field == "ARAGORA_JWT_SECRET")) {
            out.secrets_error = e;
            as_development = true;
            continue;
        }
        out.errors.push_back(e);
        if (e.field.empty() || e.field == "ARAGORA_ENV" || hidden.count(e.field) != 0) break;
        hidden.insert(e.field);
    }
    out.defaults_only = true;
    const config::EnvLookup defaults = [](std::string_view name) -> std::optional<std::string> {
        if (name == "ARAGORA_ENV") return std::string("development");
        return std::nullopt;
    };
    auto fallback = config::LoadSettings(defaults, config::RunMode::kServer);
    if (fallback) out.settings = std::move(*fallback);
    return out;
}

std::optional<std::string> FailedSetting(const SettingsProbe& probe,
                                         const std::vector<std::string_view>& variables) {
    if (probe.defaults_only) return std::string("settings");
    for (const auto& e : probe.errors) {
        for (std::string_view v : variables) {
            const bool prefix = !v.empty() && v.back() == '*';
            const std::string_view stem = prefix ? v.substr(0, v.size() - 1) : v;
            if (prefix ? e.field.rfind(stem, 0) == 0 : e.field == stem) return e.field;
        }
    }
    return std::nullopt;
}

std::string FormatBytes(std::uint64_t bytes) {
    static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    if (bytes < 1024) return std::to_string(bytes) + " B";
    double value = static_cast<double>(bytes);
    int unit = 0;
    while (value >= 1024 && unit < 5) {
        value /= 1024;
        ++unit;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f %s", value, kUnits[unit]);
    return buf;
}

CheckOutcome ClassifyFreeSpace(std::uint64_t available_bytes, std::uint64_t total_bytes) {
    if (total_bytes == 0) return Ok("free space not reported");
    const double percent =
        100.0 * static_cast<double>(available_bytes) / static_cast<double>(total_bytes);
    char pct[32];
    std::snprintf(pct, sizeof pct, percent < 1 ? "%.1f %%" : "%.0f %%", percent);
    const std::string detail = FormatBytes(available_bytes) + " free (" + pct + ")";
    if (available_bytes < kMinFreeBytes || percent < 1.0) {
        return Fail(detail + ": below " + FormatBytes(kMinFreeBytes) +
                    " or 1 %; SQLite, logs and backups fail when the disk fills");
    }
    if (percent < 10.0) return Warn(detail + ": below 10 %");
    return Ok(detail);
}

std::optional<system_clock::time_point> ParseBackupTime(std::string_view text) {
    if (auto t = common::ParseIso8601(text)) return t;
    // The original writes Python isoformat(): "+00:00" (or another offset), or no zone.
    std::string s(text);
    if (s.size() < 19) return std::nullopt;
    int offset_minutes = 0;
    const auto zone = s.find_first_of("+-", 19);
    if (zone != std::string::npos) {
        int hours = 0;
        int minutes = 0;
        if (s.size() - zone != 6 || s[zone + 3] != ':' ||
            std::sscanf(s.c_str() + zone + 1, "%2d:%2d", &hours, &minutes) != 2) {
            return std::nullopt;
        }
        offset_minutes = (s[zone] == '-' ? -1 : 1) * (hours * 60 + minutes);
        s.resize(zone);
    }
    auto t = common::ParseIso8601(s + "Z");
    if (!t) return std::nullopt;
    return *t - std::chrono::minutes(offset_minutes);
}

common::Result<BackupManifestSummary> SummarizeBackupManifest(std::string_view manifest_json) {
    std::error_code ec;
    boost::json::value doc = boost::json::parse(manifest_json, ec);
    if (ec) {
        return common::MakeError(ErrorCode::kValidation, "not valid JSON (" + ec.message() + ")");
    }
    const auto* root = doc.if_object();
    const auto* backups = root ? root->if_contains("backups") : nullptr;
    if (backups == nullptr || !backups->is_object()) {
        return common::MakeError(ErrorCode::kValidation, "no \"backups\" object");
    }
    BackupManifestSummary out;
    for (const auto& [key, value] : backups->as_object()) {
        ++out.total;
        const auto* entry = value.if_object();
        if (entry == nullptr) continue;
        auto created = ParseBackupTime(common::StringFieldOr(*entry, "created_at"));
        auto status = ParseBackupStatus(common::StringFieldOr(*entry, "status"));
        if (!created || !status) continue;
        BackupEntry b;
        b.id = common::StringFieldOr(*entry, "id", std::string(key));
        b.created_at = *created;
        b.status = *status;
        b.error = common::StringFieldOr(*entry, "error");
        if (!out.newest || b.created_at > out.newest->created_at) out.newest = b;
        if (b.status == BackupStatus::kCompleted || b.status == BackupStatus::kVerified) {
            ++out.usable;
            if (!out.newest_usable || b.created_at > out.newest_usable->created_at) {
                out.newest_usable = b;
            }
        }
    }
    return out;
}

std::string FormatAge(std::chrono::seconds age) {
    const auto s = age.count();
    char buf[32];
    if (s < 120) return std::to_string(s) + " s";
    if (s < 120 * 60) return std::to_string(s / 60) + " min";
    if (s < 48 * 3600) {
        std::snprintf(buf, sizeof buf, "%.1f h", static_cast<double>(s) / 3600.0);
        return buf;
    }
    std::snprintf(buf, sizeof buf, "%.1f days", static_cast<double>(s) / 86400.0);
    return buf;
}

CheckOutcome BackupAgeOutcome(const BackupManifestSummary& summary, system_clock::time_point now,
                              const config::BackupSettings& backup) {
    const std::chrono::seconds interval(backup.interval_seconds > 0 ? backup.interval_seconds
                                                                    : 86400);
    if (!summary.newest_usable) {
        if (summary.total == 0) {
            if (backup.enabled) return Warn("BACKUP_ENABLED=true and no backup yet");
            return Skip("no backups yet");
        }
        std::string detail =
            "none of the " + std::to_string(summary.total) + " backup(s) completed";
        if (summary.newest) {
            detail += " (newest " + summary.newest->id + ": " +
                      std::string(ToString(summary.newest->status));
            if (!summary.newest->error.empty()) detail += ": " + summary.newest->error;
            detail += ")";
        }
        return Warn(detail);
    }
    const BackupEntry& b = *summary.newest_usable;
    const auto age = std::max(std::chrono::seconds(0),
                              std::chrono::duration_cast<std::chrono::seconds>(now - b.created_at));
    std::string detail = "newest " + b.id + " (" + std::string(ToString(b.status)) + ") " +
                         FormatAge(age) + " old, " + std::to_string(summary.usable) +
                         " usable of " + std::to_string(summary.total);
    if (age > 2 * interval) {
        return Warn(detail + "; older than twice the schedule interval (" + FormatAge(interval) +
                    ")");
    }
    if (summary.newest && summary.newest->status == BackupStatus::kFailed &&
        summary.newest->created_at > b.created_at) {
        std::string failed = "; the latest attempt " + summary.newest->id + " failed";
        if (!summary.newest->error.empty()) failed += ": " + summary.newest->error;
        return Warn(detail + failed);
    }
    return Ok(detail);
}

// ---- the run ----

DoctorReport RunDoctor(const DoctorOptions& options) {
    auto c = std::make_shared<Context>();
    c->options = options;
    if (!c->options.env) c->options.env = config::ProcessEnv();
    c->probe = ProbeSettings(c->options.env);
    c->start = steady_clock::now();
    const milliseconds deadline = c->options.check_deadline;

    std::vector<Check> checks;
    auto add = [&](std::string name, std::function<CheckOutcome(Context&)> fn,
                   std::string timeout_hint = {}, milliseconds extra = milliseconds(0)) {
        checks.push_back({std::move(name), deadline + extra,
                          [c, fn = std::move(fn)] { return fn(*c); }, std::move(timeout_hint)});
    };
    add("settings", [](Context& x) { return SettingsCheck(x); });
    add("secrets", [](Context& x) { return SecretsCheck(x); });
    add("data dir", [](Context& x) {
        if (auto failed = FailedSetting(x.probe, {"ARAGORA_DATA_DIR"})) {
            return SkipForSetting(*failed);
        }
        return CheckDirectory(x.settings().storage.data_dir, "ARAGORA_DATA_DIR");
    });
    add("log dir", [](Context& x) {
        if (auto failed = FailedSetting(x.probe, {"ARAGORA_LOG_DIR"})) {
            return SkipForSetting(*failed);
        }
        if (x.settings().server.log_dir.empty()) {
            return Skip("ARAGORA_LOG_DIR unset: logs go to stderr");
        }
        return CheckDirectory(x.settings().server.log_dir, "ARAGORA_LOG_DIR");
    });
    add("backup dir", [](Context& x) {
        if (auto failed = FailedSetting(x.probe, {"BACKUP_DIR", "ARAGORA_DATA_DIR"})) {
            return SkipForSetting(*failed);
        }
        CheckOutcome dir = CheckDirectory(x.settings().backup.dir, "BACKUP_DIR");
        if (dir.status == CheckStatus::kFail && !x.settings().backup.enabled) {
            // `serve` does not need it then; only `aragora backup` does.
            return Warn(dir.detail + "; BACKUP_ENABLED is off, only `aragora backup` needs it");
        }
        return dir;
    });
    add(
        "database", [](Context& x) { return DatabaseCheck(x); },
        "the database accepts connections but does not reply (hung, overloaded, or a network "
        "path that drops packets); `serve` would wait the same way at start");
    add(
        "redis", [](Context& x) { return RedisCheck(x); },
        "Redis accepts connections but does not reply (hung or overloaded)");
    add("api port", [](Context& x) { return PortCheck(x, "ARAGORA_API_PORT"); });
    add("ws port", [](Context& x) { return PortCheck(x, "ARAGORA_WS_PORT"); });
    add("metrics port", [](Context& x) { return PortCheck(x, "ARAGORA_METRICS_PORT"); });
    add("receipt keys", [](Context& x) { return ReceiptKeysCheck(x); });
    add("backups", [](Context& x) { return BackupsCheck(x); });
    // Waits for the database's clock (at most the database check's deadline + 0.5 s).
    add(
        "clock", [](Context& x) { return ClockCheck(x); }, {}, milliseconds(1000));

    CheckRun run = RunChecks(std::move(checks));
    DoctorReport report;
    report.checks = std::move(run.results);
    report.abandoned = run.abandoned;
    report.duration_ms = run.duration_ms;
    for (auto& r : report.checks) {
        r.detail = OneLine(r.detail);
        if (r.status == CheckStatus::kFail) report.ok = false;
        if (r.status == CheckStatus::kWarn) report.any_warning = true;
    }
    return report;
}

}  // namespace aragora::ops
