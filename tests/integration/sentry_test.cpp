// Errors reach Sentry (SENTRY_DSN) from a real `aragora serve`, and the JSON logs it writes
// are found by correlation id through deploy/monitoring/promtail.yml (issue 22):
//
// - a Sentry stand-in (a loopback HTTP server in this test) receives, for a forced 500, a
//   well-formed envelope (header, item, event) at /api/<project>/envelope/ with
//   X-Sentry-Auth, the request's correlation id as a tag, environment, release and
//   server_name; the API token, the provider key, the query's api_key/password and the
//   cookie sent with the request appear nowhere in it;
// - agent calls that failed past their retries and the debate they failed are reported;
// - the promtail pipeline, applied by tests/monitoring/logs_check.py to the server's
//   real api.log, keeps correlation_id out of the labels and finds the request's lines
//   by it (the runbook's search).

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fake_llm/fake_llm.hpp"
#include "process.hpp"
#include "server_fixture.hpp"

namespace aragora::testing {
namespace {

namespace json = boost::json;
using std::chrono::seconds;

// A Sentry stand-in: accepts connections on 127.0.0.1, reads one request each (headers +
// Content-Length body), answers 200 and closes. Requests are kept for the test.
class SentryStandIn {
public:
    struct Request {
        std::string request_line;
        std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
        std::string body;
        std::string Header(const std::string& name) const {
            for (const auto& [k, v] : headers)
                if (k == name) return v;
            return {};
        }
    };

    SentryStandIn() {
        fd_ = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = 0;
        bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        listen(fd_, 16);
        socklen_t len = sizeof addr;
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] { Serve(); });
    }
    ~SentryStandIn() {
        stop_ = true;
        shutdown(fd_, SHUT_RDWR);
        close(fd_);
        thread_.join();
    }
    int port() const { return port_; }

    // The requests received once `pred` holds for them, or what came by the deadline.
    std::vector<Request> WaitFor(const std::function<bool(const std::vector<Request>&)>& pred,
                                 std::chrono::milliseconds deadline) {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, deadline, [&] { return pred(requests_); });
        return requests_;
    }

private:
    void Serve() {
        while (!stop_) {
            int c = accept(fd_, nullptr, nullptr);
            if (c < 0) return;
            timeval tv{5, 0};
            setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            std::string data;
            char buf[8192];
            std::size_t header_end = std::string::npos;
            std::size_t need = 0;
            while (true) {
                ssize_t n = recv(c, buf, sizeof buf, 0);
                if (n <= 0) break;
                data.append(buf, static_cast<std::size_t>(n));
                if (header_end == std::string::npos) {
                    header_end = data.find("\r\n\r\n");
                    if (header_end != std::string::npos) need = ContentLength(data, header_end);
                }
                if (header_end != std::string::npos && data.size() >= header_end + 4 + need) break;
            }
            if (header_end != std::string::npos) {
                Request r = Parse(data, header_end);
                const std::string answer =
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                    "2\r\nConnection: close\r\n\r\n{}";
                send(c, answer.data(), answer.size(), MSG_NOSIGNAL);
                std::lock_guard lock(mu_);
                requests_.push_back(std::move(r));
                cv_.notify_all();
            }
            close(c);
        }
    }
    static std::string Lower(std::string s) {
        for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        return s;
    }
    static std::size_t ContentLength(const std::string& data, std::size_t header_end) {
        const std::string head = Lower(data.substr(0, header_end));
        auto p = head.find("content-length:");
        if (p == std::string::npos) return 0;
        return static_cast<std::size_t>(std::stoul(head.substr(p + 15)));
    }
    static Request Parse(const std::string& data, std::size_t header_end) {
        Request r;
        std::size_t start = 0;
        bool first = true;
        while (start < header_end) {
            auto end = data.find("\r\n", start);
            if (end == std::string::npos || end > header_end) end = header_end;
            std::string line = data.substr(start, end - start);
            if (first) {
                r.request_line = line;
                first = false;
            } else if (auto colon = line.find(':'); colon != std::string::npos) {
                std::string value = line.substr(colon + 1);
                while (!value.empty() && value.front() == ' ') value.erase(0, 1);
                r.headers.emplace_back(Lower(line.substr(0, colon)), value);
            }
            start = end + 2;
        }
        r.body = data.substr(header_end + 4);
        return r;
    }

    int fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<Request> requests_;
};

struct Envelope {
    json::object header;
    json::object item;
    json::object event;
    std::size_t payload_size = 0;
};

std::optional<Envelope> ParseEnvelope(const std::string& body) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < body.size()) {
        auto end = body.find('\n', start);
        if (end == std::string::npos) end = body.size();
        lines.push_back(body.substr(start, end - start));
        start = end + 1;
    }
    if (lines.size() != 3) return std::nullopt;
    boost::system::error_code ec;
    Envelope e;
    for (int i = 0; i < 3; ++i) {
        json::value v = json::parse(lines[i], ec);
        if (ec || !v.is_object()) return std::nullopt;
        (i == 0 ? e.header : i == 1 ? e.item : e.event) = v.as_object();
    }
    e.payload_size = lines[2].size();
    return e;
}

std::string TagOf(const json::object& event, const char* tag) {
    const json::value* tags = event.if_contains("tags");
    if (tags == nullptr || !tags->is_object()) return {};
    const json::value* v = tags->as_object().if_contains(tag);
    return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::string TypeOf(const json::object& event) {
    try {
        return std::string(
            event.at("exception").at("values").as_array().at(0).at("type").as_string());
    } catch (const std::exception&) {
        return {};
    }
}

std::string SqlitePathIn(const std::string& dir) {
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        const std::string name = e.path().filename().string();
        if (e.path().extension() == ".db" || e.path().extension() == ".sqlite3" ||
            e.path().extension() == ".sqlite")
            return e.path().string();
        (void)name;
    }
    return {};
}

// Secrets this test puts in the environment and in the request: none may reach Sentry.
const std::string kApiToken = "tok-integration-SECRET-0123456789";
const std::string kProviderKey = "sk-ant-integration-SECRET-abcdef0123";
const std::string kQueryKey = "QUERYSECRET0123456789";
const std::string kQueryPassword = "pw-SECRET-in-query";
const std::string kCookie = "sess-SECRET-cookie-value";

TEST(SentryTest, AForced500ReachesTheStandInAsAWellFormedEnvelopeWithoutSecrets) {
    SentryStandIn sentry;
    TempDir dir;
    ServerProcess server(
        dir.path(),
        {{"SENTRY_DSN", "http://publickey123@127.0.0.1:" + std::to_string(sentry.port()) + "/42"},
         {"ARAGORA_API_TOKEN", kApiToken},
         {"ANTHROPIC_API_KEY", kProviderKey},
         {"ARAGORA_ENV", "development"}});
    ASSERT_TRUE(server.StartReady()) << server.error() << "\n" << server.Logs();
    HttpClient http = server.Http();
    const Headers auth = {{"Authorization", "Bearer " + kApiToken}};
    ASSERT_EQ(http.Get("/api/v1/debates", auth).status, 200);

    // Force a 500: the debates table disappears under the running server.
    const std::string db_path = SqlitePathIn(dir.path());
    ASSERT_FALSE(db_path.empty()) << "no SQLite database in " << dir.path();
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char* err = nullptr;
    const int rc =
        sqlite3_exec(db, "ALTER TABLE debates RENAME TO debates_gone", nullptr, nullptr, &err);
    const std::string err_text = err ? err : "";
    sqlite3_free(err);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK) << err_text;

    const std::string correlation_id = "corr-sentry-500-xyz789";
    Headers headers = {{"Authorization", "Bearer " + kApiToken},
                       {"Cookie", "session=" + kCookie},
                       {"X-Correlation-ID", correlation_id}};
    HttpResponse r = http.Get(
        "/api/v1/debates?limit=5&api_key=" + kQueryKey + "&password=" + kQueryPassword, headers);
    ASSERT_EQ(r.status, 500) << r.Describe();
    ASSERT_EQ(r.Header("X-Correlation-ID").value_or(""), correlation_id);

    auto received = sentry.WaitFor(
        [&](const auto& reqs) {
            for (const auto& q : reqs)
                if (q.body.find(correlation_id) != std::string::npos) return true;
            return false;
        },
        seconds(20));
    const SentryStandIn::Request* hit = nullptr;
    for (const auto& q : received)
        if (q.body.find(correlation_id) != std::string::npos) hit = &q;
    ASSERT_NE(hit, nullptr) << received.size() << " requests, none with the correlation id\n"
                            << server.Logs();

    EXPECT_EQ(hit->request_line, "POST /api/42/envelope/ HTTP/1.1");
    EXPECT_EQ(hit->Header("content-type"), "application/x-sentry-envelope");
    const std::string auth_header = hit->Header("x-sentry-auth");
    EXPECT_NE(auth_header.find("Sentry sentry_version=7"), std::string::npos) << auth_header;
    EXPECT_NE(auth_header.find("sentry_key=publickey123"), std::string::npos) << auth_header;

    auto envelope = ParseEnvelope(hit->body);
    ASSERT_TRUE(envelope) << hit->body;
    const json::object& event = envelope->event;
    EXPECT_EQ(envelope->item.at("type"), "event");
    EXPECT_EQ(envelope->item.at("length").to_number<std::size_t>(), envelope->payload_size);
    EXPECT_EQ(envelope->header.at("event_id"), event.at("event_id"));
    EXPECT_EQ(event.at("event_id").as_string().size(), 32u);
    EXPECT_EQ(event.at("level"), "error");
    EXPECT_EQ(TagOf(event, "correlation_id"), correlation_id);
    EXPECT_EQ(TagOf(event, "status"), "500");
    EXPECT_EQ(TagOf(event, "route"), "/api/v1/debates");
    EXPECT_EQ(event.at("environment"), "development");
    EXPECT_EQ(std::string(event.at("release").as_string()).rfind("aragora@", 0), 0u);
    EXPECT_FALSE(event.at("server_name").as_string().empty());
    EXPECT_FALSE(TypeOf(event).empty());
    EXPECT_EQ(event.at("request").at("method"), "GET");
    // The query and headers were sent, filtered.
    EXPECT_NE(
        std::string(event.at("request").at("query_string").as_string()).find("api_key=[Filtered]"),
        std::string::npos)
        << hit->body;
    EXPECT_EQ(event.at("request").at("headers").at("authorization"), "[Filtered]");
    EXPECT_EQ(event.at("request").at("headers").at("cookie"), "[Filtered]");

    for (const std::string& secret :
         {kApiToken, kProviderKey, kQueryKey, kQueryPassword, kCookie}) {
        for (const auto& q : received) {
            EXPECT_EQ(q.body.find(secret), std::string::npos) << secret << " sent to Sentry";
            for (const auto& [k, v] : q.headers)
                EXPECT_EQ(v.find(secret), std::string::npos) << secret << " in header " << k;
        }
    }
    EXPECT_EQ(server.Terminate(), 0) << server.Logs();
    const std::string metrics_after = server.Logs();
    EXPECT_EQ(metrics_after.find("SENTRY_DSN is set but not supported"), std::string::npos);
}

TEST(SentryTest, AgentCallsFailedPastRetriesAndTheDebateTheyFailedAreReported) {
    SentryStandIn sentry;
    FakeLlmServer fake;
    fake.AddRule({.format = "anthropic", .action = FakeAction::kStatus, .status = 500});
    TempDir dir;
    ServerProcess server(
        dir.path(), {{"SENTRY_DSN", "http://pk@127.0.0.1:" + std::to_string(sentry.port()) + "/7"},
                     {"ANTHROPIC_API_KEY", kProviderKey},
                     {"ARAGORA_ANTHROPIC_BASE_URL", fake.base_url()},
                     {"ARAGORA_AGENT_MAX_RETRIES", "1"},
                     {"ARAGORA_AGENT_RETRY_BASE_MS", "1"}});
    ASSERT_TRUE(server.StartReady()) << server.error() << "\n" << server.Logs();
    HttpClient http = server.Http();
    const std::string id = CreateDebate(
        http,
        R"({"task": "Does a failing provider reach Sentry?", "agents": ["anthropic:claude-a", "anthropic:claude-b"], "rounds": 1})");
    ASSERT_FALSE(id.empty());
    auto done = WaitForStatus(http, id, kTerminalStatuses, seconds(60));
    ASSERT_TRUE(done);
    EXPECT_EQ(StringOf(*done, "status"), "failed");

    auto has_types = [&](const auto& reqs) {
        bool agent = false, debate = false;
        for (const auto& q : reqs) {
            auto e = ParseEnvelope(q.body);
            if (!e) continue;
            agent |= TypeOf(e->event) == "agent_call_failed";
            debate |= TypeOf(e->event) == "debate_failed" && TagOf(e->event, "debate_id") == id;
        }
        return agent && debate;
    };
    auto received = sentry.WaitFor(has_types, seconds(20));
    ASSERT_TRUE(has_types(received)) << received.size() << " envelopes\n" << server.Logs();
    for (const auto& q : received) {
        auto e = ParseEnvelope(q.body);
        ASSERT_TRUE(e) << q.body;
        EXPECT_EQ(q.body.find(kProviderKey), std::string::npos);
        if (TypeOf(e->event) == "agent_call_failed") {
            EXPECT_EQ(TagOf(e->event, "provider"), "anthropic");
            EXPECT_EQ(TagOf(e->event, "debate_id"), id);
            // Retried once (ARAGORA_AGENT_MAX_RETRIES=1) before it was reported.
            EXPECT_NE(std::string(e->event.at("message").at("formatted").as_string())
                          .find("after 2 attempt(s)"),
                      std::string::npos)
                << q.body;
        }
    }
    EXPECT_EQ(server.Terminate(), 0) << server.Logs();
}

TEST(SentryTest, ABadDsnStopsTheStartNamingTheVariable) {
    TempDir dir;
    ServerProcess server(dir.path(), {{"SENTRY_DSN", "http://key@sentry.example.com/1"}});
    EXPECT_FALSE(server.Start(seconds(20)));
    auto code = server.WaitExit(seconds(20));
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 2);
    EXPECT_NE(server.Logs().find("SENTRY_DSN must use https"), std::string::npos) << server.Logs();
}

// deploy/monitoring/promtail.yml applied to the real api.log of a server (JSON logs).
TEST(LokiTest, PromtailPipelineFindsTheRequestsLinesByCorrelationIdWithoutALabel) {
    TempDir dir, logs;
    ServerProcess server(dir.path(),
                         {{"ARAGORA_LOG_DIR", logs.path()}, {"ARAGORA_LOG_FORMAT", "json"}});
    ASSERT_TRUE(server.StartReady()) << server.error() << "\n" << server.Logs();
    HttpClient http = server.Http();
    ASSERT_EQ(http.Get("/api/v1/debates", {{"X-Correlation-ID", "corr-xyz789"}}).status, 200);
    ASSERT_EQ(http.Get("/api/v1/nothing-here", {{"X-Correlation-ID", "corr-other"}}).status, 404);
    EXPECT_EQ(server.Terminate(), 0);
    const std::string source = ARAGORA_SOURCE_DIR;
    ProcessResult r = RunProcess(
        {ARAGORA_PYTHON, source + "/tests/monitoring/logs_check.py", "query",
         source + "/deploy/monitoring/promtail.yml", "--logs", logs.path(), "--correlation-id",
         "corr-xyz789", "--expect-message", "request method=GET path=/api/v1/debates"},
        {}, 60);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

}  // namespace
}  // namespace aragora::testing
