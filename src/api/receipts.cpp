// Receipt routes (API.md "Receipts"): list, one, export, verify (stored or posted).
// Receipts are never parsed and re-serialized here: stored text is spliced into answers
// and served members are added by debate::ToServedReceiptJson, so numbers keep their
// exact digits and every served receipt still verifies.

#include <boost/json.hpp>
#include <chrono>
#include <climits>

#include "api/handlers.hpp"
#include "api/http_util.hpp"
#include "common/json_text.hpp"
#include "common/time.hpp"
#include "debate/receipt.hpp"

namespace aragora::api {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using common::ErrorCode;
using common::MakeError;
using common::Result;

constexpr std::int64_t kDefaultLimit = 20;
constexpr std::int64_t kMaxLimit = 100;

json::value OrNull(const std::string& s) {
    return s.empty() ? json::value(nullptr) : json::value(s);
}

// --- raw member scan -----------------------------------------------------------------
// A minimal scanner over text that Boost.JSON already accepted as a JSON object, used
// to cut out a member's value exactly as sent. It only needs to find token boundaries:
// strings (with escapes) and balanced {} / [] outside strings.

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::size_t SkipSpace(std::string_view s, std::size_t i) {
    while (i < s.size() && IsJsonSpace(s[i])) ++i;
    return i;
}

// `i` is at an opening quote; returns the index just past the closing quote.
std::size_t SkipString(std::string_view s, std::size_t i) {
    for (++i; i < s.size(); ++i) {
        if (s[i] == '\\') {
            ++i;
        } else if (s[i] == '"') {
            return i + 1;
        }
    }
    return s.size();
}

// `i` is at the first character of a value; returns the index just past it.
std::size_t SkipValue(std::string_view s, std::size_t i) {
    if (i >= s.size()) return i;
    if (s[i] == '"') return SkipString(s, i);
    if (s[i] == '{' || s[i] == '[') {
        int depth = 0;
        while (i < s.size()) {
            const char c = s[i];
            if (c == '"') {
                i = SkipString(s, i);
                continue;
            }
            if (c == '{' || c == '[') ++depth;
            if (c == '}' || c == ']') {
                if (--depth == 0) return i + 1;
            }
            ++i;
        }
        return i;
    }
    while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && !IsJsonSpace(s[i])) ++i;
    return i;
}

// The exact text of the top-level member `name` of the JSON object `text` (valid JSON);
// nullopt when absent; kBadRequest when it occurs twice (which one would be meant?).
Result<std::optional<std::string_view>> RawMember(std::string_view text, std::string_view name) {
    std::optional<std::string_view> found;
    std::size_t i = SkipSpace(text, 0);
    if (i >= text.size() || text[i] != '{') {
        return MakeError(ErrorCode::kBadRequest, "request body must be a JSON object");
    }
    i = SkipSpace(text, i + 1);
    while (i < text.size() && text[i] == '"') {
        const std::size_t key_end = SkipString(text, i);
        // Keys may hold escapes ("rec\u0065ipt"): let the JSON parser decode the literal.
        boost::system::error_code ec;
        json::value key = json::parse(text.substr(i, key_end - i), ec);
        i = SkipSpace(text, key_end);
        if (i >= text.size() || text[i] != ':') break;
        const std::size_t value_start = SkipSpace(text, i + 1);
        const std::size_t value_end = SkipValue(text, value_start);
        if (!ec && key.is_string() && key.get_string() == name) {
            if (found) {
                return MakeError(ErrorCode::kBadRequest, "request body has more than one \"" +
                                                             std::string(name) + "\" member");
            }
            found = text.substr(value_start, value_end - value_start);
        }
        i = SkipSpace(text, value_end);
        if (i < text.size() && text[i] == ',') i = SkipSpace(text, i + 1);
    }
    return found;
}

// "integrity_only" as a query parameter: absent, "" → nullopt; true/1, false/0; anything
// else is a kValidation error naming it.
Result<std::optional<bool>> IntegrityOnlyParam(const net::HttpRequest& request) {
    auto value = request.QueryParam("integrity_only");
    if (!value || value->empty()) return std::optional<bool>();
    if (*value == "true" || *value == "1") return std::optional<bool>(true);
    if (*value == "false" || *value == "0") return std::optional<bool>(false);
    return MakeError(ErrorCode::kValidation, "integrity_only must be true or false",
                     "integrity_only");
}

// "integrity_only" of a JSON object body: absent → nullopt; a boolean; else kValidation.
Result<std::optional<bool>> IntegrityOnlyMember(const json::object& body) {
    const json::value* v = body.if_contains("integrity_only");
    if (v == nullptr || v->is_null()) return std::optional<bool>();
    if (!v->is_bool()) {
        return MakeError(ErrorCode::kValidation, "integrity_only must be a boolean",
                         "integrity_only");
    }
    return std::optional<bool>(v->get_bool());
}

// The check a verify request asks for: the query parameter, else the body's member.
Result<debate::ReceiptCheck> CheckOf(const net::HttpRequest& request,
                                     std::optional<bool> body_flag) {
    auto param = IntegrityOnlyParam(request);
    if (!param) return param.error();
    const bool integrity_only = param->value_or(body_flag.value_or(false));
    return integrity_only ? debate::ReceiptCheck::kIntegrityOnly : debate::ReceiptCheck::kFull;
}

// --- handlers ------------------------------------------------------------------------

asio::awaitable<net::HttpResponse> ListReceipts(ApiDeps& deps, RequestContext& ctx) {
    const std::string debate_id = ctx.request.QueryParam("debate_id").value_or("");
    if (!debate_id.empty()) {
        if (auto ok = ValidateId(debate_id, "debate_id"); !ok) {
            co_return ErrorResponse(ok.error(), ctx.correlation_id);
        }
    }
    auto limit = IntQueryParam(ctx.request, "limit", kDefaultLimit, 1, kMaxLimit);
    if (!limit) co_return ErrorResponse(limit.error(), ctx.correlation_id);
    auto offset = IntQueryParam(ctx.request, "offset", 0, 0, INT_MAX);
    if (!offset) co_return ErrorResponse(offset.error(), ctx.correlation_id);

    auto page = co_await deps.debates.Receipts(debate_id, static_cast<int>(*limit),
                                               static_cast<int>(*offset));
    if (!page) co_return ServiceErrorResponse(page.error(), ctx.correlation_id);
    std::string body = "{\"receipts\":[";
    for (std::size_t i = 0; i < page->items.size(); ++i) {
        auto served = debate::ToServedReceiptJson(page->items[i].json);
        if (!served) {
            co_return ServiceErrorResponse(
                common::MakeError(ErrorCode::kInternal,
                                  "stored receipt " + page->items[i].receipt_id +
                                      " is unreadable: " + served.error().message),
                ctx.correlation_id);
        }
        if (i > 0) body += ',';
        body += *served;
    }
    const std::int64_t count = static_cast<std::int64_t>(page->items.size());
    const bool has_more = *offset + count < page->total;
    body += "],\"pagination\":{\"limit\":" + std::to_string(*limit) +
            ",\"offset\":" + std::to_string(*offset) + ",\"total\":" + std::to_string(page->total) +
            ",\"has_more\":" + (has_more ? "true" : "false") +
            "},\"total\":" + std::to_string(page->total) + "}";
    co_return JsonResponse(200, std::move(body), ctx.correlation_id);
}

// Looks up the receipt named by the route's {id}; an error response when that fails.
asio::awaitable<Result<storage::ReceiptRecord>> FindReceipt(ApiDeps& deps,
                                                            const RequestContext& ctx) {
    const std::string id = ctx.Param("id");
    if (auto ok = ValidateId(id, "receipt id"); !ok) co_return ok.error();
    co_return co_await deps.debates.Receipt(id);
}

asio::awaitable<net::HttpResponse> GetReceipt(ApiDeps& deps, RequestContext& ctx) {
    auto receipt = co_await FindReceipt(deps, ctx);
    if (!receipt) co_return ServiceErrorResponse(receipt.error(), ctx.correlation_id);
    auto served = debate::ToServedReceiptJson(receipt->json);
    if (!served) co_return ServiceErrorResponse(served.error(), ctx.correlation_id);
    co_return JsonResponse(200, std::move(*served), ctx.correlation_id);
}

asio::awaitable<net::HttpResponse> ExportReceipt(ApiDeps& deps, RequestContext& ctx) {
    std::string format_name = ctx.request.QueryParam("format").value_or("");
    if (format_name.empty()) format_name = "json";
    auto format = debate::ParseReceiptFormat(format_name);
    if (!format) {
        co_return ErrorResponse(ErrorCode::kValidation,
                                "format must be one of: json, md, markdown, html",
                                ctx.correlation_id, "format");
    }
    auto receipt = co_await FindReceipt(deps, ctx);
    if (!receipt) co_return ServiceErrorResponse(receipt.error(), ctx.correlation_id);
    // json: the receipt's own canonical JSON, the portable artifact that verifies as is.
    auto rendered = debate::RenderReceipt(receipt->json, *format);
    if (!rendered) co_return ServiceErrorResponse(rendered.error(), ctx.correlation_id);
    if (*format == debate::ReceiptFormat::kJson) {
        co_return JsonResponse(200, std::move(*rendered), ctx.correlation_id);
    }
    Document doc;
    const bool md = *format == debate::ReceiptFormat::kMarkdown;
    doc.format = md ? "md" : "html";
    doc.content = std::move(*rendered);
    doc.content_type = md ? "text/markdown; charset=utf-8" : "text/html; charset=utf-8";
    doc.filename = receipt->receipt_id + "." + doc.format;
    co_return ExportResponse(
        ctx.request, ctx.correlation_id, doc,
        {{"debate_id", receipt->debate_id}, {"receipt_id", receipt->receipt_id}});
}

asio::awaitable<net::HttpResponse> VerifyStoredReceipt(ApiDeps& deps, RequestContext& ctx) {
    // A POST may say {"integrity_only": true}; any other body is ignored, as before.
    std::optional<bool> body_flag;
    if (!ctx.request.body.empty()) {
        boost::system::error_code ec;
        json::value body = json::parse(ctx.request.body, ec);
        if (!ec && body.is_object()) {
            auto flag = IntegrityOnlyMember(body.get_object());
            if (!flag) co_return ErrorResponse(flag.error(), ctx.correlation_id);
            body_flag = *flag;
        }
    }
    auto check = CheckOf(ctx.request, body_flag);
    if (!check) co_return ErrorResponse(check.error(), ctx.correlation_id);
    auto receipt = co_await FindReceipt(deps, ctx);
    if (!receipt) co_return ServiceErrorResponse(receipt.error(), ctx.correlation_id);
    co_return JsonResponse(200, VerificationJson(receipt->json, deps.receipt_keys, *check),
                           ctx.correlation_id);
}

asio::awaitable<net::HttpResponse> VerifyReceiptBody(ApiDeps& deps, RequestContext& ctx) {
    auto request = ParseVerifyBody(ctx.request.body);
    if (!request) co_return ErrorResponse(request.error(), ctx.correlation_id);
    auto check = CheckOf(ctx.request, request->integrity_only);
    if (!check) co_return ErrorResponse(check.error(), ctx.correlation_id);
    co_return JsonResponse(200, VerificationJson(request->receipt_text, deps.receipt_keys, *check),
                           ctx.correlation_id);
}

}  // namespace

Result<VerifyBody> ParseVerifyBody(std::string_view body) {
    auto parsed = ParseJsonObjectBody(body);
    if (!parsed) return parsed.error();
    VerifyBody out;
    const json::value* wrapped = parsed->if_contains("receipt");
    if (wrapped == nullptr || parsed->contains("content_hash")) {
        // The body is the receipt: its members are the receipt's own (integrity_only is
        // then only a query parameter).
        out.receipt_text = std::string(body);
        return out;
    }
    if (!wrapped->is_object()) {
        return MakeError(ErrorCode::kBadRequest, "receipt must be a JSON object", "receipt");
    }
    auto flag = IntegrityOnlyMember(*parsed);
    if (!flag) return flag.error();
    out.integrity_only = *flag;
    auto raw = RawMember(body, "receipt");
    if (!raw) return raw.error();
    if (!*raw) return MakeError(ErrorCode::kBadRequest, "receipt member not found", "receipt");
    out.receipt_text = std::string(**raw);
    return out;
}

Result<std::string> ReceiptTextFromBody(std::string_view body) {
    auto parsed = ParseVerifyBody(body);
    if (!parsed) return parsed.error();
    return std::move(parsed->receipt_text);
}

std::string VerificationJson(std::string_view receipt_json, const debate::ReceiptKeys& keys,
                             debate::ReceiptCheck check) {
    const debate::ReceiptVerification v = debate::VerifyReceipt(receipt_json, keys, check);
    const bool integrity_only = v.check == debate::ReceiptCheck::kIntegrityOnly;
    const std::string now = common::FormatIso8601(std::chrono::system_clock::now());
    const json::value signature_valid =
        v.signature_valid ? json::value(*v.signature_valid) : json::value(nullptr);

    // VerifyReceipt reports one reason: the integrity failure when there is one.
    json::value signature_error = nullptr;
    if (v.signature_valid == false) {
        signature_error = (v.integrity_valid || v.reason.rfind("malformed", 0) == 0)
                              ? json::value(v.reason)
                              : json::value("bad signature");
    } else if (integrity_only) {
        signature_error = "not checked (integrity-only check)";
    } else if (!v.signature_valid.has_value() && v.reason.rfind("malformed", 0) != 0) {
        signature_error = debate::kUnsignedReason;
    }
    json::object signature{{"signature_valid", signature_valid}, {"algorithm", OrNull(v.algorithm)},
                           {"key_id", OrNull(v.key_id)},         {"signed_at", OrNull(v.signed_at)},
                           {"verification_timestamp", now},      {"error", signature_error}};
    json::object integrity{{"integrity_valid", v.integrity_valid},
                           {"stored_checksum", OrNull(v.stored_hash)},
                           {"computed_checksum", OrNull(v.computed_hash)},
                           {"verified_at", now},
                           {"error", v.integrity_valid ? json::value(nullptr) : OrNull(v.reason)}};
    json::object o;
    o["receipt_id"] = OrNull(v.receipt_id);
    o["valid"] = v.valid;
    o["integrity_valid"] = v.integrity_valid;
    o["signature_valid"] = signature_valid;
    o["hash"] = OrNull(v.computed_hash);
    o["stored_checksum"] = OrNull(v.stored_hash);
    o["computed_checksum"] = OrNull(v.computed_hash);
    o["algorithm"] = OrNull(v.algorithm);
    o["key_id"] = OrNull(v.key_id);
    o["verified_at"] = now;
    o["reason"] = OrNull(v.reason);
    o["signature"] = std::move(signature);
    o["integrity"] = std::move(integrity);
    if (integrity_only) {
        o["integrity_only"] = true;
        o["warning"] = std::string("integrity-only check: only the content hash was compared; ") +
                       (v.has_signatures ? "the receipt's signatures were NOT checked"
                                         : "the receipt is UNSIGNED") +
                       ", so nothing shows who made it (anyone can edit a receipt and "
                       "recompute its hash)";
    }
    return common::SerializeJson(o);
}

Handler ListReceiptsHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) { return ListReceipts(deps, ctx); };
}
Handler GetReceiptHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) { return GetReceipt(deps, ctx); };
}
Handler ExportReceiptHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) { return ExportReceipt(deps, ctx); };
}
Handler VerifyStoredReceiptHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) { return VerifyStoredReceipt(deps, ctx); };
}
Handler PublishedReceiptKeysHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) -> asio::awaitable<net::HttpResponse> {
        std::string doc =
            deps.receipt_keys_document ? deps.receipt_keys_document->Get() : std::string();
        if (doc.empty()) {
            co_return ErrorResponse(ErrorCode::kUnavailable, "receipt keys are not loaded yet",
                                    ctx.correlation_id);
        }
        net::HttpResponse response = JsonResponse(200, std::move(doc), ctx.correlation_id);
        response.AddHeader("Cache-Control", "public, max-age=300");
        co_return response;
    };
}

Handler VerifyReceiptBodyHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) { return VerifyReceiptBody(deps, ctx); };
}

}  // namespace aragora::api
