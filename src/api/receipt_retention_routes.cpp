// Receipt retention routes (docs/receipts.md "Retention"): legal holds, the retention status,
// the deletion log and a cleanup on demand, over service::ReceiptRetention. The shapes are
// the original's (retention-status, the deletion log's to_dict, CleanupResult) with real
// numbers and the tombstone fields added.

#include <boost/json.hpp>
#include <climits>
#include <cmath>

#include "api/handlers.hpp"
#include "api/http_util.hpp"
#include "common/json_access.hpp"
#include "common/json_text.hpp"
#include "common/time.hpp"

namespace aragora::api {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using common::ErrorCode;

constexpr std::size_t kMaxMatterIdBytes = 128;
constexpr std::size_t kMaxReasonBytes = 1000;

json::value OrNull(const std::string& s) {
    return s.empty() ? json::value(nullptr) : json::value(s);
}

net::HttpResponse Json(int status, const json::object& o, const RequestContext& ctx) {
    return JsonResponse(status, common::SerializeJson(o), ctx.correlation_id);
}

net::HttpResponse NoRetention(const RequestContext& ctx) {
    return ErrorResponse(ErrorCode::kUnavailable,
                         "receipt retention is not available on this server", ctx.correlation_id);
}

std::string ActorOf(const RequestContext& ctx) {
    std::string actor = ctx.principal.ActorId();
    return actor.empty() ? std::string("anonymous") : actor;
}

json::object HoldJson(const storage::LegalHold& h) {
    return json::object{{"active", h.active},
                        {"reason", OrNull(h.reason)},
                        {"matter_id", OrNull(h.matter_id)},
                        {"placed_by", OrNull(h.placed_by)},
                        {"placed_at", OrNull(h.placed_at)}};
}

// The original's ReceiptDeletion.to_dict (deleted_at in epoch seconds, deleted_at_iso,
// receipt_checksum, gauntlet_id) plus the tombstone's chain fields.
json::object DeletionJson(const storage::ReceiptDeletion& d) {
    boost::system::error_code ec;
    json::value metadata = json::parse(d.metadata_json, ec);
    if (ec || !metadata.is_object()) metadata = json::object{};
    auto deleted = common::ParseIso8601(d.deleted_at);
    return json::object{
        {"deletion_id", d.deletion_id},
        {"receipt_id", d.receipt_id},
        {"receipt_checksum", d.content_hash},
        {"gauntlet_id", "debate-" + d.debate_id},
        {"debate_id", d.debate_id},
        {"verdict", OrNull(d.verdict)},
        {"deleted_at",
         deleted ? json::value(common::EpochSeconds(*deleted)) : json::value(nullptr)},
        {"deleted_at_iso", d.deleted_at},
        {"reason", d.reason},
        {"operator", d.operator_name},
        {"metadata", std::move(metadata)},
        {"chain_seq", d.chain_seq},
        {"content_hash", d.content_hash},
        {"previous_hash", d.previous_hash ? json::value(*d.previous_hash) : json::value(nullptr)},
        {"receipt_created_at", d.receipt_created_at},
    };
}

json::object CleanupJson(const service::CleanupResult& r) {
    json::array ids;
    for (const auto& id : r.receipt_ids) ids.emplace_back(id);
    return json::object{{"receipts_deleted", r.receipts_deleted},
                        {"started_at", r.started_at},
                        {"completed_at", r.completed_at},
                        {"duration_seconds", r.duration_seconds},
                        {"retention_days", r.retention_days},
                        {"success", r.success},
                        {"error", OrNull(r.error)},
                        {"dry_run", r.dry_run},
                        {"complete", r.complete},
                        {"cutoff", r.cutoff},
                        {"held_kept", r.held_kept},
                        {"receipt_ids", std::move(ids)},
                        {"operator", r.operator_name}};
}

json::object StatsJson(const service::CleanupStats& s) {
    const double rate = s.total_runs == 0 ? 1.0
                                          : static_cast<double>(s.total_runs - s.failures) /
                                                static_cast<double>(s.total_runs);
    return json::object{{"total_runs", s.total_runs},
                        {"total_receipts_deleted", s.total_receipts_deleted},
                        {"last_run", OrNull(s.last_run)},
                        {"failures", s.failures},
                        {"success_rate", rate},
                        {"last_result", s.last_result ? json::value(CleanupJson(*s.last_result))
                                                      : json::value(nullptr)}};
}

json::object PairsJson(const std::vector<std::pair<std::string, std::int64_t>>& pairs) {
    json::object o;
    for (const auto& [k, v] : pairs) o[k] = v;
    return o;
}

json::object StatusJson(const service::RetentionStatus& s) {
    const double years = std::round(s.retention_days / 365.0 * 10.0) / 10.0;
    return json::object{
        {"retention_policy",
         json::object{{"retention_days", s.retention_days}, {"retention_years", years}}},
        {"age_distribution", PairsJson(s.age_distribution)},
        {"expiring_receipts", PairsJson(s.expiring)},
        {"already_expired", s.already_expired},
        {"timestamps", json::object{{"oldest_receipt", OrNull(s.oldest_receipt)},
                                    {"newest_receipt", OrNull(s.newest_receipt)}}},
        {"total_receipts", s.total_receipts},
        {"generated_at", s.generated_at},
        {"cutoff", s.cutoff},
        {"legal_holds",
         json::object{{"active", s.legal_holds}, {"expired_but_held", s.expired_but_held}}},
        {"deleted_receipts", s.deleted_receipts},
        {"scheduler", json::object{{"running", s.scheduler_running},
                                   {"interval_hours", s.cleanup_interval_hours},
                                   {"retention_days", s.retention_days},
                                   {"next_run_at", OrNull(s.next_run_at)},
                                   {"stats", StatsJson(s.stats)}}},
    };
}

// --- handlers ------------------------------------------------------------------------

asio::awaitable<net::HttpResponse> PlaceHold(ApiDeps& deps, RequestContext& ctx) {
    std::string id = ctx.Param("id");
    if (auto ok = ValidateId(id, "receipt id"); !ok) {
        co_return ErrorResponse(ok.error(), ctx.correlation_id);
    }
    if (deps.retention == nullptr) co_return NoRetention(ctx);
    auto body = ParseJsonObjectBody(ctx.request.body);
    if (!body) co_return ErrorResponse(body.error(), ctx.correlation_id);
    auto reason = common::RequiredStringField(*body, "reason", kMaxReasonBytes);
    if (!reason) co_return ErrorResponse(reason.error(), ctx.correlation_id);
    auto matter = common::OptionalStringField(*body, "matter_id", kMaxMatterIdBytes);
    if (!matter) co_return ErrorResponse(matter.error(), ctx.correlation_id);
    std::string matter_id = matter->value_or("");
    std::string placed_by = ActorOf(ctx);
    auto hold = co_await deps.retention->PlaceHold(std::move(id), std::move(*reason),
                                                   std::move(matter_id), std::move(placed_by));
    if (!hold) co_return ServiceErrorResponse(hold.error(), ctx.correlation_id);
    if (deps.auth != nullptr) {
        auth::RequestOrigin origin{ctx.client_ip, ctx.correlation_id};
        std::string action = "receipt_legal_hold_placed";
        std::string target = hold->receipt_id;
        std::string details = common::SerializeJson(
            json::object{{"reason", hold->reason}, {"matter_id", hold->matter_id}});
        co_await deps.auth->Audit(ctx.principal, std::move(action), std::move(target),
                                  std::move(details), origin);
    }
    co_return Json(
        200,
        json::object{
            {"success", true}, {"receipt_id", hold->receipt_id}, {"legal_hold", HoldJson(*hold)}},
        ctx);
}

asio::awaitable<net::HttpResponse> ReleaseHold(ApiDeps& deps, RequestContext& ctx) {
    std::string id = ctx.Param("id");
    if (auto ok = ValidateId(id, "receipt id"); !ok) {
        co_return ErrorResponse(ok.error(), ctx.correlation_id);
    }
    if (deps.retention == nullptr) co_return NoRetention(ctx);
    auto before = co_await deps.retention->ReleaseHold(std::move(id));
    if (!before) co_return ServiceErrorResponse(before.error(), ctx.correlation_id);
    if (before->active && deps.auth != nullptr) {
        auth::RequestOrigin origin{ctx.client_ip, ctx.correlation_id};
        std::string action = "receipt_legal_hold_released";
        std::string target = before->receipt_id;
        std::string details = common::SerializeJson(
            json::object{{"reason", before->reason}, {"matter_id", before->matter_id}});
        co_await deps.auth->Audit(ctx.principal, std::move(action), std::move(target),
                                  std::move(details), origin);
    }
    storage::LegalHold now;
    now.receipt_id = before->receipt_id;
    co_return Json(200,
                   json::object{{"success", true},
                                {"receipt_id", before->receipt_id},
                                {"released", before->active},
                                {"released_by", ActorOf(ctx)},
                                {"legal_hold", HoldJson(now)},
                                {"previous", HoldJson(*before)}},
                   ctx);
}

asio::awaitable<net::HttpResponse> GetHold(ApiDeps& deps, RequestContext& ctx) {
    std::string id = ctx.Param("id");
    if (auto ok = ValidateId(id, "receipt id"); !ok) {
        co_return ErrorResponse(ok.error(), ctx.correlation_id);
    }
    if (deps.retention == nullptr) co_return NoRetention(ctx);
    auto hold = co_await deps.retention->Hold(std::move(id));
    if (!hold) co_return ServiceErrorResponse(hold.error(), ctx.correlation_id);
    co_return Json(
        200, json::object{{"receipt_id", hold->receipt_id}, {"legal_hold", HoldJson(*hold)}}, ctx);
}

asio::awaitable<net::HttpResponse> RetentionStatus(ApiDeps& deps, RequestContext& ctx) {
    if (deps.retention == nullptr) co_return NoRetention(ctx);
    auto status = co_await deps.retention->GetStatus();
    if (!status) co_return ServiceErrorResponse(status.error(), ctx.correlation_id);
    co_return Json(200, StatusJson(*status), ctx);
}

asio::awaitable<net::HttpResponse> Deletions(ApiDeps& deps, RequestContext& ctx) {
    if (deps.retention == nullptr) co_return NoRetention(ctx);
    auto limit = IntQueryParam(ctx.request, "limit", 50, 1, 1000);
    if (!limit) co_return ErrorResponse(limit.error(), ctx.correlation_id);
    auto offset = IntQueryParam(ctx.request, "offset", 0, 0, INT_MAX);
    if (!offset) co_return ErrorResponse(offset.error(), ctx.correlation_id);
    std::string reason = ctx.request.QueryParam("reason").value_or("");
    if (!reason.empty()) {
        if (auto ok = ValidateId(reason, "reason"); !ok) {
            co_return ErrorResponse(ok.error(), ctx.correlation_id);
        }
    }
    auto page = co_await deps.retention->Deletions(static_cast<int>(*limit),
                                                   static_cast<int>(*offset), std::move(reason));
    if (!page) co_return ServiceErrorResponse(page.error(), ctx.correlation_id);
    json::array items;
    for (const auto& d : page->items) items.emplace_back(DeletionJson(d));
    const auto count = static_cast<std::int64_t>(page->items.size());
    co_return Json(
        200,
        json::object{{"deletions", std::move(items)},
                     {"pagination", json::object{{"limit", *limit},
                                                 {"offset", *offset},
                                                 {"total", page->total},
                                                 {"has_more", *offset + count < page->total}}},
                     {"total", page->total}},
        ctx);
}

asio::awaitable<net::HttpResponse> RunCleanupNow(ApiDeps& deps, RequestContext& ctx) {
    if (deps.retention == nullptr) co_return NoRetention(ctx);
    service::CleanupRequest request;
    request.operator_name = "user:" + ActorOf(ctx);
    if (!ctx.request.body.empty()) {
        auto body = ParseJsonObjectBody(ctx.request.body);
        if (!body) co_return ErrorResponse(body.error(), ctx.correlation_id);
        if (const json::value* dry = common::FindField(*body, "dry_run")) {
            if (!dry->is_bool()) {
                co_return ErrorResponse(ErrorCode::kValidation, "dry_run must be a boolean",
                                        ctx.correlation_id, "dry_run");
            }
            request.dry_run = dry->get_bool();
        }
        if (const json::value* days = common::FindField(*body, "retention_days")) {
            auto n = common::AsInt64(*days);
            if (!n || *n < 0 || *n > 100000) {
                co_return ErrorResponse(ErrorCode::kValidation,
                                        "retention_days must be an integer in [0, 100000]",
                                        ctx.correlation_id, "retention_days");
            }
            request.retention_days = static_cast<int>(*n);
        }
    }
    const bool dry_run = request.dry_run;
    auto result = co_await deps.retention->RunCleanup(std::move(request));
    if (!result) co_return ServiceErrorResponse(result.error(), ctx.correlation_id);
    if (!dry_run && deps.auth != nullptr) {
        auth::RequestOrigin origin{ctx.client_ip, ctx.correlation_id};
        std::string action = "receipt_retention_run";
        std::string target = "receipts";
        std::string details =
            common::SerializeJson(json::object{{"retention_days", result->retention_days},
                                               {"cutoff", result->cutoff},
                                               {"receipts_deleted", result->receipts_deleted}});
        co_await deps.auth->Audit(ctx.principal, std::move(action), std::move(target),
                                  std::move(details), origin);
    }
    co_return Json(200, CleanupJson(*result), ctx);
}

template <auto Fn>
Handler Bind(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) { return Fn(deps, ctx); };
}

}  // namespace

void AddReceiptRetentionRoutes(Router& r, ApiDeps& d) {
    using enum AuthLevel;
    using enum RateClass;
    // One row a route, fields named and packed as in routes.cpp.
    // clang-format off
    r.Add({.method = "POST", .path = "/api/v2/receipts/{id}/legal-hold", .auth = kAdmin,
           .rate = kWrite, .handler = Bind<PlaceHold>(d),
           .summary = "Place (or replace) a legal hold: retention never deletes the receipt",
           .tag = "receipts", .request_schema = "LegalHoldRequest",
           .response_schema = "LegalHoldResponse"});
    r.Add({.method = "DELETE", .path = "/api/v2/receipts/{id}/legal-hold", .auth = kAdmin,
           .rate = kWrite, .handler = Bind<ReleaseHold>(d),
           .summary = "Release a receipt's legal hold (retention applies again)",
           .tag = "receipts", .response_schema = "LegalHoldRelease"});
    r.Add({.method = "GET", .path = "/api/v2/receipts/{id}/legal-hold", .auth = kAdmin,
           .rate = kRead, .handler = Bind<GetHold>(d), .summary = "A receipt's legal hold",
           .tag = "receipts", .response_schema = "LegalHoldResponse"});
    r.Add({.method = "GET", .path = "/api/v2/receipts/retention-status", .auth = kUser,
           .rate = kRead, .handler = Bind<RetentionStatus>(d),
           .summary = "Retention policy, receipt ages, expiring and held receipts, scheduler",
           .tag = "receipts", .response_schema = "RetentionStatus"});
    r.Add({.method = "GET", .path = "/api/v2/receipts/deletions", .auth = kAdmin, .rate = kRead,
           .handler = Bind<Deletions>(d),
           .summary = "The receipt deletion log (tombstones), newest first (?limit=&offset=&reason=)",
           .tag = "receipts", .response_schema = "ReceiptDeletionList"});
    r.Add({.method = "POST", .path = "/api/v2/receipts/retention/run", .auth = kAdmin,
           .rate = kWrite, .handler = Bind<RunCleanupNow>(d),
           .summary = "Run the retention cleanup now ({dry_run, retention_days})",
           .tag = "receipts", .request_schema = "RetentionRunRequest",
           .response_schema = "CleanupResult"});
    // clang-format on
}

}  // namespace aragora::api
