#include "cli/keys_rotation_command.hpp"

#include <boost/json.hpp>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/exit_codes.hpp"
#include "common/clock.hpp"
#include "common/json_text.hpp"
#include "common/logging.hpp"
#include "config/settings.hpp"
#include "debate/receipt_keyring.hpp"
#include "keys/envelope.hpp"
#include "keys/keyring.hpp"
#include "keys/rotation.hpp"
#include "storage/open_stores.hpp"

namespace aragora::cli {
namespace {

namespace json = boost::json;

double Round1(double v) { return std::round(v * 10.0) / 10.0; }

json::value OrNull(const std::string& s) {
    return s.empty() ? json::value(nullptr) : json::value(s);
}

// What one command opens: settings, stores, keyring and rotator.
struct Opened {
    config::Settings settings;
    storage::OpenedStores stores;
    common::SystemClock clock;
    std::unique_ptr<keys::KeyMetrics> metrics = std::make_unique<keys::KeyMetrics>();
    std::shared_ptr<keys::Keyring> keyring;
    std::unique_ptr<keys::Rotator> rotator;
    // Sealed values this binary can re-encrypt itself. The stores that seal values
    // (debate content, retired receipt keys) add theirs here; `serve` registers the same
    // targets, so whatever is not listed is re-encrypted by the server's scheduler.
    std::vector<std::shared_ptr<keys::ReEncryptTarget>> targets;
};

common::Result<std::unique_ptr<Opened>> Open() {
    auto o = std::make_unique<Opened>();
    auto settings = config::LoadSettings(config::ProcessEnv(), config::RunMode::kLocalCli);
    if (!settings) return settings.error();
    o->settings = std::move(*settings);
    if (auto logging = common::SetupLogging(o->settings.log); !logging) return logging.error();
    if (o->settings.encryption.master_key_hex.empty()) {
        return common::MakeError(common::ErrorCode::kValidation,
                                 "ARAGORA_ENCRYPTION_KEY is not set: encryption at rest is off",
                                 "ARAGORA_ENCRYPTION_KEY");
    }
    auto master = keys::ParseMasterKeyHex(o->settings.encryption.master_key_hex);
    if (!master) return master.error();
    auto opened = storage::OpenPlainStores(o->settings.storage, /*migrate=*/true);
    if (!opened) {
        keys::Wipe(*master);
        return opened.error();
    }
    o->stores = std::move(*opened);
    auto ring = keys::Keyring::Load(*o->stores.keys, std::move(*master), o->clock, *o->metrics);
    if (!ring) return ring.error();
    o->keyring = std::shared_ptr<keys::Keyring>(std::move(*ring));
    // The stores seal with the same keyring; what they seal is re-encrypted by this
    // rotation too (debate content, the retired receipt HMAC keys).
    storage::ContentEncryption content;
    content.cipher = o->keyring;
    if (auto applied = storage::ApplyContentEncryption(o->stores, o->settings.storage, content);
        !applied) {
        return applied.error();
    }
    for (auto& target : o->stores.content_targets) o->targets.push_back(target);
    o->targets.push_back(
        std::make_shared<debate::ReceiptKeyReEncryptTarget>(*o->stores.store, o->keyring));
    o->rotator = std::make_unique<keys::Rotator>(
        *o->keyring, *o->stores.keys, o->stores.auth.get(), o->clock, *o->metrics,
        keys::RotationConfig::FromSettings(o->settings.encryption));
    for (auto& t : o->targets) o->rotator->AddTarget(*t);
    return o;
}

int ExitFor(const common::Error& e) {
    return e.code == common::ErrorCode::kValidation ? kExitUsage : kExitFailed;
}

json::object KeyJson(const keys::DataKeyInfo& k) {
    return json::object{{"key_id", k.ref.key_id},
                        {"version", k.ref.version},
                        {"state", k.state},
                        {"created_at", OrNull(k.created_at)},
                        {"activated_at", OrNull(k.activated_at)},
                        {"retired_at", OrNull(k.retired_at)},
                        {"expires_at", OrNull(k.expires_at)},
                        {"age_days", Round1(k.age_days)}};
}

int Status(bool as_json) {
    auto o = Open();
    if (!o) return Complain(ExitFor(o.error()), o.error().message);
    auto s = (*o)->rotator->Status();
    if (!s) return Complain(kExitFailed, s.error().message);
    if (as_json) {
        json::array keys_json;
        for (const auto& k : s->keys) keys_json.push_back(KeyJson(k));
        json::array targets;
        for (const auto& t : s->targets) {
            targets.push_back(json::object{{"target", t.target},
                                           {"key_version", t.key.version},
                                           {"done", t.done},
                                           {"rewritten", t.rewritten},
                                           {"pending", t.pending}});
        }
        std::cout << common::SerializeJson(
                         json::object{{"encryption_enabled", true},
                                      {"active_key_id", s->current.ref.key_id},
                                      {"key_version", s->current.ref.version},
                                      {"key_age_days", Round1(s->current.age_days)},
                                      {"rotation_due", s->rotation_due},
                                      {"next_rotation", OrNull(s->next_rotation_at)},
                                      {"rotation_interval_days", s->config.rotation_interval_days},
                                      {"key_overlap_days", s->config.key_overlap_days},
                                      {"keys", std::move(keys_json)},
                                      {"targets", std::move(targets)}})
                  << "\n";
        return kExitOk;
    }
    std::cout << "encryption at rest: on (AES-256-GCM), database " << (*o)->stores.location << "\n"
              << "active key: " << s->current.ref.key_id << " v" << s->current.ref.version << ", "
              << std::fixed << std::setprecision(1) << s->current.age_days << " days old"
              << (s->rotation_due ? " (rotation due)" : "") << "; next rotation "
              << s->next_rotation_at << "\n";
    std::cout << std::left << std::setw(12) << "KEY" << std::setw(9) << "VERSION" << std::setw(9)
              << "STATE" << std::setw(26) << "ACTIVATED"
              << "EXPIRES\n";
    for (const auto& k : s->keys) {
        std::cout << std::left << std::setw(12) << k.ref.key_id << std::setw(9) << k.ref.version
                  << std::setw(9) << k.state << std::setw(26) << k.activated_at
                  << (k.expires_at.empty() ? "-" : k.expires_at) << "\n";
    }
    for (const auto& t : s->targets) {
        std::cout << "store " << t.target << ": " << t.pending << " value(s) under an older key\n";
    }
    return kExitOk;
}

struct RotateArgs {
    bool dry_run = false;
    bool force = false;
    bool json = false;
};

int Rotate(const RotateArgs& a) {
    auto o = Open();
    if (!o) return Complain(ExitFor(o.error()), o.error().message);
    keys::Rotator& rotator = *(*o)->rotator;
    keys::RotateRequest req;
    req.dry_run = a.dry_run;
    req.force = a.force;
    req.actor = "cli";
    auto r = rotator.Rotate(req);
    if (!r) return Complain(ExitFor(r.error()), r.error().message);
    std::string re_encryption = "none";
    if (!r->dry_run) {
        re_encryption = "complete";
        while (true) {
            auto step = rotator.Step();
            if (!step) {
                r->errors.push_back(step.error().message);
                r->success = false;
                re_encryption = "in_progress";
                break;
            }
            if (step->busy) {
                re_encryption = "in_progress";
                break;
            }
            if (!step->more) break;
            r->records_re_encrypted += step->rewritten;
            std::cerr << "re-encrypting " << step->target << ": " << step->rewritten
                      << " re-sealed, " << step->skipped << " already current (total "
                      << r->records_re_encrypted << ")\n";
        }
        if (auto s = rotator.Status()) {
            r->records_pending = 0;
            for (const auto& t : s->targets)
                r->records_pending += std::max<std::int64_t>(0, t.pending);
        }
    }
    if (a.json) {
        json::array stores;
        for (const auto& s : r->stores_processed) stores.emplace_back(s);
        json::array errors;
        for (const auto& e : r->errors) errors.emplace_back(e);
        std::cout << common::SerializeJson(
                         json::object{{"success", r->success},
                                      {"dry_run", r->dry_run},
                                      {"key_id", r->key_id},
                                      {"old_key_version", r->old_version},
                                      {"new_key_version", r->new_version},
                                      {"stores_processed", std::move(stores)},
                                      {"records_reencrypted", r->records_re_encrypted},
                                      {"records_pending", r->records_pending},
                                      {"failed_records", r->failed_records},
                                      {"duration_seconds", r->duration_seconds},
                                      {"errors", std::move(errors)},
                                      {"re_encryption", re_encryption}})
                  << "\n";
    } else if (r->dry_run) {
        std::cout << "dry run: would rotate " << r->key_id << " v" << r->old_version << " -> v"
                  << r->new_version << " and re-encrypt " << r->records_pending
                  << " value(s); nothing changed\n";
    } else {
        std::cout << "rotated " << r->key_id << " v" << r->old_version << " -> v" << r->new_version
                  << "; re-encrypted " << r->records_re_encrypted << " value(s)";
        if (r->records_pending > 0) {
            std::cout << ", " << r->records_pending
                      << " left for the server's scheduler (resumes from the saved progress)";
        }
        std::cout << "\n";
        for (const auto& e : r->errors) std::cerr << "aragora: " << e << "\n";
    }
    return r->success ? kExitOk : kExitFailed;
}

}  // namespace

void AddKeysRotationCommands(CLI::App& keys_cmd, int& exit_code) {
    auto status_json = std::make_shared<bool>(false);
    auto* status = keys_cmd.add_subcommand(
        "status", "Encryption at rest: active data key, its age, keys in overlap, pending values");
    status->add_flag("--json", *status_json, "JSON output");
    status->callback([status_json, &exit_code] { exit_code = Status(*status_json); });

    auto args = std::make_shared<RotateArgs>();
    auto* rotate = keys_cmd.add_subcommand(
        "rotate", "Rotate the data key now and re-encrypt (progress on stderr)");
    rotate->add_flag("--dry-run", args->dry_run, "Report what would change; change nothing");
    rotate->add_flag("--force", args->force, "Rotate a key younger than 30 days");
    rotate->add_flag("--json", args->json, "JSON output");
    rotate->callback([args, &exit_code] { exit_code = Rotate(*args); });
}

}  // namespace aragora::cli
