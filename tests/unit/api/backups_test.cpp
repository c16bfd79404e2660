// /api/v2/backups and /api/v2/dr through the real middleware (auth, roles, audit) over a
// real BackupManager on a temporary SQLite database with signed receipts: each route's
// shape, who may call it (member 403, admin, owner-only delete and restore), paths
// confined to the configured directories (403), unknown ids (404), id prefixes, the
// pools' deadline, the metrics.

#include <gtest/gtest.h>

#include <future>
#include <set>
#include <thread>

#include "../ops/backup_test_support.hpp"
#include "api_test_support.hpp"
#include "auth/jwt.hpp"
#include "ops/sqlite_backup.hpp"
#include "storage/sqlite/sqlite_auth_store.hpp"

namespace aragora::api::testing {
namespace {

namespace fs = std::filesystem;
using ops::test_support::TempDir;

constexpr const char* kSecret = "0123456789abcdef0123456789abcdef";

double Sample(const metrics::Registry& r, const std::string& series) {
    const std::string text = r.RenderPrometheus();
    const auto pos = text.find("\n" + series + " ");
    if (pos == std::string::npos) return 0;
    return std::stod(text.substr(pos + series.size() + 2));
}

// Holds the pool's thread until `gate` opens; `holding` is set once it does.
asio::awaitable<common::Result<int>> Hold(common::BlockingPool& pool, std::shared_future<void> gate,
                                          std::promise<void>* holding = nullptr) {
    auto wait = [&gate, holding]() -> common::Result<int> {
        if (holding != nullptr) holding->set_value();
        gate.wait();
        return 0;
    };
    co_return co_await pool.Run(wait);
}

class BackupRoutesTest : public ::testing::Test {
protected:
    BackupRoutesTest()
        : keys_(TestKeys()),
          deps_{service_, keys_, system_, registry_},
          auth_(AuthConfigFor(), clock_, auth_pool_) {}

    void SetUp() override {
        data_ = dir_.path() / "data";
        db_ = data_ / "aragora.sqlite3";
        ops::test_support::PopulateStore(db_, 3, ops::test_support::TestKeys());
        auto auth_store =
            storage::OpenSqliteAuthStore({(dir_.path() / "auth.sqlite3").string()}, true);
        ASSERT_TRUE(auth_store) << auth_store.error().message;
        auth_store_ = std::move(*auth_store);
        auth_.AttachStore(auth_store_.get());

        ops::BackupManagerOptions o;
        o.backup_dir = dir_.path() / "backups";
        o.restore_dir = dir_.path() / "restore";
        o.receipt_keys = ops::test_support::TestKeys();
        o.app_version = "test";
        auto m = ops::BackupManager::Open(
            o, ops::MakeSqliteBackupEngine(ops::SqliteBackupOptions{db_.string()}), clock_);
        ASSERT_TRUE(m) << m.error().message;
        manager_ = std::move(*m);

        BackupAccess::Options ao;
        ao.pool = &pool_;
        ao.long_pool = &long_pool_;
        ao.metrics = &metrics_;
        ao.clock = &clock_;
        ao.settings.enabled = true;
        ao.settings.interval_seconds = 3600;
        ao.data_dir = data_.string();
        ao.database_path = db_.string();
        ao.long_deadline = deadline_;
        access_ = std::make_unique<BackupAccess>(ao);
        access_->SetManager(manager_.get());
        deps_.backups = access_.get();
        deps_.auth = &auth_;
        AddRoutes(router_, deps_);
        handler_ = MakeHttpHandler(router_, deps_);
    }

    void TearDown() override {
        long_pool_.Stop();
        pool_.Stop();
        auth_pool_.Stop();
    }

    static auth::AuthConfig AuthConfigFor() {
        auth::AuthConfig c;
        c.jwt.secret = kSecret;
        return c;
    }

    std::string Jwt(const std::string& role) {
        auth::JwtClaims c;
        c.sub = "usr_" + role;
        c.role = role;
        const std::int64_t now =
            std::chrono::duration_cast<std::chrono::seconds>(clock_.SystemNow().time_since_epoch())
                .count();
        c.iat = now;
        c.exp = now + 600;
        return auth::SignJwt(c, kSecret);
    }

    net::HttpResponse As(const std::string& role, std::string method, std::string target,
                         std::string body = {}) {
        std::vector<std::pair<std::string, std::string>> headers;
        if (!role.empty()) headers.emplace_back("Authorization", "Bearer " + Jwt(role));
        return ApiFixture::Invoke(handler_, std::move(method), std::move(target), std::move(body),
                                  std::move(headers));
    }

    json::object Body(const net::HttpResponse& r) {
        auto v = json::parse(r.body);
        EXPECT_TRUE(v.is_object()) << r.body;
        return v.is_object() ? v.as_object() : json::object{};
    }

    // A backup made through the API; its id.
    std::string Create() {
        auto r = As("admin", "POST", "/api/v2/backups", "{}");
        EXPECT_EQ(r.status, 201) << r.body;
        auto b = Body(r);
        return b.contains("backup") ? std::string(b.at("backup").at("id").as_string()) : "";
    }

    TempDir dir_;
    fs::path data_;
    fs::path db_;
    common::ManualClock clock_{common::ParseIso8601("2027-01-15T08:00:00.000Z").value()};
    common::BlockingPool pool_{1, 16};
    common::BlockingPool long_pool_{1, 4};
    common::BlockingPool auth_pool_{1, 16};
    std::chrono::nanoseconds deadline_ = std::chrono::minutes(5);
    FakeDebateService service_;
    FakeSystemInfo system_;
    debate::ReceiptKeys keys_;
    metrics::Registry registry_;
    ops::BackupMetrics metrics_{registry_, clock_};
    ApiDeps deps_;
    auth::AuthService auth_;
    std::unique_ptr<storage::AuthStore> auth_store_;
    std::unique_ptr<ops::BackupManager> manager_;
    std::unique_ptr<BackupAccess> access_;
    Router router_;
    net::HttpHandler handler_;
};

TEST_F(BackupRoutesTest, CreateListGetVerifyAndStatsShapes) {
    auto created = As("admin", "POST", "/api/v2/backups", R"({"notes": "before upgrade"})");
    ASSERT_EQ(created.status, 201) << created.body;
    auto c = Body(created);
    EXPECT_EQ(c.at("message"), "Backup created successfully");
    const auto& backup = c.at("backup").as_object();
    const std::string id(backup.at("id").as_string());
    EXPECT_EQ(id.size(), 8u);
    EXPECT_EQ(backup.at("status"), "verified");
    EXPECT_EQ(backup.at("verified"), true);
    EXPECT_EQ(backup.at("backup_type"), "full");
    EXPECT_EQ(backup.at("metadata").at("notes"), "before upgrade");
    EXPECT_EQ(c.at("verification").at("receipts_valid"), true);
    EXPECT_EQ(Sample(registry_, "aragora_backup_success_total{type=\"full\"}"), 1);
    EXPECT_EQ(Sample(registry_, "aragora_backup_verification_total{result=\"passed\"}"), 1);
    EXPECT_GT(Sample(registry_, "aragora_backup_last_success_timestamp_seconds"), 0);

    auto list = Body(As("admin", "GET", "/api/v2/backups"));
    ASSERT_EQ(list.at("backups").as_array().size(), 1u);
    EXPECT_EQ(list.at("backups").at(0).at("id"), json::value(id));
    EXPECT_EQ(list.at("pagination"),
              json::parse(R"({"limit": 20, "offset": 0, "total": 1, "has_more": false})"));

    auto one = As("admin", "GET", "/api/v2/backups/" + id);
    ASSERT_EQ(one.status, 200);
    EXPECT_EQ(Body(one).at("checksum"), backup.at("checksum"));
    // A unique prefix names it.
    auto prefix = As("admin", "GET", "/api/v2/backups/" + id.substr(0, 3));
    ASSERT_EQ(prefix.status, 200) << prefix.body;
    EXPECT_EQ(Body(prefix).at("id"), json::value(id));

    auto verify = As("admin", "POST", "/api/v2/backups/" + id.substr(0, 4) + "/verify");
    ASSERT_EQ(verify.status, 200) << verify.body;
    auto v = Body(verify);
    for (const char* key :
         {"backup_id", "verified", "checksum_valid", "restore_tested", "tables_valid",
          "row_counts_valid", "errors", "warnings", "verified_at", "duration_seconds"}) {
        EXPECT_TRUE(v.contains(key)) << key;
    }
    EXPECT_EQ(v.at("backup_id"), json::value(id));
    EXPECT_EQ(v.at("verified"), true);
    EXPECT_EQ(Sample(registry_, "aragora_backup_verification_total{result=\"passed\"}"), 2);

    auto comprehensive = As("admin", "POST", "/api/v2/backups/" + id + "/verify-comprehensive");
    ASSERT_EQ(comprehensive.status, 200) << comprehensive.body;
    auto cv = Body(comprehensive);
    EXPECT_EQ(cv.at("verified"), true);
    EXPECT_TRUE(cv.at("basic_verification").is_object());
    EXPECT_EQ(cv.at("integrity_check").at("valid"), true);

    auto stats = As("admin", "GET", "/api/v2/backups/stats");
    ASSERT_EQ(stats.status, 200);
    auto s = Body(stats);
    EXPECT_EQ(s.at("stats").at("total_backups"), 1);
    EXPECT_EQ(s.at("stats").at("verified_backups"), 1);
    EXPECT_TRUE(s.at("stats").at("total_size_mb").is_number());
    EXPECT_EQ(s.at("stats").at("latest_backup").at("id"), json::value(id));
    EXPECT_EQ(s.at("stats").at("retention_policy"),
              json::parse(R"({"keep_daily": 7, "keep_weekly": 4, "keep_monthly": 3,
                              "min_backups": 1})"));
    EXPECT_EQ(s.at("generated_at"), "2027-01-15T08:00:00.000Z");
}

TEST_F(BackupRoutesTest, PaginationAndFilters) {
    const std::string a = Create();
    clock_.Advance(std::chrono::hours(1));
    const std::string b = Create();
    clock_.Advance(std::chrono::hours(1));
    const std::string c = Create();
    auto first = Body(As("admin", "GET", "/api/v2/backups?limit=2"));
    ASSERT_EQ(first.at("backups").as_array().size(), 2u);
    EXPECT_EQ(first.at("backups").at(0).at("id"), json::value(c));  // newest first
    EXPECT_EQ(first.at("pagination").at("has_more"), true);
    EXPECT_EQ(first.at("pagination").at("total"), 3);
    auto rest = Body(As("admin", "GET", "/api/v2/backups?limit=2&offset=2"));
    ASSERT_EQ(rest.at("backups").as_array().size(), 1u);
    EXPECT_EQ(rest.at("backups").at(0).at("id"), json::value(a));
    EXPECT_EQ(rest.at("pagination").at("has_more"), false);
    auto since = Body(As("admin", "GET", "/api/v2/backups?since=2027-01-15T09:00:00Z"));
    EXPECT_EQ(since.at("pagination").at("total"), 2);
    auto since_epoch = Body(As("admin", "GET", "/api/v2/backups?since=1800003600"));
    EXPECT_EQ(since_epoch.at("pagination").at("total"), 2);  // 1800003600 = 2027-01-15T09:00Z
    auto verified = Body(As("admin", "GET", "/api/v2/backups?status=verified"));
    EXPECT_EQ(verified.at("pagination").at("total"), 3);
    auto failed = Body(As("admin", "GET", "/api/v2/backups?status=failed"));
    EXPECT_EQ(failed.at("pagination").at("total"), 0);
    (void)b;
    for (const char* bad : {"?limit=0", "?limit=101", "?offset=-1", "?offset=10001",
                            "?status=bogus", "?since=yesterday"}) {
        auto r = As("admin", "GET", std::string("/api/v2/backups") + bad);
        EXPECT_EQ(r.status, 400) << bad << " " << r.body;
        EXPECT_EQ(Body(r).at("code"), "validation_error") << bad;
    }
}

TEST_F(BackupRoutesTest, RolesAdminReadsAndWritesOwnerDeletesAndRestores) {
    const std::string id = Create();
    auto path = manager_->Get(id);
    ASSERT_TRUE(path);
    const fs::path file = path->backup_path;
    ASSERT_TRUE(fs::exists(file));
    // No credentials, viewer, member: refused.
    EXPECT_EQ(As("", "GET", "/api/v2/backups").status, 401);
    for (const char* role : {"viewer", "member"}) {
        for (auto [method, path] : std::vector<std::pair<std::string, std::string>>{
                 {"GET", "/api/v2/backups"},
                 {"POST", "/api/v2/backups"},
                 {"GET", "/api/v2/backups/" + id},
                 {"POST", "/api/v2/backups/" + id + "/verify"},
                 {"GET", "/api/v2/backups/stats"},
                 {"GET", "/api/v2/dr/status"},
                 {"GET", "/api/v2/dr/objectives"},
                 {"POST", "/api/v2/dr/drill"},
                 {"DELETE", "/api/v2/backups/" + id}}) {
            auto r = As(role, method, path);
            EXPECT_EQ(r.status, 403) << role << " " << method << " " << path;
            EXPECT_EQ(Body(r).at("code"), "forbidden");
        }
    }
    // Admin: not the owner's operations.
    EXPECT_EQ(As("admin", "DELETE", "/api/v2/backups/" + id).status, 403);
    EXPECT_EQ(As("admin", "POST", "/api/v2/backups/" + id + "/restore-test").status, 403);
    auto preview = As("admin", "POST", "/api/v2/backups/cleanup");
    EXPECT_EQ(preview.status, 200) << preview.body;
    EXPECT_EQ(Body(preview).at("dry_run"), true);
    auto real = As("admin", "POST", "/api/v2/backups/cleanup", R"({"dry_run": false})");
    EXPECT_EQ(real.status, 403);
    EXPECT_NE(std::string(Body(real).at("error").as_string()).find("needs owner"),
              std::string::npos);
    // Owner: all of it.
    const int owner_cleanup =
        As("owner", "POST", "/api/v2/backups/cleanup", R"({"dry_run": false})").status;
    EXPECT_EQ(owner_cleanup, 200);
    auto restore = As("owner", "POST", "/api/v2/backups/" + id + "/restore-test");
    EXPECT_EQ(restore.status, 200) << restore.body;
    auto deleted = As("owner", "DELETE", "/api/v2/backups/" + id);
    ASSERT_EQ(deleted.status, 200) << deleted.body;
    EXPECT_EQ(Body(deleted), json::parse(R"({"deleted": true, "backup_id": ")" + id +
                                         R"(", "message": "Backup )" + id + R"( deleted"})"));
    EXPECT_EQ(As("admin", "GET", "/api/v2/backups/" + id).status, 404);
    EXPECT_FALSE(fs::exists(file));

    // Writes are in the audit log, the owner's too.
    auto audit = auth_store_->ListAudit(100, "");
    ASSERT_TRUE(audit) << audit.error().message;
    std::set<std::string> targets;
    for (const auto& e : *audit) targets.insert(e.actor + " " + e.target);
    EXPECT_TRUE(targets.count("usr_admin /api/v2/backups")) << audit->size();
    EXPECT_TRUE(targets.count("usr_owner /api/v2/backups/{id}"));
    EXPECT_TRUE(targets.count("usr_owner /api/v2/backups/{id}/restore-test"));
    EXPECT_TRUE(targets.count("usr_owner /api/v2/backups/cleanup"));
}

TEST_F(BackupRoutesTest, UnknownIdsAre404AndBadIds400) {
    for (auto [method, suffix] : std::vector<std::pair<std::string, std::string>>{
             {"GET", ""}, {"POST", "/verify"}, {"POST", "/verify-comprehensive"}}) {
        auto r = As("admin", method, "/api/v2/backups/ffffffff" + suffix);
        EXPECT_EQ(r.status, 404) << method << suffix << " " << r.body;
        EXPECT_EQ(Body(r).at("code"), "not_found");
    }
    EXPECT_EQ(As("owner", "DELETE", "/api/v2/backups/ffffffff").status, 404);
    EXPECT_EQ(As("owner", "POST", "/api/v2/backups/ffffffff/restore-test").status, 404);
    EXPECT_EQ(As("admin", "POST", "/api/v2/dr/drill", R"({"backup_id": "ffffffff"})").status, 404);
    EXPECT_EQ(As("admin", "GET", "/api/v2/backups/a.b").status, 400);
    // No verified backup yet: a drill has nothing to drill.
    auto drill = As("admin", "POST", "/api/v2/dr/drill");
    EXPECT_EQ(drill.status, 400) << drill.body;
}

TEST_F(BackupRoutesTest, PathsOutsideTheConfiguredDirsAre403) {
    const std::string id = Create();
    const fs::path outside = dir_.path() / "outside";
    fs::create_directories(outside);
    fs::create_symlink(outside, manager_->options().restore_dir / "escape");
    for (const std::string& target :
         {std::string("../outside/x.sqlite3"), std::string("/etc/aragora.sqlite3"),
          std::string("escape/x.sqlite3"), (outside / "x.sqlite3").string()}) {
        auto r = As("owner", "POST", "/api/v2/backups/" + id + "/restore-test",
                    json::serialize(json::object{{"target_path", target}}));
        EXPECT_EQ(r.status, 403) << target << " " << r.body;
        EXPECT_EQ(Body(r).at("code"), "forbidden") << target;
    }
    EXPECT_TRUE(fs::is_empty(outside));
    auto inside = As("owner", "POST", "/api/v2/backups/" + id + "/restore-test",
                     R"({"target_path": "drills/today.sqlite3"})");
    // Inside the restore dir, but its parent does not exist: refused, not escaped.
    EXPECT_NE(inside.status, 403);

    for (const std::string& source :
         {std::string("/etc/passwd"), std::string("../outside/aragora.sqlite3"),
          (data_ / ".." / "outside" / "aragora.sqlite3").string()}) {
        auto r = As("admin", "POST", "/api/v2/backups",
                    json::serialize(json::object{{"source_path", source}}));
        EXPECT_EQ(r.status, 403) << source << " " << r.body;
    }
    // Inside the data dir but not the configured database.
    auto other = As("admin", "POST", "/api/v2/backups",
                    json::serialize(json::object{{"source_path", (data_ / "x.sqlite3").string()}}));
    EXPECT_EQ(other.status, 400) << other.body;
    auto same = As("admin", "POST", "/api/v2/backups",
                   json::serialize(json::object{{"source_path", db_.string()}}));
    EXPECT_EQ(same.status, 201) << same.body;
}

TEST_F(BackupRoutesTest, RestoreTestIsADryRunInTheRestoreDir) {
    const std::string id = Create();
    auto r = As("owner", "POST", "/api/v2/backups/" + id + "/restore-test");
    ASSERT_EQ(r.status, 200) << r.body;
    auto b = Body(r);
    EXPECT_EQ(b.at("backup_id"), json::value(id));
    EXPECT_EQ(b.at("restore_test_passed"), true);
    EXPECT_EQ(b.at("dry_run"), true);
    EXPECT_EQ(b.at("restored"), false);
    const std::string expected =
        fs::weakly_canonical(manager_->options().restore_dir / "restore_test.sqlite3").string();
    EXPECT_EQ(b.at("target_path"), json::value(expected));
    EXPECT_TRUE(b.at("message").is_string());
    EXPECT_FALSE(fs::exists(manager_->options().restore_dir / "restore_test.sqlite3"));
    EXPECT_EQ(Sample(registry_, "aragora_restore_total{result=\"passed\"}"), 1);
}

TEST_F(BackupRoutesTest, CleanupPreviewEqualsWhatItDeletes) {
    for (int i = 0; i < 3; ++i) {
        Create();
        clock_.Advance(std::chrono::minutes(10));
    }
    auto preview = Body(As("admin", "POST", "/api/v2/backups/cleanup", R"({"dry_run": true})"));
    for (const char* key : {"dry_run", "backup_ids", "count", "message"}) {
        EXPECT_TRUE(preview.contains(key)) << key;
    }
    EXPECT_EQ(preview.at("count"), 2);  // three of one day: the newest is kept
    auto done = Body(As("owner", "POST", "/api/v2/backups/cleanup", R"({"dry_run": false})"));
    EXPECT_EQ(done.at("dry_run"), false);
    EXPECT_EQ(done.at("backup_ids"), preview.at("backup_ids"));
    EXPECT_EQ(Body(As("admin", "GET", "/api/v2/backups")).at("pagination").at("total"), 1);
    EXPECT_EQ(As("admin", "POST", "/api/v2/backups/cleanup", R"({"dry_run": "no"})").status, 400);
}

TEST_F(BackupRoutesTest, DrStatusObjectivesAndDrill) {
    auto empty = Body(As("admin", "GET", "/api/v2/dr/status"));
    EXPECT_EQ(empty.at("status"), "critical");
    EXPECT_EQ(empty.at("backup_status").at("latest_backup"), nullptr);
    EXPECT_EQ(empty.at("issues").at(0), "No backups found");

    const std::string id = Create();
    clock_.Advance(std::chrono::minutes(30));
    auto drill = As("admin", "POST", "/api/v2/dr/drill");
    ASSERT_EQ(drill.status, 200) << drill.body;
    auto d = Body(drill);
    EXPECT_EQ(d.at("backup_id"), json::value(id));
    EXPECT_EQ(d.at("status"), "passed");
    EXPECT_EQ(d.at("success"), true);
    EXPECT_EQ(d.at("drill_type"), "restore_test");
    EXPECT_EQ(d.at("rpo_seconds").to_number<double>(), 1800.0);
    EXPECT_TRUE(d.at("rto_seconds").is_number());
    EXPECT_EQ(As("admin", "POST", "/api/v2/dr/drill", R"({"drill_type": "failover_test"})").status,
              400);

    auto status = As("admin", "GET", "/api/v2/dr/status");
    ASSERT_EQ(status.status, 200);
    auto s = Body(status);
    EXPECT_EQ(s.at("status"), "healthy") << status.body;
    EXPECT_EQ(s.at("readiness_score"), 100);
    EXPECT_EQ(s.at("backup_status").at("total_backups"), 1);
    EXPECT_EQ(s.at("backup_status").at("latest_backup").at("id"), json::value(id));
    EXPECT_EQ(s.at("backup_status").at("hours_since_backup"), 0.5);
    EXPECT_EQ(s.at("rpo_status"),
              json::parse(R"({"target_hours": 1, "compliant": true, "current_hours": 0.5})"));
    EXPECT_EQ(s.at("last_drill").at("status"), "passed");
    EXPECT_EQ(s.at("scheduler").at("backup_every_seconds"), 3600);
    EXPECT_EQ(s.at("scheduler").at("next_backup_at"), "2027-01-15T09:00:00.000Z");
    EXPECT_EQ(s.at("checked_at"), "2027-01-15T08:30:00.000Z");

    auto objectives = As("admin", "GET", "/api/v2/dr/objectives");
    ASSERT_EQ(objectives.status, 200);
    auto o = Body(objectives);
    EXPECT_EQ(o.at("rpo").at("target_hours"), 1);
    EXPECT_EQ(o.at("rpo").at("current_hours"), 0.5);
    EXPECT_EQ(o.at("rpo").at("compliant"), true);
    EXPECT_EQ(o.at("rpo").at("violations_last_7_days"), 0);
    EXPECT_EQ(o.at("rto").at("target_minutes"), 30);
    EXPECT_TRUE(o.at("rto").at("estimated_minutes").is_number());
    EXPECT_EQ(o.at("rto").at("measured_by_drill"), d.at("drill_id"));
    EXPECT_EQ(o.at("backup_coverage").at("backups_last_7_days"), 1);
    EXPECT_EQ(o.at("tiers").as_array().size(), 3u);
    EXPECT_EQ(Sample(registry_, "aragora_restore_total{result=\"passed\"}"), 1);
    EXPECT_EQ(Sample(registry_, "aragora_rto_compliance{tier=\"enterprise\"}"), 1);
}

TEST_F(BackupRoutesTest, WithoutAManagerEveryRouteIs503WithTheReason) {
    access_->SetManager(nullptr);
    access_->SetUnavailable("PostgreSQL backups are not available in this build yet");
    auto r = As("admin", "GET", "/api/v2/backups");
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(Body(r).at("error"),
              "backups unavailable: PostgreSQL backups are not available in this build yet");
    EXPECT_EQ(As("admin", "GET", "/api/v2/dr/status").status, 503);
    EXPECT_EQ(As("owner", "DELETE", "/api/v2/backups/abc").status, 503);
}

// Past the deadline the request answers 504 while the work goes on. Deterministic: the
// long pool's only thread is held by a gate until the answer is in.
TEST_F(BackupRoutesTest, LongWorkPastTheDeadlineIs504AndFinishesInTheBackground) {
    access_ = nullptr;
    BackupAccess::Options ao;
    ao.pool = &pool_;
    ao.long_pool = &long_pool_;
    ao.metrics = &metrics_;
    ao.clock = &clock_;
    ao.long_deadline = std::chrono::milliseconds(20);
    ao.data_dir = data_.string();
    ao.database_path = db_.string();
    BackupAccess access(ao);
    access.SetManager(manager_.get());
    deps_.backups = &access;

    std::promise<void> release;
    std::shared_future<void> gate = release.get_future().share();
    asio::io_context side;
    std::promise<void> holding;
    auto held = asio::co_spawn(side, Hold(long_pool_, gate, &holding), asio::use_future);
    std::thread side_thread([&side] { side.run(); });
    // The long pool's one thread is taken before the request comes (else the backup could
    // run at once and answer 201 in time).
    const bool taken =
        holding.get_future().wait_for(std::chrono::seconds(30)) == std::future_status::ready;

    // The request runs on an io_context of its own: it must answer while the work (and
    // the coroutine waiting for it) is still pending.
    asio::io_context request_ioc;
    net::HttpRequest req;
    req.method = "POST";
    req.target = req.path = "/api/v2/backups";
    req.headers.emplace_back("authorization", "Bearer " + Jwt("admin"));
    req.remote_address = "127.0.0.1";
    auto answer = asio::co_spawn(request_ioc, handler_(std::move(req)), asio::use_future);
    std::thread request_thread([&request_ioc] { request_ioc.run(); });
    const net::HttpResponse r = answer.get();
    release.set_value();
    side_thread.join();
    request_thread.join();  // ends once the background create has finished
    ASSERT_TRUE(taken);
    ASSERT_EQ(r.status, 504) << r.body;
    EXPECT_EQ(Body(r).at("code"), "timeout");
    EXPECT_NE(std::string(Body(r).at("error").as_string()).find("in the background"),
              std::string::npos);
    EXPECT_TRUE(held.get());
    auto list = manager_->List(ops::ListFilter{});
    ASSERT_TRUE(list);
    EXPECT_EQ(list->total, 1);
    deps_.backups = nullptr;
}

}  // namespace
}  // namespace aragora::api::testing
