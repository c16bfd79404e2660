// StoredEventsBetween: the WebSocket replay's store paging (formerly inside a lambda of
// RunServe), on a real SQLite store with pages smaller than the debate.

#include "app/event_replay.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "storage/sqlite/sqlite_store.hpp"

namespace aragora::app {
namespace {

class StoredEventsBetweenTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "aragora-app-replay-XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
        auto store = storage::OpenSqliteStore({dir_ + "/aragora.sqlite3"}, /*migrate=*/true);
        ASSERT_TRUE(store.ok()) << store.error().message;
        store_ = std::move(*store);
        storage::DebateRecord d;
        d.id = "d1";
        d.task = "paging";
        d.status = events::DebateStatus::kRunning;
        d.agents = {"demo", "demo"};
        d.rounds = 1;
        d.created_at = "2026-01-01T00:00:00.000Z";
        ASSERT_TRUE(store_->CreateDebate(d).ok());
        std::vector<events::Event> evs;
        for (int seq = 1; seq <= 7; ++seq) {
            events::Event e;
            e.debate_id = "d1";
            e.seq = seq;
            e.type = "message";
            evs.push_back(e);
        }
        ASSERT_TRUE(store_->AppendEvents(evs).ok());
    }
    void TearDown() override {
        store_.reset();
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }

    static std::vector<std::int64_t> Seqs(const std::vector<events::Event>& evs) {
        std::vector<std::int64_t> out;
        for (const auto& e : evs) out.push_back(e.seq);
        return out;
    }

    std::string dir_;
    std::unique_ptr<storage::Store> store_;
};

TEST_F(StoredEventsBetweenTest, ReadsEveryPageUpToTheExclusiveBound) {
    auto all = StoredEventsBetween(*store_, "d1", 0, INT64_MAX, /*page_size=*/2);
    ASSERT_TRUE(all.ok()) << all.error().message;
    EXPECT_EQ(Seqs(*all), (std::vector<std::int64_t>{1, 2, 3, 4, 5, 6, 7}));

    auto window = StoredEventsBetween(*store_, "d1", 2, 6, /*page_size=*/2);
    ASSERT_TRUE(window.ok());
    EXPECT_EQ(Seqs(*window), (std::vector<std::int64_t>{3, 4, 5}));

    auto exact_pages = StoredEventsBetween(*store_, "d1", 1, INT64_MAX, /*page_size=*/3);
    ASSERT_TRUE(exact_pages.ok());
    EXPECT_EQ(Seqs(*exact_pages), (std::vector<std::int64_t>{2, 3, 4, 5, 6, 7}));

    auto none = StoredEventsBetween(*store_, "d1", 7, INT64_MAX);
    ASSERT_TRUE(none.ok());
    EXPECT_TRUE(none->empty());
}

TEST_F(StoredEventsBetweenTest, AnUnknownDebateIsNotFound) {
    auto r = StoredEventsBetween(*store_, "nope", 0, INT64_MAX);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, common::ErrorCode::kNotFound);
}

}  // namespace
}  // namespace aragora::app
