#include "common/logging.hpp"

#include <fcntl.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>
#include <vector>

#include "common/strings.hpp"
#include "common/time.hpp"

namespace aragora::common {
namespace {

// %* is the level in capitals (INFO, WARNING, ERROR): the runbook greps "ERROR".
constexpr const char* kTextPattern = "%Y-%m-%dT%H:%M:%S.%eZ %^%-8*%$ %n: %v";

enum Route : std::size_t { kApiRoute, kWebSocketRoute, kDebateRoute, kAgentRoute, kRouteCount };

constexpr std::array<const char*, kRouteCount> kRouteFiles = {"api.log", "websocket.log",
                                                              "debate.log", "agent.log"};

struct RoutePrefix {
    std::string_view prefix;
    Route route;
};
constexpr std::array<RoutePrefix, 9> kRoutePrefixes = {{
    {"aragora.ws", kWebSocketRoute},
    {"aragora.websocket", kWebSocketRoute},
    {"aragora.debate", kDebateRoute},
    {"aragora.service", kDebateRoute},
    {"aragora.engine", kDebateRoute},
    {"aragora.agent", kAgentRoute},
    {"aragora.agents", kAgentRoute},
    {"aragora.resilience", kAgentRoute},
    // aragora.api, .http, .app, .config, .storage, .receipts: the api.log default.
    {"aragora.api", kApiRoute},
}};

// True when `name` is `prefix` or starts with `prefix` followed by '.'.
bool UnderPrefix(std::string_view name, std::string_view prefix) {
    if (name.substr(0, prefix.size()) != prefix) return false;
    return name.size() == prefix.size() || name[prefix.size()] == '.';
}

struct DomainPrefix {
    std::string_view prefix;
    std::string_view domain;
};
constexpr std::array<DomainPrefix, 20> kDomainPrefixes = {{
    {"aragora.ws", "websocket"},       {"aragora.websocket", "websocket"},
    {"aragora.debate", "debate"},      {"aragora.service", "debate"},
    {"aragora.engine", "debate"},      {"aragora.worker", "debate"},
    {"aragora.agent", "agent"},        {"aragora.agents", "agent"},
    {"aragora.resilience", "agent"},   {"aragora.auth", "security"},
    {"aragora.security", "security"},  {"aragora.ratelimit", "security"},
    {"aragora.receipts", "security"},  {"aragora.storage", "storage"},
    {"aragora.redis", "distributed"},  {"aragora.distributed", "distributed"},
    {"aragora.events", "distributed"}, {"aragora.api", "api"},
    {"aragora.http", "api"},           {"aragora.net", "api"},
}};

Route RouteOf(std::string_view name) {
    for (const auto& [prefix, route] : kRoutePrefixes) {
        if (UnderPrefix(name, prefix)) return route;
    }
    return kApiRoute;
}

std::optional<spdlog::level::level_enum> ParseLevel(std::string_view text) {
    const std::string level = ToUpper(text);
    if (level == "TRACE") return spdlog::level::trace;
    if (level == "DEBUG") return spdlog::level::debug;
    if (level == "INFO") return spdlog::level::info;
    if (level == "WARNING" || level == "WARN") return spdlog::level::warn;
    if (level == "ERROR") return spdlog::level::err;
    if (level == "CRITICAL") return spdlog::level::critical;
    return std::nullopt;
}

std::string_view LevelName(spdlog::level::level_enum l) {
    switch (l) {
        case spdlog::level::trace:
            return "TRACE";
        case spdlog::level::debug:
            return "DEBUG";
        case spdlog::level::info:
            return "INFO";
        case spdlog::level::warn:
            return "WARNING";
        case spdlog::level::err:
            return "ERROR";
        case spdlog::level::critical:
            return "CRITICAL";
        default:
            return "INFO";
    }
}

// Finds `key=value` in a message (value ends at whitespace or ',').
std::string_view FindFact(std::string_view message, std::string_view key) {
    std::size_t pos = 0;
    while ((pos = message.find(key, pos)) != std::string_view::npos) {
        bool at_word_start = pos == 0 || message[pos - 1] == ' ' || message[pos - 1] == '(';
        std::size_t eq = pos + key.size();
        if (at_word_start && eq < message.size() && message[eq] == '=') {
            std::size_t end = eq + 1;
            while (end < message.size() && message[end] != ' ' && message[end] != ',' &&
                   message[end] != ')' && message[end] != '\n' && message[end] != '\t')
                ++end;
            return message.substr(eq + 1, end - eq - 1);
        }
        pos = eq;
    }
    return {};
}

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF), or 0.
std::size_t Utf8SequenceLength(std::string_view s, std::size_t i) {
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = byte(i);
    if (c < 0x80) return 1;
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (i + n > s.size()) return 0;
    if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
    for (std::size_t k = 2; k < n; ++k) {
        if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
    }
    return n;
}

// Boost.JSON writes string bytes through unchecked, so a message with invalid UTF-8
// (say, a provider's truncated reply) would make the whole line unparseable.
std::string ValidUtf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        std::size_t n = Utf8SequenceLength(s, i);
        if (n == 0) {
            out += "\xEF\xBF\xBD";
            ++i;
        } else {
            out.append(s.substr(i, n));
            i += n;
        }
    }
    return out;
}

class JsonFormatter final : public spdlog::formatter {
public:
    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
        std::string line = FormatJsonLogLine(
            FormatIso8601(
                std::chrono::time_point_cast<std::chrono::system_clock::duration>(msg.time)),
            LevelName(msg.level), std::string_view(msg.logger_name.data(), msg.logger_name.size()),
            std::string_view(msg.payload.data(), msg.payload.size()));
        line.push_back('\n');
        dest.append(line.data(), line.data() + line.size());
    }
    std::unique_ptr<spdlog::formatter> clone() const override {
        return std::make_unique<JsonFormatter>();
    }
};

class UpperLevelFlag final : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg& msg, const std::tm&,
                spdlog::memory_buf_t& dest) override {
        std::string_view name = LevelName(msg.level);
        padinfo_.width_ > name.size() ? pad(name, dest)
                                      : dest.append(name.data(), name.data() + name.size());
    }
    std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<UpperLevelFlag>();
    }

private:
    void pad(std::string_view name, spdlog::memory_buf_t& dest) const {
        dest.append(name.data(), name.data() + name.size());
        for (std::size_t i = name.size(); i < padinfo_.width_; ++i) dest.push_back(' ');
    }
};

std::unique_ptr<spdlog::formatter> MakeFormatter(LogFormat format) {
    if (format == LogFormat::kJson) return std::make_unique<JsonFormatter>();
    // The pattern says Z, so the clock must be UTC whatever TZ the host has.
    auto f = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    f->add_flag<UpperLevelFlag>('*').set_pattern(kTextPattern);
    return f;
}

Error SystemError(std::string what, const std::string& path, int err) {
    return MakeError(ErrorCode::kValidation,
                     what + " " + path + ": " + std::strerror(err) +
                         " (set ARAGORA_LOG_DIR to a writable directory, or leave it empty to "
                         "log to stderr)",
                     "log_dir");
}

Result<std::FILE*> OpenAppend(const std::string& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) return SystemError("cannot open log file", path, errno);
    std::FILE* f = ::fdopen(fd, "a");
    if (f == nullptr) {
        int err = errno;
        ::close(fd);
        return SystemError("cannot open log file", path, err);
    }
    return f;
}

// A log file that can be reopened at its path, for logrotate's move-then-SIGHUP.
// Every line is flushed at once so that `tail -f` and `grep` see it and a crash loses
// nothing.
class ReopenableFileSink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    static Result<std::shared_ptr<ReopenableFileSink>> Open(std::string path) {
        auto f = OpenAppend(path);
        if (!f) return f.error();
        return std::shared_ptr<ReopenableFileSink>(new ReopenableFileSink(std::move(path), *f));
    }
    ~ReopenableFileSink() override { std::fclose(file_); }

    Status Reopen() {
        std::lock_guard lock(mutex_);
        auto f = OpenAppend(path_);
        if (!f) return f.error();
        std::fclose(file_);
        file_ = *f;
        return {};
    }

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        spdlog::memory_buf_t buf;
        formatter_->format(msg, buf);
        std::fwrite(buf.data(), 1, buf.size(), file_);
        std::fflush(file_);
    }
    void flush_() override { std::fflush(file_); }

private:
    ReopenableFileSink(std::string path, std::FILE* file) : path_(std::move(path)), file_(file) {}

    std::string path_;
    std::FILE* file_;
};

// The one sink of every logger of a route. It forwards to the route's current targets,
// which SetupLogging swaps, so loggers handed out earlier (and cached in statics)
// follow the newest configuration without touching their sink lists.
class RouteSink final : public spdlog::sinks::sink {
public:
    using Targets = std::vector<spdlog::sink_ptr>;

    void log(const spdlog::details::log_msg& msg) override {
        auto targets = Current();
        for (const auto& t : *targets) {
            if (t->should_log(msg.level)) t->log(msg);
        }
    }
    void flush() override {
        auto targets = Current();
        for (const auto& t : *targets) t->flush();
    }
    // Formatting belongs to the targets.
    void set_pattern(const std::string&) override {}
    void set_formatter(std::unique_ptr<spdlog::formatter>) override {}

    void Set(Targets targets) {
        auto next = std::make_shared<const Targets>(std::move(targets));
        std::lock_guard lock(mutex_);
        targets_.swap(next);
    }

private:
    std::shared_ptr<const Targets> Current() const {
        std::lock_guard lock(mutex_);
        return targets_;
    }

    mutable std::mutex mutex_;
    std::shared_ptr<const Targets> targets_ = std::make_shared<const Targets>();
};

// Process-wide by nature: spdlog's registry is, and loggers are fetched by name from
// every module.
struct LoggingState {
    LoggingState() {
        auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
        sink->set_formatter(MakeFormatter(LogFormat::kText));
        for (auto& route : routes) {
            route = std::make_shared<RouteSink>();
            route->Set({sink});
        }
    }

    std::mutex mutex;
    std::array<std::shared_ptr<RouteSink>, kRouteCount> routes;
    std::vector<std::shared_ptr<ReopenableFileSink>> files;
    spdlog::level::level_enum level = spdlog::level::info;
};

LoggingState& State() {
    static LoggingState state;
    return state;
}

Status MakeLogDir(const std::string& dir) {
    std::filesystem::path path(dir);
    std::filesystem::path partial;
    for (const auto& part : path) {
        partial /= part;
        if (part.empty() || part == "/" || part == "." || part == "..") continue;
        if (::mkdir(partial.c_str(), 0750) != 0 && errno != EEXIST) {
            return SystemError("cannot create log directory", partial.string(), errno);
        }
    }
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) return SystemError("cannot use log directory", dir, errno);
    if (!S_ISDIR(st.st_mode)) return SystemError("cannot use log directory", dir, ENOTDIR);
    return {};
}

}  // namespace

bool IsKnownLogLevel(std::string_view level) { return ParseLevel(level).has_value(); }

std::string_view LogDomainOf(std::string_view logger, std::string_view message) {
    if (auto explicit_domain = FindFact(message, "domain"); !explicit_domain.empty())
        return explicit_domain;
    for (std::string_view word : {"rate_limit", "auth", "security"}) {
        if (message.substr(0, word.size()) == word &&
            (message.size() == word.size() || message[word.size()] == ' ' ||
             message[word.size()] == ':' || message[word.size()] == '_'))
            return "security";
    }
    for (const auto& [prefix, domain] : kDomainPrefixes) {
        if (UnderPrefix(logger, prefix)) return domain;
    }
    return "system";
}

std::string FormatJsonLogLine(std::string_view timestamp, std::string_view level,
                              std::string_view logger, std::string_view message) {
    std::string text = ValidUtf8(message);
    std::string_view msg = text;
    boost::json::object o;
    o["timestamp"] = timestamp;
    o["level"] = level;
    o["logger"] = ValidUtf8(logger);
    o["message"] = msg;
    for (std::string_view key : {"debate_id", "correlation_id", "trace_id"}) {
        auto v = FindFact(msg, key);
        if (!v.empty()) o[key] = v;
    }
    auto agents = FindFact(msg, "agents");
    if (!agents.empty()) {
        boost::json::array arr;
        std::size_t start = 0;
        while (start <= agents.size()) {
            std::size_t semi = agents.find(';', start);
            if (semi == std::string_view::npos) semi = agents.size();
            if (semi > start) arr.emplace_back(agents.substr(start, semi - start));
            start = semi + 1;
        }
        o["agents"] = std::move(arr);
    }
    o["domain"] = ValidUtf8(LogDomainOf(logger, msg));
    return boost::json::serialize(o);
}

Status SetupLogging(const LogSettings& settings) {
    auto level = ParseLevel(settings.level);
    if (!level) {
        return MakeError(ErrorCode::kValidation,
                         "unknown log level '" + settings.level +
                             "' (use DEBUG, INFO, WARNING, ERROR or CRITICAL)",
                         "level");
    }

    // Everything that can fail happens before the switch, so a failure changes nothing.
    std::array<RouteSink::Targets, kRouteCount> targets;
    std::vector<std::shared_ptr<ReopenableFileSink>> files;
    auto stderr_sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    stderr_sink->set_formatter(MakeFormatter(settings.format));
    if (settings.log_dir.empty()) {
        for (auto& t : targets) t = {stderr_sink};
    } else {
        if (auto made = MakeLogDir(settings.log_dir); !made) return made.error();
        stderr_sink->set_level(spdlog::level::warn);
        for (std::size_t r = 0; r < kRouteCount; ++r) {
            auto file = ReopenableFileSink::Open(
                (std::filesystem::path(settings.log_dir) / kRouteFiles[r]).string());
            if (!file) return file.error();
            (*file)->set_formatter(MakeFormatter(settings.format));
            files.push_back(*file);
            targets[r] = {*file, stderr_sink};
        }
    }

    {
        auto& state = State();
        std::lock_guard lock(state.mutex);
        state.level = *level;
        state.files = std::move(files);
        for (std::size_t r = 0; r < kRouteCount; ++r) state.routes[r]->Set(std::move(targets[r]));
        spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) { l->set_level(*level); });
    }
    // Stray spdlog::info(...) calls follow the same configuration.
    auto fallback = GetLogger("aragora");
    if (spdlog::default_logger() != fallback) spdlog::set_default_logger(fallback);
    return {};
}

Status ReopenLogFiles() {
    std::vector<std::shared_ptr<ReopenableFileSink>> files;
    {
        auto& state = State();
        std::lock_guard lock(state.mutex);
        files = state.files;
    }
    Status first;
    for (const auto& f : files) {
        auto s = f->Reopen();
        if (!s && first.ok()) first = s;
    }
    return first;
}

void SetLogLevel(std::string level) {
    auto parsed = ParseLevel(level);
    if (!parsed) {
        GetLogger("aragora.config")
            ->warn("ignoring unknown log level '{}' (use DEBUG, INFO, WARNING, ERROR or CRITICAL)",
                   level);
        return;
    }
    auto& state = State();
    std::lock_guard lock(state.mutex);
    state.level = *parsed;
    spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) { l->set_level(*parsed); });
}

std::shared_ptr<spdlog::logger> GetLogger(const std::string& name) {
    auto& state = State();
    std::lock_guard lock(state.mutex);
    if (auto existing = spdlog::get(name)) return existing;
    auto logger = std::make_shared<spdlog::logger>(name, state.routes[RouteOf(name)]);
    logger->set_level(state.level);
    spdlog::register_logger(logger);
    return logger;
}

}  // namespace aragora::common
