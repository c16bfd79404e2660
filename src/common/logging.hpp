#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace spdlog {
class logger;
}

namespace aragora::common {

enum class LogFormat { kJson, kText };

struct LogSettings {
    std::string level = "INFO";  // DEBUG, INFO, WARNING, ERROR, CRITICAL (case-insensitive)
    LogFormat format = LogFormat::kText;
};

// Configures the process-wide sinks (stderr). Call once at startup, before any
// GetLogger(). JSON lines carry timestamp, level, logger, message, and the
// debate_id / correlation_id / agents facts found as key=value in the message.
void SetupLogging(const LogSettings& settings);

// A named logger ("aragora.debate", ...) sharing the configured sinks.
std::shared_ptr<spdlog::logger> GetLogger(const std::string& name);

// Renders one JSON log line (exposed for tests).
std::string FormatJsonLogLine(std::string_view timestamp, std::string_view level,
                              std::string_view logger, std::string_view message);

}  // namespace aragora::common
