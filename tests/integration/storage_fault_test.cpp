// A full disk under `aragora serve`, on a real filesystem: the SQLite database lives on a
// 4 MiB tmpfs that the test fills while two debates run. Then creates answer 503
// `unavailable` with an integer Retry-After (and `retry_after`), /readyz and
// /api/v1/health answer 503, and the running debates retry their writes; once their
// outage budget (30 s) has passed they give up their result, and when the test frees the
// space readiness recovers by itself and both end `failed` (storage_unavailable) with a
// stored debate_end — none stays `running`. New debates then work again.
//
// Mounting needs root (CAP_SYS_ADMIN): without it the test is skipped, and says so.

#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "http_client.hpp"
#include "process.hpp"
#include "server_fixture.hpp"

namespace aragora::testing {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

// A tmpfs of `size` mounted on `path` for the test's life (lazily unmounted after).
class TmpfsMount {
public:
    TmpfsMount(std::string path, const std::string& size) : path_(std::move(path)) {
        std::filesystem::create_directories(path_);
        const std::string options = "size=" + size + ",mode=0700";
        if (::mount("tmpfs", path_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) == 0) {
            mounted_ = true;
        } else {
            error_ = std::strerror(errno);
        }
    }
    ~TmpfsMount() {
        if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
    }
    bool mounted() const { return mounted_; }
    const std::string& error() const { return error_; }

private:
    std::string path_;
    bool mounted_ = false;
    std::string error_;
};

// Writes zeros to `path` until the filesystem refuses (ENOSPC); the bytes written.
std::size_t FillDisk(const std::string& path) {
    const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
    if (fd < 0) {
        ADD_FAILURE() << "open " << path << ": " << std::strerror(errno);
        return 0;
    }
    std::size_t total = 0;
    const std::vector<char> zeros(65536, 0);
    for (std::size_t chunk : {std::size_t{65536}, std::size_t{4096}, std::size_t{1}}) {
        for (;;) {
            const ssize_t n = ::write(fd, zeros.data(), chunk);
            if (n <= 0) break;
            total += static_cast<std::size_t>(n);
        }
    }
    const int last_errno = errno;
    ::close(fd);
    EXPECT_EQ(last_errno, ENOSPC) << std::strerror(last_errno);
    return total;
}

bool AllDigits(const std::string& s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

TEST(StorageFaultTest, DiskFullIs503NotReadyAndRunningDebatesEndCleanlyOnceSpaceReturns) {
    TempDir dir;
    const std::string mnt = dir.path() + "/db";
    TmpfsMount tmpfs(mnt, "4m");
    if (!tmpfs.mounted()) {
        GTEST_SKIP() << "cannot mount a 4 MiB tmpfs here (" << tmpfs.error()
                     << "): this test needs root (CAP_SYS_ADMIN)";
    }
    // Only the database is on the small disk; logs, keys and the rest stay on /tmp.
    ServerProcess server(dir.path() + "/data",
                         {{"DATABASE_URL", "sqlite:///" + mnt + "/aragora.sqlite3"},
                          {"ARAGORA_DEMO_LATENCY_MS", "200"},
                          {"ARAGORA_CONVERGENCE_THRESHOLD", "1.0"}});
    ASSERT_TRUE(server.StartReady()) << server.error() << "\n" << server.Logs();
    HttpClient http = server.Http();

    // Two debates accepted and running (3 rounds of 3 agents at 200 ms per call).
    std::vector<std::string> ids;
    for (const char* task : {"Is the disk big enough?", "Who fills the disk?"}) {
        ids.push_back(CreateDebate(http, DebateBody(task, 3, 3)));
        ASSERT_FALSE(ids.back().empty());
    }
    for (const auto& id : ids) {
        ASSERT_TRUE(WaitForStatus(http, id, {"running"}, seconds(20)));
        ASSERT_TRUE(WaitForEvents(http, id, 2));
    }

    const std::string filler = mnt + "/filler";
    const std::size_t filled = FillDisk(filler);
    std::cout << "[ info ] filled the tmpfs with " << filled << " bytes\n";

    // A create needs a write: 503 unavailable with an integer Retry-After, not 500.
    HttpResponse refused = http.Post("/api/v1/debates", DebateBody("One more?", 1, 2));
    ExpectError(refused, 503, "unavailable", "create on a full disk");
    const std::string retry_after = refused.Header("Retry-After").value_or("");
    EXPECT_TRUE(AllDigits(retry_after)) << "Retry-After: '" << retry_after << "'";
    json::object body = refused.Object();
    ASSERT_TRUE(body.contains("retry_after")) << refused.Describe();
    EXPECT_TRUE(body.at("retry_after").is_int64()) << refused.Describe();
    if (AllDigits(retry_after) && body.at("retry_after").is_int64()) {
        EXPECT_EQ(body.at("retry_after").as_int64(), std::stoll(retry_after));
    }

    // Readiness and health say so while writes fail.
    HttpResponse ready = http.Get("/readyz");
    EXPECT_EQ(ready.status, 503) << ready.Describe();
    EXPECT_EQ(StringOf(ready.Object(), "reason"), "database not writable") << ready.Describe();
    EXPECT_TRUE(AllDigits(ready.Header("Retry-After").value_or("")));
    HttpResponse health = http.Get("/api/v1/health");
    EXPECT_EQ(health.status, 503) << health.Describe();
    EXPECT_EQ(StringOf(health.Object(), "status"), "unhealthy") << health.Describe();
    {
        json::object h = health.Object();
        const json::value* db =
            h.contains("checks") ? h.at("checks").as_object().if_contains("database") : nullptr;
        ASSERT_NE(db, nullptr) << health.Describe();
        EXPECT_EQ(db->as_object().at("writable"), false) << health.Describe();
    }
    EXPECT_EQ(http.Get("/healthz").status, 200);  // the process itself is fine
    // Reads still work.
    EXPECT_EQ(http.Get("/api/v1/debates/" + ids[0]).status, 200);

    // The running debates retry their writes; past their outage budget (30 s) they give
    // up their result and keep trying to store their failure.
    for (const auto& id : ids) {
        EXPECT_TRUE(PollUntil(
            [&] {
                return server.Logs().find("could not store finished debate debate_id=" + id) !=
                       std::string::npos;
            },
            seconds(90), milliseconds(200)))
            << "debate " << id << " did not give up its result\n"
            << server.Logs();
        EXPECT_EQ(StringOf(http.Get("/api/v1/debates/" + id).Object(), "status"), "running")
            << "nothing final can be stored while the disk is full";
    }

    // Space returns: readiness recovers by itself (nothing else writes meanwhile).
    ASSERT_TRUE(std::filesystem::remove(filler));
    int ready_status = 0;
    EXPECT_TRUE(PollUntil([&] { return (ready_status = http.Get("/readyz").status) == 200; },
                          seconds(30), milliseconds(100)))
        << "/readyz still " << ready_status << "\n"
        << server.Logs();
    EXPECT_EQ(http.Get("/api/v1/health").status, 200);

    // Every affected debate ended cleanly: failed, with a stored debate_end, no gap.
    for (const auto& id : ids) {
        auto debate = WaitForStatus(http, id, kTerminalStatuses, seconds(30));
        ASSERT_TRUE(debate) << server.Logs();
        EXPECT_EQ(StringOf(*debate, "status"), "failed");
        ASSERT_TRUE(debate->contains("error") && debate->at("error").is_object())
            << json::serialize(*debate);
        EXPECT_EQ(StringOf(debate->at("error").as_object(), "code"), "storage_unavailable");
        EXPECT_TRUE(debate->at("receipt_id").is_null()) << json::serialize(*debate);
        const auto events = AllEvents(http, id);
        ASSERT_FALSE(events.empty());
        for (std::size_t i = 0; i < events.size(); ++i)
            EXPECT_EQ(NumberOf(events[i].at("seq")), static_cast<double>(i + 1));
        EXPECT_EQ(StringOf(events.back(), "type"), "debate_end");
        EXPECT_EQ(StringOf(events.back().at("data").as_object(), "status"), "failed");
    }

    // And the server serves debates again.
    const std::string next = CreateDebate(http, DebateBody("After the disk was freed", 1, 2));
    ASSERT_FALSE(next.empty());
    auto done = WaitForStatus(http, next, {"completed"}, seconds(30));
    EXPECT_TRUE(done) << server.Logs();
    EXPECT_EQ(server.Terminate(), 0) << server.Logs();
    if (std::getenv("ARAGORA_TEST_SHOW_LOGS")) std::cout << server.Logs();
}

}  // namespace
}  // namespace aragora::testing
