#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace spdlog {
class logger;
}

namespace aragora::common {

enum class LogFormat { kJson, kText };

struct LogSettings {
    std::string level = "INFO";  // DEBUG, INFO, WARNING, ERROR, CRITICAL (case-insensitive)
    LogFormat format = LogFormat::kText;
    // Empty: every line goes to stderr. Otherwise the directory (created with mode 0750
    // when missing) receives api.log, websocket.log, debate.log and agent.log, each
    // logger writing to one of them by its name (see GetLogger); lines at WARNING and
    // above also go to stderr (journald).
    std::string log_dir;
};

// True for the level names SetupLogging and SetLogLevel accept: TRACE, DEBUG, INFO,
// WARNING (or WARN), ERROR, CRITICAL, in any case.
bool IsKnownLogLevel(std::string_view level);

// Configures the process-wide sinks. Call early at startup; may be called again (the
// new configuration replaces the old one for every logger, including loggers obtained
// before the call). On error (unknown level; log dir or a log file that cannot be
// created or opened) nothing changes and the error names the path and the reason.
// JSON lines carry timestamp, level, logger, message, the debate_id / correlation_id /
// trace_id / agents facts found as key=value in the message, and domain.
Status SetupLogging(const LogSettings& settings);

// Reopens every log file at its original path (after logrotate moved the files away);
// for SIGHUP. Thread-safe against concurrent logging. A file that cannot be reopened
// keeps its old handle and its error is returned (the first one, if several fail).
// Without a log dir this does nothing.
Status ReopenLogFiles();

// Changes the level of every logger, present and future (reloadable setting).
// Thread-safe. An unknown level name changes nothing and logs a warning.
void SetLogLevel(std::string level);

// A named logger ("aragora.debate", ...), created on first use. Its lines go to the
// file chosen by its name prefix (whole dot-separated segments: "aragora.agents.x"
// matches aragora.agents, "aragora.agentsmith" does not):
//   aragora.api, aragora.http, aragora.app, aragora.config, aragora.storage,
//   aragora.receipts and every unmatched name    -> api.log
//   aragora.ws, aragora.websocket                 -> websocket.log
//   aragora.debate, aragora.service, aragora.engine -> debate.log
//   aragora.agent, aragora.agents, aragora.resilience -> agent.log
// The logger stays valid for the whole process and always follows the configuration
// of the latest SetupLogging.
std::shared_ptr<spdlog::logger> GetLogger(const std::string& name);

// The `domain` of a JSON log line (the operational runbook's field): the message's own
// `domain=<x>` fact when it has one; "security" for messages that start with the word
// rate_limit, auth or security; otherwise by the logger's name (whole dot-separated
// segments, as for the files):
//   aragora.ws, aragora.websocket                                  -> websocket
//   aragora.debate, .service, .engine, .worker                     -> debate
//   aragora.agent, .agents, .resilience                            -> agent
//   aragora.auth, .security, .ratelimit, .receipts                 -> security
//   aragora.storage                                                -> storage
//   aragora.redis, .distributed, .events                           -> distributed
//   aragora.api, .http, .net                                       -> api
//   anything else (aragora.app, aragora.config, ...)               -> system
std::string_view LogDomainOf(std::string_view logger, std::string_view message);

// Renders one JSON log line without the trailing newline (exposed for tests). The
// result is exactly one line of valid UTF-8 JSON: control characters are escaped and
// invalid UTF-8 bytes become U+FFFD. debate_id, correlation_id, trace_id and agents (a list,
// from "agents=a;b") appear only when the message carries them; `domain` (LogDomainOf)
// always, last.
std::string FormatJsonLogLine(std::string_view timestamp, std::string_view level,
                              std::string_view logger, std::string_view message);

}  // namespace aragora::common
