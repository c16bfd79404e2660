#include "server_fixture.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <stdexcept>
#include <thread>

#include "process.hpp"

namespace aragora::testing {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

std::string MakeTempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "aragora-srv-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    return tmpl;
}

// The port printed after `key` ("api=", "ws=", "metrics=") as "...<host>:<port>".
std::uint16_t PortAfter(const std::string& log, std::size_t line_start, const std::string& key,
                        const std::string& host_name) {
    std::size_t at = log.find(key, line_start);
    if (at == std::string::npos) return 0;
    const std::string prefix = host_name + ":";
    std::size_t host = log.find(prefix, at);
    if (host == std::string::npos || host > at + key.size() + 16) return 0;
    std::size_t digits = host + prefix.size();
    int port = 0;
    while (digits < log.size() && std::isdigit(static_cast<unsigned char>(log[digits]))) {
        port = port * 10 + (log[digits] - '0');
        ++digits;
    }
    return static_cast<std::uint16_t>(port);
}

int ExitCodeOf(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

}  // namespace

std::map<std::string, std::string> ServerEnv(const std::string& data_dir,
                                             const std::map<std::string, std::string>& overrides) {
    std::map<std::string, std::string> env;
    // The sanitizer options reach the child too (make test-asan-runtime / test-tsan run
    // the suites against a sanitized binary and collect its reports through log_path).
    for (const char* k : {"PATH", "HOME", "LANG", "TMPDIR", "ASAN_OPTIONS", "UBSAN_OPTIONS",
                          "TSAN_OPTIONS", "LSAN_OPTIONS"}) {
        if (const char* v = std::getenv(k)) env[k] = v;
    }
    env["ARAGORA_ENV"] = "development";
    env["ARAGORA_DATA_DIR"] = data_dir;
    env["ARAGORA_DEMO_LATENCY_MS"] = "5";
    env["ARAGORA_LOG_FORMAT"] = "text";
    env["ARAGORA_LOG_LEVEL"] = "INFO";
    env["ARAGORA_RECEIPT_SIGNING_KEY"] = "integration-key-1";
    env["ARAGORA_IO_THREADS"] = "2";
    env["ARAGORA_SHUTDOWN_GRACE_SECONDS"] = "5";
    // The suites send far more than 100 requests a minute from 127.0.0.1; the rate-limit
    // tests turn it back on with ARAGORA_RATE_LIMIT_DISABLED=0.
    env["ARAGORA_RATE_LIMIT_DISABLED"] = "1";
    for (const auto& [k, v] : overrides) env[k] = v;
    return env;
}

ServerProcess::ServerProcess(std::string data_dir, std::map<std::string, std::string> env,
                             std::vector<std::string> extra_args)
    : data_dir_(std::move(data_dir)),
      env_(ServerEnv(data_dir_, env)),
      extra_args_(std::move(extra_args)),
      io_dir_(MakeTempDir()) {}

ServerProcess::~ServerProcess() {
    if (pid_ > 0 && !exit_code_) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(io_dir_, ec);
}

bool ServerProcess::Start(std::chrono::milliseconds deadline) {
    if (pid_ > 0) {
        error_ = "already started";
        return false;
    }
    std::vector<std::string> args = {ARAGORA_BINARY,   "serve", "--host",    host_,
                                     "--api-port",     "0",     "--ws-port", "0",
                                     "--metrics-port", "0"};
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    std::vector<std::string> env_strings;
    for (const auto& [k, v] : env_) env_strings.push_back(k + "=" + v);
    std::vector<char*> argv;
    for (auto& s : args) argv.push_back(s.data());
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    const std::string out_path = io_dir_ + "/stdout";
    const std::string err_path = io_dir_ + "/stderr";
    const pid_t parent = ::getpid();

    pid_t pid = ::fork();
    if (pid < 0) {
        error_ = "fork failed";
        return false;
    }
    if (pid == 0) {
        // A test killed by its CTest timeout must not leave a server behind.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127);
        int in = ::open("/dev/null", O_RDONLY);
        int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || out < 0 || err < 0) ::_exit(127);
        ::dup2(in, 0);
        ::dup2(out, 1);
        ::dup2(err, 2);
        ::execve(argv[0], argv.data(), envp.data());
        ::_exit(127);
    }
    pid_ = pid;

    const auto until = Clock::now() + deadline;
    while (Clock::now() < until) {
        // With ARAGORA_LOG_DIR the INFO lines go to api.log only (stderr gets warnings).
        std::string log = Stderr();
        if (auto dir = env_.find("ARAGORA_LOG_DIR"); dir != env_.end() && !dir->second.empty())
            log += ReadAll(dir->second + "/api.log");
        std::size_t line = log.find("listening api=");
        if (line != std::string::npos && log.find('\n', line) != std::string::npos) {
            api_port_ = PortAfter(log, line, "api=", host_);
            ws_port_ = PortAfter(log, line, "ws=", host_);
            metrics_port_ = PortAfter(log, line, "metrics=", host_);
            if (api_port_ == 0) {
                error_ = "no API port in the listening line: " +
                         log.substr(line, log.find('\n', line) - line);
                return false;
            }
            return true;
        }
        if (!Running()) {
            error_ = "the server exited with " + std::to_string(*exit_code_) +
                     " before listening; output:\n" + Logs();
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    error_ = "no listening line within the deadline; output:\n" + Logs();
    return false;
}

bool ServerProcess::WaitReady(std::chrono::milliseconds deadline) {
    HttpClient http(api_port_, std::chrono::seconds(5));
    int last = 0;
    bool ok = PollUntil(
        [&] {
            if (!Running()) return true;
            last = http.Get("/readyz").status;
            return last == 200;
        },
        deadline);
    if (!Running()) {
        error_ = "the server exited with " + std::to_string(*exit_code_) + " before ready";
        return false;
    }
    if (!ok) error_ = "/readyz still answers " + std::to_string(last) + " at the deadline";
    return ok && last == 200;
}

void ServerProcess::SendSignal(int signal) {
    if (pid_ > 0 && !exit_code_) ::kill(pid_, signal);
}

int ServerProcess::Terminate(std::chrono::milliseconds deadline) {
    if (pid_ <= 0) return -1;
    if (!Running()) return *exit_code_;
    ::kill(pid_, SIGTERM);
    if (auto code = WaitExit(deadline)) return *code;
    Kill();
    return -1;
}

void ServerProcess::Kill() {
    if (pid_ <= 0 || exit_code_) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    exit_code_ = ExitCodeOf(status);
}

std::optional<int> ServerProcess::WaitExit(std::chrono::milliseconds deadline) {
    PollUntil([&] { return !Running(); }, deadline, std::chrono::milliseconds(5));
    return exit_code_;
}

bool ServerProcess::Running() {
    if (pid_ <= 0) return false;
    if (exit_code_) return false;
    int status = 0;
    pid_t w = ::waitpid(pid_, &status, WNOHANG);
    if (w == pid_) {
        exit_code_ = ExitCodeOf(status);
        return false;
    }
    return true;
}

std::string ServerProcess::Stderr() const { return ReadAll(io_dir_ + "/stderr"); }
std::string ServerProcess::Stdout() const { return ReadAll(io_dir_ + "/stdout"); }

bool PollUntil(const std::function<bool()>& condition, std::chrono::milliseconds deadline,
               std::chrono::milliseconds interval) {
    const auto until = Clock::now() + deadline;
    while (true) {
        if (condition()) return true;
        if (Clock::now() >= until) return false;
        std::this_thread::sleep_for(interval);
    }
}

std::string DebateBody(const std::string& task, int rounds, int agents) {
    json::array list;
    for (int i = 0; i < agents; ++i) list.emplace_back("demo");
    json::object o{{"task", task}, {"agents", std::move(list)}, {"rounds", rounds}};
    return json::serialize(o);
}

std::string CreateDebate(const HttpClient& http, const std::string& body, const std::string& path) {
    HttpResponse r = http.Post(path, body);
    if (r.status != 201) {
        ADD_FAILURE() << "POST " << path << " " << body << " -> " << r.Describe();
        return "";
    }
    json::object o = r.Object();
    const json::value* id = o.if_contains("debate_id");
    if (id == nullptr || !id->is_string()) {
        ADD_FAILURE() << "201 without a debate_id: " << r.Describe();
        return "";
    }
    return std::string(id->get_string());
}

std::optional<json::object> WaitForStatus(const HttpClient& http, const std::string& id,
                                          const std::set<std::string>& statuses,
                                          std::chrono::milliseconds deadline) {
    std::optional<json::object> found;
    std::string last;
    PollUntil(
        [&] {
            HttpResponse r = http.Get("/api/v1/debates/" + id);
            if (r.status != 200) {
                last = r.Describe();
                return false;
            }
            json::object o = r.Object();
            last = StringOf(o, "status");
            if (statuses.count(last) == 0) return false;
            found = std::move(o);
            return true;
        },
        deadline, std::chrono::milliseconds(20));
    if (!found) {
        std::string wanted;
        for (const auto& s : statuses) wanted += s + " ";
        ADD_FAILURE() << "debate " << id << " never reached {" << wanted << "}; last: " << last;
    }
    return found;
}

bool WaitForEvents(const HttpClient& http, const std::string& id, std::int64_t count,
                   std::chrono::milliseconds deadline) {
    return PollUntil(
        [&] {
            HttpResponse r = http.Get("/api/v1/debates/" + id +
                                      "/events?since=" + std::to_string(count - 1) + "&limit=1");
            if (r.status != 200) return false;
            const json::object body = r.Object();  // owns what `events` points into
            const json::value* events = body.if_contains("events");
            return events != nullptr && events->is_array() && !events->as_array().empty();
        },
        deadline, std::chrono::milliseconds(10));
}

std::vector<json::object> AllEvents(const HttpClient& http, const std::string& id) {
    std::vector<json::object> out;
    std::int64_t since = 0;
    for (int page = 0; page < 100; ++page) {
        HttpResponse r = http.Get("/api/v1/debates/" + id +
                                  "/events?since=" + std::to_string(since) + "&limit=500");
        if (r.status != 200) {
            ADD_FAILURE() << "events of " << id << ": " << r.Describe();
            break;
        }
        json::object o = r.Object();
        const json::value* events = o.if_contains("events");
        if (events == nullptr || !events->is_array()) {
            ADD_FAILURE() << "events page without `events`: " << r.Describe();
            break;
        }
        for (const auto& e : events->as_array()) {
            if (e.is_object()) out.push_back(e.as_object());
        }
        const json::value* more = o.if_contains("has_more");
        const json::value* next = o.if_contains("next_seq");
        if (more == nullptr || !more->is_bool() || !more->as_bool() || next == nullptr ||
            !IsInteger(*next)) {
            break;
        }
        std::int64_t n = static_cast<std::int64_t>(NumberOf(*next));
        if (n <= since) break;
        since = n;
    }
    return out;
}

bool IsIsoUtc(const json::value& v) {
    static const std::regex kIso(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$)");
    return v.is_string() && std::regex_match(std::string(v.as_string()), kIso);
}

bool IsNumber(const json::value& v) { return v.is_int64() || v.is_uint64() || v.is_double(); }

bool IsInteger(const json::value& v) { return v.is_int64() || v.is_uint64(); }

double NumberOf(const json::value& v) {
    if (v.is_int64()) return static_cast<double>(v.get_int64());
    if (v.is_uint64()) return static_cast<double>(v.get_uint64());
    if (v.is_double()) return v.get_double();
    return 0;
}

std::string StringOf(const json::object& o, const char* key) {
    const json::value* v = o.if_contains(key);
    return (v != nullptr && v->is_string()) ? std::string(v->get_string()) : std::string();
}

void ExpectError(const HttpResponse& r, int status, const std::string& code,
                 const std::string& what) {
    EXPECT_EQ(r.status, status) << what << ": " << r.Describe();
    EXPECT_NE(r.Header("Content-Type").value_or("").find("application/json"), std::string::npos)
        << what << ": " << r.Describe();
    json::object o = r.Object();
    ASSERT_TRUE(r.IsJsonObject()) << what << ": not a JSON object: " << r.Describe();
    const json::value* error = o.if_contains("error");
    EXPECT_TRUE(error != nullptr && error->is_string() && !error->as_string().empty())
        << what << ": `error` must be a readable string (flat errors): " << r.body;
    // `code` may list alternatives: "bad_request|validation_error".
    const std::string got = StringOf(o, "code");
    bool matches = false;
    std::size_t start = 0;
    while (start <= code.size()) {
        std::size_t bar = code.find('|', start);
        if (bar == std::string::npos) bar = code.size();
        if (code.compare(start, bar - start, got) == 0 && bar - start == got.size()) matches = true;
        start = bar + 1;
    }
    EXPECT_TRUE(matches) << what << ": code `" << got << "`, expected " << code << ": " << r.body;
    const std::string correlation = StringOf(o, "correlation_id");
    EXPECT_FALSE(correlation.empty()) << what << ": no correlation_id: " << r.body;
    EXPECT_EQ(StringOf(o, "trace_id"), correlation) << what << ": trace_id != correlation_id";
}

}  // namespace aragora::testing
