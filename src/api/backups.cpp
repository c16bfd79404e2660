// Backup and disaster-recovery routes (docs/operations.md; the original's
// backup_handler.py and dr_handler.py shapes, ORIGINAL-OPERATIONS.md §1.6): thin handlers
// over ops::BackupManager. Every manager call runs on a pool (BackupAccess); paths a
// caller names are confined to the configured directories (ops::ConfinePath: no `..`, no
// symlink escape → 403).

#include "api/backups.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <cmath>
#include <filesystem>
#include <functional>
#include <memory>

#include "api/handlers.hpp"
#include "api/http_util.hpp"
#include "common/json_access.hpp"
#include "common/json_text.hpp"
#include "common/time.hpp"
#include "ops/backup_schedule.hpp"
#include "ops/confine_path.hpp"

namespace aragora::api {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace json = boost::json;
using common::ErrorCode;
using common::MakeError;
using common::Result;

constexpr std::int64_t kDefaultLimit = 20;
constexpr std::int64_t kMaxLimit = 100;
constexpr std::int64_t kMaxOffset = 10000;
constexpr const char* kDefaultRestoreTestTarget = "restore_test.sqlite3";
// The original's objectives: RPO 24 h unless backups are scheduled more often; RTO 30 min.
constexpr double kDefaultRpoHours = 24;
constexpr double kRtoTargetMinutes = 30;

net::HttpResponse Json(int status, const json::object& o, const RequestContext& ctx) {
    return JsonResponse(status, common::SerializeJson(o), ctx.correlation_id);
}

double Hours(std::chrono::system_clock::duration d) {
    return std::chrono::duration<double, std::ratio<3600>>(d).count();
}

double Round2(double v) { return std::round(v * 100.0) / 100.0; }

// --- waiting for the long pool with a deadline ------------------------------------------

template <typename T>
struct PendingResult {
    explicit PendingResult(const asio::any_io_executor& ex) : done(ex) {}
    std::optional<Result<T>> result;
    asio::steady_timer done;  // cancelled when `result` is set
};

template <typename T>
asio::awaitable<void> RunToCompletion(common::BlockingPool& pool, std::function<Result<T>()> fn,
                                      std::shared_ptr<PendingResult<T>> pending) {
    auto r = co_await pool.Run(fn);
    pending->result = std::move(r);
    pending->done.cancel();
}

// Runs `fn` on `pool`; the work goes on after the deadline (a blocking call cannot be cut
// short), but the request then answers kTimeout. Must be awaited on a strand (the
// connection's), which the spawned waiter shares.
template <typename T>
asio::awaitable<Result<T>> RunWithDeadline(common::BlockingPool& pool,
                                           std::function<Result<T>()> fn,
                                           std::chrono::nanoseconds deadline) {
    auto ex = co_await asio::this_coro::executor;
    auto pending = std::make_shared<PendingResult<T>>(ex);
    pending->done.expires_after(deadline);
    asio::co_spawn(ex, RunToCompletion<T>(pool, std::move(fn), pending), asio::detached);
    if (!pending->result) {
        boost::system::error_code ec;
        co_await pending->done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (pending->result) co_return std::move(*pending->result);
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(deadline).count();
    co_return MakeError(ErrorCode::kTimeout,
                        "still running after " + std::to_string(seconds) +
                            " s; it finishes in the background: see GET /api/v2/backups");
}

// --- common checks ------------------------------------------------------------------------

// The manager, or the 503 that says why there is none.
ops::BackupManager* ManagerOr(BackupAccess* access, const RequestContext& ctx,
                              std::optional<net::HttpResponse>& refusal) {
    if (access == nullptr) {
        refusal = ErrorResponse(ErrorCode::kUnavailable, "backups are not configured",
                                ctx.correlation_id);
        return nullptr;
    }
    ops::BackupManager* m = access->manager();
    if (m == nullptr) {
        refusal = ErrorResponse(ErrorCode::kUnavailable,
                                "backups unavailable: " + access->UnavailableReason(),
                                ctx.correlation_id);
    }
    return m;
}

// An optional JSON object body: empty → {}.
Result<json::object> OptionalBody(const net::HttpRequest& request) {
    if (request.body.empty()) return json::object{};
    return ParseJsonObjectBody(request.body);
}

Result<std::optional<std::string>> OptionalString(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    if (v == nullptr || v->is_null()) return std::optional<std::string>();
    if (!v->is_string()) {
        return MakeError(ErrorCode::kValidation, std::string(key) + " must be a string",
                         std::string(key));
    }
    return std::optional<std::string>(std::string(v->as_string()));
}

// "since": epoch seconds or ISO 8601 (Z or +00:00).
Result<std::optional<ops::TimePoint>> SinceParam(const net::HttpRequest& request) {
    auto raw = request.QueryParam("since");
    if (!raw || raw->empty()) return std::optional<ops::TimePoint>();
    std::string text = *raw;
    if (text.size() > 6 && text.ends_with("+00:00")) text = text.substr(0, text.size() - 6) + "Z";
    if (auto t = common::ParseIso8601(text)) return std::optional<ops::TimePoint>(*t);
    char* end = nullptr;
    const double epoch = std::strtod(raw->c_str(), &end);
    if (end != raw->c_str() && *end == '\0' && std::isfinite(epoch) && epoch >= 0) {
        return std::optional<ops::TimePoint>(
            ops::TimePoint(std::chrono::duration_cast<ops::TimePoint::duration>(
                std::chrono::duration<double>(epoch))));
    }
    return MakeError(ErrorCode::kValidation, "since must be epoch seconds or an ISO 8601 UTC time",
                     "since");
}

// The backup id of the path: the id rule of API.md (prefixes are ids too).
std::optional<net::HttpResponse> BadId(const RequestContext& ctx) {
    if (auto s = ValidateId(ctx.Param("id"), "backup id"); !s) {
        return ErrorResponse(s.error(), ctx.correlation_id);
    }
    return std::nullopt;
}

// source_path of POST /api/v2/backups: inside the data dir and naming the configured
// database (a backup is always of the configured database). Blocking (realpath).
common::Status CheckSourcePath(const BackupAccess::Options& o, const std::string& source) {
    if (o.database_path.empty()) {
        return MakeError(ErrorCode::kValidation,
                         "source_path: backups are of the configured PostgreSQL database; omit "
                         "source_path",
                         "source_path");
    }
    auto confined = ops::ConfinePath(source, {fs::path(o.data_dir)});
    if (!confined) return confined.error();
    std::error_code ec;
    const fs::path configured = fs::weakly_canonical(o.database_path, ec);
    if (ec || *confined != configured) {
        return MakeError(ErrorCode::kValidation,
                         "source_path must name the configured database (" +
                             fs::path(o.database_path).filename().string() + ") or be omitted",
                         "source_path");
    }
    return {};
}

void RecordVerification(const BackupAccess& access, const ops::VerificationResult& v) {
    if (access.options().metrics)
        access.options().metrics->Verification(v.verified, v.duration_seconds);
}

// --- the documents of /api/v2/dr ----------------------------------------------------------

double RpoTargetHours(const config::BackupSettings& s) {
    if (!s.enabled) return kDefaultRpoHours;
    return Hours(ops::BackupSlotRule(s).period);
}

json::value IsoOrNull(const std::optional<ops::TimePoint>& t) {
    return t ? json::value(common::FormatIso8601(*t)) : json::value(nullptr);
}

json::object SchedulerJson(const config::BackupSettings& s, ops::TimePoint now) {
    json::object o;
    o["enabled"] = s.enabled;
    const ops::SlotRule backup = ops::BackupSlotRule(s);
    o["backup_every_seconds"] = backup.period.count();
    if (s.interval_seconds > 0) {
        o["daily_time"] = nullptr;
    } else {
        char hhmm[8];
        std::snprintf(hhmm, sizeof hhmm, "%02d:%02d", s.daily_minute_of_day / 60,
                      s.daily_minute_of_day % 60);
        o["daily_time"] = hhmm;
    }
    o["next_backup_at"] = s.enabled
                              ? json::value(common::FormatIso8601(ops::NextSlotAfter(backup, now)))
                              : json::value(nullptr);
    o["dr_drill_enabled"] = s.dr_drill_enabled;
    o["dr_drill_interval_days"] = s.dr_drill_interval_days;
    o["next_drill_at"] =
        s.enabled && s.dr_drill_enabled
            ? json::value(common::FormatIso8601(ops::NextSlotAfter(ops::DrillSlotRule(s), now)))
            : json::value(nullptr);
    return o;
}

}  // namespace

json::object DrStatusJson(const ops::DrStatus& st, const config::BackupSettings& settings,
                          ops::TimePoint now) {
    const double rpo_hours = RpoTargetHours(settings);
    const std::optional<ops::BackupMetadata>& latest = st.last_successful_backup;
    std::optional<double> hours_since;
    if (latest) hours_since = Hours(now - latest->created_at);
    const bool rpo_compliant = hours_since && *hours_since <= rpo_hours;

    json::array issues;
    json::array recommendations;
    int score = 100;
    auto problem = [&](int cost, std::string issue, std::string advice) {
        score -= cost;
        issues.emplace_back(std::move(issue));
        recommendations.emplace_back(std::move(advice));
    };
    if (st.total_backups == 0) {
        problem(50, "No backups found", "Create at least one backup immediately");
    }
    if (st.verified_backups == 0) {
        problem(30, "No verified backup available", "Verify at least one backup");
    }
    if (hours_since && !rpo_compliant) {
        char text[96];
        std::snprintf(text, sizeof text, "RPO violation: %.1f hours since last backup",
                      *hours_since);
        char advice[96];
        std::snprintf(advice, sizeof advice, "Create a backup to meet the %.4gh RPO", rpo_hours);
        problem(20, text, advice);
    }
    if (st.failed_backups > 0) {
        problem(static_cast<int>(std::min<std::int64_t>(st.failed_backups * 5, 20)),
                std::to_string(st.failed_backups) + " failed backups",
                "Investigate and resolve backup failures");
    }
    if (st.total_backups > 0 &&
        static_cast<double>(st.verified_backups) < 0.8 * static_cast<double>(st.total_backups)) {
        problem(10, "Less than 80% of backups are verified",
                "Run verification on unverified backups");
    }
    if (st.last_drill && st.last_drill->status != "passed") {
        problem(10, "The last DR drill (" + st.last_drill->drill_id + ") failed",
                "Read the drill's errors and run POST /api/v2/dr/drill again");
    } else if (!st.last_drill) {
        recommendations.emplace_back("Run a DR drill (POST /api/v2/dr/drill) to measure the RTO");
    }
    score = std::clamp(score, 0, 100);
    const char* status = score >= 90 ? "healthy" : score >= 70 ? "warning" : "critical";

    json::object out;
    out["status"] = status;
    out["readiness_score"] = score;
    out["backup_status"] = json::object{
        {"total_backups", st.total_backups},
        {"verified_backups", st.verified_backups},
        {"failed_backups", st.failed_backups},
        {"latest_backup", latest ? json::value(latest->ToJson()) : json::value(nullptr)},
        {"hours_since_backup", hours_since ? json::value(Round2(*hours_since)) : nullptr}};
    out["rpo_status"] =
        json::object{{"target_hours", rpo_hours},
                     {"compliant", rpo_compliant},
                     {"current_hours", hours_since ? json::value(Round2(*hours_since)) : nullptr}};
    out["issues"] = std::move(issues);
    out["recommendations"] = std::move(recommendations);
    out["checked_at"] = common::FormatIso8601(now);
    // Ours: the last drill, the schedule, retention and where backups go.
    out["last_drill"] = st.last_drill ? json::value(st.last_drill->ToJson()) : nullptr;
    out["scheduler"] = SchedulerJson(settings, now);
    out["retention_policy"] = st.retention_policy.ToJson();
    out["backup_dir"] = st.backup_dir;
    return out;
}

json::object DrObjectivesJson(const ops::DrStatus& st,
                              const std::vector<ops::BackupMetadata>& last_week,
                              const config::BackupSettings& settings, ops::TimePoint now) {
    const double rpo_hours = RpoTargetHours(settings);
    const std::optional<ops::BackupMetadata>& latest = st.last_successful_backup;
    std::optional<double> current;
    if (latest) current = Hours(now - latest->created_at);

    // Gaps between consecutive successful backups of the last 7 days longer than the RPO.
    std::vector<ops::TimePoint> times;
    for (const auto& b : last_week) {
        if (b.status == ops::BackupStatus::kVerified || b.status == ops::BackupStatus::kCompleted)
            times.push_back(b.created_at);
    }
    std::sort(times.begin(), times.end());
    int violations = 0;
    for (std::size_t i = 1; i < times.size(); ++i) {
        if (Hours(times[i] - times[i - 1]) > rpo_hours) ++violations;
    }

    // The RTO is measured by the last passed drill (the original only estimated it).
    std::optional<double> rto_minutes;
    if (st.last_drill && st.last_drill->status == "passed") {
        rto_minutes = st.last_drill->rto_seconds / 60.0;
    }
    json::array tiers;
    for (const ops::RecoveryTier& tier : ops::RecoveryTiers()) {
        tiers.emplace_back(json::object{
            {"tier", tier.name},
            {"rpo_target_seconds", tier.rpo.count()},
            {"rto_target_seconds", tier.rto.count()},
            {"rpo_compliant",
             current.has_value() && *current * 3600.0 <= static_cast<double>(tier.rpo.count())},
            {"rto_compliant", rto_minutes.has_value() &&
                                  *rto_minutes * 60.0 <= static_cast<double>(tier.rto.count())}});
    }

    json::object out;
    out["rpo"] = json::object{{"target_hours", rpo_hours},
                              {"current_hours", current ? json::value(Round2(*current)) : nullptr},
                              {"compliant", current.has_value() && *current <= rpo_hours},
                              {"violations_last_7_days", violations}};
    out["rto"] = json::object{
        {"target_minutes", kRtoTargetMinutes},
        {"estimated_minutes", rto_minutes ? json::value(Round2(*rto_minutes)) : nullptr},
        {"compliant", rto_minutes.has_value() && *rto_minutes <= kRtoTargetMinutes},
        {"measured_by_drill", rto_minutes ? json::value(st.last_drill->drill_id) : nullptr},
        {"measured_at", rto_minutes ? IsoOrNull(st.last_drill->completed_at) : nullptr}};
    out["backup_coverage"] = json::object{
        {"total_backups", st.total_backups},
        {"backups_last_7_days", static_cast<std::int64_t>(last_week.size())},
        {"latest_backup", latest ? json::value(latest->ToJson()) : json::value(nullptr)}};
    out["tiers"] = std::move(tiers);
    out["generated_at"] = common::FormatIso8601(now);
    return out;
}

// --- handlers -------------------------------------------------------------------------------

Handler ListBackupsHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) -> asio::awaitable<net::HttpResponse> {
        std::optional<net::HttpResponse> refused;
        ops::BackupManager* m = ManagerOr(deps.backups, ctx, refused);
        if (!m) co_return std::move(*refused);
        auto limit = IntQueryParam(ctx.request, "limit", kDefaultLimit, 1, kMaxLimit);
        if (!limit) co_return ErrorResponse(limit.error(), ctx.correlation_id);
        auto offset = IntQueryParam(ctx.request, "offset", 0, 0, kMaxOffset);
        if (!offset) co_return ErrorResponse(offset.error(), ctx.correlation_id);
        auto since = SinceParam(ctx.request);
        if (!since) co_return ErrorResponse(since.error(), ctx.correlation_id);
        ops::ListFilter filter;
        filter.limit = static_cast<int>(*limit);
        filter.offset = static_cast<int>(*offset);
        filter.since = *since;
        filter.source = ctx.request.QueryParam("source").value_or("");
        if (auto status = ctx.request.QueryParam("status"); status && !status->empty()) {
            filter.status = ops::ParseBackupStatus(*status);
            if (!filter.status) {
                co_return ErrorResponse(ErrorCode::kValidation,
                                        "status must be pending, in_progress, completed, "
                                        "verified, failed or expired",
                                        ctx.correlation_id, "status");
            }
        }
        auto list = [m, &filter] { return m->List(filter); };
        auto page = co_await deps.backups->options().pool->Run(list);
        if (!page) co_return ServiceErrorResponse(page.error(), ctx.correlation_id);
        co_return Json(200, page->ToJson(), ctx);
    };
}

Handler CreateBackupHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) -> asio::awaitable<net::HttpResponse> {
        std::optional<net::HttpResponse> refused;
        ops::BackupManager* m = ManagerOr(deps.backups, ctx, refused);
        if (!m) co_return std::move(*refused);
        BackupAccess& access = *deps.backups;
        auto body = OptionalBody(ctx.request);
        if (!body) co_return ErrorResponse(body.error(), ctx.correlation_id);
        auto source = OptionalString(*body, "source_path");
        if (!source) co_return ErrorResponse(source.error(), ctx.correlation_id);
        auto type = OptionalString(*body, "backup_type");
        if (!type) co_return ErrorResponse(type.error(), ctx.correlation_id);
        auto notes = OptionalString(*body, "notes");
        if (!notes) co_return ErrorResponse(notes.error(), ctx.correlation_id);
        ops::CreateOptions co;
        co.backup_type = type->value_or("full");
        co.notes = notes->value_or("");
        co.verify = false;  // verified below, so that the verification is counted
        if (const json::value* md = body->if_contains("metadata"); md && !md->is_null()) {
            if (!md->is_object()) {
                co_return ErrorResponse(ErrorCode::kValidation, "metadata must be an object",
                                        ctx.correlation_id, "metadata");
            }
            co.metadata = md->as_object();
        }
        if (*source) {
            auto check = [&access, &source] {
                return common::ToUnit(CheckSourcePath(access.options(), **source));
            };
            auto checked = co_await access.options().pool->Run(check);
            if (!checked) co_return ServiceErrorResponse(checked.error(), ctx.correlation_id);
        }
        struct Created {
            ops::BackupMetadata backup;
            std::optional<ops::VerificationResult> verification;
        };
        const bool verify = m->options().verify_after_backup;
        std::function<Result<Created>()> work = [m, co, verify]() -> Result<Created> {
            auto made = m->Create(co);
            if (!made) return made.error();
            Created out{std::move(*made), std::nullopt};
            if (!verify) return out;
            auto v = m->Verify(out.backup.id);
            if (!v) return v.error();
            out.verification = std::move(*v);
            auto again = m->Get(out.backup.id);
            if (again) out.backup = std::move(*again);
            return out;
        };
        auto created = co_await RunWithDeadline(*access.options().long_pool, std::move(work),
                                                access.options().long_deadline);
        ops::BackupMetrics* metrics = access.options().metrics;
        if (!created) {
            if (metrics && created.error().code != ErrorCode::kValidation &&
                created.error().code != ErrorCode::kTimeout) {
                metrics->Failure(ops::BackupStage::kCreate);
            }
            co_return ServiceErrorResponse(created.error(), ctx.correlation_id);
        }
        const ops::BackupMetadata& b = created->backup;
        std::string message = "Backup created successfully";
        if (created->verification) {
            RecordVerification(access, *created->verification);
            if (!created->verification->verified) {
                if (metrics) metrics->Failure(ops::BackupStage::kVerify);
                message =
                    "Backup created but verification failed: " +
                    (created->verification->errors.empty() ? std::string("see the verification")
                                                           : created->verification->errors.front());
            }
        }
        const bool good = created->verification ? created->verification->verified : true;
        if (metrics && good) {
            metrics->BackupSucceeded(b.backup_type, b.duration_seconds, b.compressed_size_bytes,
                                     b.created_at);
        }
        json::object out{{"backup", b.ToJson()}, {"message", message}};
        out["verification"] = created->verification ? json::value(created->verification->ToJson())
                                                    : json::value(nullptr);
        co_return Json(201, out, ctx);
    };
}

Handler GetBackupHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) -> asio::awaitable<net::HttpResponse> {
        std::optional<net::HttpResponse> refused;
        ops::BackupManager* m = ManagerOr(deps.backups, ctx, refused);
        if (!m) co_return std::move(*refused);
        if (auto bad = BadId(ctx)) co_return std::move(*bad);
        const std::string id = ctx.Param("id");
        auto get = [m, &id] { return m->Get(id); };
        auto b = co_await deps.backups->options().pool->Run(get);
        if (!b) co_return ServiceErrorResponse(b.error(), ctx.correlation_id);
        co_return Json(200, b->ToJson(), ctx);
    };
}

Handler DeleteBackupHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) -> asio::awaitable<net::HttpResponse> {
        std::optional<net::HttpResponse> refused;
        ops::BackupManager* m = ManagerOr(deps.backups, ctx, refused);
        if (!m) co_return std::move(*refused);
        if (auto bad = BadId(ctx)) co_return std::move(*bad);
        const std::string id = ctx.Param("id");
        auto remove = [m, &id]() -> Result<std::string> {
            auto b = m->Get(id);  // a unique prefix names one backup
            if (!b) return b.error();
            if (auto s = m->Delete(b->id); !s) return s.error();
            return b->id;
        };
        auto deleted = co_await deps.backups->options().pool->Run(remove);
        if (!deleted) co_return ServiceErrorResponse(deleted.error(), ctx.correlation_id);
        co_return Json(200,
                       json::object{{"deleted", true},
                                    {"backup_id", *deleted},
                                    {"message", "Backup " + *deleted + " deleted"}},
                       ctx);
    };
}

Handler VerifyBackupHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) -> asio::awaitable<net::HttpResponse> {
        std::optional<net::HttpResponse> refused;
        ops::BackupManager* m = ManagerOr(deps.backups, ctx, refused);
        if (!m) co_return std::move(*refused);
        if (auto bad = BadId(ctx)) co_return std::move(*bad);
        BackupAccess& access = *deps.backups;
        const std::string id = ctx.Param("id");
        std::function<Result<ops::VerificationResult>()> work = [m, id] {
            return m->Verify(id, /*test_restore=*/true);
        };
        auto v = co_await RunWithDeadline(*access.options().long_pool, std::move(work),
                                          access.options().long_deadline);
        if (!v) co_return ServiceErrorResponse(v.error(), ctx.correlation_id);
        RecordVerification(access, *v);
        co_return Json(200, v->ToJson(), ctx);
    };
}

Handler VerifyBackupComprehensiveHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) -> asio::awaitable<net::HttpResponse> {
        std::optional<net::HttpResponse> refused;
        ops::BackupManager* m = ManagerOr(deps.backups, ctx, refused);
        if (!m) co_return std::move(*refused);
        if (auto bad = BadId(ctx)) co_return std::move(*bad);
        BackupAccess& access = *deps.backups;
        const std::string id = ctx.Param("id");
        std::function<Result<ops::ComprehensiveVerificationResult>()> work = [m, id] {
            return m->VerifyComprehensive(id);
        };
        auto v = co_await RunWithDeadline(*access.options().long_pool, std::move(work),
                                          access.options().long_deadline);
        if (!v) co_return ServiceErrorResponse(v.error(), ctx.correlation_id);
        RecordVerification(access, v->basic);
        co_return Json(200, v->ToJson(), ctx);
    };
}

Handler RestoreTestHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) -> asio::awaitable<net::HttpResponse> {
        std::optional<net::HttpResponse> refused;
        ops::BackupManager* m = ManagerOr(deps.backups, ctx, refused);
        if (!m) co_return std::move(*refused);
        if (auto bad = BadId(ctx)) co_return std::move(*bad);
        BackupAccess& access = *deps.backups;
        auto body = OptionalBody(ctx.request);
        if (!body) co_return ErrorResponse(body.error(), ctx.correlation_id);
        auto target = OptionalString(*body, "target_path");
        if (!target) co_return ErrorResponse(target.error(), ctx.correlation_id);
        const std::string requested = target->value_or(kDefaultRestoreTestTarget);
        // Confined to the restore dir (relative names are taken inside it).
        const fs::path restore_dir = m->options().restore_dir;
        auto confine = [&requested, &restore_dir] {
            return ops::ConfinePath(requested, {restore_dir});
        };
        auto confined = co_await access.options().pool->Run(confine);
        if (!confined) co_return ServiceErrorResponse(confined.error(), ctx.correlation_id);
        const std::string id = ctx.Param("id");
        ops::RestoreOptions ro;
        ro.target = confined->string();
        ro.dry_run = true;  // always: a restore test writes nothing
        std::function<Result<ops::RestoreResult>()> work = [m, id, ro] {
            return m->Restore(id, ro);
        };
        auto r = co_await RunWithDeadline(*access.options().long_pool, std::move(work),
                                          access.options().long_deadline);
        if (!r) co_return ServiceErrorResponse(r.error(), ctx.correlation_id);
        if (r->verification) RecordVerification(access, *r->verification);
        if (access.options().metrics) {
            access.options().metrics->Restore(r->verified, r->duration_seconds);
            if (!r->verified) access.options().metrics->Failure(ops::BackupStage::kRestore);
        }
        json::object out = r->ToJson();
        out["restore_test_passed"] = r->verified;
        out["dry_run"] = true;
        if (r->message.empty()) {
            out["message"] = r->verified ? "Restore test passed" : "Restore test failed";
        }
        co_return Json(200, out, ctx);
    };
}

Handler CleanupBackupsHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) -> asio::awaitable<net::HttpResponse> {
        std::optional<net::HttpResponse> refused;
        ops::BackupManager* m = ManagerOr(deps.backups, ctx, refused);
        if (!m) co_return std::move(*refused);
        auto body = OptionalBody(ctx.request);
        if (!body) co_return ErrorResponse(body.error(), ctx.correlation_id);
        bool dry_run = true;
        if (const json::value* v = body->if_contains("dry_run"); v && !v->is_null()) {
            if (!v->is_bool()) {
                co_return ErrorResponse(ErrorCode::kValidation, "dry_run must be a boolean",
                                        ctx.correlation_id, "dry_run");
            }
            dry_run = v->as_bool();
        }
        // The preview is an admin's; deleting backups is the owner's (as DELETE is).
        if (!dry_run && !ctx.principal.Allows(auth::Permission::kOwner)) {
            co_return ErrorResponse(ErrorCode::kForbidden,
                                    "role " + std::string(auth::RoleName(ctx.principal.role)) +
                                        " may preview a cleanup, not run it (needs owner)",
                                    ctx.correlation_id);
        }
        auto cleanup = [m, dry_run] { return m->Cleanup(dry_run); };
        auto r = co_await deps.backups->options().pool->Run(cleanup);
        if (!r) {
            if (deps.backups->options().metrics) {
                deps.backups->options().metrics->Failure(ops::BackupStage::kCleanup);
            }
            co_return ServiceErrorResponse(r.error(), ctx.correlation_id);
        }
        if (!r->errors.empty() && deps.backups->options().metrics) {
            deps.backups->options().metrics->Failure(ops::BackupStage::kCleanup);
        }
        co_return Json(200, r->ToJson(), ctx);
    };
}

Handler BackupStatsHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) -> asio::awaitable<net::HttpResponse> {
        std::optional<net::HttpResponse> refused;
        ops::BackupManager* m = ManagerOr(deps.backups, ctx, refused);
        if (!m) co_return std::move(*refused);
        auto status = [m] { return m->Status(); };
        auto st = co_await deps.backups->options().pool->Run(status);
        if (!st) co_return ServiceErrorResponse(st.error(), ctx.correlation_id);
        const auto now = deps.backups->options().clock->SystemNow();
        co_return Json(
            200,
            json::object{{"stats", st->StatsJson()}, {"generated_at", common::FormatIso8601(now)}},
            ctx);
    };
}

Handler DrStatusHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) -> asio::awaitable<net::HttpResponse> {
        std::optional<net::HttpResponse> refused;
        ops::BackupManager* m = ManagerOr(deps.backups, ctx, refused);
        if (!m) co_return std::move(*refused);
        auto status = [m] { return m->Status(); };
        auto st = co_await deps.backups->options().pool->Run(status);
        if (!st) co_return ServiceErrorResponse(st.error(), ctx.correlation_id);
        const auto& o = deps.backups->options();
        co_return Json(200, DrStatusJson(*st, o.settings, o.clock->SystemNow()), ctx);
    };
}

Handler DrObjectivesHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) -> asio::awaitable<net::HttpResponse> {
        std::optional<net::HttpResponse> refused;
        ops::BackupManager* m = ManagerOr(deps.backups, ctx, refused);
        if (!m) co_return std::move(*refused);
        const auto& o = deps.backups->options();
        const auto now = o.clock->SystemNow();
        struct Inputs {
            ops::DrStatus status;
            std::vector<ops::BackupMetadata> last_week;
        };
        auto read = [m, now]() -> Result<Inputs> {
            auto st = m->Status();
            if (!st) return st.error();
            Inputs in{std::move(*st), {}};
            ops::ListFilter f;
            f.limit = 1000;
            f.since = now - std::chrono::hours(24 * 7);
            for (;; f.offset += f.limit) {
                auto page = m->List(f);
                if (!page) return page.error();
                for (auto& b : page->items) in.last_week.push_back(std::move(b));
                if (!page->has_more) break;
            }
            return in;
        };
        auto in = co_await o.pool->Run(read);
        if (!in) co_return ServiceErrorResponse(in.error(), ctx.correlation_id);
        co_return Json(200, DrObjectivesJson(in->status, in->last_week, o.settings, now), ctx);
    };
}

Handler DrDrillHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) -> asio::awaitable<net::HttpResponse> {
        std::optional<net::HttpResponse> refused;
        ops::BackupManager* m = ManagerOr(deps.backups, ctx, refused);
        if (!m) co_return std::move(*refused);
        BackupAccess& access = *deps.backups;
        auto body = OptionalBody(ctx.request);
        if (!body) co_return ErrorResponse(body.error(), ctx.correlation_id);
        auto backup_id = OptionalString(*body, "backup_id");
        if (!backup_id) co_return ErrorResponse(backup_id.error(), ctx.correlation_id);
        auto drill_type = OptionalString(*body, "drill_type");
        if (!drill_type) co_return ErrorResponse(drill_type.error(), ctx.correlation_id);
        const std::string type = drill_type->value_or("restore_test");
        // Both run the full drill: checksum, scratch restore (timed: the RTO), integrity,
        // schema and every receipt.
        if (type != "restore_test" && type != "full_recovery_sim") {
            co_return ErrorResponse(ErrorCode::kValidation,
                                    "drill_type must be restore_test or full_recovery_sim",
                                    ctx.correlation_id, "drill_type");
        }
        const std::string id = backup_id->value_or("");
        if (!id.empty()) {
            if (auto s = ValidateId(id, "backup id"); !s) {
                co_return ErrorResponse(s.error(), ctx.correlation_id);
            }
        }
        std::function<Result<ops::RestoreDrillReport>()> work = [m, id] { return m->Drill(id); };
        auto report = co_await RunWithDeadline(*access.options().long_pool, std::move(work),
                                               access.options().long_deadline);
        if (!report) {
            if (id.empty() && report.error().code == ErrorCode::kNotFound) {
                co_return ErrorResponse(
                    ErrorCode::kValidation,
                    "No verified backup available for drill: " + report.error().message,
                    ctx.correlation_id, "backup_id");
            }
            co_return ServiceErrorResponse(report.error(), ctx.correlation_id);
        }
        const bool passed = report->status == "passed";
        if (ops::BackupMetrics* metrics = access.options().metrics) {
            metrics->Restore(passed, report->rto_seconds);
            if (passed) {
                metrics->DrillRto(report->rto_seconds);
            } else {
                metrics->Failure(ops::BackupStage::kDrill);
            }
        }
        json::object out = report->ToJson();
        out["drill_type"] = type;
        out["success"] = passed;
        co_return Json(200, out, ctx);
    };
}

}  // namespace aragora::api
