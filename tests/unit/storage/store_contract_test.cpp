// The Store contract (store.hpp), run against every backend: SQLite and PostgreSQL must
// behave the same. Backend-specific tests live in sqlite_store_test.cpp / pg_store_test.cpp.

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "store_backends.hpp"

namespace aragora::storage {
namespace {

using common::ErrorCode;
using test_support::BackendKind;
using test_support::MakeBackend;
using test_support::TestBackend;

std::string Lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// ---------------------------------------------------------------- store fixture

class StoreContractTest : public test_support::StoreSuite {
public:
    static DebateRecord MakeDebate(const std::string& id, const std::string& status,
                                   const std::string& created_at) {
        DebateRecord d;
        d.id = id;
        d.task = "task of " + id;
        d.status = events::ParseDebateStatus(status).value();
        d.agents = {"claude", "gpt"};
        d.rounds = 3;
        d.created_at = created_at;
        return d;
    }

    static events::Event MakeEvent(const std::string& debate_id, std::int64_t seq) {
        events::Event e;
        e.debate_id = debate_id;
        e.seq = seq;
        e.type = "agent_message";
        e.timestamp = 1700000000.5 + static_cast<double>(seq);
        e.round = 1;
        e.agent = "claude";
        e.data_json = R"({"debate_id":")" + debate_id + R"(","n":)" + std::to_string(seq) + "}";
        return e;
    }

    static std::vector<events::Event> MakeEvents(const std::string& debate_id, std::int64_t from,
                                                 std::int64_t to) {
        std::vector<events::Event> out;
        for (auto seq = from; seq <= to; ++seq) out.push_back(MakeEvent(debate_id, seq));
        return out;
    }

    // A builder producing "hash-<debate id>" and remembering the previous hash it got.
    // `created_at` may disagree with insertion order (clocks of several instances).
    static ReceiptBuilder Builder(const std::string& debate_id,
                                  std::optional<std::string>* seen_previous = nullptr,
                                  std::string created_at = "2026-01-01T00:00:00.000Z") {
        return [debate_id, seen_previous, created_at](
                   const std::optional<std::string>& previous) -> common::Result<ReceiptRecord> {
            if (seen_previous != nullptr) *seen_previous = previous;
            ReceiptRecord r;
            r.receipt_id = "rcpt_" + debate_id;
            r.debate_id = debate_id;
            r.content_hash = "hash-" + debate_id;
            r.previous_hash = previous;
            r.created_at = created_at;
            r.json = R"({"receipt_id":"rcpt_)" + debate_id + R"("})";
            return r;
        };
    }

    static DebateRecord Finished(DebateRecord d) {
        d.status = events::DebateStatus::kCompleted;
        d.rounds_used = 2;
        d.consensus_method = "majority";
        d.consensus_reached = true;
        d.confidence = 0.875;
        d.verdict = "approve";
        d.final_answer = "42";
        d.dissenting_agents = {"gpt"};
        d.started_at = "2026-01-01T00:00:01.000Z";
        d.completed_at = "2026-01-01T00:00:09.000Z";
        d.duration_seconds = 8.0;
        d.result_json = R"({"votes":2})";
        return d;
    }

    std::vector<std::string> ListIds(const std::string& status, int limit = 100, int offset = 0,
                                     std::int64_t* total = nullptr) {
        auto page = store_->ListDebates({status, limit, offset});
        EXPECT_TRUE(page.ok()) << page.error().message;
        if (!page.ok()) return {};
        if (total != nullptr) *total = page->total;
        std::vector<std::string> ids;
        for (const auto& d : page->items) ids.push_back(d.id);
        return ids;
    }
};

void ExpectSameDebate(const DebateRecord& a, const DebateRecord& b) {
    EXPECT_EQ(a.id, b.id);
    EXPECT_EQ(a.task, b.task);
    EXPECT_EQ(a.status, b.status);
    EXPECT_EQ(a.agents, b.agents);
    EXPECT_EQ(a.rounds, b.rounds);
    EXPECT_EQ(a.rounds_used, b.rounds_used);
    EXPECT_EQ(a.consensus_method, b.consensus_method);
    EXPECT_EQ(a.consensus_reached, b.consensus_reached);
    EXPECT_EQ(a.confidence, b.confidence);
    EXPECT_EQ(a.verdict, b.verdict);
    EXPECT_EQ(a.final_answer, b.final_answer);
    EXPECT_EQ(a.dissenting_agents, b.dissenting_agents);
    EXPECT_EQ(a.created_at, b.created_at);
    EXPECT_EQ(a.started_at, b.started_at);
    EXPECT_EQ(a.completed_at, b.completed_at);
    EXPECT_EQ(a.duration_seconds, b.duration_seconds);
    EXPECT_EQ(a.receipt_id, b.receipt_id);
    EXPECT_EQ(a.error_code, b.error_code);
    EXPECT_EQ(a.error_message, b.error_message);
    EXPECT_EQ(a.spec_json, b.spec_json);
    EXPECT_EQ(a.result_json, b.result_json);
    EXPECT_EQ(a.created_by, b.created_by);
    EXPECT_EQ(a.org_id, b.org_id);
}

// ---------------------------------------------------------------- debates

TEST_P(StoreContractTest, CreateAndGetRoundTripEveryField) {
    DebateRecord full = Finished(MakeDebate("d_full", "completed", "2026-01-01T00:00:00.000Z"));
    full.agents = {"claude", "gpt \"quoted\"", "ünïcode", ""};
    full.consensus_reached = false;
    full.receipt_id = "rcpt_x";
    full.error_code = "provider_error";
    full.error_message = "boom";
    full.spec_json = R"({"task":"x","rounds":3})";
    full.created_by = "usr_alice";
    full.org_id = "org_1";
    Create(full);

    DebateRecord sparse = MakeDebate("d_sparse", "pending", "2026-01-02T00:00:00.000Z");
    sparse.agents = {};
    Create(sparse);

    auto got_full = store_->GetDebate("d_full");
    ASSERT_TRUE(got_full.ok()) << got_full.error().message;
    ExpectSameDebate(*got_full, full);

    auto got_sparse = store_->GetDebate("d_sparse");
    ASSERT_TRUE(got_sparse.ok()) << got_sparse.error().message;
    ExpectSameDebate(*got_sparse, sparse);
    EXPECT_FALSE(got_sparse->consensus_reached.has_value());
    EXPECT_FALSE(got_sparse->confidence.has_value());
    EXPECT_FALSE(got_sparse->duration_seconds.has_value());
    EXPECT_EQ(got_sparse->created_by, "");  // anonymous
    EXPECT_EQ(got_sparse->org_id, "");

    auto listed = store_->ListDebates({});
    ASSERT_TRUE(listed.ok()) << listed.error().message;
    ASSERT_EQ(listed->items.size(), 2u);
    ExpectSameDebate(listed->items[1], full);
}

TEST_P(StoreContractTest, FinishKeepsTheCreatorUnlessTheRecordNamesOne) {
    DebateRecord d = MakeDebate("d1", "running", "2026-01-01T00:00:00.000Z");
    d.created_by = "usr_alice";
    d.org_id = "org_1";
    Create(d);
    // The service rebuilds the finished record from the engine result: no creator in it.
    DebateRecord finished = Finished(d);
    finished.created_by.clear();
    finished.org_id.clear();
    ASSERT_TRUE(store_->FinishDebate(finished, {}, nullptr).ok());
    auto got = store_->GetDebate("d1");
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->status, events::DebateStatus::kCompleted);
    EXPECT_EQ(got->created_by, "usr_alice");
    EXPECT_EQ(got->org_id, "org_1");

    // A debate finished without a prior CreateDebate (queued, cancelled) gets the record's.
    DebateRecord direct = Finished(MakeDebate("d2", "cancelled", "2026-01-02T00:00:00.000Z"));
    direct.status = events::DebateStatus::kCancelled;
    direct.created_by = "usr_bob";
    direct.org_id = "org_2";
    ASSERT_TRUE(store_->FinishDebate(direct, {}, nullptr).ok());
    ExpectSameDebate(*store_->GetDebate("d2"), direct);
}

TEST_P(StoreContractTest, ListFiltersByCreator) {
    auto make = [](const std::string& id, const std::string& status, const std::string& day,
                   const std::string& creator) {
        DebateRecord d = MakeDebate(id, status, "2026-01-" + day + "T00:00:00.000Z");
        d.created_by = creator;
        return d;
    };
    Create(make("a1", "pending", "01", "usr_a"));
    Create(make("b1", "completed", "02", "usr_b"));
    Create(make("a2", "completed", "03", "usr_a"));
    Create(make("anon", "completed", "04", ""));
    Create(make("a3", "running", "05", "usr_a"));

    auto ids = [&](DebateFilter filter, std::int64_t* total) {
        std::vector<std::string> out;
        auto page = store_->ListDebates(filter);
        EXPECT_TRUE(page.ok()) << page.error().message;
        if (!page.ok()) return out;
        *total = page->total;
        for (const auto& d : page->items) out.push_back(d.id);
        return out;
    };
    std::int64_t total = -1;
    EXPECT_EQ(ids({"", 100, 0, "usr_a"}, &total), (std::vector<std::string>{"a3", "a2", "a1"}));
    EXPECT_EQ(total, 3);
    EXPECT_EQ(ids({"completed", 100, 0, "usr_a"}, &total), std::vector<std::string>{"a2"});
    EXPECT_EQ(total, 1);
    EXPECT_EQ(ids({"active", 100, 0, "usr_a"}, &total), (std::vector<std::string>{"a3", "a1"}));
    EXPECT_EQ(total, 2);
    EXPECT_EQ(ids({"", 1, 1, "usr_a"}, &total), std::vector<std::string>{"a2"});
    EXPECT_EQ(total, 3);
    EXPECT_EQ(ids({"", 100, 0, "usr_b"}, &total), std::vector<std::string>{"b1"});
    EXPECT_EQ(ids({"pending", 100, 0, "usr_b"}, &total), std::vector<std::string>{});
    EXPECT_EQ(total, 0);
    EXPECT_EQ(ids({"", 100, 0, "usr_nobody"}, &total), std::vector<std::string>{});
    EXPECT_EQ(ids({"completed", 100, 0, ""}, &total),
              (std::vector<std::string>{"anon", "a2", "b1"}));
    EXPECT_EQ(total, 3);
    EXPECT_EQ(ids({"", 100, 0, "usr_a' OR '1'='1"}, &total), std::vector<std::string>{});
}

// The task search (DebateFilter::task_query): a case-insensitive substring, in SQL (the
// page and `total` count only the matches), combined with the other filters; '%', '_' and
// '\' are literal characters, not wildcards; longer than 200 code points is kValidation.
TEST_P(StoreContractTest, ListSearchesTheTaskText) {
    auto make = [](const std::string& id, const std::string& status, const std::string& day,
                   const std::string& task) {
        DebateRecord d = MakeDebate(id, status, "2026-02-" + day + "T00:00:00.000Z");
        d.task = task;
        return d;
    };
    Create(make("cache", "completed", "01", "Should we Cache provider replies?"));
    Create(make("pct", "pending", "02", "Is 100% uptime worth it?"));
    Create(make("under", "completed", "03", "Rename user_id to account_id?"));
    Create(make("plain", "completed", "04", "Rename userXid in the schema?"));
    Create(make("slash", "completed", "05", R"(Escape C:\temp paths?)"));
    Create(make("cache2", "running", "06", "CACHING strategy for the edge"));

    auto ids = [&](DebateFilter filter, std::int64_t* total) {
        std::vector<std::string> out;
        auto page = store_->ListDebates(filter);
        EXPECT_TRUE(page.ok()) << page.error().message;
        if (!page.ok()) return out;
        *total = page->total;
        for (const auto& d : page->items) out.push_back(d.id);
        return out;
    };
    auto search = [](const std::string& q, const std::string& status = "", int limit = 100,
                     int offset = 0) {
        DebateFilter f;
        f.status = status;
        f.limit = limit;
        f.offset = offset;
        f.task_query = q;
        return f;
    };
    std::int64_t total = -1;
    EXPECT_EQ(ids(search("cach"), &total), (std::vector<std::string>{"cache2", "cache"}));
    EXPECT_EQ(total, 2);
    EXPECT_EQ(ids(search("CACHE PROVIDER"), &total), std::vector<std::string>{"cache"});
    EXPECT_EQ(ids(search("cache replies"), &total), std::vector<std::string>{});
    // With the status filter, and paged: total counts the matches, not the table.
    EXPECT_EQ(ids(search("cach", "completed"), &total), std::vector<std::string>{"cache"});
    EXPECT_EQ(total, 1);
    EXPECT_EQ(ids(search("cach", "", 1, 1), &total), std::vector<std::string>{"cache"});
    EXPECT_EQ(total, 2);
    // '%' and '_' are literal: "%" finds only the task holding it, "r_i" not "rXi".
    EXPECT_EQ(ids(search("%"), &total), std::vector<std::string>{"pct"});
    EXPECT_EQ(total, 1);
    EXPECT_EQ(ids(search("0% up"), &total), std::vector<std::string>{"pct"});
    EXPECT_EQ(ids(search("r_i"), &total), std::vector<std::string>{"under"});
    EXPECT_EQ(ids(search("_"), &total), std::vector<std::string>{"under"});
    EXPECT_EQ(ids(search(R"(C:\temp)"), &total), std::vector<std::string>{"slash"});
    EXPECT_EQ(ids(search(R"(\)"), &total), std::vector<std::string>{"slash"});
    EXPECT_EQ(ids(search("nothing like this"), &total), std::vector<std::string>{});
    EXPECT_EQ(total, 0);
    // Quotes are data.
    EXPECT_EQ(ids(search("' OR '1'='1"), &total), std::vector<std::string>{});
    // Bounded: 200 code points (multi-byte ones count once) pass, 201 do not.
    std::string at_limit;
    for (int i = 0; i < 200; ++i) at_limit += "\xC3\xA9";  // é
    EXPECT_EQ(ids(search(at_limit), &total), std::vector<std::string>{});
    auto too_long = store_->ListDebates(search(std::string(201, 'a')));
    ASSERT_FALSE(too_long.ok());
    EXPECT_EQ(too_long.error().code, ErrorCode::kValidation);
    EXPECT_EQ(too_long.error().field, "q");
}

TEST_P(StoreContractTest, CreateRefusesDuplicatesAndBadInput) {
    Create(MakeDebate("d1", "pending", "2026-01-01T00:00:00.000Z"));
    auto dup = store_->CreateDebate(MakeDebate("d1", "pending", "2026-01-01T00:00:00.000Z"));
    ASSERT_FALSE(dup.ok());
    EXPECT_EQ(dup.error().code, ErrorCode::kConflict);
}

// The status is an enum in memory and its text in the row: every status round-trips, and
// a row holding any other text is refused when read (kStorage naming the text), not
// mistaken for some status.
TEST_P(StoreContractTest, StatusIsMappedToTextAtTheSqlEdge) {
    const std::pair<events::DebateStatus, const char*> all[] = {
        {events::DebateStatus::kPending, "pending"},
        {events::DebateStatus::kRunning, "running"},
        {events::DebateStatus::kCompleted, "completed"},
        {events::DebateStatus::kFailed, "failed"},
        {events::DebateStatus::kCancelled, "cancelled"}};
    int n = 0;
    for (const auto& [status, text] : all) {
        const std::string id = "s" + std::to_string(n++);
        DebateRecord d = MakeDebate(id, "pending", "2026-01-01T00:00:00.000Z");
        d.status = status;
        Create(d);
        auto got = store_->GetDebate(id);
        ASSERT_TRUE(got.ok()) << got.error().message;
        EXPECT_EQ(got->status, status);
        auto page = store_->ListDebates({text, 10, 0});
        ASSERT_TRUE(page.ok()) << page.error().message;
        ASSERT_EQ(page->items.size(), 1u) << text;
        EXPECT_EQ(page->items[0].id, id);
    }
    backend_->Exec("UPDATE debates SET status = 'exploded' WHERE id = 's0'");
    auto bad = store_->GetDebate("s0");
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code, ErrorCode::kStorage);
    EXPECT_NE(bad.error().message.find("exploded"), std::string::npos);
    auto listed = store_->ListDebates({"", 10, 0});
    ASSERT_FALSE(listed.ok());
    EXPECT_EQ(listed.error().code, ErrorCode::kStorage);
}

TEST_P(StoreContractTest, GetMissingDebateIsNotFound) {
    auto got = store_->GetDebate("nope");
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().code, ErrorCode::kNotFound);
    EXPECT_NE(got.error().message.find("nope"), std::string::npos);
}

TEST_P(StoreContractTest, UpdateDebateStatus) {
    Create(MakeDebate("d1", "pending", "2026-01-01T00:00:00.000Z"));
    ASSERT_TRUE(
        store_->UpdateDebateStatus("d1", events::DebateStatus::kRunning, "2026-01-01T00:00:05.000Z")
            .ok());
    auto got = store_->GetDebate("d1");
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->status, events::DebateStatus::kRunning);
    EXPECT_EQ(got->started_at, "2026-01-01T00:00:05.000Z");

    // An empty started_at keeps the stored one.
    ASSERT_TRUE(store_->UpdateDebateStatus("d1", events::DebateStatus::kCancelled, "").ok());
    got = store_->GetDebate("d1");
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->status, events::DebateStatus::kCancelled);
    EXPECT_EQ(got->started_at, "2026-01-01T00:00:05.000Z");

    auto missing = store_->UpdateDebateStatus("nope", events::DebateStatus::kRunning, "");
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

TEST_P(StoreContractTest, ListIsNewestFirstWithIdAsTieBreak) {
    Create(MakeDebate("a", "pending", "2026-01-01T00:00:00.000Z"));
    Create(MakeDebate("c", "pending", "2026-01-03T00:00:00.000Z"));
    Create(MakeDebate("b", "pending", "2026-01-02T00:00:00.000Z"));
    Create(MakeDebate("b2", "pending", "2026-01-02T00:00:00.000Z"));
    EXPECT_EQ(ListIds(""), (std::vector<std::string>{"c", "b2", "b", "a"}));
}

TEST_P(StoreContractTest, ListFilters) {
    int day = 1;
    auto at = [&day] {
        char buf[40];
        std::snprintf(buf, sizeof buf, "2026-01-%02dT00:00:00.000Z", day++);
        return std::string(buf);
    };
    Create(MakeDebate("p", "pending", at()));
    Create(MakeDebate("r", "running", at()));
    DebateRecord yes = MakeDebate("c_yes", "completed", at());
    yes.consensus_reached = true;
    Create(yes);
    DebateRecord no = MakeDebate("c_no", "completed", at());
    no.consensus_reached = false;
    Create(no);
    Create(MakeDebate("c_unknown", "completed", at()));  // consensus_reached unset
    DebateRecord failed_no = MakeDebate("f", "failed", at());
    failed_no.consensus_reached = false;  // not completed: not "no_consensus"
    Create(failed_no);
    Create(MakeDebate("x", "cancelled", at()));

    std::int64_t total = -1;
    EXPECT_EQ(ListIds("pending", 100, 0, &total), std::vector<std::string>{"p"});
    EXPECT_EQ(total, 1);
    EXPECT_EQ(ListIds("running"), std::vector<std::string>{"r"});
    EXPECT_EQ(ListIds("completed", 100, 0, &total),
              (std::vector<std::string>{"c_unknown", "c_no", "c_yes"}));
    EXPECT_EQ(total, 3);
    EXPECT_EQ(ListIds("failed"), std::vector<std::string>{"f"});
    EXPECT_EQ(ListIds("cancelled"), std::vector<std::string>{"x"});
    EXPECT_EQ(ListIds("active", 100, 0, &total), (std::vector<std::string>{"r", "p"}));
    EXPECT_EQ(total, 2);
    EXPECT_EQ(ListIds("no_consensus", 100, 0, &total), std::vector<std::string>{"c_no"});
    EXPECT_EQ(total, 1);
    EXPECT_EQ(ListIds("", 100, 0, &total).size(), 7u);
    EXPECT_EQ(total, 7);
}

TEST_P(StoreContractTest, ListLimitOffsetAndTotal) {
    for (int i = 0; i < 7; ++i) {
        Create(MakeDebate("d" + std::to_string(i), i % 2 == 0 ? "completed" : "pending",
                          "2026-01-0" + std::to_string(i + 1) + "T00:00:00.000Z"));
    }
    std::int64_t total = -1;
    EXPECT_EQ(ListIds("", 3, 0, &total), (std::vector<std::string>{"d6", "d5", "d4"}));
    EXPECT_EQ(total, 7);
    EXPECT_EQ(ListIds("", 3, 3, &total), (std::vector<std::string>{"d3", "d2", "d1"}));
    EXPECT_EQ(total, 7);
    EXPECT_EQ(ListIds("", 3, 6, &total), std::vector<std::string>{"d0"});
    EXPECT_EQ(ListIds("", 3, 9, &total), std::vector<std::string>{});
    EXPECT_EQ(total, 7);
    EXPECT_EQ(ListIds("completed", 2, 1, &total), (std::vector<std::string>{"d4", "d2"}));
    EXPECT_EQ(total, 4);
    EXPECT_EQ(ListIds("pending", 0, 0, &total), std::vector<std::string>{});
    EXPECT_EQ(total, 3);
}

TEST_P(StoreContractTest, ListUnknownStatusIsValidationError) {
    auto page = store_->ListDebates({"finished", 20, 0});
    ASSERT_FALSE(page.ok());
    EXPECT_EQ(page.error().code, ErrorCode::kValidation);
    EXPECT_EQ(page.error().field, "status");
    // A value that would change the SQL if it were concatenated is just unknown.
    auto injected = store_->ListDebates({"pending' OR '1'='1", 20, 0});
    ASSERT_FALSE(injected.ok());
    EXPECT_EQ(injected.error().code, ErrorCode::kValidation);
    auto negative = store_->ListDebates({"", -1, 0});
    ASSERT_FALSE(negative.ok());
    EXPECT_EQ(negative.error().code, ErrorCode::kValidation);
}

// ---------------------------------------------------------------- finish + receipts

TEST_P(StoreContractTest, FinishWritesDebateEventsAndReceiptAndChainsHashes) {
    const DebateRecord d1 = MakeDebate("d1", "running", "2026-01-01T00:00:00.000Z");
    const DebateRecord d2 = MakeDebate("d2", "running", "2026-01-02T00:00:00.000Z");
    Create(d1);
    Create(d2);

    std::optional<std::string> seen = std::string("not called");
    ReceiptBuilder b1 = Builder("d1", &seen, "2026-01-05T00:00:00.000Z");
    auto r1 = store_->FinishDebate(Finished(d1), MakeEvents("d1", 1, 3), &b1);
    ASSERT_TRUE(r1.ok()) << r1.error().message;
    ASSERT_TRUE(r1->has_value());
    EXPECT_FALSE(seen.has_value());  // the first receipt has no previous hash
    EXPECT_EQ((*r1)->receipt_id, "rcpt_d1");
    EXPECT_FALSE((*r1)->previous_hash.has_value());

    auto got = store_->GetDebate("d1");
    ASSERT_TRUE(got.ok());
    DebateRecord expected = Finished(d1);
    expected.receipt_id = "rcpt_d1";
    ExpectSameDebate(*got, expected);
    auto events = store_->ListEvents("d1", 0, 100);
    ASSERT_TRUE(events.ok());
    ASSERT_EQ(events->size(), 3u);
    EXPECT_EQ((*events)[2].data_json, MakeEvent("d1", 3).data_json);
    EXPECT_EQ((*events)[2].timestamp, MakeEvent("d1", 3).timestamp);
    EXPECT_EQ((*events)[2].agent, "claude");

    // d2's receipt is inserted later but carries an earlier time: the chain follows
    // insertion order.
    ReceiptBuilder b2 = Builder("d2", &seen, "2026-01-04T00:00:00.000Z");
    auto r2 = store_->FinishDebate(Finished(d2), {}, &b2);
    ASSERT_TRUE(r2.ok()) << r2.error().message;
    ASSERT_TRUE(r2->has_value());
    EXPECT_EQ(seen, std::optional<std::string>("hash-d1"));
    EXPECT_EQ((*r2)->previous_hash, std::optional<std::string>("hash-d1"));

    auto stored = store_->GetReceipt("rcpt_d2");
    ASSERT_TRUE(stored.ok());
    EXPECT_EQ(stored->previous_hash, std::optional<std::string>("hash-d1"));
    EXPECT_EQ(stored->json, R"({"receipt_id":"rcpt_d2"})");
    auto last = store_->LastReceiptHash();
    ASSERT_TRUE(last.ok());
    EXPECT_EQ(*last, std::optional<std::string>("hash-d2"));

    auto page = store_->ListReceipts("", 10, 0);
    ASSERT_TRUE(page.ok());
    EXPECT_EQ(page->total, 2);
    ASSERT_EQ(page->items.size(), 2u);
    EXPECT_EQ(page->items[0].receipt_id, "rcpt_d2");  // newest first
    auto only_d1 = store_->ListReceipts("d1", 10, 0);
    ASSERT_TRUE(only_d1.ok());
    EXPECT_EQ(only_d1->total, 1);
}

TEST_P(StoreContractTest, ReceiptChainPagesInChainOrder) {
    std::optional<std::string> seen;
    for (int i = 1; i <= 5; ++i) {
        const std::string id = "d" + std::to_string(i);
        // Times go backwards: the chain follows insertion order, not created_at.
        const DebateRecord d =
            MakeDebate(id, "running", "2026-01-0" + std::to_string(10 - i) + "T00:00:00.000Z");
        Create(d);
        ReceiptBuilder b = Builder(id, &seen, d.created_at);
        ASSERT_TRUE(store_->FinishDebate(Finished(d), {}, &b).ok());
    }
    std::vector<std::string> ids;
    std::int64_t after = 0;
    while (true) {
        auto page = store_->ListReceiptChain(after, 2);
        ASSERT_TRUE(page.ok()) << page.error().message;
        if (page->empty()) break;
        EXPECT_LE(page->size(), 2u);
        for (const auto& e : *page) {
            EXPECT_GT(e.chain_seq, after);
            EXPECT_FALSE(e.tombstone);
            after = e.chain_seq;
            ids.push_back(e.receipt.receipt_id);
            if (ids.size() > 1) {
                EXPECT_EQ(e.receipt.previous_hash,
                          std::optional<std::string>("hash-d" + std::to_string(ids.size() - 1)));
            }
        }
    }
    EXPECT_EQ(ids,
              (std::vector<std::string>{"rcpt_d1", "rcpt_d2", "rcpt_d3", "rcpt_d4", "rcpt_d5"}));
    EXPECT_EQ(store_->ListReceiptChain(0, 0).error().code, common::ErrorCode::kValidation);
    EXPECT_EQ(store_->ListReceiptChain(0, 1001).error().code, common::ErrorCode::kValidation);
}

TEST_P(StoreContractTest, ScheduledRunIsClaimedOncePerSlot) {
    const std::string slot = "2026-12-06T02:00:00.000Z";
    auto first = store_->ClaimScheduledRun("backup", slot, "inst_a", "2026-12-06T02:00:01.000Z");
    ASSERT_TRUE(first.ok()) << first.error().message;
    EXPECT_TRUE(*first);
    EXPECT_FALSE(*store_->ClaimScheduledRun("backup", slot, "inst_b", "2026-12-06T02:00:01.000Z"));
    // Another job or slot is independent.
    EXPECT_TRUE(*store_->ClaimScheduledRun("drill", slot, "inst_b", "2026-12-06T02:00:01.000Z"));
    EXPECT_TRUE(*store_->ClaimScheduledRun("backup", "2026-12-07T02:00:00.000Z", "inst_b",
                                           "2026-12-07T02:00:01.000Z"));
    EXPECT_EQ(
        store_->FinishScheduledRun("backup", slot, "inst_b", "succeeded", "", "x").error().code,
        common::ErrorCode::kConflict);
    EXPECT_TRUE(
        store_->FinishScheduledRun("backup", slot, "inst_a", "succeeded", "bk_1", "x").ok());
    // Finished: still taken (a late instance cannot run the slot again).
    EXPECT_FALSE(*store_->ClaimScheduledRun("backup", slot, "inst_c", "2026-12-06T03:00:00.000Z"));
    EXPECT_EQ(
        store_->FinishScheduledRun("backup", "nope", "inst_a", "failed", "", "x").error().code,
        common::ErrorCode::kNotFound);
    EXPECT_EQ(store_->ClaimScheduledRun("", slot, "inst_a", "x").error().code,
              common::ErrorCode::kValidation);
}

TEST_P(StoreContractTest, FinishWithoutReceiptBuilder) {
    const DebateRecord d = MakeDebate("d1", "running", "2026-01-01T00:00:00.000Z");
    Create(d);
    DebateRecord failed = d;
    failed.status = events::DebateStatus::kFailed;
    failed.error_code = "timeout";
    failed.error_message = "debate deadline exceeded";
    auto r = store_->FinishDebate(failed, MakeEvents("d1", 1, 2), nullptr);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_FALSE(r->has_value());
    ExpectSameDebate(*store_->GetDebate("d1"), failed);
    EXPECT_EQ(store_->ListEvents("d1", 0, 10)->size(), 2u);
    EXPECT_FALSE(store_->LastReceiptHash()->has_value());
}

TEST_P(StoreContractTest, FailingReceiptBuilderLeavesNothingWritten) {
    // A prior receipt, so that "unchanged" is distinguishable from "empty".
    const DebateRecord d0 = MakeDebate("d0", "running", "2026-01-01T00:00:00.000Z");
    Create(d0);
    ReceiptBuilder b0 = Builder("d0");
    ASSERT_TRUE(store_->FinishDebate(Finished(d0), {}, &b0).ok());

    const DebateRecord d1 = MakeDebate("d1", "running", "2026-01-02T00:00:00.000Z");
    Create(d1);
    ASSERT_TRUE(store_->AppendEvents(MakeEvents("d1", 1, 2)).ok());

    ReceiptBuilder failing =
        [](const std::optional<std::string>&) -> common::Result<ReceiptRecord> {
        return common::MakeError(ErrorCode::kCrypto, "signing key unavailable");
    };
    ReceiptBuilder throwing =
        [](const std::optional<std::string>&) -> common::Result<ReceiptRecord> {
        throw std::runtime_error("builder bug");
    };
    ReceiptBuilder unchained = [](const std::optional<std::string>&) {
        return Builder("d1")(std::nullopt);  // ignores the previous hash
    };

    struct Case {
        const ReceiptBuilder* builder;
        ErrorCode code;
    };
    for (const auto& c : {Case{&failing, ErrorCode::kCrypto}, Case{&throwing, ErrorCode::kInternal},
                          Case{&unchained, ErrorCode::kInternal}}) {
        auto r = store_->FinishDebate(Finished(d1), MakeEvents("d1", 1, 5), c.builder);
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().code, c.code) << r.error().message;

        auto got = store_->GetDebate("d1");
        ASSERT_TRUE(got.ok());
        ExpectSameDebate(*got, d1);  // still running, no receipt id
        auto events = store_->ListEvents("d1", 0, 100);
        ASSERT_TRUE(events.ok());
        EXPECT_EQ(events->size(), 2u);  // only the two appended before
        EXPECT_EQ(*store_->LastReceiptHash(), std::optional<std::string>("hash-d0"));
        EXPECT_EQ(store_->ListReceipts("", 10, 0)->total, 1);
        EXPECT_EQ(store_->GetReceipt("d1").error().code, ErrorCode::kNotFound);
    }
    // The store is still usable, and the same finish now succeeds.
    ReceiptBuilder good = Builder("d1");
    auto ok = store_->FinishDebate(Finished(d1), MakeEvents("d1", 1, 5), &good);
    ASSERT_TRUE(ok.ok()) << ok.error().message;
    EXPECT_EQ(store_->ListEvents("d1", 0, 100)->size(), 5u);
}

TEST_P(StoreContractTest, SecondReceiptForADebateIsAConflictAndRollsBack) {
    const DebateRecord d = MakeDebate("d1", "running", "2026-01-01T00:00:00.000Z");
    Create(d);
    ReceiptBuilder b = Builder("d1");
    ASSERT_TRUE(store_->FinishDebate(Finished(d), MakeEvents("d1", 1, 2), &b).ok());
    const DebateRecord before = *store_->GetDebate("d1");

    DebateRecord again = Finished(d);
    again.verdict = "reject";
    ReceiptBuilder b_again = [](const std::optional<std::string>& previous) {
        auto r = Builder("d1")(previous);
        r->receipt_id = "rcpt_other";
        return r;
    };
    auto r = store_->FinishDebate(again, MakeEvents("d1", 1, 4), &b_again);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kConflict) << r.error().message;
    ExpectSameDebate(*store_->GetDebate("d1"), before);
    EXPECT_EQ(store_->ListEvents("d1", 0, 100)->size(), 2u);
    EXPECT_EQ(store_->ListReceipts("", 10, 0)->total, 1);
}

TEST_P(StoreContractTest, FinishRefusesNonTerminalStatusAndForeignEvents) {
    const DebateRecord d = MakeDebate("d1", "running", "2026-01-01T00:00:00.000Z");
    Create(d);
    auto r = store_->FinishDebate(d, {}, nullptr);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kValidation);
    auto foreign = store_->FinishDebate(Finished(d), MakeEvents("other", 1, 1), nullptr);
    ASSERT_FALSE(foreign.ok());
    EXPECT_EQ(foreign.error().code, ErrorCode::kValidation);
    ExpectSameDebate(*store_->GetDebate("d1"), d);
}

TEST_P(StoreContractTest, GetReceiptByAllThreeIdForms) {
    const DebateRecord d = MakeDebate("d_abc", "running", "2026-01-01T00:00:00.000Z");
    Create(d);
    ReceiptBuilder b = Builder("d_abc");
    ASSERT_TRUE(store_->FinishDebate(Finished(d), {}, &b).ok());

    for (const std::string id : {"rcpt_d_abc", "debate-d_abc", "d_abc"}) {
        auto r = store_->GetReceipt(id);
        ASSERT_TRUE(r.ok()) << id << ": " << r.error().message;
        EXPECT_EQ(r->receipt_id, "rcpt_d_abc") << id;
        EXPECT_EQ(r->debate_id, "d_abc") << id;
        EXPECT_EQ(r->content_hash, "hash-d_abc") << id;
    }
    for (const std::string id : {"rcpt_nope", "debate-nope", "nope", "debate-", ""}) {
        auto r = store_->GetReceipt(id);
        ASSERT_FALSE(r.ok()) << id;
        EXPECT_EQ(r.error().code, ErrorCode::kNotFound) << id;
        EXPECT_FALSE(r.error().message.empty());
    }
}

// ---------------------------------------------------------------- interrupted, events, ping

TEST_P(StoreContractTest, MarkInterruptedFailsOnlyPendingAndRunningDebates) {
    Create(MakeDebate("p", "pending", "2026-01-01T00:00:00.000Z"));
    Create(MakeDebate("r", "running", "2026-01-02T00:00:00.000Z"));
    const DebateRecord done = Finished(MakeDebate("c", "completed", "2026-01-03T00:00:00.000Z"));
    Create(done);
    Create(MakeDebate("x", "cancelled", "2026-01-04T00:00:00.000Z"));

    auto n = store_->MarkInterrupted("2026-02-01T00:00:00.000Z");
    ASSERT_TRUE(n.ok()) << n.error().message;
    EXPECT_EQ(*n, 2);
    for (const char* id : {"p", "r"}) {
        auto d = store_->GetDebate(id);
        ASSERT_TRUE(d.ok());
        EXPECT_EQ(d->status, events::DebateStatus::kFailed);
        EXPECT_EQ(d->error_code, "interrupted");
        EXPECT_EQ(d->error_message, "server stopped while the debate was running");
        EXPECT_EQ(d->completed_at, "2026-02-01T00:00:00.000Z");
    }
    ExpectSameDebate(*store_->GetDebate("c"), done);
    EXPECT_EQ(store_->GetDebate("x")->status, events::DebateStatus::kCancelled);
    EXPECT_EQ(*store_->MarkInterrupted("2026-02-02T00:00:00.000Z"), 0);
}

TEST_P(StoreContractTest, QueuedDebatesRoundTripAndAreLeftToTheirLeases) {
    DebateRecord queued = MakeDebate("q", "pending", "2026-01-01T00:00:00.000Z");
    queued.queued_for_worker = true;
    queued.lease_owner = "ignored";  // written by the queue methods only
    queued.attempts = 7;
    Create(queued);
    Create(MakeDebate("local", "running", "2026-01-02T00:00:00.000Z"));
    auto got = store_->GetDebate("q");
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_TRUE(got->queued_for_worker);
    EXPECT_EQ(got->lease_owner, "");
    EXPECT_EQ(got->lease_expires_at, "");
    EXPECT_EQ(got->attempts, 0);
    EXPECT_FALSE(store_->GetDebate("local")->queued_for_worker);

    auto n = store_->MarkInterrupted("2026-02-01T00:00:00.000Z");
    ASSERT_TRUE(n.ok()) << n.error().message;
    EXPECT_EQ(*n, 1);
    EXPECT_EQ(store_->GetDebate("q")->status, events::DebateStatus::kPending);
    EXPECT_EQ(store_->GetDebate("local")->status, events::DebateStatus::kFailed);
}

TEST_P(StoreContractTest, EventsSinceAndLimit) {
    Create(MakeDebate("d1", "running", "2026-01-01T00:00:00.000Z"));
    Create(MakeDebate("d2", "running", "2026-01-01T00:00:00.000Z"));
    // Out of order on purpose; the list is by seq.
    auto batch = MakeEvents("d1", 6, 10);
    for (auto& e : MakeEvents("d1", 1, 5)) batch.push_back(e);
    ASSERT_TRUE(store_->AppendEvents(batch).ok());
    ASSERT_TRUE(store_->AppendEvents(MakeEvents("d2", 1, 3)).ok());

    auto seqs = [&](std::int64_t since, int limit) {
        std::vector<std::int64_t> out;
        auto events = store_->ListEvents("d1", since, limit);
        EXPECT_TRUE(events.ok());
        if (events.ok()) {
            for (const auto& e : *events) {
                EXPECT_EQ(e.debate_id, "d1");
                out.push_back(e.seq);
            }
        }
        return out;
    };
    EXPECT_EQ(seqs(0, 100), (std::vector<std::int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
    EXPECT_EQ(seqs(3, 4), (std::vector<std::int64_t>{4, 5, 6, 7}));
    EXPECT_EQ(seqs(9, 100), (std::vector<std::int64_t>{10}));
    EXPECT_EQ(seqs(10, 100), (std::vector<std::int64_t>{}));
    EXPECT_EQ(seqs(0, 0), (std::vector<std::int64_t>{}));

    // A retried append is harmless and does not overwrite.
    auto retry = MakeEvents("d1", 9, 11);
    retry[0].data_json = R"({"debate_id":"d1","changed":true})";
    ASSERT_TRUE(store_->AppendEvents(retry).ok());
    auto all = store_->ListEvents("d1", 8, 100);
    ASSERT_TRUE(all.ok());
    ASSERT_EQ(all->size(), 3u);
    EXPECT_EQ((*all)[0].data_json, MakeEvent("d1", 9).data_json);
    EXPECT_EQ((*all)[2].seq, 11);
}

TEST_P(StoreContractTest, AppendEventsIsAllOrNothing) {
    Create(MakeDebate("d1", "running", "2026-01-01T00:00:00.000Z"));
    auto batch = MakeEvents("d1", 1, 3);
    batch.push_back(MakeEvent("no_such_debate", 1));  // foreign key violation
    auto s = store_->AppendEvents(batch);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, ErrorCode::kStorage);
    EXPECT_NE(Lower(s.error().message).find("foreign key"), std::string::npos) << s.error().message;
    EXPECT_TRUE(store_->ListEvents("d1", 0, 100)->empty());

    auto bad_seq = MakeEvents("d1", 0, 1);
    auto v = store_->AppendEvents(bad_seq);
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.error().code, ErrorCode::kValidation);
    EXPECT_TRUE(store_->ListEvents("d1", 0, 100)->empty());

    // A failed batch leaves the store appending (SQLite keeps its insert prepared).
    ASSERT_TRUE(store_->AppendEvents(MakeEvents("d1", 1, 3)).ok());
    EXPECT_EQ(store_->ListEvents("d1", 0, 100)->size(), 3u);
    batch = MakeEvents("d1", 4, 5);
    batch.push_back(MakeEvent("no_such_debate", 1));
    ASSERT_FALSE(store_->AppendEvents(batch).ok());
    ASSERT_TRUE(store_->AppendEvents(MakeEvents("d1", 4, 5)).ok());
    EXPECT_EQ(store_->ListEvents("d1", 0, 100)->size(), 5u);
}

// The write-health probe: commits (so it fails like a write on a full disk) and leaves
// nothing behind, so it may run any number of times, from several processes.
TEST_P(StoreContractTest, WriteProbeCommitsAndLeavesNothing) {
    for (int i = 0; i < 3; ++i) {
        auto probed = store_->ProbeWrite();
        ASSERT_TRUE(probed.ok()) << probed.error().message;
    }
    Create(MakeDebate("d1", "pending", "2026-01-01T00:00:00.000Z"));
    EXPECT_EQ(store_->ListDebates(DebateFilter{})->total, 1);
}

TEST_P(StoreContractTest, PingAndDataSurviveReopen) {
    ASSERT_TRUE(store_->Ping().ok());
    Create(MakeDebate("d1", "pending", "2026-01-01T00:00:00.000Z"));
    store_.reset();
    auto reopened = backend_->Open(/*migrate=*/false);
    ASSERT_TRUE(reopened.ok()) << reopened.error().message;
    EXPECT_TRUE(reopened->store->Ping().ok());
    EXPECT_EQ(reopened->store->GetDebate("d1")->status, events::DebateStatus::kPending);
}

// ---------------------------------------------------------------- concurrency

// Each thread creates and finishes `per_thread` debates with receipts through
// stores[t % stores.size()]; receipt times run backwards so that created_at order is not
// insertion order. Then checks that the receipts form one linear chain.
void FinishConcurrentlyAndCheckChain(const std::vector<Store*>& stores, int threads_count,
                                     int per_thread) {
    std::mutex failures_mu;
    std::vector<std::string> failures;
    std::vector<std::thread> threads;
    for (int t = 0; t < threads_count; ++t) {
        threads.emplace_back([&, t] {
            Store& store = *stores[static_cast<std::size_t>(t) % stores.size()];
            for (int i = 0; i < per_thread; ++i) {
                const std::string id = "d_" + std::to_string(t) + "_" + std::to_string(i);
                DebateRecord d =
                    StoreContractTest::MakeDebate(id, "running", "2026-01-01T00:00:00.000Z");
                auto created = store.CreateDebate(d);
                ReceiptBuilder b = StoreContractTest::Builder(
                    id, nullptr,
                    "2026-01-01T00:" + std::to_string(10 + per_thread - i) + ":00." +
                        std::to_string(100 + t) + "Z");
                auto finished = store.FinishDebate(StoreContractTest::Finished(d),
                                                   StoreContractTest::MakeEvents(id, 1, 2), &b);
                if (!created.ok() || !finished.ok() || !finished->has_value()) {
                    std::lock_guard lock(failures_mu);
                    failures.push_back(id + ": " +
                                       (!created.ok()    ? created.error().message
                                        : !finished.ok() ? finished.error().message
                                                         : "no receipt"));
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    ASSERT_TRUE(failures.empty()) << failures.front();

    Store& store = *stores.front();
    const auto expected = static_cast<std::size_t>(threads_count * per_thread);
    auto page = store.ListReceipts("", 1000, 0);
    ASSERT_TRUE(page.ok()) << page.error().message;
    ASSERT_EQ(page->total, static_cast<std::int64_t>(expected));
    ASSERT_EQ(page->items.size(), expected);
    std::vector<ReceiptRecord> chain(page->items.rbegin(), page->items.rend());  // oldest first

    int nulls = 0;
    std::set<std::string> hashes;
    for (std::size_t i = 0; i < chain.size(); ++i) {
        hashes.insert(chain[i].content_hash);
        if (!chain[i].previous_hash) ++nulls;
        if (i == 0) {
            EXPECT_FALSE(chain[i].previous_hash.has_value());
        } else {
            EXPECT_EQ(chain[i].previous_hash, std::optional<std::string>(chain[i - 1].content_hash))
                << "at " << i;
        }
    }
    EXPECT_EQ(nulls, 1);
    EXPECT_EQ(hashes.size(), chain.size());
    EXPECT_EQ(*store.LastReceiptHash(), std::optional<std::string>(chain.back().content_hash));
    auto completed = store.ListDebates({"completed", 1, 0});
    ASSERT_TRUE(completed.ok());
    EXPECT_EQ(completed->total, static_cast<std::int64_t>(expected));
    for (const auto& r : chain) {
        auto events = store.ListEvents(r.debate_id, 0, 10);
        ASSERT_TRUE(events.ok());
        EXPECT_EQ(events->size(), 2u) << r.debate_id;
    }
}

TEST_P(StoreContractTest, ConcurrentFinishesKeepTheReceiptChainLinear) {
    FinishConcurrentlyAndCheckChain({store_.get()}, 4, 25);
}

// Two openings of one database (a server and a worker process): the database's locking
// (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock), not an in-process mutex,
// keeps the chain linear.
TEST_P(StoreContractTest, TwoConnectionsKeepTheReceiptChainLinear) {
    auto second = backend_->Open(/*migrate=*/true);
    ASSERT_TRUE(second.ok()) << second.error().message;
    FinishConcurrentlyAndCheckChain({store_.get(), second->store.get()}, 4, 25);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreContractTest, ARAGORA_STORAGE_BACKENDS);

}  // namespace
}  // namespace aragora::storage
