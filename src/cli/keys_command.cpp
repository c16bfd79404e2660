#include "cli/keys_command.hpp"

#include <boost/json.hpp>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "app/content_encryption.hpp"
#include "cli/exit_codes.hpp"
#include "common/json_text.hpp"
#include "common/logging.hpp"
#include "common/time.hpp"
#include "debate/receipt_keys.hpp"
#include "storage/open_stores.hpp"

namespace aragora::cli {
namespace {

namespace json = boost::json;

constexpr int kPageSize = 500;
constexpr int kProgressEvery = 1000;
constexpr std::size_t kMaxListedFailures = 100;

common::Result<config::Settings> LoadCliSettings() {
    auto settings = config::LoadSettings(config::ProcessEnv(), config::RunMode::kLocalCli);
    if (!settings) return settings.error();
    if (auto logging = common::SetupLogging(settings->log); !logging) return logging.error();
    return settings;
}

std::string Dash(const std::string& s) { return s.empty() ? "-" : s; }
// `s` (or "-") padded to a column of `width`.
std::string Column(const std::string& s, std::size_t width) {
    std::string out = Dash(s);
    if (out.size() < width) out.append(width - out.size(), ' ');
    return out;
}

int ListKeys(bool as_json) {
    auto settings = LoadCliSettings();
    if (!settings) return Complain(kExitUsage, settings.error().message);
    auto store = OpenKeyringStore(*settings);
    if (!store) return Complain(kExitFailed, store.error().message);
    auto ring = LoadCliKeyring(*settings, store->store.get(), store->cipher);
    if (!ring) return Complain(kExitFailed, ring.error().message);
    if (as_json) {
        std::cout << debate::KeyringListJson(*ring) << "\n";
        return kExitOk;
    }
    std::cout << "KEY ID            ALGORITHM    STATE     VERIFIABLE  " << Column("FIRST SEEN", 26)
              << Column("LAST SEEN", 26) << "PUBLIC KEY\n";
    for (const auto& e : ring->entries) {
        std::cout << e.key_id << "  " << e.algorithm
                  << std::string(e.algorithm.size() < 13 ? 13 - e.algorithm.size() : 1, ' ')
                  << debate::ReceiptKeyStateName(e.state)
                  << std::string(10 - debate::ReceiptKeyStateName(e.state).size(), ' ')
                  << (e.verifiable ? "yes         " : "NO          ") << Column(e.first_seen_at, 26)
                  << Column(e.last_seen_at, 26) << Dash(e.public_key) << "\n";
    }
    for (const auto& w : ring->warnings) std::cerr << "aragora: warning: " << w << "\n";
    return kExitOk;
}

struct KeyCount {
    std::string algorithm;
    std::int64_t receipts = 0;
    std::int64_t valid = 0;
    std::int64_t invalid = 0;
};

struct Failure {
    std::string receipt_id;
    std::string key_id;
    std::string reason;
};

// The (key_id, algorithm) of each signature of a receipt (none when malformed/unsigned).
std::vector<std::pair<std::string, std::string>> SignatureKeys(const std::string& receipt_json) {
    std::vector<std::pair<std::string, std::string>> out;
    boost::system::error_code ec;
    json::value v = json::parse(receipt_json, ec);
    if (ec || !v.is_object()) return out;
    const json::value* sigs = v.get_object().if_contains("signatures");
    if (!sigs || !sigs->is_array()) return out;
    for (const json::value& s : sigs->get_array()) {
        if (!s.is_object()) continue;
        const json::value* id = s.get_object().if_contains("key_id");
        const json::value* alg = s.get_object().if_contains("algorithm");
        if (id && id->is_string()) {
            out.emplace_back(std::string(id->get_string()),
                             alg && alg->is_string() ? std::string(alg->get_string()) : "");
        }
    }
    return out;
}

int VerifyAll(bool as_json) {
    auto settings = LoadCliSettings();
    if (!settings) return Complain(kExitUsage, settings.error().message);
    auto opened = app::OpenStores(*settings, /*migrate=*/true);
    if (!opened) return Complain(kExitFailed, opened.error().message);
    auto ring = LoadCliKeyring(*settings, opened->store.get(), opened->cipher);
    if (!ring) return Complain(kExitFailed, ring.error().message);
    for (const auto& w : ring->warnings) std::cerr << "aragora: warning: " << w << "\n";

    std::map<std::string, KeyCount> per_key;
    std::vector<Failure> failures;
    std::int64_t total = 0, valid = 0, invalid = 0, unsigned_count = 0;
    std::int64_t after = 0;
    while (true) {
        auto page = opened->store->ListReceiptChain(after, kPageSize);
        if (!page) return Complain(kExitFailed, page.error().message);
        if (page->empty()) break;
        for (const auto& entry : *page) {
            after = entry.chain_seq;
            if (entry.tombstone || entry.receipt.json.empty()) continue;
            ++total;
            const debate::ReceiptVerification v =
                debate::VerifyReceipt(entry.receipt.json, ring->keys);
            auto sig_keys = SignatureKeys(entry.receipt.json);
            if (sig_keys.empty()) ++unsigned_count;
            std::set<std::string> seen;
            for (const auto& [key_id, algorithm] : sig_keys) {
                if (!seen.insert(key_id).second) continue;
                KeyCount& c = per_key[key_id];
                c.algorithm = algorithm;
                ++c.receipts;
                ++(v.valid ? c.valid : c.invalid);
            }
            if (v.valid) {
                ++valid;
            } else {
                ++invalid;
                if (failures.size() < kMaxListedFailures) {
                    failures.push_back({entry.receipt.receipt_id, v.key_id, v.reason});
                }
            }
            if (total % kProgressEvery == 0) {
                std::cerr << "aragora: verified " << total << " receipt(s), " << invalid
                          << " failure(s) so far\n";
            }
        }
    }

    auto state_of = [&](const std::string& key_id) -> std::string {
        for (const auto& e : ring->entries) {
            if (e.key_id == key_id) return std::string(debate::ReceiptKeyStateName(e.state));
        }
        return "unknown";
    };
    if (as_json) {
        json::array keys;
        for (const auto& [key_id, c] : per_key) {
            keys.push_back(json::object{{"key_id", key_id},
                                        {"algorithm", c.algorithm},
                                        {"state", state_of(key_id)},
                                        {"receipts", c.receipts},
                                        {"valid", c.valid},
                                        {"invalid", c.invalid}});
        }
        json::array failed;
        for (const auto& f : failures) {
            failed.push_back(json::object{
                {"receipt_id", f.receipt_id},
                {"key_id", f.key_id.empty() ? json::value(nullptr) : json::value(f.key_id)},
                {"reason", f.reason}});
        }
        json::object o{
            {"ok", invalid == 0},
            {"receipts", total},
            {"valid", valid},
            {"invalid", invalid},
            {"unsigned", unsigned_count},
            {"keys", std::move(keys)},
            {"failures", std::move(failed)},
            {"failures_truncated", invalid > static_cast<std::int64_t>(failures.size())}};
        std::cout << common::SerializeJson(o) << "\n";
    } else {
        std::cout << (invalid == 0 ? "ok" : "FAILED") << ": " << total << " receipt(s), " << valid
                  << " valid, " << invalid << " invalid\n";
        for (const auto& [key_id, c] : per_key) {
            std::cout << "  " << key_id << "  " << c.algorithm << "  " << state_of(key_id) << "  "
                      << c.receipts << " receipt(s), " << c.valid << " valid, " << c.invalid
                      << " invalid\n";
        }
        for (const auto& f : failures) {
            std::cout << "  receipt " << f.receipt_id << ": " << f.reason << "\n";
        }
    }
    return invalid == 0 ? kExitOk : kExitFailed;
}

}  // namespace

common::Result<storage::OpenedStores> OpenKeyringStore(const config::Settings& settings) {
    if (settings.storage.backend == config::DbBackend::kSqlite) {
        std::error_code ec;
        if (!std::filesystem::exists(settings.storage.sqlite_path, ec)) {
            return storage::OpenedStores{};
        }
    }
    return app::OpenStores(settings, /*migrate=*/true);
}

common::Result<debate::ReceiptKeyring> LoadCliKeyring(
    const config::Settings& settings, storage::Store* store,
    std::shared_ptr<const keys::FieldCipher> cipher) {
    auto keys = debate::LoadReceiptKeys(settings);
    if (!keys) return keys.error();
    if (!store) return debate::DescribeConfiguredKeys(*keys);
    debate::KeyringSyncOptions options;
    options.now = common::FormatIso8601(std::chrono::system_clock::now());
    options.write = false;
    options.cipher = std::move(cipher);
    return debate::SyncReceiptKeyring(*store, std::move(*keys), options);
}

CLI::App* AddKeysCommand(CLI::App& app, int& exit_code) {
    auto* keys_cmd = app.add_subcommand("keys", "Receipt signing keys and encryption keys");
    keys_cmd->require_subcommand(1);

    auto list_json = std::make_shared<bool>(false);
    auto* list = keys_cmd->add_subcommand(
        "list",
        "List every receipt key id (algorithm, state, first/last seen, Ed25519 public key); "
        "never a secret");
    list->add_flag("--json", *list_json, "JSON output");
    list->callback([list_json, &exit_code] { exit_code = ListKeys(*list_json); });

    auto verify_json = std::make_shared<bool>(false);
    auto* verify = keys_cmd->add_subcommand(
        "verify-all",
        "Re-verify every stored receipt against the keyring; counts per key id (exit 1 on any "
        "failure)");
    verify->add_flag("--json", *verify_json, "JSON report");
    verify->callback([verify_json, &exit_code] { exit_code = VerifyAll(*verify_json); });
    return keys_cmd;
}

}  // namespace aragora::cli
