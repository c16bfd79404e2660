#pragma once

// Test helpers of the key module: an in-memory SQLite store (keys + audit) and a fake
// ReEncryptTarget holding sealed values by record id.

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "common/clock.hpp"
#include "keys/cipher.hpp"
#include "storage/sqlite/sqlite_auth_store.hpp"

namespace aragora::keys::test {

inline storage::SqliteStores MemoryStores(const std::string& path = ":memory:") {
    auto stores = storage::OpenSqliteStores({path}, true);
    EXPECT_TRUE(stores) << stores.error().message;
    return std::move(*stores);
}

inline std::string MasterKey(char fill = 'k') { return std::string(32, fill); }

// Records "r0001".."rNNNN", each sealed with its id as associated data. ReEncrypt walks
// them in id order; the cursor is the last id handled. Counts every re-seal per record.
class FakeTarget final : public ReEncryptTarget {
public:
    explicit FakeTarget(std::string name) : name_(std::move(name)) {}

    void Fill(const FieldCipher& cipher, int n) {
        for (int i = 1; i <= n; ++i) {
            char id[16];
            std::snprintf(id, sizeof id, "r%04d", i);
            auto sealed = cipher.Seal("secret-" + std::string(id), id);
            ASSERT_TRUE(sealed);
            values_[id] = *sealed;
        }
    }

    std::string Name() const override { return name_; }

    common::Result<ReEncryptBatch> ReEncrypt(const FieldCipher& cipher,
                                             std::string_view after_cursor, int limit) override {
        cursors_seen.emplace_back(after_cursor);
        if (clock != nullptr) clock->Advance(batch_duration);
        if (fail_calls > 0) {
            --fail_calls;
            return common::MakeError(common::ErrorCode::kUnavailable, "target down");
        }
        ReEncryptBatch b;
        auto it = values_.upper_bound(std::string(after_cursor));
        int handled = 0;
        // One "transaction": computed first, applied together.
        std::map<std::string, std::string> updates;
        for (; it != values_.end() && handled < limit; ++it, ++handled) {
            auto key = cipher.KeyOf(it->second);
            if (!key) return key.error();
            if (*key == cipher.Current()) {
                ++b.skipped;
            } else {
                auto plain = cipher.Open(it->second, it->first);
                if (!plain) return plain.error();
                auto sealed = cipher.Seal(*plain, it->first);
                if (!sealed) return sealed.error();
                updates[it->first] = *sealed;
                ++b.rewritten;
            }
            b.next_cursor = it->first;
        }
        for (auto& [id, v] : updates) {
            values_[id] = v;
            ++reseals[id];
        }
        b.done = it == values_.end();
        return b;
    }

    common::Result<std::int64_t> CountNotUnder(const KeyRef& current) override {
        std::int64_t n = 0;
        for (const auto& [id, v] : values_) {
            if (!v.empty() && KeyOfText(v) != current) ++n;
        }
        return n;
    }

    std::map<std::string, std::string>& values() { return values_; }
    std::map<std::string, int> reseals;
    std::vector<std::string> cursors_seen;
    int fail_calls = 0;
    common::ManualClock* clock = nullptr;  // advanced by batch_duration per batch
    std::chrono::nanoseconds batch_duration{};

private:
    static KeyRef KeyOfText(const std::string& v);
    std::string name_;
    std::map<std::string, std::string> values_;
};

}  // namespace aragora::keys::test

#include "keys/envelope.hpp"

inline aragora::keys::KeyRef aragora::keys::test::FakeTarget::KeyOfText(const std::string& v) {
    auto e = FromSealedText(v);
    return e ? e->key : KeyRef{};
}
