// Debate routes (API.md "Debates"): create, get, list, cancel, messages, events, export,
// and the debate's receipt. Handlers parse and validate, call service::DebateService and
// map the result; the documents are rendered by the pure functions at the end.

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstdio>
#include <set>

#include "agents/registry.hpp"
#include "api/handlers.hpp"
#include "api/http_util.hpp"
#include "common/json_access.hpp"
#include "common/json_text.hpp"
#include "common/strings.hpp"
#include "common/time.hpp"
#include "debate/receipt.hpp"
#include "debate/types.hpp"
#include "events/payloads.hpp"
#include "service/records.hpp"
#include "storage/store_rules.hpp"

namespace aragora::api {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using common::ErrorCode;
using common::MakeError;
using common::Result;

constexpr std::int64_t kListDefaultLimit = 20;
constexpr std::int64_t kListMaxLimit = 100;
constexpr std::int64_t kMessagesDefaultLimit = 50;
constexpr std::int64_t kMessagesMaxLimit = 500;
constexpr std::int64_t kEventsDefaultLimit = 100;
constexpr int kEventsMaxLimit = 500;
// Upper bound on event pages read for one transcript (500 events each): a safety net
// against a service that keeps answering has_more.
constexpr int kMaxEventPages = 10000;
constexpr std::size_t kMaxAgentNameChars = 64;
constexpr std::string_view kStatusFilters =
    "pending, running, completed, failed, cancelled, active, no_consensus";
constexpr std::string_view kExportFormats = "json, md, markdown, html, csv";

std::size_t CodePoints(std::string_view s) {
    return static_cast<std::size_t>(std::count_if(
        s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

json::object ParseObjectOrEmpty(std::string_view text) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) return {};
    return std::move(v.get_object());
}

json::array ToJsonArray(const std::vector<std::string>& v) {
    json::array a;
    for (const auto& s : v) a.emplace_back(s);
    return a;
}

// --- create --------------------------------------------------------------------------

Result<std::vector<agents::AgentSpec>> ParseAgents(const json::value* agents) {
    const std::string field = "agents";
    if (agents == nullptr) return agents::ParseAgentSpecs({"demo", "demo", "demo"});
    std::vector<std::string> specs;
    std::vector<std::optional<std::string>> names;
    if (agents->is_string()) {
        const std::string_view list = agents->get_string();
        if (common::Trim(list).empty()) {
            return MakeError(ErrorCode::kValidation, "agents must name at least 2 agents", field);
        }
        auto parsed = agents::ParseAgentList(list);
        if (!parsed) return parsed.error();
        if (parsed->size() > debate::kMaxAgents) {
            return MakeError(ErrorCode::kValidation,
                             "at most " + std::to_string(debate::kMaxAgents) +
                                 " agents can take part in one debate (got " +
                                 std::to_string(parsed->size()) + ")",
                             field);
        }
        if (parsed->size() < 2) {
            return MakeError(
                ErrorCode::kValidation,
                "at least 2 agents are required (got " + std::to_string(parsed->size()) + ")",
                field);
        }
        return parsed;
    }
    if (!agents->is_array()) {
        return MakeError(ErrorCode::kValidation,
                         "agents must be an array of agent specs (\"provider[:model-or-persona]\" "
                         "or {\"provider\", \"model\", \"persona\", \"name\"}) or a "
                         "comma-separated string",
                         field);
    }
    const json::array& list = agents->get_array();
    for (std::size_t i = 0; i < list.size(); ++i) {
        const json::value& item = list[i];
        const std::string where = "agents[" + std::to_string(i) + "]";
        if (item.is_string()) {
            specs.emplace_back(item.get_string());
            names.emplace_back();
            continue;
        }
        if (!item.is_object()) {
            return MakeError(ErrorCode::kValidation,
                             where + " must be a spec string or an object with \"provider\"",
                             field);
        }
        const json::object& o = item.get_object();
        const json::value* provider = common::FindField(o, "provider");
        if (provider == nullptr || !provider->is_string() ||
            common::Trim(provider->get_string()).empty()) {
            return MakeError(ErrorCode::kValidation,
                             where + ".provider is required (a non-empty string)", field);
        }
        std::string spec(provider->get_string());
        for (std::string_view key : {"model", "persona", "name"}) {
            const json::value* v = common::FindField(o, key);
            if (v != nullptr && !v->is_string()) {
                return MakeError(ErrorCode::kValidation,
                                 where + "." + std::string(key) + " must be a string", field);
            }
        }
        // The model names a provider's model; a demo agent's variant is its persona.
        std::string model = common::StringFieldOr(o, "model");
        if (model.empty()) model = common::StringFieldOr(o, "persona");
        if (!model.empty()) spec += ":" + model;
        specs.push_back(std::move(spec));
        std::string name = common::StringFieldOr(o, "name");
        if (common::FindField(o, "name") != nullptr) {
            if (common::Trim(name).empty() || CodePoints(name) > kMaxAgentNameChars ||
                std::any_of(name.begin(), name.end(),
                            [](char c) { return static_cast<unsigned char>(c) < 0x20; })) {
                return MakeError(ErrorCode::kValidation,
                                 where + ".name must be 1.." + std::to_string(kMaxAgentNameChars) +
                                     " printable characters",
                                 field);
            }
            names.emplace_back(std::move(name));
        } else {
            names.emplace_back();
        }
    }
    if (specs.size() < 2) {
        return MakeError(
            ErrorCode::kValidation,
            "at least 2 agents are required (got " + std::to_string(specs.size()) + ")", field);
    }
    if (specs.size() > debate::kMaxAgents) {
        return MakeError(ErrorCode::kValidation,
                         "at most " + std::to_string(debate::kMaxAgents) +
                             " agents can take part in one debate (got " +
                             std::to_string(specs.size()) + ")",
                         field);
    }
    auto parsed = agents::ParseAgentSpecs(specs);
    if (!parsed) return parsed.error();
    std::set<std::string> seen;
    for (std::size_t i = 0; i < parsed->size(); ++i) {
        if (names[i]) (*parsed)[i].name = *names[i];
    }
    for (const auto& spec : *parsed) {
        if (!seen.insert(spec.name).second) {
            return MakeError(ErrorCode::kValidation, "duplicate agent name '" + spec.name + "'",
                             field);
        }
    }
    return parsed;
}

// The value of a field that may be given at the top level or inside `protocol` (the
// top level wins), with the name to report in errors.
struct FieldValue {
    const json::value* value = nullptr;
    std::string name;
};

FieldValue TopOrProtocol(const json::object& body, const json::object* protocol,
                         std::string_view name) {
    if (const json::value* v = common::FindField(body, name)) return {v, std::string(name)};
    if (protocol != nullptr) {
        if (const json::value* v = common::FindField(*protocol, name)) {
            return {v, "protocol." + std::string(name)};
        }
    }
    return {};
}

// --- transcript ----------------------------------------------------------------------

std::string JudgeOf(const storage::DebateRecord& debate) {
    std::string judge = common::StringFieldOr(ParseObjectOrEmpty(debate.spec_json), "judge");
    if (judge.empty() && !debate.agents.empty()) judge = debate.agents.front();
    return judge;
}

std::string IsoFromEpoch(double seconds) {
    const auto since_epoch = std::chrono::duration_cast<std::chrono::system_clock::duration>(
        std::chrono::duration<double>(seconds));
    return common::FormatIso8601(std::chrono::system_clock::time_point(since_epoch));
}

std::string MessagesJson(const std::vector<Message>& messages, std::size_t offset,
                         std::size_t limit) {
    json::array out;
    for (std::size_t i = offset; i < messages.size() && i - offset < limit; ++i) {
        const Message& m = messages[i];
        out.push_back(json::object{{"index", i},
                                   {"agent", m.agent},
                                   {"role", m.role},
                                   {"round", m.round},
                                   {"content", m.content},
                                   {"timestamp", IsoFromEpoch(m.timestamp)}});
    }
    return common::SerializeJson(out);
}

// Every event of a debate so far, in seq order (pages of kEventsMaxLimit).
asio::awaitable<Result<std::vector<events::Event>>> AllEvents(service::DebateService& debates,
                                                              const std::string& id) {
    std::vector<events::Event> all;
    std::int64_t since = 0;
    for (int page_count = 0; page_count < kMaxEventPages; ++page_count) {
        auto page = co_await debates.Events(id, since, kEventsMaxLimit);
        if (!page) co_return page.error();
        for (auto& e : page->events) all.push_back(std::move(e));
        if (!page->has_more || page->events.empty() || page->next_seq <= since) break;
        since = page->next_seq;
    }
    co_return all;
}

// --- handlers ------------------------------------------------------------------------

asio::awaitable<net::HttpResponse> CreateDebate(ApiDeps& deps, RequestContext& ctx) {
    auto request = ParseCreateDebateRequest(ctx.request.body);
    if (!request) co_return ErrorResponse(request.error(), ctx.correlation_id);
    request->correlation_id = ctx.correlation_id;
    request->created_by = ctx.principal.ActorId();
    request->org_id = ctx.principal.org_id;
    request->trace = ctx.trace;
    auto created = co_await deps.debates.Create(std::move(*request));
    if (!created) {
        net::HttpResponse res = ServiceErrorResponse(created.error(), ctx.correlation_id);
        if (created.error().code == ErrorCode::kOverloaded) {
            const service::ServiceStats stats = deps.debates.Stats();
            res.AddHeader("X-RateLimit-Limit",
                          std::to_string(stats.max_running + stats.max_queued));
        }
        co_return res;
    }
    const storage::DebateRecord& d = *created;
    json::object o;
    o["success"] = true;
    o["debate_id"] = d.id;
    o["id"] = d.id;
    o["status"] = events::ToString(d.status);
    o["task"] = d.task;
    o["agents"] = ToJsonArray(d.agents);
    o["websocket_url"] = "/ws?debate_id=" + d.id;
    net::HttpResponse res = JsonResponse(201, common::SerializeJson(o), ctx.correlation_id);
    res.AddHeader("Location", "/api/v1/debates/" + d.id);
    co_return res;
}

// The cancel route's permission rule: debate:create (the route's kMember level), and
// debate:cancel:any, or debate:cancel:own on a debate this principal created.
bool MayCancel(const auth::Principal& principal, const std::string& created_by) {
    if (!principal.Allows(auth::Permission::kDebateCreate)) return false;
    if (principal.Allows(auth::Permission::kDebateCancelAny)) return true;
    return created_by == principal.ActorId() &&
           principal.Allows(auth::Permission::kDebateCancelOwn);
}

// The debate document plus, for the console, `created_by` (the creator's user id, "" when
// anonymous) and `can_cancel`: whether this principal's cancel would succeed now (allowed
// by MayCancel, and the debate not finished).
std::string DebateForPrincipal(const storage::DebateRecord& d, const auth::Principal& principal) {
    boost::system::error_code ec;
    json::value v = json::parse(service::DebateToJson(d), ec);
    if (ec || !v.is_object()) return service::DebateToJson(d);
    json::object& o = v.as_object();
    o["created_by"] = d.created_by;
    o["can_cancel"] = !events::IsTerminal(d.status) && MayCancel(principal, d.created_by);
    return common::SerializeJson(o);
}

asio::awaitable<net::HttpResponse> GetDebate(ApiDeps& deps, RequestContext& ctx) {
    const std::string id = ctx.Param("id");
    if (auto ok = ValidateId(id, "debate id"); !ok) {
        co_return ErrorResponse(ok.error(), ctx.correlation_id);
    }
    auto debate = co_await deps.debates.Get(id);
    if (!debate) co_return ServiceErrorResponse(debate.error(), ctx.correlation_id);
    co_return JsonResponse(200, DebateForPrincipal(*debate, ctx.principal), ctx.correlation_id);
}

asio::awaitable<net::HttpResponse> ListDebates(ApiDeps& deps, RequestContext& ctx) {
    static const std::set<std::string, std::less<>> kStatuses = {
        "pending", "running", "completed", "failed", "cancelled", "active", "no_consensus"};
    storage::DebateFilter filter;
    filter.status = ctx.request.QueryParam("status").value_or("");
    if (!filter.status.empty() && kStatuses.count(filter.status) == 0) {
        co_return ErrorResponse(ErrorCode::kValidation,
                                "status must be one of: " + std::string(kStatusFilters),
                                ctx.correlation_id, "status");
    }
    auto limit = IntQueryParam(ctx.request, "limit", kListDefaultLimit, 1, kListMaxLimit);
    if (!limit) co_return ErrorResponse(limit.error(), ctx.correlation_id);
    auto offset = IntQueryParam(ctx.request, "offset", 0, 0, INT_MAX);
    if (!offset) co_return ErrorResponse(offset.error(), ctx.correlation_id);
    filter.limit = static_cast<int>(*limit);
    filter.offset = static_cast<int>(*offset);
    // Search by task text (case-insensitive substring, done by the store in SQL).
    filter.task_query = ctx.request.QueryParam("q").value_or("");
    if (auto ok = storage::rules::ValidateTaskQuery(filter.task_query); !ok) {
        co_return ErrorResponse(ok.error(), ctx.correlation_id);
    }
    if (!filter.task_query.empty() && deps.debate_content_sealed) {
        co_return ErrorResponse(ErrorCode::kValidation,
                                "search by task is unavailable while "
                                "ARAGORA_ENCRYPT_DEBATE_CONTENT is on",
                                ctx.correlation_id, "q");
    }

    auto page = co_await deps.debates.List(filter);
    if (!page) co_return ServiceErrorResponse(page.error(), ctx.correlation_id);
    json::array items;
    for (const storage::DebateRecord& r : page->items) {
        json::object s;
        s["debate_id"] = r.id;
        s["id"] = r.id;
        s["task"] = r.task;
        s["status"] = events::ToString(r.status);
        s["agents"] = ToJsonArray(r.agents);
        s["consensus_reached"] =
            r.consensus_reached ? json::value(*r.consensus_reached) : json::value(nullptr);
        s["confidence"] = r.confidence ? json::value(*r.confidence) : json::value(nullptr);
        s["verdict"] = r.verdict.empty() ? json::value(nullptr) : json::value(r.verdict);
        s["created_at"] = r.created_at.empty() ? json::value(nullptr) : json::value(r.created_at);
        s["completed_at"] =
            r.completed_at.empty() ? json::value(nullptr) : json::value(r.completed_at);
        items.push_back(std::move(s));
    }
    const auto count = static_cast<std::int64_t>(items.size());
    json::object o;
    o["debates"] = items;
    o["items"] = std::move(items);
    o["total"] = page->total;
    o["count"] = count;
    o["limit"] = *limit;
    o["offset"] = *offset;
    o["has_more"] = *offset + count < page->total;
    co_return JsonResponse(200, common::SerializeJson(o), ctx.correlation_id);
}

asio::awaitable<net::HttpResponse> CancelDebate(ApiDeps& deps, RequestContext& ctx) {
    const std::string id = ctx.Param("id");
    if (auto ok = ValidateId(id, "debate id"); !ok) {
        co_return ErrorResponse(ok.error(), ctx.correlation_id);
    }
    // A member cancels its own debates; admins (debate:cancel:any) everyone's.
    if (!ctx.principal.Allows(auth::Permission::kDebateCancelAny)) {
        auto existing = co_await deps.debates.Get(id);
        if (!existing) co_return ServiceErrorResponse(existing.error(), ctx.correlation_id);
        if (!MayCancel(ctx.principal, existing->created_by)) {
            co_return ErrorResponse(ErrorCode::kForbidden,
                                    "role " + std::string(auth::RoleName(ctx.principal.role)) +
                                        " may cancel only debates it created",
                                    ctx.correlation_id);
        }
    }
    auto cancelled = co_await deps.debates.Cancel(id);
    if (!cancelled) co_return ServiceErrorResponse(cancelled.error(), ctx.correlation_id);
    if (deps.auth != nullptr) {
        auth::RequestOrigin origin{ctx.client_ip, ctx.correlation_id};
        std::string action = "debate_cancelled";
        std::string target = id;
        std::string details = "{}";
        co_await deps.auth->Audit(ctx.principal, std::move(action), std::move(target),
                                  std::move(details), origin);
    }
    json::object o;
    o["success"] = true;
    o["debate_id"] = cancelled->id;
    o["status"] = events::ToString(cancelled->status);
    o["message"] = "debate " + cancelled->id + " cancelled";
    co_return JsonResponse(200, common::SerializeJson(o), ctx.correlation_id);
}

asio::awaitable<net::HttpResponse> DebateMessages(ApiDeps& deps, RequestContext& ctx) {
    const std::string id = ctx.Param("id");
    if (auto ok = ValidateId(id, "debate id"); !ok) {
        co_return ErrorResponse(ok.error(), ctx.correlation_id);
    }
    auto limit = IntQueryParam(ctx.request, "limit", kMessagesDefaultLimit, 1, kMessagesMaxLimit);
    if (!limit) co_return ErrorResponse(limit.error(), ctx.correlation_id);
    auto offset = IntQueryParam(ctx.request, "offset", 0, 0, INT_MAX);
    if (!offset) co_return ErrorResponse(offset.error(), ctx.correlation_id);

    auto debate = co_await deps.debates.Get(id);
    if (!debate) co_return ServiceErrorResponse(debate.error(), ctx.correlation_id);
    auto events = co_await AllEvents(deps.debates, id);
    if (!events) co_return ServiceErrorResponse(events.error(), ctx.correlation_id);
    const std::vector<Message> messages = MessagesFromEvents(*events, JudgeOf(*debate));

    const auto total = static_cast<std::int64_t>(messages.size());
    std::string body = "{\"debate_id\":" + net::JsonQuote(id) + ",\"messages\":" +
                       MessagesJson(messages, static_cast<std::size_t>(*offset),
                                    static_cast<std::size_t>(*limit)) +
                       ",\"total\":" + std::to_string(total) +
                       ",\"offset\":" + std::to_string(*offset) +
                       ",\"limit\":" + std::to_string(*limit) +
                       ",\"has_more\":" + (*offset + *limit < total ? "true" : "false") + "}";
    co_return JsonResponse(200, std::move(body), ctx.correlation_id);
}

asio::awaitable<net::HttpResponse> DebateEvents(ApiDeps& deps, RequestContext& ctx) {
    const std::string id = ctx.Param("id");
    if (auto ok = ValidateId(id, "debate id"); !ok) {
        co_return ErrorResponse(ok.error(), ctx.correlation_id);
    }
    // API.md: a non-numeric `since` reads as 0 (as does a negative one).
    std::int64_t since = 0;
    if (auto raw = ctx.request.QueryParam("since")) {
        std::int64_t parsed = 0;
        const char* end = raw->data() + raw->size();
        auto [ptr, ec] = std::from_chars(raw->data(), end, parsed);
        if (ec == std::errc() && ptr == end && parsed > 0) since = parsed;
    }
    // Larger limits are served as 500: next_seq and has_more keep the poller complete.
    auto limit = IntQueryParam(ctx.request, "limit", kEventsDefaultLimit, 1, INT_MAX);
    if (!limit) co_return ErrorResponse(limit.error(), ctx.correlation_id);
    const int page_limit = static_cast<int>(std::min<std::int64_t>(*limit, kEventsMaxLimit));

    auto page = co_await deps.debates.Events(id, since, page_limit);
    if (!page) co_return ServiceErrorResponse(page.error(), ctx.correlation_id);
    std::string body = "{\"debate_id\":" + net::JsonQuote(id) + ",\"events\":[";
    for (std::size_t i = 0; i < page->events.size(); ++i) {
        if (i > 0) body += ',';
        body += events::ToEnvelopeJson(page->events[i]);
    }
    body += "],\"next_seq\":" + std::to_string(page->next_seq) +
            ",\"has_more\":" + (page->has_more ? "true" : "false") + "}";
    co_return JsonResponse(200, std::move(body), ctx.correlation_id);
}

asio::awaitable<net::HttpResponse> ExportDebate(ApiDeps& deps, RequestContext& ctx) {
    const std::string id = ctx.Param("id");
    if (auto ok = ValidateId(id, "debate id"); !ok) {
        co_return ErrorResponse(ok.error(), ctx.correlation_id);
    }
    std::string format = ctx.Param("format");
    if (format.empty()) format = ctx.request.QueryParam("format").value_or("");
    if (format.empty()) format = "json";
    for (char& c : format) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    if (format == "markdown") format = "md";
    if (format != "json" && format != "md" && format != "html" && format != "csv") {
        co_return ErrorResponse(ErrorCode::kValidation,
                                "format must be one of: " + std::string(kExportFormats),
                                ctx.correlation_id, "format");
    }

    auto debate = co_await deps.debates.Get(id);
    if (!debate) co_return ServiceErrorResponse(debate.error(), ctx.correlation_id);
    auto events = co_await AllEvents(deps.debates, id);
    if (!events) co_return ServiceErrorResponse(events.error(), ctx.correlation_id);
    const std::vector<Message> messages = MessagesFromEvents(*events, JudgeOf(*debate));

    if (format == "json") {
        // The debate object of Get with the transcript spliced in as one more member.
        std::string body = service::DebateToJson(*debate);
        body.pop_back();
        body += ",\"messages\":" + MessagesJson(messages, 0, messages.size()) + "}";
        co_return JsonResponse(200, std::move(body), ctx.correlation_id);
    }
    Document doc;
    doc.format = format;
    doc.filename = debate->id + "." + format;
    if (format == "md") {
        doc.content = DebateMarkdown(*debate, messages);
        doc.content_type = "text/markdown; charset=utf-8";
    } else if (format == "html") {
        doc.content = DebateHtml(*debate, messages);
        doc.content_type = "text/html; charset=utf-8";
    } else {
        doc.content = DebateCsv(*debate, messages);
        doc.content_type = "text/csv; charset=utf-8";
    }
    co_return ExportResponse(ctx.request, ctx.correlation_id, doc, {{"debate_id", debate->id}});
}

asio::awaitable<net::HttpResponse> DebateReceipt(ApiDeps& deps, RequestContext& ctx) {
    const std::string id = ctx.Param("id");
    if (auto ok = ValidateId(id, "debate id"); !ok) {
        co_return ErrorResponse(ok.error(), ctx.correlation_id);
    }
    const std::string format_name = ctx.request.QueryParam("format").value_or("json");
    auto format = debate::ParseReceiptFormat(format_name.empty() ? "json" : format_name);
    if (!format) {
        co_return ErrorResponse(ErrorCode::kValidation,
                                "format must be one of: json, md, markdown, html",
                                ctx.correlation_id, "format");
    }
    auto debate = co_await deps.debates.Get(id);
    if (!debate) co_return ServiceErrorResponse(debate.error(), ctx.correlation_id);
    if (debate->receipt_id.empty()) {
        co_return ErrorResponse(ErrorCode::kNotFound,
                                "debate " + id + " has no receipt (status " +
                                    std::string(events::ToString(debate->status)) +
                                    "; only completed debates have one)",
                                ctx.correlation_id);
    }
    auto receipt = co_await deps.debates.Receipt(debate->receipt_id);
    if (!receipt) co_return ServiceErrorResponse(receipt.error(), ctx.correlation_id);
    if (*format == debate::ReceiptFormat::kJson) {
        co_return JsonResponse(200, receipt->json, ctx.correlation_id);
    }
    auto rendered = debate::RenderReceipt(receipt->json, *format);
    if (!rendered) co_return ServiceErrorResponse(rendered.error(), ctx.correlation_id);
    Document doc;
    const bool md = *format == debate::ReceiptFormat::kMarkdown;
    doc.format = md ? "md" : "html";
    doc.content = std::move(*rendered);
    doc.content_type = md ? "text/markdown; charset=utf-8" : "text/html; charset=utf-8";
    doc.filename = receipt->receipt_id + "." + doc.format;
    co_return ExportResponse(ctx.request, ctx.correlation_id, doc,
                             {{"debate_id", debate->id}, {"receipt_id", receipt->receipt_id}});
}

// --- documents -----------------------------------------------------------------------

std::string Fixed2(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", v);
    return buf;
}

// The summary rows shared by the Markdown and HTML documents (label, plain value).
std::vector<std::pair<std::string, std::string>> SummaryRows(const storage::DebateRecord& d) {
    std::vector<std::pair<std::string, std::string>> rows;
    rows.emplace_back("Debate ID", d.id);
    rows.emplace_back("Status", std::string(events::ToString(d.status)));
    rows.emplace_back("Agents", common::Join(d.agents, ", "));
    rows.emplace_back("Rounds", std::to_string(d.rounds_used) + " of " + std::to_string(d.rounds));
    rows.emplace_back("Consensus method", d.consensus_method);
    rows.emplace_back("Consensus reached",
                      d.consensus_reached ? (*d.consensus_reached ? "yes" : "no") : "-");
    rows.emplace_back("Confidence", d.confidence ? Fixed2(*d.confidence) : "-");
    rows.emplace_back("Verdict", d.verdict.empty() ? "-" : d.verdict);
    rows.emplace_back("Created", d.created_at.empty() ? "-" : d.created_at);
    rows.emplace_back("Completed", d.completed_at.empty() ? "-" : d.completed_at);
    rows.emplace_back("Receipt", d.receipt_id.empty() ? "-" : d.receipt_id);
    if (!d.error_code.empty()) rows.emplace_back("Error", d.error_code + ": " + d.error_message);
    return rows;
}

std::string CsvField(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"') out.push_back('"');
        out.push_back(c);
    }
    out.push_back('"');
    return out;
}

}  // namespace

// --- public helpers ------------------------------------------------------------------

Result<json::object> ParseJsonObjectBody(std::string_view body) {
    if (common::Trim(body).empty()) {
        return MakeError(ErrorCode::kBadRequest, "request body is empty; expected a JSON object");
    }
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec) {
        return MakeError(ErrorCode::kBadRequest, "request body is not valid JSON: " + ec.message());
    }
    if (!v.is_object())
        return MakeError(ErrorCode::kBadRequest, "request body must be a JSON object");
    return std::move(v.get_object());
}

Result<service::CreateDebateRequest> ParseCreateDebateRequest(std::string_view body_text) {
    auto parsed = ParseJsonObjectBody(body_text);
    if (!parsed) return parsed.error();
    const json::object& body = *parsed;
    service::CreateDebateRequest req;

    std::string task_field = "task";
    const json::value* task = common::FindField(body, "task");
    if (task == nullptr) {
        task = common::FindField(body, "question");
        if (task != nullptr) task_field = "question";
    }
    if (task == nullptr) {
        return MakeError(ErrorCode::kValidation, "task (or question) is required", "task");
    }
    if (!task->is_string()) {
        return MakeError(ErrorCode::kValidation, task_field + " must be a string", task_field);
    }
    req.task = std::string(task->get_string());
    if (common::Trim(req.task).empty()) {
        return MakeError(ErrorCode::kValidation, task_field + " must not be empty", task_field);
    }
    if (CodePoints(req.task) > debate::kMaxTaskChars) {
        return MakeError(
            ErrorCode::kValidation,
            task_field + " is longer than " + std::to_string(debate::kMaxTaskChars) + " characters",
            task_field);
    }

    const json::object* protocol = nullptr;
    if (const json::value* p = common::FindField(body, "protocol")) {
        if (!p->is_object()) {
            return MakeError(ErrorCode::kValidation, "protocol must be a JSON object", "protocol");
        }
        protocol = &p->get_object();
    }

    if (FieldValue rounds = TopOrProtocol(body, protocol, "rounds"); rounds.value) {
        auto n = common::AsInt64(*rounds.value);
        if (!n || *n < debate::kMinRounds || *n > debate::kMaxRounds) {
            return MakeError(ErrorCode::kValidation,
                             rounds.name + " must be an integer between " +
                                 std::to_string(debate::kMinRounds) + " and " +
                                 std::to_string(debate::kMaxRounds),
                             rounds.name);
        }
        req.rounds = static_cast<int>(*n);
    }

    if (FieldValue consensus = TopOrProtocol(body, protocol, "consensus"); consensus.value) {
        std::optional<debate::ConsensusMethod> method;
        if (consensus.value->is_string()) {
            method = debate::ParseConsensusMethod(consensus.value->get_string());
        }
        if (!method) {
            return MakeError(
                ErrorCode::kValidation,
                consensus.name + " must be one of: " + std::string(debate::ConsensusMethodList()),
                consensus.name);
        }
        req.consensus = *method;
    }

    if (FieldValue threshold = TopOrProtocol(body, protocol, "consensus_threshold");
        threshold.value) {
        const bool number = threshold.value->is_number();
        const double t = number ? threshold.value->to_number<double>() : 0;
        if (!number || !(t > 0 && t <= 1)) {
            return MakeError(ErrorCode::kValidation, threshold.name + " must be a number in (0, 1]",
                             threshold.name);
        }
        req.consensus_threshold = t;
    }

    if (const json::value* context = common::FindField(body, "context")) {
        if (!context->is_string()) {
            return MakeError(ErrorCode::kValidation, "context must be a string", "context");
        }
        req.context = std::string(context->get_string());
    }

    if (const json::value* metadata = common::FindField(body, "metadata")) {
        if (!metadata->is_object()) {
            return MakeError(ErrorCode::kValidation, "metadata must be a JSON object", "metadata");
        }
        req.metadata_json = common::SerializeJson(*metadata);
    }

    auto agents = ParseAgents(common::FindField(body, "agents"));
    if (!agents) return agents.error();
    req.agents = std::move(*agents);
    return req;
}

std::vector<Message> MessagesFromEvents(const std::vector<events::Event>& events,
                                        const std::string& judge) {
    std::vector<Message> out;
    for (const events::Event& e : events) {
        Message m;
        m.timestamp = e.timestamp;
        if (auto p = events::As<events::AgentMessage>(e)) {
            m.agent = p->agent;
            m.round = p->round_number;
            m.role = p->role;
            if (m.role != "proposer" && m.role != "reviser") {
                m.role = m.round > 1 ? "reviser" : "proposer";
            }
            m.content = std::move(p->content);
        } else if (auto p = events::As<events::Critique>(e)) {
            m.agent = p->agent;
            m.round = p->round_number;
            m.role = "critic";
            m.content = std::move(p->content);
        } else if (auto p = events::As<events::Vote>(e)) {
            m.agent = p->agent;
            m.round = p->round_number;
            m.role = "voter";
            m.content = "Vote for " + p->choice;
            if (!p->reasoning.empty()) m.content += ": " + p->reasoning;
        } else if (auto p = events::As<events::Consensus>(e)) {
            if (p->method != "judge") continue;
            m.round = e.round;
            m.role = "judge";
            m.content = std::move(p->result);
        } else {
            continue;
        }
        if (m.agent.empty()) m.agent = e.agent;
        if (m.agent.empty() && m.role == "judge") m.agent = judge;
        out.push_back(std::move(m));
    }
    return out;
}

std::string DebateMarkdown(const storage::DebateRecord& d, const std::vector<Message>& messages) {
    std::string out = "# Debate " + d.id + "\n\n| Field | Value |\n|---|---|\n";
    for (const auto& [label, value] : SummaryRows(d)) {
        out += "| " + label + " | " + common::MarkdownTableCell(value) + " |\n";
    }
    out += "\n## Task\n\n" + common::MarkdownEscape(d.task) + "\n";
    out += "\n## Final answer\n\n" +
           (d.final_answer.empty() ? std::string("_No final answer._")
                                   : common::MarkdownEscape(d.final_answer)) +
           "\n";
    if (!d.dissenting_agents.empty()) {
        out += "\n## Dissenting agents\n\n";
        for (const auto& a : d.dissenting_agents) out += "- " + common::MarkdownEscape(a) + "\n";
    }
    out += "\n## Transcript\n";
    if (messages.empty()) out += "\n_No messages yet._\n";
    int round = -1;
    for (const Message& m : messages) {
        if (m.round != round) {
            round = m.round;
            out += "\n### Round " + std::to_string(round) + "\n";
        }
        out += "\n**" + common::MarkdownEscape(m.agent) + "** (" + m.role + ", " +
               IsoFromEpoch(m.timestamp) + ")\n\n" + common::MarkdownEscape(m.content) + "\n";
    }
    return out;
}

std::string DebateHtml(const storage::DebateRecord& d, const std::vector<Message>& messages) {
    std::string out =
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Debate " +
        common::HtmlEscape(d.id) +
        "</title>\n<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto;"
        "padding:0 1rem}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:.3rem .6rem;text-align:left}pre{white-space:pre-wrap}</style>\n</head>\n"
        "<body>\n<h1>Debate " +
        common::HtmlEscape(d.id) + "</h1>\n<table>\n";
    for (const auto& [label, value] : SummaryRows(d)) {
        out += "<tr><th>" + common::HtmlEscape(label) + "</th><td>" + common::HtmlEscape(value) +
               "</td></tr>\n";
    }
    out += "</table>\n<h2>Task</h2>\n<pre>" + common::HtmlEscape(d.task) + "</pre>\n";
    out += "<h2>Final answer</h2>\n" +
           (d.final_answer.empty() ? std::string("<p><em>No final answer.</em></p>")
                                   : "<pre>" + common::HtmlEscape(d.final_answer) + "</pre>") +
           "\n";
    if (!d.dissenting_agents.empty()) {
        out += "<h2>Dissenting agents</h2>\n<ul>\n";
        for (const auto& a : d.dissenting_agents) out += "<li>" + common::HtmlEscape(a) + "</li>\n";
        out += "</ul>\n";
    }
    out += "<h2>Transcript</h2>\n";
    if (messages.empty()) out += "<p><em>No messages yet.</em></p>\n";
    int round = -1;
    for (const Message& m : messages) {
        if (m.round != round) {
            if (round != -1) out += "</section>\n";
            round = m.round;
            out += "<section>\n<h3>Round " + std::to_string(round) + "</h3>\n";
        }
        out += "<article><h4>" + common::HtmlEscape(m.agent) + " <small>(" +
               common::HtmlEscape(m.role) + ", " + IsoFromEpoch(m.timestamp) +
               ")</small></h4>\n<pre>" + common::HtmlEscape(m.content) + "</pre></article>\n";
    }
    if (round != -1) out += "</section>\n";
    out += "</body>\n</html>\n";
    return out;
}

std::string DebateCsv(const storage::DebateRecord& d, const std::vector<Message>& messages) {
    std::string out = "debate_id,index,round,agent,role,content,timestamp\r\n";
    for (std::size_t i = 0; i < messages.size(); ++i) {
        const Message& m = messages[i];
        out += CsvField(d.id) + "," + std::to_string(i) + "," + std::to_string(m.round) + "," +
               CsvField(m.agent) + "," + CsvField(m.role) + "," + CsvField(m.content) + "," +
               CsvField(IsoFromEpoch(m.timestamp)) + "\r\n";
    }
    return out;
}

Handler CreateDebateHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) { return CreateDebate(deps, ctx); };
}
Handler GetDebateHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) { return GetDebate(deps, ctx); };
}
Handler ListDebatesHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) { return ListDebates(deps, ctx); };
}
Handler CancelDebateHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) { return CancelDebate(deps, ctx); };
}
Handler DebateMessagesHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) { return DebateMessages(deps, ctx); };
}
Handler DebateEventsHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) { return DebateEvents(deps, ctx); };
}
Handler ExportDebateHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) { return ExportDebate(deps, ctx); };
}
Handler DebateReceiptHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) { return DebateReceipt(deps, ctx); };
}

}  // namespace aragora::api
