#include "common/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <chrono>
#include <mutex>
#include <vector>

#include "common/time.hpp"

namespace aragora::common {
namespace {

std::mutex g_mutex;
std::vector<spdlog::sink_ptr> g_sinks;
spdlog::level::level_enum g_level = spdlog::level::info;

spdlog::level::level_enum ParseLevel(std::string level) {
    std::transform(level.begin(), level.end(), level.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (level == "TRACE") return spdlog::level::trace;
    if (level == "DEBUG") return spdlog::level::debug;
    if (level == "WARNING" || level == "WARN") return spdlog::level::warn;
    if (level == "ERROR") return spdlog::level::err;
    if (level == "CRITICAL") return spdlog::level::critical;
    return spdlog::level::info;
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
                   message[end] != ')')
                ++end;
            return message.substr(eq + 1, end - eq - 1);
        }
        pos = eq;
    }
    return {};
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

}  // namespace

std::string FormatJsonLogLine(std::string_view timestamp, std::string_view level,
                              std::string_view logger, std::string_view message) {
    boost::json::object o;
    o["timestamp"] = timestamp;
    o["level"] = level;
    o["logger"] = logger;
    o["message"] = message;
    for (std::string_view key : {"debate_id", "correlation_id"}) {
        auto v = FindFact(message, key);
        o[key] = v.empty() ? boost::json::value(nullptr) : boost::json::value(v);
    }
    auto agents = FindFact(message, "agents");
    if (!agents.empty()) {
        boost::json::array arr;
        std::size_t start = 0;
        std::string_view rest = agents;
        while (start <= rest.size()) {
            std::size_t comma = rest.find(';', start);
            if (comma == std::string_view::npos) comma = rest.size();
            if (comma > start) arr.emplace_back(rest.substr(start, comma - start));
            start = comma + 1;
        }
        o["agents"] = std::move(arr);
    }
    return boost::json::serialize(o);
}

void SetupLogging(const LogSettings& settings) {
    std::lock_guard lock(g_mutex);
    g_level = ParseLevel(settings.level);
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    if (settings.format == LogFormat::kJson) {
        sink->set_formatter(std::make_unique<JsonFormatter>());
    } else {
        sink->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%-7l%$ %n: %v");
    }
    g_sinks = {sink};
    spdlog::drop_all();
}

std::shared_ptr<spdlog::logger> GetLogger(const std::string& name) {
    std::lock_guard lock(g_mutex);
    if (auto existing = spdlog::get(name)) return existing;
    if (g_sinks.empty()) {
        auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
        sink->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%-7l%$ %n: %v");
        g_sinks = {sink};
    }
    auto logger = std::make_shared<spdlog::logger>(name, g_sinks.begin(), g_sinks.end());
    logger->set_level(g_level);
    spdlog::register_logger(logger);
    return logger;
}

}  // namespace aragora::common
