#include "keys/rotation.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <utility>

#include "common/json_text.hpp"
#include "common/logging.hpp"
#include "common/time.hpp"

namespace aragora::keys {
namespace {

namespace json = boost::json;
using common::ErrorCode;
using common::MakeError;
using common::Result;
using common::Status;

std::shared_ptr<spdlog::logger> Log() { return common::GetLogger("aragora.keys"); }

std::string Name(const KeyRef& r) { return r.key_id + " v" + std::to_string(r.version); }

}  // namespace

RotationConfig RotationConfig::FromSettings(const config::EncryptionSettings& s) {
    RotationConfig c;
    c.rotation_interval_days = s.rotation_interval_days;
    c.check_interval_hours = s.check_interval_hours;
    c.key_overlap_days = s.overlap_days;
    c.re_encrypt_on_rotation = s.re_encrypt;
    c.re_encrypt_batch_size = s.batch_size;
    c.re_encrypt_timeout_seconds = s.timeout_seconds;
    c.max_retries = s.max_retries;
    c.notify_days_before = s.alert_days;
    return c;
}

Rotator::Rotator(Keyring& keyring, storage::KeyStore& store, storage::AuthStore* audit,
                 const common::Clock& clock, KeyMetrics& metrics, RotationConfig config)
    : keyring_(keyring),
      store_(store),
      audit_(audit),
      clock_(clock),
      metrics_(metrics),
      config_(config) {}

Rotator::~Rotator() = default;

void Rotator::AddTarget(ReEncryptTarget& target) {
    std::lock_guard lock(mu_);
    targets_.push_back(&target);
}

std::vector<std::string> Rotator::TargetNames() const {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (auto* t : targets_) out.push_back(t->Name());
    return out;
}

void Rotator::AuditLocked(const std::string& actor, const std::string& action,
                          const std::string& target, const std::string& details_json) {
    if (audit_ == nullptr) return;
    storage::AuditEntry e;
    e.at = common::FormatIso8601(clock_.SystemNow());
    e.actor = actor;
    e.action = action;
    e.target = target;
    e.details_json = details_json;
    if (auto s = audit_->AppendAudit(e); !s) {
        Log()->error("audit entry {} for {} not written: {}", action, target, s.error().message);
    }
}

Status Rotator::AcquireLockLocked(bool* busy) {
    *busy = false;
    if (lock_) return {};
    auto lock = store_.TryLockRotation();
    if (!lock) return lock.error();
    if (!*lock) {
        *busy = true;
        return {};
    }
    lock_ = std::move(*lock);
    return {};
}

bool Rotator::DueLocked(const DataKeyInfo& current) const {
    return current.ref.version == 0 || current.age_days >= config_.rotation_interval_days;
}

Result<RotationResult> Rotator::Rotate(const RotateRequest& request) {
    std::lock_guard lock(mu_);
    const auto started = clock_.SystemNow();
    RotationResult r;
    r.dry_run = request.dry_run;
    r.started_at = common::FormatIso8601(started);
    const DataKeyInfo current = keyring_.CurrentInfo();
    r.key_id = current.ref.key_id;
    r.old_version = current.ref.version;
    r.new_version = current.ref.version + 1;

    if (!request.dry_run && !request.force && request.trigger != "scheduled" &&
        current.age_days < config_.min_manual_age_days) {
        return MakeError(ErrorCode::kValidation,
                         "key " + Name(current.ref) + " is only " +
                             std::to_string(static_cast<int>(current.age_days)) +
                             " days old; rotation needs force=true (minimum " +
                             std::to_string(config_.min_manual_age_days) + " days)");
    }
    std::vector<ReEncryptTarget*> selected;
    for (const auto& name : request.stores) {
        auto it = std::find_if(targets_.begin(), targets_.end(),
                               [&](ReEncryptTarget* t) { return t->Name() == name; });
        if (it == targets_.end()) {
            std::string known;
            for (auto* t : targets_) known += (known.empty() ? "" : ", ") + t->Name();
            return MakeError(ErrorCode::kValidation,
                             "unknown store '" + name +
                                 "' (known: " + (known.empty() ? std::string("none") : known) + ")",
                             "stores");
        }
        selected.push_back(*it);
    }
    if (request.stores.empty()) selected = targets_;
    for (auto* t : selected) r.stores_processed.push_back(t->Name());

    const KeyRef after{current.ref.key_id, r.new_version};
    auto count_pending = [&](const KeyRef& under) {
        std::int64_t total = 0;
        for (auto* t : selected) {
            auto n = t->CountNotUnder(under);
            if (!n) {
                r.errors.push_back(t->Name() + ": " + n.error().message);
                continue;
            }
            total += *n;
        }
        return total;
    };

    if (request.dry_run) {
        r.records_pending = config_.re_encrypt_on_rotation ? count_pending(after) : 0;
        r.success = r.errors.empty();
        r.completed_at = common::FormatIso8601(clock_.SystemNow());
        return r;
    }

    bool busy = false;
    if (auto s = AcquireLockLocked(&busy); !s) return s.error();
    if (busy) {
        return MakeError(ErrorCode::kConflict,
                         "another instance is rotating or re-encrypting keys; try again later");
    }
    auto rotated = keyring_.Rotate(std::chrono::hours(24) * config_.key_overlap_days);
    if (!rotated) {
        metrics_.Failures("rotate").Inc();
        lock_.reset();
        Log()->error("key rotation of {} failed: {}", Name(current.ref), rotated.error().message);
        return rotated.error();
    }
    r.new_version = rotated->version;
    metrics_.Rotations(request.trigger == "scheduled" ? "scheduled" : "manual").Inc();
    ++rotation_count_;
    const std::string now = common::FormatIso8601(clock_.SystemNow());
    if (config_.re_encrypt_on_rotation) {
        for (auto* t : targets_) {
            storage::ReEncryptProgressRecord p;
            p.target = t->Name();
            p.key_id = rotated->key_id;
            p.key_version = rotated->version;
            p.updated_at = now;
            // A target left out of `stores` is not re-encrypted by this pass (its old values
            // keep the old key from expiring until a later pass covers them).
            p.done = std::find(selected.begin(), selected.end(), t) == selected.end();
            if (auto s = store_.SaveReEncryptProgress(p); !s) {
                r.errors.push_back(t->Name() + ": " + s.error().message);
            }
        }
        r.records_pending = count_pending(*rotated);
    }
    // Step() takes the lock again for the pass: a process without targets (the CLI) must not
    // keep it from the instances that have them.
    lock_.reset();
    pass_started_.reset();
    work_ = {};
    AuditLocked(
        request.actor, "encryption_key_rotated", Name(*rotated),
        common::SerializeJson(json::object{{"key_id", rotated->key_id},
                                           {"old_version", current.ref.version},
                                           {"new_version", rotated->version},
                                           {"trigger", request.trigger},
                                           {"overlap_days", config_.key_overlap_days},
                                           {"re_encrypt", config_.re_encrypt_on_rotation}}));
    Log()->info("rotated encryption key {} -> {} ({}; {} values to re-encrypt)", Name(current.ref),
                Name(*rotated), request.trigger, r.records_pending);
    r.success = r.errors.empty();
    r.completed_at = now;
    r.duration_seconds = std::chrono::duration<double>(clock_.SystemNow() - started).count();
    last_result_ = r;
    return r;
}

Result<StepResult> Rotator::Step() {
    std::lock_guard lock(mu_);
    StepResult out;
    auto rows = store_.ListReEncryptProgress();
    if (!rows) return rows.error();
    const KeyRef current = keyring_.Current();
    // Every registered target whose values may still be under an older key: one without a
    // row (a rotation made by another process: the CLI, another instance), one whose row is
    // for an older key, or an unfinished one.
    storage::ReEncryptProgressRecord fresh;
    storage::ReEncryptProgressRecord* row = nullptr;
    ReEncryptTarget* target = nullptr;
    for (auto* t : targets_) {
        auto it = std::find_if(rows->begin(), rows->end(),
                               [&](const auto& p) { return p.target == t->Name(); });
        const bool current_key = it != rows->end() && it->key_id == current.key_id &&
                                 it->key_version == static_cast<std::int64_t>(current.version);
        if (current_key && it->done) continue;
        if (!current_key && !config_.re_encrypt_on_rotation) continue;
        if (it == rows->end()) {
            fresh.target = t->Name();
            row = &fresh;
        } else {
            row = &*it;
        }
        target = t;
        break;
    }
    if (row == nullptr) {
        if (lock_ && pass_started_) {
            Log()->info("re-encryption pass complete under {}", Name(current));
        }
        lock_.reset();
        pass_started_.reset();
        work_ = {};
        return out;
    }
    bool busy = false;
    if (auto s = AcquireLockLocked(&busy); !s) return s.error();
    if (busy) {
        out.busy = true;
        return out;
    }
    if (!pass_started_) pass_started_ = clock_.SystemNow();
    if (work_ > std::chrono::seconds(config_.re_encrypt_timeout_seconds)) {
        Log()->warn(
            "re-encryption under {} stopped after {} s (ARAGORA_KEY_ROTATION_TIMEOUT_SECONDS); "
            "it resumes at the next check from target {}",
            Name(current), config_.re_encrypt_timeout_seconds, row->target);
        lock_.reset();
        pass_started_.reset();
        work_ = {};
        return out;
    }
    if (row->key_id != current.key_id ||
        row->key_version != static_cast<std::int64_t>(current.version)) {
        // A rotation since this target's last pass (or its first pass): start over under the
        // current key (values already under it are skipped by the target).
        row->key_id = current.key_id;
        row->key_version = current.version;
        row->cursor.clear();
        row->rewritten = 0;
        row->done = false;
    }
    Result<ReEncryptBatch> batch = MakeError(ErrorCode::kInternal, "not run");
    const auto work_started = clock_.SteadyNow();
    for (int attempt = 0; attempt <= config_.max_retries; ++attempt) {
        batch = target->ReEncrypt(keyring_, row->cursor, config_.re_encrypt_batch_size);
        if (batch) break;
        Log()->warn("re-encryption batch of {} after cursor '{}' failed (attempt {}/{}): {}",
                    row->target, row->cursor, attempt + 1, config_.max_retries + 1,
                    batch.error().message);
    }
    work_ += clock_.SteadyNow() - work_started;
    out.target = row->target;
    if (!batch) {
        metrics_.Failures("re_encrypt").Inc();
        if (last_result_)
            last_result_->errors.push_back(row->target + ": " + batch.error().message);
        lock_.reset();
        pass_started_.reset();
        work_ = {};
        return batch.error();
    }
    out.rewritten = batch->rewritten;
    out.skipped = batch->skipped;
    metrics_.ReEncrypted(row->target).Inc(batch->rewritten);
    row->cursor = batch->next_cursor;
    row->rewritten += batch->rewritten;
    row->done = batch->done;
    row->updated_at = common::FormatIso8601(clock_.SystemNow());
    if (auto s = store_.SaveReEncryptProgress(*row); !s) {
        metrics_.Failures("re_encrypt").Inc();
        lock_.reset();
        pass_started_.reset();
        work_ = {};
        return s.error();
    }
    if (last_result_) last_result_->records_re_encrypted += batch->rewritten;
    if (row->done) {
        AuditLocked("system:key_rotation_scheduler", "encryption_reencrypt_completed", row->target,
                    common::SerializeJson(json::object{{"key_id", current.key_id},
                                                       {"version", current.version},
                                                       {"rewritten", row->rewritten}}));
    }
    out.more = true;
    return out;
}

Status Rotator::ExpireOldKeysLocked() {
    const auto now = clock_.SystemNow();
    const KeyRef current = keyring_.Current();
    std::optional<std::int64_t> pending;
    for (const auto& k : keyring_.Keys()) {
        if (k.state != storage::kDataKeyRetired || k.expires_at.empty()) continue;
        auto expires = common::ParseIso8601(k.expires_at);
        if (!expires || *expires > now) continue;
        if (!pending) {
            std::int64_t total = 0;
            for (auto* t : targets_) {
                auto n = t->CountNotUnder(current);
                if (!n) {
                    metrics_.Failures("expire").Inc();
                    return n.error();
                }
                total += *n;
            }
            pending = total;
        }
        if (*pending > 0) {
            Log()->warn(
                "encryption key {} is past its overlap but {} values are still under an "
                "old key; it stays usable until re-encryption finishes",
                Name(k.ref), *pending);
            continue;
        }
        if (auto s = keyring_.Expire(k.ref); !s) {
            metrics_.Failures("expire").Inc();
            return s;
        }
        AuditLocked("system:key_rotation_scheduler", "encryption_key_expired", Name(k.ref),
                    common::SerializeJson(json::object{{"key_id", k.ref.key_id},
                                                       {"version", k.ref.version},
                                                       {"expires_at", k.expires_at}}));
        Log()->info("encryption key {} expired (overlap over, nothing still under it)",
                    Name(k.ref));
    }
    return {};
}

Result<RotationStatus> Rotator::Check() {
    {
        std::lock_guard lock(mu_);
        last_check_at_ = common::FormatIso8601(clock_.SystemNow());
        if (auto s = keyring_.Reload(); !s) return s.error();
        const DataKeyInfo current = keyring_.CurrentInfo();
        const double days_left = config_.rotation_interval_days - current.age_days;
        if (!DueLocked(current) && days_left <= config_.notify_days_before &&
            last_alert_for_ != Name(current.ref)) {
            last_alert_for_ = Name(current.ref);
            Log()->warn(
                "encryption key {} is due for rotation in {} days (rotation interval {} "
                "days)",
                Name(current.ref), static_cast<int>(days_left + 0.999),
                config_.rotation_interval_days);
        }
    }
    const DataKeyInfo current = keyring_.CurrentInfo();
    if (DueLocked(current)) {
        RotateRequest req;
        req.trigger = "scheduled";
        auto r = Rotate(req);
        if (!r && r.error().code != ErrorCode::kConflict) {
            Log()->error("scheduled key rotation failed: {}", r.error().message);
        }
    }
    std::lock_guard lock(mu_);
    if (auto s = ExpireOldKeysLocked(); !s) {
        Log()->error("expiring old encryption keys failed: {}", s.error().message);
    }
    return StatusLocked();
}

Result<RotationStatus> Rotator::Status() {
    std::lock_guard lock(mu_);
    return StatusLocked();
}

Result<RotationStatus> Rotator::StatusLocked() {
    RotationStatus s;
    s.current = keyring_.CurrentInfo();
    s.keys = keyring_.Keys();
    s.config = config_;
    s.rotation_count = rotation_count_;
    s.last_result = last_result_;
    s.last_check_at = last_check_at_;
    s.re_encryption_running = lock_ != nullptr && pass_started_.has_value();
    s.rotation_due = DueLocked(s.current);
    if (auto since = common::ParseIso8601(
            s.current.activated_at.empty() ? s.current.created_at : s.current.activated_at)) {
        s.next_rotation_at =
            common::FormatIso8601(*since + std::chrono::hours(24) * config_.rotation_interval_days);
    }
    auto rows = store_.ListReEncryptProgress();
    if (!rows) return rows.error();
    for (auto* t : targets_) {
        TargetProgress p;
        p.target = t->Name();
        for (const auto& row : *rows) {
            if (row.target != p.target) continue;
            p.key = KeyRef{row.key_id, static_cast<std::uint32_t>(row.key_version)};
            p.cursor = row.cursor;
            p.done = row.done;
            p.rewritten = row.rewritten;
            p.updated_at = row.updated_at;
        }
        auto n = t->CountNotUnder(s.current.ref);
        p.pending = n ? *n : -1;
        s.targets.push_back(std::move(p));
    }
    return s;
}

}  // namespace aragora::keys
