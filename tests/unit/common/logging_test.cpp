// Logging: JSON lines, routing of logger names to the runbook's four files, reopening
// after logrotate, runtime level changes, and failures on an unusable log dir.

#include "common/logging.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace aragora::common {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

std::string ReadAll(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::vector<std::string> Lines(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

json::object ParseLine(const std::string& line) {
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    EXPECT_FALSE(ec) << ec.message() << ": " << line;
    EXPECT_TRUE(v.is_object()) << line;
    return v.is_object() ? v.as_object() : json::object();
}

// Writes fd 2 into a file while alive (the stderr sink writes to fd 2).
class StderrCapture {
public:
    explicit StderrCapture(fs::path path) : path_(std::move(path)) {
        std::fflush(stderr);
        saved_ = ::dup(2);
        int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::dup2(fd, 2);
        ::close(fd);
    }
    ~StderrCapture() { Restore(); }
    std::string Text() {
        Restore();
        return ReadAll(path_);
    }

private:
    void Restore() {
        if (saved_ < 0) return;
        std::fflush(stderr);
        ::dup2(saved_, 2);
        ::close(saved_);
        saved_ = -1;
    }
    fs::path path_;
    int saved_ = -1;
};

class LoggingTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string tmpl = (fs::temp_directory_path() / "aragora-logging-XXXXXX").string();
        ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
        root_ = tmpl;
        dir_ = root_ / "logs";
    }
    void TearDown() override {
        ASSERT_TRUE(SetupLogging(LogSettings{}).ok());
        std::error_code ec;
        fs::remove_all(root_, ec);
    }

    void UseDir(LogFormat format = LogFormat::kText, std::string level = "INFO") {
        LogSettings s;
        s.format = format;
        s.level = std::move(level);
        s.log_dir = dir_.string();
        auto status = SetupLogging(s);
        ASSERT_TRUE(status.ok()) << status.error().message;
    }

    std::string File(const char* name) {
        for (const char* logger :
             {"aragora", "aragora.api", "aragora.ws", "aragora.debate", "aragora.agent"}) {
            GetLogger(logger)->flush();
        }
        return ReadAll(dir_ / name);
    }

    fs::path root_;
    fs::path dir_;
};

TEST_F(LoggingTest, JsonLineCarriesTheRunbookFields) {
    auto o = ParseLine(FormatJsonLogLine(
        "2024-01-15T10:30:00.000Z", "INFO", "aragora.debate.orchestrator",
        "debate_start debate_id=abc123 correlation_id=corr-xyz789 agents=claude;gpt-4"));
    EXPECT_EQ(o.at("timestamp"), "2024-01-15T10:30:00.000Z");
    EXPECT_EQ(o.at("level"), "INFO");
    EXPECT_EQ(o.at("logger"), "aragora.debate.orchestrator");
    EXPECT_EQ(o.at("message"),
              "debate_start debate_id=abc123 correlation_id=corr-xyz789 agents=claude;gpt-4");
    EXPECT_EQ(o.at("debate_id"), "abc123");
    EXPECT_EQ(o.at("correlation_id"), "corr-xyz789");
    EXPECT_EQ(o.at("agents"), (json::array{"claude", "gpt-4"}));
    EXPECT_EQ(o.at("domain"), "debate");
}

TEST_F(LoggingTest, JsonLineCarriesTheTraceIdOfItsRequest) {
    auto o = ParseLine(FormatJsonLogLine(
        "t", "INFO", "aragora.api",
        "request method=GET path=/x route=/x status=200 duration_ms=1 correlation_id=req_1 "
        "trace_id=4bf92f3577b34da6a3ce929d0e0e4736"));
    EXPECT_EQ(o.at("trace_id"), "4bf92f3577b34da6a3ce929d0e0e4736");
    auto none = ParseLine(FormatJsonLogLine("t", "INFO", "aragora.api", "request status=200"));
    EXPECT_FALSE(none.contains("trace_id"));
}

TEST_F(LoggingTest, JsonLinesCarryTheDomainOfTheirSubsystem) {
    struct Case {
        const char* logger;
        const char* message;
        const char* domain;
    };
    const Case cases[] = {
        {"aragora.websocket", "ws connected conn=1", "websocket"},
        {"aragora.ws.session", "x", "websocket"},
        {"aragora.debate", "debate_start debate_id=d", "debate"},
        {"aragora.service", "x", "debate"},
        {"aragora.worker", "claimed debate_id=d", "debate"},
        {"aragora.agents", "x", "agent"},
        {"aragora.resilience", "circuit_breaker open", "agent"},
        {"aragora.auth", "x", "security"},
        {"aragora.ratelimit", "x", "security"},
        {"aragora.storage", "x", "storage"},
        {"aragora.redis.main", "redis connected", "distributed"},
        {"aragora.distributed", "x", "distributed"},
        {"aragora.api", "request method=GET path=/ status=200", "api"},
        {"aragora.net", "accept failed", "api"},
        {"aragora.app", "listening api=...", "system"},
        {"aragora.agentsmith", "x", "system"},  // whole segments only
        {"aragora", "x", "system"},
        // The message decides first: rate limits and auth are security events wherever
        // they are logged, and an explicit domain= fact wins.
        {"aragora.api", "rate_limit exceeded bucket=ip", "security"},
        {"aragora.app", "auth: open development mode", "security"},
        {"aragora.app", "authority x", "system"},
        {"aragora.api", "custom domain=billing here", "billing"},
    };
    for (const auto& c : cases) {
        auto o = ParseLine(FormatJsonLogLine("t", "INFO", c.logger, c.message));
        EXPECT_EQ(o.at("domain"), c.domain) << c.logger << ": " << c.message;
        EXPECT_EQ(LogDomainOf(c.logger, c.message), c.domain);
    }
}

TEST_F(LoggingTest, JsonFactsAppearOnlyWhenPresent) {
    auto o = ParseLine(FormatJsonLogLine("t", "WARNING", "aragora.api", "no facts here"));
    EXPECT_EQ(o.size(), 5u) << json::serialize(o);  // timestamp level logger message domain
    EXPECT_FALSE(o.contains("debate_id"));
    EXPECT_FALSE(o.contains("correlation_id"));
    EXPECT_FALSE(o.contains("agents"));

    // A key inside another word is not a fact; a value stops at ',' and ')'.
    auto p = ParseLine(FormatJsonLogLine(
        "t", "INFO", "aragora.api", "x_debate_id=nope (correlation_id=c-1), debate_id=d-2, ok"));
    EXPECT_EQ(p.at("debate_id"), "d-2");
    EXPECT_EQ(p.at("correlation_id"), "c-1");
}

TEST_F(LoggingTest, JsonLineIsOneValidLineWhateverTheMessage) {
    std::string message = "quote \" backslash \\ newline\nsecond line\ttab \x01 bad utf8 \xC3\x28 ";
    message += "end debate_id=d-9\nnext";
    std::string line = FormatJsonLogLine("t", "ERROR", "aragora.agent", message);
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;
    auto o = ParseLine(line);  // Boost.JSON's parser rejects invalid UTF-8.
    std::string got(o.at("message").as_string());
    EXPECT_NE(got.find("quote \" backslash \\ newline\nsecond line\ttab \x01 bad utf8 "),
              std::string::npos);
    EXPECT_NE(got.find("\xEF\xBF\xBD("), std::string::npos) << got;
    EXPECT_EQ(o.at("debate_id"), "d-9");
}

TEST_F(LoggingTest, JsonFormatThroughALoggerWritesOneObjectPerLine) {
    UseDir(LogFormat::kJson);
    GetLogger("aragora.debate.orchestrator")
        ->info("debate_start debate_id=abc123 correlation_id=corr-xyz789 agents=claude;gpt-4");
    GetLogger("aragora.debate.orchestrator")->warn("two\nlines in one record");
    GetLogger("aragora.debate.orchestrator")->flush();
    auto lines = Lines(ReadAll(dir_ / "debate.log"));
    ASSERT_EQ(lines.size(), 2u);
    auto first = ParseLine(lines[0]);
    EXPECT_EQ(first.at("level"), "INFO");
    EXPECT_EQ(first.at("logger"), "aragora.debate.orchestrator");
    EXPECT_EQ(first.at("debate_id"), "abc123");
    EXPECT_EQ(first.at("correlation_id"), "corr-xyz789");
    EXPECT_EQ(first.at("agents"), (json::array{"claude", "gpt-4"}));
    EXPECT_TRUE(std::regex_match(std::string(first.at("timestamp").as_string()),
                                 std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
        << first.at("timestamp");
    auto second = ParseLine(lines[1]);
    EXPECT_EQ(second.at("level"), "WARNING");
    EXPECT_EQ(second.at("message"), "two\nlines in one record");
}

TEST_F(LoggingTest, TextFormatHasCapitalLevels) {
    UseDir(LogFormat::kText);
    GetLogger("aragora.api")->info("hello debate_id=d-1");
    auto lines = Lines(File("api.log"));
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_TRUE(std::regex_match(
        lines[0],
        std::regex(
            R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO     aragora\.api: hello debate_id=d-1)")))
        << lines[0];
}

TEST_F(LoggingTest, LoggersAreRoutedToTheRunbookFiles) {
    UseDir();
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"aragora.api", "api.log"},
        {"aragora.api.debates", "api.log"},
        {"aragora.http", "api.log"},
        {"aragora.app", "api.log"},
        {"aragora.config", "api.log"},
        {"aragora.storage.sqlite", "api.log"},
        {"aragora.receipts", "api.log"},
        {"aragora.net", "api.log"},
        {"somebody.else", "api.log"},
        {"aragora.agentsmith", "api.log"},
        {"aragora.wsx", "api.log"},
        {"aragora.ws", "websocket.log"},
        {"aragora.websocket.session", "websocket.log"},
        {"aragora.debate", "debate.log"},
        {"aragora.debate.orchestrator", "debate.log"},
        {"aragora.service", "debate.log"},
        {"aragora.engine", "debate.log"},
        {"aragora.agent", "agent.log"},
        {"aragora.agents.claude", "agent.log"},
        {"aragora.resilience", "agent.log"},
    };
    for (const auto& [name, file] : cases) {
        auto logger = GetLogger(name);
        logger->info("marker-from[{}]", name);
        logger->flush();
    }
    std::map<std::string, std::string> contents;
    for (const char* file : {"api.log", "websocket.log", "debate.log", "agent.log"}) {
        contents[file] = ReadAll(dir_ / file);
    }
    for (const auto& [name, file] : cases) {
        std::string marker = "marker-from[" + name + "]";
        for (const auto& [f, text] : contents) {
            EXPECT_EQ(text.find(marker) != std::string::npos, f == file)
                << name << " in " << f << ":\n"
                << text;
        }
    }
}

TEST_F(LoggingTest, MissingDirIsCreatedPrivately) {
    dir_ = root_ / "a" / "b" / "logs";
    mode_t old = ::umask(022);
    UseDir();
    ::umask(old);
    struct stat st {};
    ASSERT_EQ(::stat(dir_.c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0750);
    for (const char* file : {"api.log", "websocket.log", "debate.log", "agent.log"}) {
        EXPECT_TRUE(fs::exists(dir_ / file)) << file;
    }
}

TEST_F(LoggingTest, WarningsAlsoGoToStderrWhenLoggingToFiles) {
    UseDir();
    StderrCapture capture(root_ / "stderr.txt");
    GetLogger("aragora.agents.claude")->info("quiet-info-line");
    GetLogger("aragora.agents.claude")->warn("loud-warning-line");
    GetLogger("aragora.agents.claude")->error("loud-error-line");
    GetLogger("aragora.agents.claude")->flush();
    std::string err = capture.Text();
    EXPECT_EQ(err.find("quiet-info-line"), std::string::npos) << err;
    EXPECT_NE(err.find("loud-warning-line"), std::string::npos) << err;
    EXPECT_NE(err.find("loud-error-line"), std::string::npos) << err;
    std::string file = File("agent.log");
    for (const char* line : {"quiet-info-line", "loud-warning-line", "loud-error-line"}) {
        EXPECT_NE(file.find(line), std::string::npos) << line;
    }
}

TEST_F(LoggingTest, WithoutADirEverythingGoesToStderr) {
    ASSERT_TRUE(SetupLogging(LogSettings{}).ok());
    StderrCapture capture(root_ / "stderr.txt");
    GetLogger("aragora.debate")->info("stderr-info-line");
    GetLogger("aragora.debate")->flush();
    EXPECT_NE(capture.Text().find("stderr-info-line"), std::string::npos);
    EXPECT_FALSE(fs::exists(dir_));
}

TEST_F(LoggingTest, LoggersObtainedBeforeSetupFollowTheNewSinks) {
    auto early = GetLogger("aragora.agents.early");
    UseDir();
    early->info("early-logger-line");
    early->flush();
    EXPECT_NE(ReadAll(dir_ / "agent.log").find("early-logger-line"), std::string::npos);

    // And again when the configuration changes a second time.
    dir_ = root_ / "second";
    UseDir();
    early->info("second-config-line");
    early->flush();
    EXPECT_NE(ReadAll(dir_ / "agent.log").find("second-config-line"), std::string::npos);
    EXPECT_EQ(ReadAll(root_ / "logs" / "agent.log").find("second-config-line"), std::string::npos);
}

TEST_F(LoggingTest, ReopenAfterRotationWritesANewFileAtTheOriginalPath) {
    UseDir();
    auto logger = GetLogger("aragora.api");
    logger->info("before-rotation");
    logger->flush();
    fs::rename(dir_ / "api.log", dir_ / "api.log.1");
    logger->info("after-rename-before-reopen");
    logger->flush();

    auto reopened = ReopenLogFiles();
    ASSERT_TRUE(reopened.ok()) << reopened.error().message;
    logger->info("after-reopen");
    logger->flush();

    std::string rotated = ReadAll(dir_ / "api.log.1");
    std::string current = ReadAll(dir_ / "api.log");
    EXPECT_NE(rotated.find("before-rotation"), std::string::npos);
    EXPECT_NE(rotated.find("after-rename-before-reopen"), std::string::npos);
    EXPECT_EQ(rotated.find("after-reopen"), std::string::npos);
    EXPECT_EQ(current.find("before-rotation"), std::string::npos) << current;
    EXPECT_NE(current.find("after-reopen"), std::string::npos) << current;
}

TEST_F(LoggingTest, ReopenFailureIsReportedAndLoggingContinues) {
    UseDir();
    auto logger = GetLogger("aragora.debate");
    fs::remove(dir_ / "debate.log");
    fs::create_directory(dir_ / "debate.log");  // the path is now unopenable as a file
    auto reopened = ReopenLogFiles();
    ASSERT_FALSE(reopened.ok());
    EXPECT_NE(reopened.error().message.find("debate.log"), std::string::npos)
        << reopened.error().message;
    logger->info("still-logging");  // to the old (unlinked) handle: no crash
    logger->flush();
    GetLogger("aragora.api")->info("api-still-fine");
    EXPECT_NE(File("api.log").find("api-still-fine"), std::string::npos);
}

TEST_F(LoggingTest, ReopenWithoutLogDirDoesNothing) {
    ASSERT_TRUE(SetupLogging(LogSettings{}).ok());
    EXPECT_TRUE(ReopenLogFiles().ok());
}

TEST_F(LoggingTest, UnusableDirIsAnErrorAndKeepsThePreviousConfiguration) {
    UseDir();
    std::ofstream(root_ / "blocker") << "a file, not a directory";
    LogSettings bad;
    bad.log_dir = (root_ / "blocker" / "logs").string();
    auto status = SetupLogging(bad);
    ASSERT_FALSE(status.ok());
    EXPECT_NE(status.error().message.find((root_ / "blocker").string()), std::string::npos)
        << status.error().message;
    EXPECT_NE(status.error().message.find("Not a directory"), std::string::npos)
        << status.error().message;

    GetLogger("aragora.api")->info("kept-previous-config");
    EXPECT_NE(File("api.log").find("kept-previous-config"), std::string::npos);
}

TEST_F(LoggingTest, UnopenableLogFileIsAnError) {
    fs::create_directories(dir_ / "websocket.log");
    LogSettings s;
    s.log_dir = dir_.string();
    auto status = SetupLogging(s);
    ASSERT_FALSE(status.ok());
    EXPECT_NE(status.error().message.find("websocket.log"), std::string::npos)
        << status.error().message;
}

TEST_F(LoggingTest, UnknownLevelIsRejected) {
    LogSettings s;
    s.level = "chatty";
    auto status = SetupLogging(s);
    ASSERT_FALSE(status.ok());
    EXPECT_NE(status.error().message.find("'chatty'"), std::string::npos);
    EXPECT_TRUE(IsKnownLogLevel("warning"));
    EXPECT_TRUE(IsKnownLogLevel("CRITICAL"));
    EXPECT_FALSE(IsKnownLogLevel("chatty"));
}

TEST_F(LoggingTest, SetLogLevelFiltersEveryLoggerAtRuntime) {
    UseDir(LogFormat::kText, "INFO");
    StderrCapture quiet(root_ / "stderr.txt");
    auto api = GetLogger("aragora.api");
    api->debug("debug-at-info");
    SetLogLevel("debug");
    api->debug("debug-at-debug");
    auto created_later = GetLogger("aragora.api.later");
    created_later->debug("later-debug-at-debug");
    SetLogLevel("ERROR");
    api->warn("warn-at-error");
    api->error("error-at-error");
    SetLogLevel("nonsense");  // ignored: still ERROR
    api->warn("warn-after-nonsense");
    std::string text = File("api.log");
    EXPECT_EQ(text.find("debug-at-info"), std::string::npos) << text;
    EXPECT_NE(text.find("debug-at-debug"), std::string::npos) << text;
    EXPECT_NE(text.find("later-debug-at-debug"), std::string::npos) << text;
    EXPECT_EQ(text.find("warn-at-error"), std::string::npos) << text;
    EXPECT_NE(text.find("error-at-error"), std::string::npos) << text;
    EXPECT_EQ(text.find("warn-after-nonsense"), std::string::npos) << text;
}

}  // namespace
}  // namespace aragora::common
