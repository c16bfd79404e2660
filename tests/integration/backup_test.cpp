// `aragora backup` against a running `aragora serve` (issue 19 acceptance, SQLite): a
// backup taken while 20 debates run and new ones keep arriving restores into a data dir
// that `aragora serve` starts on, holding every debate completed at the snapshot whole
// (events, debate_end, receipt), every receipt byte-identical to the source's, the chain
// intact and every receipt verifying; the live database of the running server is refused.

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <boost/json.hpp>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "debate_arrivals.hpp"
#include "process.hpp"
#include "server_fixture.hpp"
#include "unit/ops/s3rver_fixture.hpp"

namespace aragora::testing {
namespace {

namespace json = boost::json;

// A read-only look at a database file (the live one in WAL mode too).
class DbReader {
public:
    explicit DbReader(const std::string& path) {
        sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr);
        sqlite3_busy_timeout(db_, 10000);
    }
    ~DbReader() { sqlite3_close(db_); }
    std::vector<std::vector<std::string>> Rows(const std::string& sql) {
        std::vector<std::vector<std::string>> out;
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
            ADD_FAILURE() << sqlite3_errmsg(db_) << " in " << sql;
            return out;
        }
        while (sqlite3_step(st) == SQLITE_ROW) {
            std::vector<std::string> row;
            for (int i = 0; i < sqlite3_column_count(st); ++i) {
                const auto* t = sqlite3_column_text(st, i);
                row.emplace_back(t ? reinterpret_cast<const char*>(t) : "");
            }
            out.push_back(std::move(row));
        }
        sqlite3_finalize(st);
        return out;
    }

private:
    sqlite3* db_ = nullptr;
};

class BackupIntegrationTest : public ::testing::Test {
protected:
    std::string Src() const { return dir_.path() + "/src"; }
    std::string Dst() const { return dir_.path() + "/restored"; }
    std::map<std::string, std::string> Env(const std::string& data_dir) const {
        auto env = ServerEnv(data_dir, {{"ARAGORA_LOG_LEVEL", "WARNING"}});
        env["BACKUP_DIR"] = dir_.path() + "/backups";
        return env;
    }
    ProcessResult Aragora(std::vector<std::string> args, const std::string& data_dir) const {
        args.insert(args.begin(), ARAGORA_BINARY);
        return RunProcess(args, Env(data_dir), 120);
    }
    TempDir dir_;
};

TEST_F(BackupIntegrationTest, BackupWhileDebatesRunRestoresIntoAServableVerifiedStore) {
    ServerProcess src(
        Src(), {{"ARAGORA_DEMO_LATENCY_MS", "300"}, {"ARAGORA_MAX_CONCURRENT_DEBATES", "25"}});
    ASSERT_TRUE(src.StartReady()) << src.error() << src.Logs();
    HttpClient http = src.Http();
    std::vector<std::string> first;
    for (int i = 0; i < 20; ++i)
        first.push_back(CreateDebate(http, DebateBody("Backup test " + std::to_string(i), 2, 3)));

    // New debates keep arriving while the backup runs (so some always run during it).
    DebateArrivals arrivals(src.Http());
    // Some of the first ones complete before the backup (they must be in it).
    const std::set<std::string> completed_before =
        WaitForCompleted(http, first, 3, std::chrono::seconds(60));
    ASSERT_GE(completed_before.size(), 3u);

    ProcessResult created = Aragora({"backup", "create", "--json", "--notes", "acceptance"}, Src());
    const int arrived_at_backup_end = arrivals.count();
    ASSERT_EQ(created.exit_code, 0) << created.err << created.out;
    json::object backup = json::parse(created.out).as_object().at("backup").as_object();
    const std::string id(backup.at("id").as_string());
    EXPECT_EQ(backup.at("status"), "verified");

    // The live database of the running server is refused, naming its pid.
    ProcessResult live = Aragora({"backup", "restore", id, "--force"}, Src());
    EXPECT_EQ(live.exit_code, 1);
    EXPECT_NE(live.err.find("pid " + std::to_string(src.pid())), std::string::npos) << live.err;

    // Let everything finish on the source, so that it can be compared.
    ASSERT_TRUE(PollUntil([&] { return arrivals.count() >= arrived_at_backup_end + 2; },
                          std::chrono::seconds(30)));
    arrivals.Stop();
    for (const auto& d : first) ASSERT_TRUE(WaitForStatus(http, d, kTerminalStatuses));

    ProcessResult restored = Aragora(
        {"backup", "restore", id.substr(0, 5), "-o", Dst() + "/aragora.sqlite3", "--json"}, Src());
    ASSERT_EQ(restored.exit_code, 0) << restored.err << restored.out;
    EXPECT_EQ(json::parse(restored.out).as_object().at("restored"), true);

    // The restored store, as stored: no half-present debate.
    DbReader dst(Dst() + "/aragora.sqlite3");
    DbReader live_db(Src() + "/aragora.sqlite3");
    std::map<std::string, std::string> status;
    for (auto& row : dst.Rows("SELECT id, status FROM debates")) status[row[0]] = row[1];
    int completed = 0;
    for (const auto& [debate, st] : status) {
        SCOPED_TRACE(debate + " " + st);
        auto events = dst.Rows("SELECT seq, type FROM debate_events WHERE debate_id = '" + debate +
                               "' ORDER BY seq");
        for (std::size_t i = 0; i < events.size(); ++i)
            EXPECT_EQ(events[i][0], std::to_string(i + 1));
        auto receipt = dst.Rows("SELECT json FROM receipts WHERE debate_id = '" + debate + "'");
        if (st == "completed") {
            ++completed;
            ASSERT_FALSE(events.empty());
            EXPECT_EQ(events.back()[1], "debate_end");
            ASSERT_EQ(receipt.size(), 1u);
            // Byte-identical to the source's receipt.
            auto source =
                live_db.Rows("SELECT json FROM receipts WHERE debate_id = '" + debate + "'");
            ASSERT_EQ(source.size(), 1u);
            EXPECT_EQ(receipt[0][0], source[0][0]);
            // Every event, as the source has it.
            auto source_events = live_db.Rows(
                "SELECT seq, type, data FROM debate_events WHERE "
                "debate_id = '" +
                debate + "' ORDER BY seq");
            auto restored_events = dst.Rows(
                "SELECT seq, type, data FROM debate_events WHERE "
                "debate_id = '" +
                debate + "' ORDER BY seq");
            EXPECT_EQ(restored_events, source_events);
        } else {
            EXPECT_TRUE(receipt.empty());
        }
    }
    std::cout << "[ measured ] at the snapshot: " << completed << " debates completed, "
              << status.size() - static_cast<std::size_t>(completed)
              << " not yet; completed before the backup began: " << completed_before.size()
              << "; arrivals during the test: " << arrivals.count() << "\n";
    for (const auto& d : completed_before) EXPECT_EQ(status[d], "completed") << d;
    EXPECT_GE(completed, static_cast<int>(completed_before.size()));
    // The chain is a prefix of the source's chain, link for link.
    auto chain =
        dst.Rows("SELECT receipt_id, content_hash, previous_hash FROM receipts ORDER BY chain_seq");
    auto source_chain = live_db.Rows(
        "SELECT receipt_id, content_hash, previous_hash FROM receipts ORDER BY chain_seq");
    ASSERT_LE(chain.size(), source_chain.size());
    for (std::size_t i = 0; i < chain.size(); ++i) EXPECT_EQ(chain[i], source_chain[i]);
    EXPECT_EQ(static_cast<int>(chain.size()), completed);
    EXPECT_EQ(backup.at("row_counts").at("receipts").as_int64(), completed);
    ASSERT_EQ(src.Terminate(), 0);

    // `aragora serve` starts on the restored data dir and serves every receipt verified.
    ServerProcess dst_server(Dst());
    ASSERT_TRUE(dst_server.StartReady()) << dst_server.error() << dst_server.Logs();
    HttpClient restored_http = dst_server.Http();
    for (const auto& [debate, st] : status) {
        if (st != "completed") continue;
        SCOPED_TRACE(debate);
        auto d = restored_http.Get("/api/v1/debates/" + debate);
        ASSERT_EQ(d.status, 200) << d.Describe();
        const std::string rid = StringOf(d.Object(), "receipt_id");
        auto v = restored_http.Get("/api/v2/receipts/" + rid + "/verify");
        ASSERT_EQ(v.status, 200) << v.Describe();
        EXPECT_EQ(v.Object()["valid"], true) << v.body;
    }
    // And a backup of the restored server verifies its whole chain.
    ProcessResult again = Aragora({"backup", "create", "--json"}, Dst());
    ASSERT_EQ(again.exit_code, 0) << again.err;
    EXPECT_EQ(json::parse(again.out).as_object().at("backup").at("status"), "verified");
    EXPECT_EQ(dst_server.Terminate(), 0);
}

TEST_F(BackupIntegrationTest, CliExitCodesAndOneLineErrors) {
    ProcessResult none = Aragora({"backup", "show", "nope"}, Src());
    EXPECT_EQ(none.exit_code, 2);
    EXPECT_EQ(none.err, "aragora: no backup with id or id prefix 'nope'\n");
    ProcessResult missing = Aragora({"backup", "create"}, Src());
    EXPECT_EQ(missing.exit_code, 2) << missing.err;  // no database yet
    EXPECT_NE(missing.err.find("does not exist"), std::string::npos) << missing.err;
    ProcessResult list = Aragora({"backup", "list", "--json"}, Src());
    ASSERT_EQ(list.exit_code, 0) << list.err;
    auto page = json::parse(list.out).as_object();
    EXPECT_EQ(page.at("pagination").at("total"), 1);  // the failed attempt is recorded
    EXPECT_EQ(page.at("backups").at(0).at("status"), "failed");
    ProcessResult bad = Aragora({"backup", "list", "--status", "nope"}, Src());
    EXPECT_EQ(bad.exit_code, 2);
}

// Offsite copies through the CLI against the S3 stand-in (signatures checked): an
// encrypted backup uploaded by `create --offsite`, listed by `list --remote`, and on a
// "fresh machine" (empty backup dir, no local manifest) `restore --from-offsite`
// downloads, verifies and restores it; a wrong secret is refused by the server.
TEST_F(BackupIntegrationTest, OffsiteUploadListAndRestoreOnAFreshMachine) {
    std::string error;
    auto s3 = ops::test_support::S3rverProcess::Start("aragora-backups", &error);
    ASSERT_NE(s3, nullptr) << error;
    ProcessResult demo = Aragora({"demo"}, Src());
    ASSERT_EQ(demo.exit_code, 0) << demo.err;
    auto env = Env(Src());
    env["ARAGORA_BACKUP_S3_BUCKET"] = "aragora-backups";
    env["ARAGORA_BACKUP_S3_ENDPOINT"] = s3->endpoint();
    env["AWS_ACCESS_KEY_ID"] = ops::test_support::S3rverProcess::kAccessKey;
    env["AWS_SECRET_ACCESS_KEY"] = ops::test_support::S3rverProcess::kSecret;
    env["ARAGORA_BACKUP_ENCRYPTION_KEY"] = std::string(64, 'a');
    auto run = [&](std::vector<std::string> args, const std::map<std::string, std::string>& e) {
        args.insert(args.begin(), ARAGORA_BINARY);
        return RunProcess(args, e, 120);
    };
    ProcessResult created = run({"backup", "create", "--offsite", "--json"}, env);
    ASSERT_EQ(created.exit_code, 0) << created.err;
    auto backup = json::parse(created.out).as_object().at("backup").as_object();
    const std::string id(backup.at("id").as_string());
    EXPECT_EQ(backup.at("encrypted"), true);
    EXPECT_EQ(
        backup.at("metadata").at("offsite").as_string(),
        "s3://aragora-backups/aragora/backups/" + std::string(backup.at("file_name").as_string()));

    ProcessResult listed = run({"backup", "list", "--remote", "--json"}, env);
    ASSERT_EQ(listed.exit_code, 0) << listed.err;
    auto remote = json::parse(listed.out).as_object().at("remote").as_array();
    ASSERT_EQ(remote.size(), 1u);
    EXPECT_EQ(remote.at(0).at("manifest_entry").at("id").as_string(), id);

    // A fresh machine: its own empty backup dir.
    auto fresh = env;
    fresh["BACKUP_DIR"] = dir_.path() + "/fresh-backups";
    ProcessResult restored = run({"backup", "restore", id.substr(0, 4), "--from-offsite", "-o",
                                  Dst() + "/aragora.sqlite3", "--json"},
                                 fresh);
    ASSERT_EQ(restored.exit_code, 0) << restored.err << restored.out;
    auto r = json::parse(restored.out).as_object();
    EXPECT_EQ(r.at("restored"), true);
    EXPECT_EQ(r.at("verification").at("receipts_valid"), true);
    DbReader src_db(Src() + "/aragora.sqlite3"), dst_db(Dst() + "/aragora.sqlite3");
    EXPECT_EQ(dst_db.Rows("SELECT json FROM receipts ORDER BY chain_seq"),
              src_db.Rows("SELECT json FROM receipts ORDER BY chain_seq"));

    auto wrong = env;
    wrong["AWS_SECRET_ACCESS_KEY"] = "not-the-secret";
    ProcessResult refused = run({"backup", "list", "--remote"}, wrong);
    EXPECT_EQ(refused.exit_code, 1);
    EXPECT_NE(refused.err.find("SignatureDoesNotMatch"), std::string::npos) << refused.err;
}

}  // namespace
}  // namespace aragora::testing
