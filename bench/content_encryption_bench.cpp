// Debate create+read throughput with encryption of debate content at rest on against off
// (ARAGORA_ENCRYPT_DEBATE_CONTENT, storage/content_cipher.hpp), in one run, and the
// re-encryption rate of the rotation's targets. See bench/README.md.
//
// One debate = CreateDebate, AppendEvents (events per round), FinishDebate with the last
// events and a receipt, then GetDebate + ListEvents + GetReceipt: the store calls a debate
// makes through serve, on a SQLite file in a temp dir. "off" is the baseline: the plain
// store; "on" wraps it with the sealing decorator over an AES-256-GCM cipher
// (tests/support/test_field_cipher: the same primitive, nonce size and tag as the key
// module's envelope). Configurations are interleaved (off, on, off, on, ...) and the median
// of the repeats is printed with the ratio on/off.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "../tests/support/test_field_cipher.hpp"
#include "storage/content_cipher.hpp"
#include "storage/sqlite/sqlite_content_targets.hpp"
#include "storage/sqlite/sqlite_store.hpp"

namespace {

using namespace aragora;
using Clock = std::chrono::steady_clock;

struct Knobs {
    int debates = 300;
    int events = 24;  // per debate (3 rounds of proposals, critiques, votes, deltas)
    int repeats = 3;
};

int EnvInt(const char* name, int def) {
    const char* v = std::getenv(name);
    return v && *v ? std::atoi(v) : def;
}

std::string Text(std::size_t n, char c) { return std::string(n, c); }

void Die(const std::string& what) {
    std::fprintf(stderr, "content_encryption_bench: %s\n", what.c_str());
    std::exit(1);
}

template <class T>
T Must(common::Result<T> r, const char* what) {
    if (!r) Die(std::string(what) + ": " + r.error().message);
    return std::move(*r);
}

void Must(const common::Status& s, const char* what) {
    if (!s) Die(std::string(what) + ": " + s.error().message);
}

// Debates per second over `knobs.debates` debates on a fresh database.
double RunOnce(const Knobs& knobs, bool encrypt,
               const std::shared_ptr<test_support::TestFieldCipher>& cipher, int run,
               double* reencrypt_per_s) {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("aragora-encbench-" + std::to_string(::getpid()) + "-" + std::to_string(run));
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "aragora.sqlite3").string();
    auto store = Must(storage::OpenSqliteStore({path}, /*migrate=*/true), "open store");
    if (encrypt) store = storage::WrapWithContentCipher(std::move(store), cipher, {});

    const std::string task =
        "Should we migrate the billing service to event sourcing before Q3? " + Text(400, 't');
    const std::string message = R"({"content":")" + Text(1200, 'm') + R"("})";
    const auto start = Clock::now();
    for (int i = 0; i < knobs.debates; ++i) {
        const std::string id = "d_" + std::to_string(run) + "_" + std::to_string(i);
        storage::DebateRecord d;
        d.id = id;
        d.task = task;
        d.agents = {"demo:a", "demo:b", "demo:c"};
        d.rounds = 3;
        d.created_at = "2026-12-07T04:00:00.000000Z";
        d.spec_json = R"({"task":")" + task + R"(","context":")" + Text(600, 'c') + R"("})";
        Must(store->CreateDebate(d), "create");
        std::vector<events::Event> events;
        for (int s = 1; s <= knobs.events; ++s) {
            events::Event e;
            e.debate_id = id;
            e.seq = s;
            e.type = "agent_message";
            e.round = 1 + s / 8;
            e.agent = "demo:a";
            e.timestamp = 1.0 + s;
            e.data_json = message;
            events.push_back(std::move(e));
        }
        std::vector<events::Event> last(events.end() - 2, events.end());
        events.resize(events.size() - 2);
        Must(store->AppendEvents(events), "append events");
        d.status = events::DebateStatus::kCompleted;
        d.final_answer = Text(800, 'a');
        d.verdict = "approved";
        d.result_json = R"({"votes":{"demo:a":")" + Text(300, 'v') + R"("}})";
        storage::ReceiptBuilder receipt = [&](const std::optional<std::string>& previous)
            -> common::Result<storage::ReceiptRecord> {
            storage::ReceiptRecord r;
            r.receipt_id = "r_" + id;
            r.content_hash = "h_" + id;
            r.previous_hash = previous;
            r.created_at = "2026-12-07T04:00:01.000000Z";
            r.json = R"({"question":")" + task + R"(","final_answer":")" + d.final_answer + "\"}";
            return r;
        };
        Must(store->FinishDebate(d, last, &receipt), "finish");
        auto got = Must(store->GetDebate(id), "get");
        if (got.task != task) Die("read back another task");
        auto listed = Must(store->ListEvents(id, 0, 1000), "list events");
        if (static_cast<int>(listed.size()) != knobs.events) Die("read back other events");
        Must(store->GetReceipt("r_" + id), "get receipt");
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();

    if (encrypt && reencrypt_per_s != nullptr) {
        // Rotation: every sealed value of this run goes from the current key to a new one.
        const keys::KeyRef before = cipher->Current();
        const keys::KeyRef next{"bench", static_cast<std::uint32_t>(run + 2)};
        cipher->AddKey(next, /*make_current=*/true);
        auto targets = Must(storage::OpenSqliteContentTargets({path}, cipher, nullptr), "targets");
        long long rewritten = 0;
        const auto r0 = Clock::now();
        for (auto& t : targets) {
            std::string cursor;
            while (true) {
                auto b = Must(t->ReEncrypt(*cipher, cursor, 100), "re-encrypt");
                rewritten += b.rewritten;
                cursor = b.next_cursor;
                if (b.done) break;
            }
        }
        const double rs = std::chrono::duration<double>(Clock::now() - r0).count();
        *reencrypt_per_s = static_cast<double>(rewritten) / rs;
        cipher->SetCurrent(before);
    }
    store.reset();
    std::filesystem::remove_all(dir);
    return knobs.debates / seconds;
}

double Median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main() {
    Knobs knobs;
    knobs.debates = EnvInt("ENCBENCH_DEBATES", knobs.debates);
    knobs.events = std::max(3, EnvInt("ENCBENCH_EVENTS", knobs.events));
    knobs.repeats = std::max(1, EnvInt("ENCBENCH_REPEATS", knobs.repeats));
    auto cipher = std::make_shared<test_support::TestFieldCipher>();
    std::printf(
        "content encryption bench: SQLite, %d debates x (create + %d events + finish with "
        "receipt + read), %d repeats interleaved\n",
        knobs.debates, knobs.events, knobs.repeats);
    std::vector<double> off, on, reenc;
    int run = 0;
    // A warm-up of each (page cache, allocator), not counted.
    Knobs warm = knobs;
    warm.debates = std::max(10, knobs.debates / 10);
    RunOnce(warm, false, cipher, run++, nullptr);
    RunOnce(warm, true, cipher, run++, nullptr);
    for (int r = 0; r < knobs.repeats; ++r) {
        off.push_back(RunOnce(knobs, false, cipher, run++, nullptr));
        double rate = 0;
        on.push_back(RunOnce(knobs, true, cipher, run++, &rate));
        reenc.push_back(rate);
    }
    const double off_m = Median(off), on_m = Median(on);
    std::printf("%-28s %12s %12s\n", "configuration", "debates/s", "ratio");
    std::printf("%-28s %12.1f %12.3f\n", "off (baseline)", off_m, 1.0);
    std::printf("%-28s %12.1f %12.3f\n", "on (sealed content)", on_m, on_m / off_m);
    std::printf("re-encryption (batches of 100): %.0f values/s\n", Median(reenc));
    return 0;
}
