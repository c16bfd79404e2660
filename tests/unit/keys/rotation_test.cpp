#include "keys/rotation.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "keys/envelope.hpp"
#include "keys_test_support.hpp"

namespace aragora::keys {
namespace {

using common::ErrorCode;
using std::chrono::hours;
using test::FakeTarget;
using test::MasterKey;

constexpr auto kDay = hours(24);

class RotationTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("keys_rotation_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
        config_.re_encrypt_batch_size = 100;
        Start();
    }
    void TearDown() override {
        rotator_.reset();
        ring_.reset();
        stores_ = {};
        std::filesystem::remove_all(dir_);
    }
    // A (re)start of the process: stores, keyring and rotator opened afresh on the file.
    void Start() {
        rotator_.reset();
        ring_.reset();
        stores_ = {};
        stores_ = test::MemoryStores((dir_ / "aragora.sqlite3").string());
        auto ring = Keyring::Load(*stores_.keys, MasterKey(), clock_, metrics_);
        ASSERT_TRUE(ring) << ring.error().message;
        ring_ = std::move(*ring);
        rotator_ = std::make_unique<Rotator>(*ring_, *stores_.keys, stores_.auth.get(), clock_,
                                             metrics_, config_);
        rotator_->AddTarget(target_);
    }
    int StepUntilDone() {
        int steps = 0;
        while (true) {
            auto s = rotator_->Step();
            EXPECT_TRUE(s) << s.error().message;
            if (!s || !s->more) return steps;
            ++steps;
        }
    }
    std::vector<std::string> AuditActions() {
        std::vector<std::string> out;
        auto entries = stores_.auth->ListAudit(100, "");
        EXPECT_TRUE(entries);
        for (const auto& e : *entries) out.push_back(e.action);
        return out;
    }

    std::filesystem::path dir_;
    common::ManualClock clock_;
    KeyMetrics metrics_;
    RotationConfig config_;
    FakeTarget target_{"debates"};
    storage::SqliteStores stores_;
    std::unique_ptr<Keyring> ring_;
    std::unique_ptr<Rotator> rotator_;
};

TEST_F(RotationTest, RotatesOnlyWhenDueOnTheManualClock) {
    auto s = rotator_->Check();
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_FALSE(s->rotation_due);
    EXPECT_EQ(ring_->Current().version, 1u);

    clock_.Advance(kDay * 89);
    s = rotator_->Check();
    ASSERT_TRUE(s);
    EXPECT_EQ(ring_->Current().version, 1u);
    EXPECT_NEAR(metrics_.KeyAgeDays("primary").Value(), 89, 0.01);
    EXPECT_EQ(metrics_.Rotations("scheduled").Value(), 0);

    clock_.Advance(kDay);
    s = rotator_->Check();
    ASSERT_TRUE(s);
    EXPECT_EQ(ring_->Current().version, 2u);
    EXPECT_EQ(metrics_.Rotations("scheduled").Value(), 1);
    EXPECT_NEAR(metrics_.KeyAgeDays("primary").Value(), 0, 0.01);
    EXPECT_EQ(AuditActions().front(), "encryption_key_rotated");
    auto entry = stores_.auth->ListAudit(1, "")->front();
    EXPECT_EQ(entry.actor, "system:key_rotation_scheduler");
    EXPECT_EQ(entry.target, "primary v2");

    // Not due again for another interval.
    clock_.Advance(kDay * 30);
    ASSERT_TRUE(rotator_->Check());
    EXPECT_EQ(ring_->Current().version, 2u);
}

TEST_F(RotationTest, AManualRotationOfAYoungKeyNeedsForce) {
    clock_.Advance(kDay * 10);
    auto refused = rotator_->Rotate(RotateRequest{});
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, ErrorCode::kValidation);
    EXPECT_NE(refused.error().message.find("only 10 days old"), std::string::npos);
    EXPECT_NE(refused.error().message.find("force"), std::string::npos);
    EXPECT_EQ(ring_->Current().version, 1u);

    RotateRequest forced;
    forced.force = true;
    forced.actor = "usr_admin";
    auto r = rotator_->Rotate(forced);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r->success);
    EXPECT_EQ(r->old_version, 1u);
    EXPECT_EQ(r->new_version, 2u);
    EXPECT_EQ(metrics_.Rotations("manual").Value(), 1);
    EXPECT_EQ(stores_.auth->ListAudit(1, "")->front().actor, "usr_admin");

    clock_.Advance(kDay * 31);
    EXPECT_TRUE(rotator_->Rotate(RotateRequest{}));
}

TEST_F(RotationTest, ADryRunChangesNothing) {
    target_.Fill(*ring_, 42);
    RotateRequest dry;
    dry.dry_run = true;
    auto r = rotator_->Rotate(dry);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r->dry_run);
    EXPECT_EQ(r->old_version, 1u);
    EXPECT_EQ(r->new_version, 2u);
    EXPECT_EQ(r->records_pending, 42);
    EXPECT_EQ(r->stores_processed, std::vector<std::string>{"debates"});
    EXPECT_EQ(ring_->Current().version, 1u);
    EXPECT_EQ(stores_.keys->ListDataKeys()->size(), 1u);
    EXPECT_TRUE(stores_.keys->ListReEncryptProgress()->empty());

    RotateRequest unknown;
    unknown.dry_run = true;
    unknown.stores = {"gmail_tokens"};
    EXPECT_EQ(rotator_->Rotate(unknown).error().code, ErrorCode::kValidation);
}

TEST_F(RotationTest, ReEncryptsInBatchesAndCountsThem) {
    target_.Fill(*ring_, 250);
    RotateRequest req;
    req.force = true;
    auto r = rotator_->Rotate(req);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->records_pending, 250);
    EXPECT_EQ(StepUntilDone(), 3);  // 100 + 100 + 50
    EXPECT_EQ(target_.CountNotUnder(ring_->Current()).value(), 0);
    EXPECT_EQ(metrics_.ReEncrypted("debates").Value(), 250);
    for (const auto& [id, n] : target_.reseals) EXPECT_EQ(n, 1) << id;
    for (const auto& [id, v] : target_.values()) {
        EXPECT_EQ(*ring_->Open(v, id), "secret-" + id);
    }
    auto status = rotator_->Status();
    ASSERT_TRUE(status);
    ASSERT_EQ(status->targets.size(), 1u);
    EXPECT_TRUE(status->targets[0].done);
    EXPECT_EQ(status->targets[0].rewritten, 250);
    EXPECT_EQ(status->targets[0].pending, 0);
    EXPECT_EQ(status->last_result->records_re_encrypted, 250);
}

// kill -9 in the middle of a pass: the process dies after two committed batches. A restart
// resumes from the persisted cursor; nothing is sealed twice and nothing is lost.
TEST_F(RotationTest, AKilledPassResumesFromThePersistedCursor) {
    target_.Fill(*ring_, 450);
    const auto before = target_.values();
    RotateRequest req;
    req.force = true;
    ASSERT_TRUE(rotator_->Rotate(req));
    ASSERT_TRUE(rotator_->Step()->more);
    ASSERT_TRUE(rotator_->Step()->more);
    EXPECT_EQ(target_.cursors_seen, (std::vector<std::string>{"", "r0100"}));

    Start();  // the restart (the rotator and its lock are gone with the process)
    target_.cursors_seen.clear();
    EXPECT_EQ(ring_->Current().version, 2u);
    StepUntilDone();
    ASSERT_FALSE(target_.cursors_seen.empty());
    EXPECT_EQ(target_.cursors_seen.front(), "r0200");  // not from the start
    EXPECT_EQ(target_.reseals.size(), 450u);
    for (const auto& [id, n] : target_.reseals) EXPECT_EQ(n, 1) << id;
    for (const auto& [id, v] : target_.values()) {
        EXPECT_EQ(ring_->KeyOf(v)->version, 2u);
        EXPECT_EQ(*ring_->Open(v, id), "secret-" + id);
        EXPECT_NE(v, before.at(id));
    }
    auto rows = stores_.keys->ListReEncryptProgress();
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_TRUE((*rows)[0].done);
    EXPECT_EQ((*rows)[0].rewritten, 450);
}

TEST_F(RotationTest, AFailingBatchIsRetriedThenCountedAndResumedLater) {
    target_.Fill(*ring_, 150);
    RotateRequest req;
    req.force = true;
    ASSERT_TRUE(rotator_->Rotate(req));
    ASSERT_TRUE(rotator_->Step()->more);
    target_.fail_calls = config_.max_retries + 1;  // every attempt of the next batch fails
    auto failed = rotator_->Step();
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error().message, "target down");
    EXPECT_EQ(metrics_.Failures("re_encrypt").Value(), 1);
    // 1 + max_retries attempts, all from the persisted cursor.
    EXPECT_EQ(target_.cursors_seen.size(), 1u + 1u + config_.max_retries);
    EXPECT_EQ(target_.cursors_seen.back(), "r0100");
    StepUntilDone();
    EXPECT_EQ(target_.CountNotUnder(ring_->Current()).value(), 0);
    for (const auto& [id, n] : target_.reseals) EXPECT_EQ(n, 1) << id;
}

TEST_F(RotationTest, TheOldKeyExpiresAfterTheOverlapOnlyWhenNothingNeedsIt) {
    target_.Fill(*ring_, 120);
    const std::string old_value = target_.values().at("r0001");
    RotateRequest req;
    req.force = true;
    ASSERT_TRUE(rotator_->Rotate(req));
    ASSERT_TRUE(rotator_->Step()->more);  // 100 of 120 re-sealed

    clock_.Advance(kDay * 6);
    ASSERT_TRUE(rotator_->Check());
    EXPECT_EQ(ring_->Keys()[0].state, "retired");  // inside the overlap

    clock_.Advance(kDay * 2);
    auto s = rotator_->Check();
    ASSERT_TRUE(s);
    EXPECT_EQ(ring_->Keys()[0].state, "retired");  // overlap over, 20 values still need v1
    EXPECT_TRUE(ring_->Open(target_.values().at("r0120"), "r0120"));

    StepUntilDone();
    ASSERT_TRUE(rotator_->Check());
    EXPECT_EQ(ring_->Keys()[0].state, "expired");
    EXPECT_EQ(ring_->Open(old_value, "r0001").error().message,
              "encryption key primary v1 has expired");
    auto actions = AuditActions();
    EXPECT_EQ(actions.front(), "encryption_key_expired");
    // Everything still opens (all under v2), also after a restart.
    Start();
    for (const auto& [id, v] : target_.values()) EXPECT_TRUE(ring_->Open(v, id)) << id;
}

// `aragora keys rotate` (or another instance) rotates without this process's targets: the
// serving process's next steps re-encrypt them anyway.
TEST_F(RotationTest, ARotationByAnotherProcessIsReEncryptedHere) {
    target_.Fill(*ring_, 30);
    ASSERT_EQ(StepUntilDone(), 1);  // first pass under v1: every value skipped
    EXPECT_TRUE(target_.reseals.empty());
    Rotator cli(*ring_, *stores_.keys, stores_.auth.get(), clock_, metrics_, config_);
    RotateRequest req;
    req.force = true;
    ASSERT_TRUE(cli.Rotate(req));
    EXPECT_EQ(StepUntilDone(), 1);
    EXPECT_EQ(target_.CountNotUnder(ring_->Current()).value(), 0);
    EXPECT_EQ(target_.reseals.size(), 30u);
}

TEST_F(RotationTest, OneInstanceAtATime) {
    target_.Fill(*ring_, 10);
    auto held = stores_.keys->TryLockRotation();
    ASSERT_TRUE(held && *held);
    RotateRequest req;
    req.force = true;
    auto r = rotator_->Rotate(req);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kConflict);
    EXPECT_EQ(ring_->Current().version, 1u);
    held->reset();
    ASSERT_TRUE(rotator_->Rotate(req));
}

TEST_F(RotationTest, AnOverlongPassStopsAndResumesAtTheNextCheck) {
    config_.re_encrypt_timeout_seconds = 60;
    Start();
    target_.Fill(*ring_, 300);
    RotateRequest req;
    req.force = true;
    ASSERT_TRUE(rotator_->Rotate(req));
    target_.clock = &clock_;
    target_.batch_duration = std::chrono::seconds(40);
    ASSERT_TRUE(rotator_->Step()->more);
    ASSERT_TRUE(rotator_->Step()->more);  // 80 s of work: over the budget
    auto stopped = rotator_->Step();
    ASSERT_TRUE(stopped);
    EXPECT_FALSE(stopped->more);
    EXPECT_EQ(target_.CountNotUnder(ring_->Current()).value(), 100);
    EXPECT_EQ(rotator_->Status()->re_encryption_running, false);
    target_.clock = nullptr;
    StepUntilDone();  // the next check's pass, with a fresh time budget
    EXPECT_EQ(target_.CountNotUnder(ring_->Current()).value(), 0);
}

}  // namespace
}  // namespace aragora::keys
