// The multi-instance setup end to end, black box: two `aragora serve` (A, B) in
// ARAGORA_DEBATE_EXECUTION=worker mode, `aragora worker`, one real PostgreSQL 15 (the
// storage tests' PgTestServer, a fresh database per test), one real redis-server per test,
// and for the acceptance tests a local nginx (Debian's /usr/sbin/nginx as a child) whose
// config includes deploy/nginx/aragora_locations.conf around a round-robin upstream of A
// and B. Checked: a debate enqueued on A, run by the worker, streams live to WebSockets on
// B and through nginx (every seq once, in order, debate_end last), one receipt; a cancel
// on B stops the worker's debate, and (local execution) a debate A runs itself; a
// demotion on A reaches B's API key cache through Redis; the Redis rate limit is shared; Redis
// killed (SIGKILL), restarted and flushed during traffic; PostgreSQL stopped and started during a
// debate; a worker killed mid-debate is reaped by another (worker_lost); in the default
// local execution, an instance starting or restarting leaves the debates another instance
// runs under its lease alone, and a killed instance's debate ends once its lease expired
// (instance_lost, one debate_end).
//
// Loopback only; every wait polls a condition with a deadline; every process is killed by
// its owner's destructor (and by the kernel if this process dies).

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "process.hpp"
#include "server_fixture.hpp"
#include "unit/redis/redis_test_server.hpp"
#include "unit/storage/pg_test_server.hpp"
#include "worker_process.hpp"
#include "ws_client.hpp"

namespace aragora::testing {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;
using storage::test_support::PgTestDatabase;
using storage::test_support::PgTestServer;
using RedisServer = redis::testing::RedisTestServer;

constexpr const char* kNginx = "/usr/sbin/nginx";

std::uint16_t FreePort() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    std::uint16_t port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
        port = ntohs(addr.sin_port);
    ::close(fd);
    return port;
}

// nginx in the foreground (daemon off) with a config rendered into its own temp dir.
class NginxProcess {
public:
    ~NginxProcess() { Stop(); }

    // "" on success, else why not.
    std::string Start(const std::vector<std::uint16_t>& upstreams) {
        if (::access(kNginx, X_OK) != 0) return std::string(kNginx) + " not found (apt nginx)";
        port_ = FreePort();
        std::ostringstream conf;
        if (::geteuid() == 0) conf << "user root;\n";
        conf << "worker_processes 1;\n"
             << "pid " << dir_.path() << "/nginx.pid;\n"
             << "error_log " << dir_.path() << "/error.log warn;\n"
             << "events { worker_connections 256; }\n"
             << "http {\n"
             << "    access_log off;\n";
        for (const char* t : {"client_body", "proxy", "fastcgi", "uwsgi", "scgi"})
            conf << "    " << t << "_temp_path " << dir_.path() << "/" << t << "_temp;\n";
        conf << "    upstream aragora_backend {\n";
        for (auto p : upstreams) conf << "        server 127.0.0.1:" << p << ";\n";
        conf << "        keepalive 8;\n    }\n"
             << "    server {\n"
             << "        listen 127.0.0.1:" << port_ << ";\n"
             << "        include " << ARAGORA_SOURCE_DIR
             << "/deploy/nginx/aragora_locations.conf;\n"
             << "    }\n}\n";
        WriteAll(dir_.path() + "/nginx.conf", conf.str());
        const std::string log = dir_.path() + "/stderr.log";
        std::vector<std::string> args = {
            kNginx, "-p", dir_.path(), "-c", dir_.path() + "/nginx.conf", "-g", "daemon off;"};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        const pid_t parent = ::getpid();
        pid_ = ::fork();
        if (pid_ < 0) return "fork failed";
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(127);
            int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
            ::dup2(out, 1);
            ::dup2(out, 2);
            ::execv(kNginx, argv.data());
            ::_exit(127);
        }
        HttpClient http(port_, seconds(2));
        const bool up = PollUntil(
            [&] {
                int status = 0;
                if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                    pid_ = -1;
                    return true;
                }
                return http.Get("/healthz").status == 200;
            },
            seconds(15));
        if (pid_ < 0 || !up) {
            return "nginx did not come up: " + ReadAll(log) + ReadAll(dir_.path() + "/error.log");
        }
        return "";
    }
    void Stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);  // fast shutdown; the workers follow the master
        const auto until = Clock::now() + seconds(10);
        int status = 0;
        while (::waitpid(pid_, &status, WNOHANG) != pid_) {
            if (Clock::now() > until) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
                break;
            }
            std::this_thread::sleep_for(milliseconds(10));  // reaping
        }
        pid_ = -1;
    }
    std::uint16_t port() const { return port_; }
    HttpClient Http() const { return HttpClient(port_); }

private:
    TempDir dir_;
    pid_t pid_ = -1;
    std::uint16_t port_ = 0;
};

// The sum of the samples of `name` (with or without labels) in a Prometheus text page;
// nullopt when there is none.
std::optional<double> Metric(std::uint16_t metrics_port, const std::string& name) {
    HttpResponse r = HttpClient(metrics_port, seconds(5)).Get("/metrics");
    if (r.status != 200) return std::nullopt;
    std::istringstream in(r.body);
    std::string line;
    std::optional<double> sum;
    while (std::getline(in, line)) {
        if (line.rfind(name, 0) != 0 || line.size() <= name.size()) continue;
        const char next = line[name.size()];
        if (next != ' ' && next != '{') continue;
        const auto space = line.rfind(' ');
        sum = sum.value_or(0) + std::stod(line.substr(space + 1));
    }
    return sum;
}

// One WebSocket subscription (?debate_id=) read to its end: the frames after the
// connection_info, split at replay_end.
class DebateWatch {
public:
    // Connects and reads up to replay_end. False with a gtest failure otherwise.
    bool Subscribe(std::uint16_t port, const std::string& id, const std::string& what) {
        what_ = what;
        if (!ws_.Connect(port, "/ws?debate_id=" + id)) {
            ADD_FAILURE() << what << ": connect failed: " << ws_.error();
            return false;
        }
        if (!ReadUntil("replay_end", seconds(15))) return false;
        const auto& d = frames_.back().at("data").as_object();
        replayed_ = static_cast<std::int64_t>(NumberOf(d.at("replayed_count")));
        replay_end_index_ = frames_.size();
        return true;
    }
    // Reads until the debate_end event.
    bool ReadToEnd(milliseconds deadline) { return ReadUntil("debate_end", deadline); }

    // The event frames (those with a seq), in arrival order.
    std::vector<json::object> Events() const {
        std::vector<json::object> out;
        for (const auto& f : frames_)
            if (f.contains("seq")) out.push_back(f);
        return out;
    }
    // Event frames received after replay_end (live).
    std::size_t LiveCount() const {
        std::size_t n = 0;
        for (std::size_t i = replay_end_index_; i < frames_.size(); ++i)
            if (frames_[i].contains("seq")) ++n;
        return n;
    }
    bool EndedLive() const {
        return frames_.size() > replay_end_index_ &&
               StringOf(frames_.back(), "type") == "debate_end" && replay_end_index_ > 0;
    }
    std::int64_t replayed() const { return replayed_; }
    void Close() { ws_.Close(); }

    // Every seq 1..last exactly once, in order, debate_end last, all of `id`.
    void ExpectComplete(const std::string& id, std::int64_t expected_count) const {
        const auto events = Events();
        ASSERT_FALSE(events.empty()) << what_;
        for (std::size_t i = 0; i < events.size(); ++i) {
            EXPECT_EQ(NumberOf(events[i].at("seq")), static_cast<double>(i + 1))
                << what_ << ": frame " << i << " " << json::serialize(events[i]);
            EXPECT_EQ(StringOf(events[i], "debate_id"), id) << what_;
        }
        EXPECT_EQ(StringOf(events.back(), "type"), "debate_end") << what_;
        EXPECT_EQ(static_cast<std::int64_t>(events.size()), expected_count) << what_;
    }

private:
    bool ReadUntil(const std::string& type, milliseconds deadline) {
        const auto until = Clock::now() + deadline;
        while (true) {
            const auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now());
            if (left.count() <= 0) {
                ADD_FAILURE() << what_ << ": no " << type << " within the deadline after "
                              << frames_.size() << " frames";
                return false;
            }
            auto text = ws_.Read(left);
            if (!text) {
                ADD_FAILURE() << what_ << ": read failed waiting for " << type << " after "
                              << frames_.size() << " frames: " << ws_.error();
                return false;
            }
            boost::system::error_code ec;
            json::value v = json::parse(*text, ec);
            if (ec || !v.is_object()) {
                ADD_FAILURE() << what_ << ": not a JSON object: " << text->substr(0, 200);
                continue;
            }
            const std::string t = StringOf(v.as_object(), "type");
            if (t == "warning" || t == "error") ADD_FAILURE() << what_ << ": " << *text;
            frames_.push_back(v.as_object());
            if (t == type) return true;
        }
    }

    WsClient ws_;
    std::string what_;
    std::vector<json::object> frames_;
    std::size_t replay_end_index_ = 0;
    std::int64_t replayed_ = -1;
};

// GETs on an instance from a thread until stopped: every 5xx outside the health routes
// is recorded (the health routes may answer 503 for a component that is down).
class Traffic {
public:
    Traffic(std::uint16_t port, std::vector<std::string> targets)
        : port_(port), targets_(std::move(targets)), thread_([this] { Run(); }) {}
    ~Traffic() { Stop(); }
    void Stop() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
    }
    std::vector<std::string> Failures() {
        std::lock_guard lock(mu_);
        return failures_;
    }
    int requests() const { return requests_; }

private:
    void Run() {
        HttpClient http(port_, seconds(10));
        while (!stop_) {
            for (const auto& t : targets_) {
                HttpResponse r = http.Get(t);
                ++requests_;
                if (r.status >= 500 || r.status == 0) {
                    std::lock_guard lock(mu_);
                    failures_.push_back(t + " -> " + r.Describe().substr(0, 300));
                }
                // Paces the load on two shared cores; not a synchronization.
                std::this_thread::sleep_for(milliseconds(20));
            }
        }
    }
    std::uint16_t port_;
    std::vector<std::string> targets_;
    std::atomic<bool> stop_{false};
    std::atomic<int> requests_{0};
    std::mutex mu_;
    std::vector<std::string> failures_;
    std::thread thread_;
};

class MultiInstanceTest : public ::testing::Test {
protected:
    void SetUp() override {
        db_ = std::make_unique<PgTestDatabase>();
        ASSERT_EQ(db_->error(), "");
        redis_ = std::make_unique<RedisServer>();
        ASSERT_EQ(redis_->Start(), "");
    }

    std::map<std::string, std::string> Env(std::map<std::string, std::string> extra = {}) {
        std::map<std::string, std::string> env = {
            {"DATABASE_URL", db_->url()},
            {"ARAGORA_REDIS_URL", redis_->Url() + "/0"},
            {"ARAGORA_MULTI_INSTANCE", "true"},
            {"ARAGORA_DEBATE_EXECUTION", "worker"},
            {"ARAGORA_WORKER_LEASE_SECONDS", "3"},
            {"ARAGORA_CONVERGENCE_THRESHOLD", "1.0"},  // no early stop: rounds decide
            {"ARAGORA_DEMO_LATENCY_MS", "20"},
        };
        for (auto& [k, v] : extra) env[k] = v;
        return env;
    }
    std::unique_ptr<ServerProcess> Serve(std::map<std::string, std::string> extra = {}) {
        dirs_.push_back(std::make_unique<TempDir>());
        auto s = std::make_unique<ServerProcess>(dirs_.back()->path(), Env(std::move(extra)));
        EXPECT_TRUE(s->StartReady()) << s->error() << "\n" << s->Logs();
        return s;
    }
    std::unique_ptr<WorkerProcess> Worker(std::map<std::string, std::string> extra = {}) {
        dirs_.push_back(std::make_unique<TempDir>());
        auto w = std::make_unique<WorkerProcess>(dirs_.back()->path(), Env(std::move(extra)));
        EXPECT_TRUE(w->Start()) << w->Logs();
        return w;
    }

    std::string Sql1(const std::string& sql) {
        try {
            auto c = db_->Column(sql);
            return c.empty() ? "<none>" : c.front();
        } catch (const std::exception& e) {
            return std::string("<error: ") + e.what() + ">";
        }
    }
    std::string Quote(const std::string& id) { return "'" + id + "'"; }
    int Receipts(const std::string& id) {
        return std::stoi(Sql1("SELECT count(*) FROM receipts WHERE debate_id = " + Quote(id)));
    }
    std::string Column(const std::string& id, const std::string& column) {
        return Sql1("SELECT coalesce(" + column +
                    "::text, '') FROM debates WHERE id = " + Quote(id));
    }
    int EventCount(const std::string& id) {
        return std::stoi(Sql1("SELECT count(*) FROM debate_events WHERE debate_id = " + Quote(id)));
    }
    // Running on a worker with at least `events` events stored.
    bool WaitRunning(const std::string& id, int events, milliseconds deadline = seconds(30)) {
        return PollUntil(
            [&] { return Column(id, "status") == "running" && EventCount(id) >= events; }, deadline,
            milliseconds(20));
    }

    // The debate_end events stored for a debate.
    int DebateEnds(const std::string& id) {
        return std::stoi(Sql1("SELECT count(*) FROM debate_events WHERE debate_id = " + Quote(id) +
                              " AND type = 'debate_end'"));
    }
    // Stored seqs 1..n without a gap, debate_end last.
    void ExpectStoredLogComplete(const std::string& id) {
        const int stored = EventCount(id);
        std::string expected;
        for (int i = 1; i <= stored; ++i) expected += (i > 1 ? "," : "") + std::to_string(i);
        EXPECT_EQ(Sql1("SELECT string_agg(seq::text, ',' ORDER BY seq) FROM debate_events "
                       "WHERE debate_id = " +
                       Quote(id)),
                  expected);
        EXPECT_EQ(Sql1("SELECT type FROM debate_events WHERE debate_id = " + Quote(id) +
                       " ORDER BY seq DESC LIMIT 1"),
                  "debate_end");
    }
    // The lease owner id a serve instance logged at start ("" when none).
    static std::string LeaseOwner(const ServerProcess& s) {
        const std::string logs = s.Logs();
        const std::string key = "instance lease owner=";
        auto p = logs.find(key);
        if (p == std::string::npos) return "";
        p += key.size();
        return logs.substr(p, logs.find(' ', p) - p);
    }

    std::unique_ptr<PgTestDatabase> db_;
    std::unique_ptr<RedisServer> redis_;
    std::vector<std::unique_ptr<TempDir>> dirs_;
};

// --- 1. acceptance ----------------------------------------------------------------------

TEST_F(MultiInstanceTest, DebateEnqueuedOnARunsOnTheWorkerAndStreamsLiveToBAndThroughNginx) {
    auto a = Serve();
    auto b = Serve();
    ASSERT_FALSE(HasFailure());
    NginxProcess nginx;
    ASSERT_EQ(nginx.Start({a->api_port(), b->api_port()}), "");

    const std::string id = CreateDebate(a->Http(), DebateBody("Live across instances?", 2, 3));
    ASSERT_FALSE(id.empty());
    EXPECT_EQ(Column(id, "status"), "pending");  // no worker yet: only queued

    // Subscribed before any worker runs it: everything after replay_end is live.
    DebateWatch on_b, via_nginx;
    ASSERT_TRUE(on_b.Subscribe(b->api_port(), id, "WebSocket on B"));
    ASSERT_TRUE(via_nginx.Subscribe(nginx.port(), id, "WebSocket through nginx"));
    // B learns each event from the bus, or — when a bus message is late under load — from
    // the store through the bridge's gap fill: together they cover every event.
    const auto learned = [&b] {
        return Metric(b->metrics_port(), "aragora_cluster_events_received_total").value_or(-1) +
               Metric(b->metrics_port(), "aragora_cluster_gap_events_loaded_total").value_or(0);
    };
    const double received_before = learned();

    auto worker = Worker();
    ASSERT_TRUE(on_b.ReadToEnd(seconds(60))) << worker->Logs();
    ASSERT_TRUE(via_nginx.ReadToEnd(seconds(30)));

    auto debate = WaitForStatus(a->Http(), id, {"completed"}, seconds(30));
    ASSERT_TRUE(debate) << worker->Logs();
    const auto stored = AllEvents(a->Http(), id);
    ASSERT_FALSE(stored.empty());
    EXPECT_EQ(StringOf(stored.back(), "type"), "debate_end");
    const auto n = static_cast<std::int64_t>(stored.size());
    on_b.ExpectComplete(id, n);
    via_nginx.ExpectComplete(id, n);
    EXPECT_EQ(on_b.replayed(), 0);
    EXPECT_EQ(static_cast<std::int64_t>(on_b.LiveCount()), n);
    EXPECT_EQ(static_cast<std::int64_t>(via_nginx.LiveCount()), n - via_nginx.replayed());
    EXPECT_TRUE(on_b.EndedLive());
    EXPECT_TRUE(via_nginx.EndedLive());
    EXPECT_GE(learned(), received_before + static_cast<double>(n));

    EXPECT_EQ(Receipts(id), 1);
    EXPECT_EQ(Column(id, "lease_owner"), worker->Id());
    EXPECT_EQ(b->Http().Get("/api/v1/debates/" + id + "/receipt").status, 200);
    EXPECT_EQ(nginx.Http().Get("/api/v1/debates/" + id + "/receipt").status, 200);
    auto via = nginx.Http().Get("/api/v1/debates/" + id);
    EXPECT_EQ(via.status, 200);
    EXPECT_EQ(StringOf(via.Object(), "status"), "completed");
    on_b.Close();
    via_nginx.Close();
    EXPECT_EQ(worker->Terminate(seconds(20)), 0) << worker->Logs();
    EXPECT_EQ(b->Terminate(), 0);
    EXPECT_EQ(a->Terminate(), 0);
}

TEST_F(MultiInstanceTest, CancelOnBStopsTheWorkersDebateAndBsWebSocketSeesItsEnd) {
    auto a = Serve();
    auto b = Serve();
    ASSERT_FALSE(HasFailure());
    // 10 rounds of 4 agents at 250 ms per call: far longer than the test waits.
    auto worker = Worker({{"ARAGORA_DEMO_LATENCY_MS", "250"}});
    const std::string id = CreateDebate(a->Http(), DebateBody("Cancel me from B", 10, 4));
    ASSERT_FALSE(id.empty());
    DebateWatch on_b;
    ASSERT_TRUE(on_b.Subscribe(b->api_port(), id, "WebSocket on B"));
    ASSERT_TRUE(WaitRunning(id, 3)) << worker->Logs();

    const auto sent = Clock::now();
    HttpResponse r = b->Http().Post("/api/v1/debates/" + id + "/cancel");
    EXPECT_EQ(r.status, 200) << r.Describe();
    auto debate = WaitForStatus(b->Http(), id, {"cancelled"}, seconds(10));
    ASSERT_TRUE(debate) << worker->Logs();
    EXPECT_LT(Clock::now() - sent, seconds(5));
    EXPECT_EQ(Column(id, "status"), "cancelled");
    ASSERT_TRUE(on_b.ReadToEnd(seconds(10)));
    EXPECT_TRUE(on_b.EndedLive());
    on_b.ExpectComplete(id, static_cast<std::int64_t>(AllEvents(a->Http(), id).size()));
    EXPECT_EQ(Receipts(id), 0);
    EXPECT_NE(worker->Logs().find(id), std::string::npos);
    EXPECT_EQ(worker->Terminate(seconds(20)), 0) << worker->Logs();
}

// The default local execution behind a load balancer: the debate runs on A, the cancel
// arrives at B (which does not run it) and still stops it — through the bus — instead of
// B answering 409 "already running".
TEST_F(MultiInstanceTest, CancelOnBStopsADebateRunningLocallyOnA) {
    const std::map<std::string, std::string> local = {{"ARAGORA_DEBATE_EXECUTION", "local"},
                                                      {"ARAGORA_DEMO_LATENCY_MS", "250"}};
    auto a = Serve(local);
    auto b = Serve(local);
    ASSERT_FALSE(HasFailure());
    // 10 rounds of 4 agents at 250 ms per call: far longer than the test waits.
    const std::string id = CreateDebate(a->Http(), DebateBody("Cancel me from B, run on A", 10, 4));
    ASSERT_FALSE(id.empty());
    DebateWatch on_b;
    ASSERT_TRUE(on_b.Subscribe(b->api_port(), id, "WebSocket on B"));
    ASSERT_TRUE(WaitRunning(id, 3)) << a->Logs();
    EXPECT_EQ(Column(id, "queued_for_worker"), "false");

    const auto sent = Clock::now();
    HttpResponse r = b->Http().Post("/api/v1/debates/" + id + "/cancel");
    EXPECT_EQ(r.status, 200) << r.Describe();
    EXPECT_EQ(StringOf(r.Object(), "status"), "cancelled") << r.Describe();
    EXPECT_LT(Clock::now() - sent, seconds(10));
    EXPECT_EQ(Column(id, "status"), "cancelled");
    // A logs once its Cancel returns, which is after the run's final write that B's answer
    // follows: the line may come a moment after B answers.
    const std::string cancelled_here =
        "cancelled debate_id=" + id + " on request of another instance";
    EXPECT_TRUE(
        PollUntil([&] { return a->Logs().find(cancelled_here) != std::string::npos; }, seconds(5)))
        << a->Logs();
    ASSERT_TRUE(on_b.ReadToEnd(seconds(10)));
    on_b.ExpectComplete(id, static_cast<std::int64_t>(AllEvents(a->Http(), id).size()));
    EXPECT_EQ(Receipts(id), 0);
    // Cancelling it again, on either instance: it is over.
    EXPECT_EQ(b->Http().Post("/api/v1/debates/" + id + "/cancel").status, 409);
    EXPECT_EQ(a->Http().Post("/api/v1/debates/" + id + "/cancel").status, 409);
    EXPECT_EQ(b->Terminate(), 0);
    EXPECT_EQ(a->Terminate(), 0);
}

// A demoted user's API key, cached on B, loses its role on B as soon as A's change
// arrives through Redis — not after the cache's 30 s.
TEST_F(MultiInstanceTest, ADemotionOnAReachesTheKeyCacheOnB) {
    const std::string token = "multi-instance-service-token-4c1e";
    const std::map<std::string, std::string> secured = {
        {"ARAGORA_API_TOKEN", token},
        {"ARAGORA_JWT_SECRET", "multi-instance-jwt-secret-0123456789abcdef"}};
    auto a = Serve(secured);
    auto b = Serve(secured);
    ASSERT_FALSE(HasFailure());
    const Headers service = {{"Authorization", "Bearer " + token}};
    HttpResponse added =
        a->Http().Post("/api/v1/admin/users",
                       R"({"email": "mo.member@example.com", "password": "Correct-Horse-Battery-9",
            "role": "member"})",
                       service);
    ASSERT_EQ(added.status, 201) << added.Describe();
    const std::string user_id = StringOf(added.Object().at("user").as_object(), "id");
    ASSERT_FALSE(user_id.empty()) << added.Describe();
    HttpResponse login = b->Http().Post(
        "/api/v1/auth/login",
        R"({"email": "mo.member@example.com", "password": "Correct-Horse-Battery-9"})");
    ASSERT_EQ(login.status, 200) << login.Describe();
    const std::string access = StringOf(login.Object(), "access_token");
    HttpResponse created = b->Http().Post("/api/v1/auth/api-keys", R"({"name": "ci"})",
                                          {{"Authorization", "Bearer " + access}});
    ASSERT_EQ(created.status, 201) << created.Describe();
    const Headers key = {{"Authorization", "Bearer " + StringOf(created.Object(), "api_key")}};

    // A member may create debates: an empty body is then a validation error (400), and
    // the key is now in B's cache with the member role.
    ASSERT_EQ(b->Http().Post("/api/v1/debates", "{}", key).status, 400);
    HttpResponse demoted = a->Http().Request("PATCH", "/api/v1/admin/users/" + user_id,
                                             R"({"role": "viewer"})", service);
    ASSERT_EQ(demoted.status, 200) << demoted.Describe();
    const auto changed = Clock::now();
    // On A (no cache entry there, and none could survive): refused at once.
    EXPECT_EQ(a->Http().Post("/api/v1/debates", "{}", key).status, 403);
    // On B: as soon as the bus delivers it, far inside the 30 s the cache would keep it.
    int status = 0;
    EXPECT_TRUE(PollUntil(
        [&] { return (status = b->Http().Post("/api/v1/debates", "{}", key).status) == 403; },
        seconds(10), milliseconds(20)))
        << "B still answers " << status << "\n"
        << b->Logs();
    EXPECT_LT(Clock::now() - changed, seconds(10));
    EXPECT_NE(b->Logs().find("auth: user " + user_id + " changed on another instance"),
              std::string::npos);
    // Reads stay allowed for a viewer.
    EXPECT_EQ(b->Http().Get("/api/v1/debates", key).status, 200);
    EXPECT_EQ(b->Terminate(), 0);
    EXPECT_EQ(a->Terminate(), 0);
}

TEST_F(MultiInstanceTest, RateLimitIsSharedAcrossInstancesAndNginx) {
    constexpr int kLimit = 30;
    const std::map<std::string, std::string> limits = {
        {"ARAGORA_RATE_LIMIT", std::to_string(kLimit)},
        {"ARAGORA_RATE_LIMIT_DISABLED", "0"},
        {"ARAGORA_ENABLE_REDIS_RATE_LIMIT", "1"},
        {"ARAGORA_RATE_LIMIT_WHITELIST", ""}};
    auto a = Serve(limits);
    auto b = Serve(limits);
    ASSERT_FALSE(HasFailure());
    NginxProcess nginx;
    ASSERT_EQ(nginx.Start({a->api_port(), b->api_port()}), "");
    const std::vector<HttpClient> clients = {a->Http(), b->Http(), nginx.Http()};
    for (int i = 0; i < kLimit; ++i) {
        HttpResponse r = clients[static_cast<std::size_t>(i) % 3].Get("/api/v1/debates");
        ASSERT_EQ(r.status, 200) << "request " << i + 1 << ": " << r.Describe();
    }
    for (const auto& http : {a->Http(), b->Http(), nginx.Http()}) {
        HttpResponse r = http.Get("/api/v1/debates");
        EXPECT_EQ(r.status, 429) << "port " << http.port() << ": " << r.Describe();
        auto retry = r.Header("Retry-After");
        ASSERT_TRUE(retry.has_value()) << r.Describe();
        EXPECT_GE(std::stoi(*retry), 1);
    }
    EXPECT_EQ(Metric(a->metrics_port(), "aragora_rate_limit_backend_degraded").value_or(-1), 0);
}

// --- 2. Redis faults --------------------------------------------------------------------

TEST_F(MultiInstanceTest, RedisKilledRestartedAndFlushedDuringTrafficLosesNothing) {
    const std::map<std::string, std::string> limited = {{"ARAGORA_RATE_LIMIT", "100000"},
                                                        {"ARAGORA_RATE_LIMIT_DISABLED", "0"},
                                                        {"ARAGORA_ENABLE_REDIS_RATE_LIMIT", "1"}};
    auto a = Serve(limited);
    auto b = Serve(limited);
    ASSERT_FALSE(HasFailure());
    auto worker = Worker({{"ARAGORA_DEMO_LATENCY_MS", "60"}});

    const std::string first = CreateDebate(a->Http(), DebateBody("Through a Redis crash", 4, 3));
    ASSERT_FALSE(first.empty());
    Traffic traffic(a->api_port(),
                    {"/api/v1/debates/" + first, "/api/v1/debates",
                     "/api/v1/debates/" + first + "/events", "/api/v1/health", "/healthz"});
    ASSERT_TRUE(WaitRunning(first, 3)) << worker->Logs();

    redis_->Kill();
    const int events_at_kill = EventCount(first);
    EXPECT_EQ(Column(first, "status"), "running") << "the debate ended before the fault";
    // The limiter falls back to local counts and says so.
    EXPECT_TRUE(PollUntil(
        [&] { return Metric(a->metrics_port(), "aragora_rate_limit_backend_degraded") == 1.0; },
        seconds(15), milliseconds(100)))
        << "aragora_rate_limit_backend_degraded never became 1 on A";
    EXPECT_TRUE(PollUntil(
        [&] {
            auto h = b->Http().Get("/api/v1/health");
            if (h.status != 200 || !h.IsJsonObject()) return false;
            auto o = h.Object();
            return StringOf(o, "status") == "degraded";
        },
        seconds(15), milliseconds(100)))
        << b->Http().Get("/api/v1/health").Describe();
    // The debate goes on: its events are persisted in PostgreSQL.
    auto done = WaitForStatus(a->Http(), first, {"completed"}, seconds(60));
    ASSERT_TRUE(done) << worker->Logs();
    EXPECT_EQ(Receipts(first), 1);
    EXPECT_GT(EventCount(first), events_at_kill) << "no event was stored during the outage";
    EXPECT_EQ(StringOf(AllEvents(b->Http(), first).back(), "type"), "debate_end");

    ASSERT_EQ(redis_->Start(), "");  // same port
    EXPECT_TRUE(PollUntil(
        [&] {
            return Metric(a->metrics_port(), "aragora_rate_limit_backend_degraded") == 0.0 &&
                   Metric(b->metrics_port(), "aragora_redis_connected") == 1.0;
        },
        seconds(20), milliseconds(100)))
        << "degraded/connected did not recover";

    // The subscribers recovered by themselves: a new debate streams live to B again.
    // B learns each event from the bus, or — when a bus message is late under load — from
    // the store through the bridge's gap fill: together they cover every event.
    const auto learned = [&b] {
        return Metric(b->metrics_port(), "aragora_cluster_events_received_total").value_or(-1) +
               Metric(b->metrics_port(), "aragora_cluster_gap_events_loaded_total").value_or(0);
    };
    const double received_before = learned();
    const std::string second = CreateDebate(a->Http(), DebateBody("After the restart", 3, 3));
    ASSERT_FALSE(second.empty());
    DebateWatch on_b;
    ASSERT_TRUE(on_b.Subscribe(b->api_port(), second, "WebSocket on B after the restart"));
    ASSERT_TRUE(on_b.ReadToEnd(seconds(60))) << worker->Logs();
    EXPECT_TRUE(on_b.EndedLive()) << "debate_end came in the replay, not live";
    EXPECT_GT(on_b.LiveCount(), 0u);
    auto second_done = WaitForStatus(a->Http(), second, {"completed"}, seconds(30));
    ASSERT_TRUE(second_done);
    on_b.ExpectComplete(second, static_cast<std::int64_t>(AllEvents(a->Http(), second).size()));
    EXPECT_GT(Metric(b->metrics_port(), "aragora_cluster_events_received_total").value_or(-1),
              received_before);
    EXPECT_EQ(Receipts(second), 1);

    // FLUSHALL mid-debate loses neither the debate nor its receipt.
    const std::string third = CreateDebate(a->Http(), DebateBody("Through a FLUSHALL", 4, 3));
    ASSERT_FALSE(third.empty());
    DebateWatch third_on_b;
    ASSERT_TRUE(third_on_b.Subscribe(b->api_port(), third, "WebSocket on B over FLUSHALL"));
    ASSERT_TRUE(WaitRunning(third, 3)) << worker->Logs();
    const int events_at_flush = EventCount(third);
    auto flush = RunProcess(
        {"/usr/bin/redis-cli", "-h", "127.0.0.1", "-p", std::to_string(redis_->port()), "FLUSHALL"},
        {}, 10);
    EXPECT_EQ(flush.exit_code, 0) << flush.err;
    EXPECT_NE(flush.out.find("OK"), std::string::npos) << flush.out;
    ASSERT_TRUE(WaitForStatus(a->Http(), third, {"completed"}, seconds(60))) << worker->Logs();
    EXPECT_EQ(Receipts(third), 1);
    EXPECT_GT(EventCount(third), events_at_flush) << "the debate ended before the FLUSHALL";
    ASSERT_TRUE(third_on_b.ReadToEnd(seconds(20)));
    third_on_b.ExpectComplete(third, static_cast<std::int64_t>(AllEvents(a->Http(), third).size()));
    EXPECT_EQ(Receipts(first), 1);
    EXPECT_EQ(Receipts(second), 1);

    traffic.Stop();
    EXPECT_GT(traffic.requests(), 10);
    const auto failures = traffic.Failures();
    std::string shown;
    for (std::size_t i = 0; i < failures.size() && i < 10; ++i) shown += failures[i] + "\n";
    EXPECT_TRUE(failures.empty()) << failures.size() << " 5xx/unanswered on A:\n" << shown;
    EXPECT_EQ(worker->Terminate(seconds(20)), 0) << worker->Logs();
}

// --- 3. PostgreSQL restart --------------------------------------------------------------

TEST_F(MultiInstanceTest, PostgresStoppedAndStartedDuringADebate) {
    std::string error;
    PgTestServer* pg = PgTestServer::Get(&error);
    ASSERT_NE(pg, nullptr) << error;
    auto a = Serve();
    ASSERT_FALSE(HasFailure());
    // A lease (6 s) that outlives the outage (~1-2 s); 6 rounds of 3 agents at 150 ms per call.
    auto worker =
        Worker({{"ARAGORA_DEMO_LATENCY_MS", "150"}, {"ARAGORA_WORKER_LEASE_SECONDS", "6"}});
    const std::string id = CreateDebate(a->Http(), DebateBody("Through a database restart", 6, 3));
    ASSERT_FALSE(id.empty());
    ASSERT_TRUE(WaitRunning(id, 3)) << worker->Logs();

    const int events_before = EventCount(id);
    ASSERT_TRUE(pg->Shutdown(&error)) << error;
    const auto stopped = Clock::now();
    HttpClient http(a->api_port(), seconds(5));
    int ready = 0;
    EXPECT_TRUE(PollUntil([&] { return (ready = http.Get("/readyz").status) == 503; }, seconds(8),
                          milliseconds(50)))
        << "/readyz still " << ready;
    EXPECT_LT(Clock::now() - stopped, seconds(6));
    ASSERT_TRUE(pg->StartAgain(&error)) << error;
    EXPECT_TRUE(PollUntil([&] { return (ready = http.Get("/readyz").status) == 200; }, seconds(15),
                          milliseconds(50)))
        << "/readyz still " << ready << "\n"
        << a->Logs();

    auto debate = WaitForStatus(a->Http(), id, {"completed", "failed"}, seconds(60));
    ASSERT_TRUE(debate) << worker->Logs();
    EXPECT_GT(EventCount(id), events_before) << "the debate ended before the outage";
    const std::string status = StringOf(*debate, "status");
    if (status == "completed") {
        EXPECT_EQ(Receipts(id), 1);
    } else {
        EXPECT_EQ(Receipts(id), 0);
        EXPECT_NE(Column(id, "error_code"), "") << worker->Logs();
    }
    // The stored log (PostgreSQL): seqs 1..n, debate_end last.
    const std::string stored_seqs = Sql1(
        "SELECT string_agg(seq::text, ',' ORDER BY seq) FROM debate_events WHERE debate_id = " +
        Quote(id));
    const int stored = EventCount(id);
    std::string expected_seqs;
    for (int i = 1; i <= stored; ++i) expected_seqs += (i > 1 ? "," : "") + std::to_string(i);
    EXPECT_EQ(stored_seqs, expected_seqs);
    EXPECT_EQ(Sql1("SELECT type FROM debate_events WHERE debate_id = " + Quote(id) +
                   " ORDER BY seq DESC LIMIT 1"),
              "debate_end");
    // What clients read is what PostgreSQL holds: the worker retries its final write
    // while the database restarts, and never publishes events it could not store.
    const auto events = AllEvents(a->Http(), id);
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(StringOf(events.back(), "type"), "debate_end");
    EXPECT_EQ(static_cast<int>(events.size()), stored) << worker->Logs();
    std::cout << "[ info ] debate after the PostgreSQL restart: " << status << " "
              << Column(id, "error_code") << ", " << stored << " events stored\n";

    // The worker still serves the queue.
    const std::string next =
        CreateDebate(a->Http(), DebateBody("After the database restart", 1, 2));
    ASSERT_FALSE(next.empty());
    ASSERT_TRUE(WaitForStatus(a->Http(), next, {"completed"}, seconds(30))) << worker->Logs();
    EXPECT_EQ(Receipts(next), 1);
    EXPECT_EQ(worker->Terminate(seconds(20)), 0) << worker->Logs();
}

// --- 4. a worker killed mid-debate ------------------------------------------------------

TEST_F(MultiInstanceTest, AKilledWorkersDebateIsReapedOnPostgresByTheSecondWorker) {
    auto a = Serve();
    ASSERT_FALSE(HasFailure());
    const std::map<std::string, std::string> env = {{"ARAGORA_WORKER_LEASE_SECONDS", "2"},
                                                    {"ARAGORA_DEMO_LATENCY_MS", "50"}};
    auto first = Worker(env);
    const std::string id = CreateDebate(a->Http(), DebateBody("Lost with its worker", 12, 8));
    ASSERT_FALSE(id.empty());
    ASSERT_TRUE(WaitRunning(id, 5)) << first->Logs();
    ASSERT_EQ(Column(id, "lease_owner"), first->Id());
    auto second = Worker(env);
    first->Kill();
    const auto killed = Clock::now();

    auto debate = WaitForStatus(a->Http(), id, {"failed", "completed"}, seconds(20));
    ASSERT_TRUE(debate) << second->Logs();
    EXPECT_GE(Clock::now() - killed, milliseconds(1000));  // not before the lease ran out
    if (StringOf(*debate, "status") == "failed") {
        EXPECT_EQ(Column(id, "error_code"), "worker_lost");
        EXPECT_EQ(Receipts(id), 0);
        EXPECT_EQ(Column(id, "lease_owner"), first->Id());
    } else {
        EXPECT_EQ(Receipts(id), 1);
    }
    const auto events = AllEvents(a->Http(), id);
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(StringOf(events.back(), "type"), "debate_end");
    for (std::size_t i = 0; i < events.size(); ++i)
        EXPECT_EQ(NumberOf(events[i].at("seq")), static_cast<double>(i + 1));

    const std::string next = CreateDebate(a->Http(), DebateBody("After the crash", 1, 2));
    ASSERT_FALSE(next.empty());
    ASSERT_TRUE(WaitForStatus(a->Http(), next, {"completed"}, seconds(30))) << second->Logs();
    EXPECT_EQ(Column(next, "lease_owner"), second->Id());
    EXPECT_EQ(Receipts(next), 1);
    EXPECT_EQ(Receipts(id), StringOf(*debate, "status") == "failed" ? 0 : 1);
    EXPECT_EQ(second->Terminate(seconds(20)), 0) << second->Logs();
}

// --- 5. instances sharing PostgreSQL in local execution ---------------------------------

// A runs a slow debate itself; B starts, then restarts, on the same database. Each start
// runs crash recovery, which still ends an unleased leftover of a crash, but leaves A's
// debate (under A's lease) alone: it completes once, with one debate_end and a receipt,
// and is never marked interrupted.
TEST_F(MultiInstanceTest, StartingAndRestartingBLeavesTheDebateARunsLocallyAlone) {
    // A lease (10 s) far longer than any pause of A on a loaded machine: nothing here
    // depends on the renewals' timing.
    const std::map<std::string, std::string> local = {{"ARAGORA_DEBATE_EXECUTION", "local"},
                                                      {"ARAGORA_DEMO_LATENCY_MS", "300"},
                                                      {"ARAGORA_WORKER_LEASE_SECONDS", "10"}};
    auto a = Serve(local);
    ASSERT_FALSE(HasFailure());
    const std::string owner = LeaseOwner(*a);
    ASSERT_FALSE(owner.empty()) << a->Logs();
    // 12 rounds of 4 agents at 300 ms per call (~13 s): far longer than two starts of B.
    const std::string id = CreateDebate(a->Http(), DebateBody("Run on A while B restarts", 12, 4));
    ASSERT_FALSE(id.empty());
    ASSERT_TRUE(WaitRunning(id, 3)) << a->Logs();
    EXPECT_EQ(Column(id, "lease_owner"), owner);
    EXPECT_EQ(Column(id, "queued_for_worker"), "false");
    // What a crashed process without a lease left behind (e.g. an older release).
    db_->Exec(
        "INSERT INTO debates (id, task, status, agents, rounds, consensus_method, created_at, "
        "started_at) VALUES ('d_leftover', 'left by a crash', 'running', "
        "'[\"demo:analyst\",\"demo:critic\"]', 2, 'majority', '2026-01-01T00:00:00.000Z', "
        "'2026-01-01T00:00:00.000Z')");

    auto b = Serve(local);  // its start-up recovery runs before it is ready
    EXPECT_EQ(Column("d_leftover", "status"), "failed");
    EXPECT_EQ(Column("d_leftover", "error_code"), "interrupted");
    EXPECT_EQ(DebateEnds("d_leftover"), 1);
    ASSERT_EQ(Column(id, "status"), "running") << "A's debate ended before B started";
    EXPECT_EQ(Column(id, "error_code"), "");
    EXPECT_EQ(b->Terminate(), 0);
    auto b_again = Serve(local);
    ASSERT_EQ(Column(id, "status"), "running") << "A's debate ended before B restarted";
    EXPECT_EQ(Column(id, "error_code"), "");
    EXPECT_EQ(b_again->Logs().find("marked"), std::string::npos) << b_again->Logs();
    EXPECT_EQ(DebateEnds("d_leftover"), 1);

    auto debate =
        WaitForStatus(b_again->Http(), id, {"completed", "failed", "cancelled"}, seconds(120));
    ASSERT_TRUE(debate) << a->Logs();
    EXPECT_EQ(StringOf(*debate, "status"), "completed") << a->Logs();
    EXPECT_EQ(Column(id, "error_code"), "");
    EXPECT_EQ(Receipts(id), 1);
    EXPECT_EQ(DebateEnds(id), 1);
    ExpectStoredLogComplete(id);
    EXPECT_EQ(b_again->Http().Get("/api/v1/debates/" + id + "/receipt").status, 200);
    EXPECT_EQ(a->Logs().find("lease lost"), std::string::npos) << a->Logs();
    EXPECT_EQ(b_again->Terminate(), 0);
    EXPECT_EQ(a->Terminate(), 0);
}

// A is killed (SIGKILL) mid-debate. No worker runs: B's lease reaper ends A's debate once
// A's lease has expired — failed, instance_lost, no receipt, one debate_end after the
// events A stored.
TEST_F(MultiInstanceTest, AKilledInstancesLocalDebateEndsFailedOnceItsLeaseExpires) {
    // Lease 3 s (renewed every second, reaped every 1.5 s).
    const std::map<std::string, std::string> local = {{"ARAGORA_DEBATE_EXECUTION", "local"},
                                                      {"ARAGORA_DEMO_LATENCY_MS", "300"},
                                                      {"ARAGORA_WORKER_LEASE_SECONDS", "3"}};
    auto b = Serve(local);
    auto a = Serve(local);
    ASSERT_FALSE(HasFailure());
    const std::string owner = LeaseOwner(*a);
    ASSERT_FALSE(owner.empty()) << a->Logs();
    // 12 rounds of 4 agents at 300 ms per call (~13 s): far longer than the kill takes.
    const std::string id = CreateDebate(a->Http(), DebateBody("Lost with its instance", 12, 4));
    ASSERT_FALSE(id.empty());
    ASSERT_TRUE(WaitRunning(id, 3)) << a->Logs();
    EXPECT_EQ(Column(id, "lease_owner"), owner);
    // The heartbeat renews the lease: its end moves on.
    const std::string first_until = Column(id, "lease_expires_at");
    ASSERT_TRUE(PollUntil([&] { return Column(id, "lease_expires_at") != first_until; },
                          seconds(15), milliseconds(50)))
        << a->Logs();
    ASSERT_EQ(Column(id, "status"), "running") << a->Logs();

    a->Kill();
    auto debate = WaitForStatus(b->Http(), id, {"failed", "completed", "cancelled"}, seconds(30));
    ASSERT_TRUE(debate) << b->Logs();
    // Not before the lease ran out: the reaper's time is past the last renewed end.
    EXPECT_GT(Column(id, "completed_at"), Column(id, "lease_expires_at"));
    EXPECT_EQ(StringOf(*debate, "status"), "failed");
    EXPECT_EQ(Column(id, "error_code"), "instance_lost");
    EXPECT_EQ(Receipts(id), 0);
    EXPECT_EQ(DebateEnds(id), 1);
    ExpectStoredLogComplete(id);
    // The reaper logs after it read the reaped debate's tail back: a moment after its
    // status is visible.
    const std::string reaped_here = "debate_end debate_id=" + id + " status=failed";
    EXPECT_TRUE(
        PollUntil([&] { return b->Logs().find(reaped_here) != std::string::npos; }, seconds(5)))
        << b->Logs();
    const auto events = AllEvents(b->Http(), id);
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(StringOf(events.back(), "type"), "debate_end");
    EXPECT_NE(json::serialize(events.back()).find("instance_lost"), std::string::npos);

    // B serves on, and its own debates carry its own lease.
    const std::string next = CreateDebate(b->Http(), DebateBody("After the kill", 1, 2));
    ASSERT_FALSE(next.empty());
    ASSERT_TRUE(WaitForStatus(b->Http(), next, {"completed"}, seconds(30))) << b->Logs();
    EXPECT_EQ(Column(next, "lease_owner"), LeaseOwner(*b));
    EXPECT_EQ(Receipts(next), 1);
    EXPECT_EQ(b->Terminate(), 0);
}

}  // namespace
}  // namespace aragora::testing
