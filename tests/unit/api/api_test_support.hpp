#pragma once

// Shared by the API tests: an in-memory DebateService, a scriptable SystemInfo, and a
// fixture that drives MakeHttpHandler directly (co_spawn on an io_context, no sockets).

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "api/api.hpp"
#include "api/router.hpp"
#include "auth/service.hpp"
#include "common/blocking_pool.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "common/time.hpp"
#include "debate/receipt.hpp"
#include "metrics/registry.hpp"
#include "service/debate_service.hpp"
#include "service/records.hpp"

namespace aragora::api::testing {

namespace asio = boost::asio;
namespace json = boost::json;
using common::ErrorCode;
using common::MakeError;
using common::Result;

inline constexpr double kT0 = 1'800'000'000.0;  // epoch seconds of the fake events

// DebateService in memory, with the semantics service/debate_service.hpp documents.
class FakeDebateService final : public service::DebateService {
public:
    std::map<std::string, storage::DebateRecord> debates;
    std::map<std::string, std::vector<events::Event>> events;
    std::vector<storage::ReceiptRecord> receipts;  // insertion order
    std::optional<common::Error> create_error;     // Create answers this when set
    std::optional<common::Error> list_error;       // List answers this when set
    std::optional<service::CreateDebateRequest> last_create;
    std::optional<storage::DebateFilter> last_filter;
    std::vector<int> event_limits;  // the `limit` of every Events call
    int created = 0;

    asio::awaitable<Result<storage::DebateRecord>> Create(
        service::CreateDebateRequest request) override {
        if (create_error) co_return *create_error;
        storage::DebateRecord r;
        r.id = "d_created" + std::to_string(++created);
        r.task = request.task;
        r.status = events::DebateStatus::kPending;
        for (const auto& a : request.agents) r.agents.push_back(a.name);
        r.rounds = request.rounds;
        r.consensus_method = std::string(debate::ToString(request.consensus));
        r.created_at = "2027-01-15T08:00:00.000Z";
        last_create = std::move(request);
        debates[r.id] = r;
        co_return r;
    }

    asio::awaitable<Result<storage::DebateRecord>> Cancel(const std::string& id) override {
        auto it = debates.find(id);
        if (it == debates.end())
            co_return MakeError(ErrorCode::kNotFound, "debate " + id + " not found");
        auto& r = it->second;
        if (r.status != events::DebateStatus::kPending &&
            r.status != events::DebateStatus::kRunning) {
            co_return MakeError(ErrorCode::kConflict, "debate " + id + " is already " +
                                                          std::string(events::ToString(r.status)));
        }
        r.status = events::DebateStatus::kCancelled;
        r.error_code = "cancelled";
        r.error_message = "cancelled by request";
        co_return r;
    }

    asio::awaitable<Result<storage::DebateRecord>> Get(const std::string& id) override {
        auto it = debates.find(id);
        if (it == debates.end())
            co_return MakeError(ErrorCode::kNotFound, "debate " + id + " not found");
        co_return it->second;
    }

    asio::awaitable<Result<storage::DebatePage>> List(storage::DebateFilter filter) override {
        last_filter = filter;
        if (list_error) co_return *list_error;
        std::vector<storage::DebateRecord> all;
        for (const auto& [id, r] : debates) {
            const bool match =
                filter.status.empty() || filter.status == events::ToString(r.status) ||
                (filter.status == "active" && (r.status == events::DebateStatus::kPending ||
                                               r.status == events::DebateStatus::kRunning)) ||
                (filter.status == "no_consensus" && r.status == events::DebateStatus::kCompleted &&
                 r.consensus_reached == false);
            if (match) all.push_back(r);
        }
        std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
            return std::tie(a.created_at, a.id) > std::tie(b.created_at, b.id);
        });
        storage::DebatePage page;
        page.total = static_cast<std::int64_t>(all.size());
        for (size_t i = static_cast<size_t>(filter.offset);
             i < all.size() && page.items.size() < static_cast<size_t>(filter.limit); ++i) {
            page.items.push_back(all[i]);
        }
        co_return page;
    }

    asio::awaitable<Result<service::EventsPage>> Events(const std::string& id, std::int64_t since,
                                                        int limit) override {
        event_limits.push_back(limit);
        if (!debates.count(id))
            co_return MakeError(ErrorCode::kNotFound, "debate " + id + " not found");
        service::EventsPage page;
        for (const auto& e : events[id]) {
            if (e.seq <= since) continue;
            if (static_cast<int>(page.events.size()) == limit) {
                page.has_more = true;
                break;
            }
            page.events.push_back(e);
        }
        page.next_seq = page.events.empty() ? since : page.events.back().seq;
        co_return page;
    }

    asio::awaitable<Result<storage::ReceiptRecord>> Receipt(const std::string& id) override {
        for (const auto& r : receipts) {
            if (r.receipt_id == id || "debate-" + r.debate_id == id || r.debate_id == id)
                co_return r;
        }
        co_return MakeError(ErrorCode::kNotFound, "receipt " + id + " not found");
    }

    asio::awaitable<Result<storage::ReceiptPage>> Receipts(const std::string& debate_id, int limit,
                                                           int offset) override {
        storage::ReceiptPage page;
        std::vector<storage::ReceiptRecord> match;
        for (auto it = receipts.rbegin(); it != receipts.rend(); ++it) {
            if (debate_id.empty() || it->debate_id == debate_id) match.push_back(*it);
        }
        page.total = static_cast<std::int64_t>(match.size());
        for (size_t i = static_cast<size_t>(offset);
             i < match.size() && page.items.size() < static_cast<size_t>(limit); ++i) {
            page.items.push_back(match[i]);
        }
        co_return page;
    }

    service::ServiceStats Stats() const override { return {1, 2, 10, 100}; }

    // --- fixtures --------------------------------------------------------------------

    void AddEvent(const std::string& debate_id, std::string type, int round, std::string agent,
                  json::object data) {
        auto& list = events[debate_id];
        events::Event e;
        e.debate_id = debate_id;
        e.seq = static_cast<std::int64_t>(list.size()) + 1;
        e.type = std::move(type);
        e.timestamp = kT0 + static_cast<double>(e.seq);
        e.round = round;
        e.agent = std::move(agent);
        data["debate_id"] = debate_id;
        e.data_json = json::serialize(data);
        list.push_back(std::move(e));
    }
};

// SystemInfo with settable answers.
class FakeSystemInfo final : public SystemInfo {
public:
    std::optional<std::string> not_ready;
    std::string health = R"({"status":"healthy","version":"0.1.0","checks":{}})";
    std::string deep_health = R"({"overall":"ok","checks":{"database":{"status":"ok"}}})";
    bool metrics_enabled = true;
    std::vector<bool> health_deep_args;

    std::optional<std::string> NotReadyReason() const override { return not_ready; }
    asio::awaitable<std::string> HealthJson(bool deep) override {
        health_deep_args.push_back(deep);
        co_return health;
    }
    asio::awaitable<std::string> DeepHealthJson() override { co_return deep_health; }
    std::string StatusJson() const override {
        return R"({"data":{"status":"operational","message":"ok"}})";
    }
    std::string ThreadsJson() const override { return R"({"threads":4,"status":"ok"})"; }
    std::string BuildJson() const override {
        return R"({"sha":"abc123","sha_short":"abc","build_time":"t","version":"0.1.0"})";
    }
    std::string WsStatsJson() const override { return R"({"connections":0})"; }
    std::string MetricsSummaryJson() const override {
        return R"({"agent_response_times":{},"process_resident_memory_bytes":1})";
    }
    std::string PrometheusText() const override { return "aragora_up 1\n"; }
    std::string PrometheusWebSocketText() const override { return "aragora_ws_connections 0\n"; }
    bool MetricsEnabled() const override { return metrics_enabled; }
};

inline std::string HeaderOf(const net::HttpResponse& res, std::string_view name) {
    for (const auto& [k, v] : res.headers) {
        if (k.size() != name.size()) continue;
        bool same = true;
        for (size_t i = 0; i < k.size(); ++i) {
            same = same && std::tolower(static_cast<unsigned char>(k[i])) ==
                               std::tolower(static_cast<unsigned char>(name[i]));
        }
        if (same) return v;
    }
    return {};
}

inline size_t HeaderCount(const net::HttpResponse& res, std::string_view name) {
    size_t n = 0;
    for (const auto& [k, v] : res.headers) {
        std::string lower = k;
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        n += lower == name;
    }
    return n;
}

inline json::value Parse(const net::HttpResponse& res) {
    boost::system::error_code ec;
    json::value v = json::parse(res.body, ec);
    EXPECT_FALSE(ec) << "not JSON: " << res.body;
    return v;
}

// A JSON string's text (gtest cannot compare json::value with std::string).
inline std::string S(const json::value& v) {
    return v.is_string() ? std::string(v.get_string())
                         : "<not a string: " + json::serialize(v) + ">";
}

// The keys of a JSON object, sorted.
inline std::set<std::string> Keys(const json::value& v) {
    std::set<std::string> out;
    if (!v.is_object()) return out;
    for (const auto& kv : v.get_object()) out.insert(std::string(kv.key()));
    return out;
}

inline debate::ReceiptKeys TestKeys() {
    debate::ReceiptKeys keys;
    keys.hmac_current = "api-test-signing-key";
    return keys;
}

// A completed debate with events and a signed receipt.
inline void AddCompletedDebate(FakeDebateService& svc, const debate::ReceiptKeys& keys,
                               const std::string& id, const std::string& created_at,
                               bool consensus = true) {
    storage::DebateRecord r;
    r.id = id;
    r.task = "Should we <ship> \"v2\" & roll back?";
    r.status = events::DebateStatus::kCompleted;
    r.agents = {"demo:analyst", "demo:critic", "demo:moderator"};
    r.rounds = 3;
    r.rounds_used = 2;
    r.consensus_method = "majority";
    r.consensus_reached = consensus;
    r.confidence = 0.8125;
    r.verdict = consensus ? "approved_with_conditions" : "needs_review";
    r.final_answer = "Ship behind a flag.";
    r.dissenting_agents = {"demo:critic"};
    r.created_at = created_at;
    r.started_at = created_at;
    r.completed_at = created_at;
    r.duration_seconds = 1.5;
    r.receipt_id = "rcpt_" + id;

    debate::DebateSpec spec;
    spec.id = id;
    spec.task = r.task;
    spec.agents = r.agents;
    debate::DebateResult result;
    result.status = debate::DebateStatus::kCompleted;
    result.rounds_used = 2;
    result.verdict = r.verdict;
    result.confidence = 0.8125;
    result.consensus.reached = consensus;
    result.consensus.confidence = 0.8125;
    result.consensus.final_answer = r.final_answer;
    result.consensus.supporting_agents = {"demo:analyst", "demo:moderator"};
    result.consensus.dissenting_agents = {"demo:critic"};
    std::optional<std::string> previous;
    if (!svc.receipts.empty()) previous = svc.receipts.back().content_hash;
    auto signed_receipt = debate::BuildSignedReceipt(
        spec, result, r.receipt_id, previous,
        std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000)), keys);
    EXPECT_TRUE(signed_receipt.ok());
    storage::ReceiptRecord rec;
    rec.receipt_id = signed_receipt->receipt_id;
    rec.debate_id = id;
    rec.content_hash = signed_receipt->content_hash;
    rec.previous_hash = previous;
    rec.created_at = created_at;
    rec.json = signed_receipt->json;
    svc.receipts.push_back(rec);
    svc.debates[id] = r;

    svc.AddEvent(id, "debate_start", 0, "", {{"task", r.task}});
    svc.AddEvent(id, "agent_message", 1, "demo:analyst",
                 {{"round_number", 1},
                  {"agent", "demo:analyst"},
                  {"role", "proposer"},
                  {"content", "Proposal <A>, \"quoted\""},
                  {"confidence", 0.7}});
    svc.AddEvent(id, "critique", 1, "demo:critic",
                 {{"round_number", 1},
                  {"agent", "demo:critic"},
                  {"critic", "demo:critic"},
                  {"target", "demo:analyst"},
                  {"content", "Too risky"},
                  {"severity", 6}});
    svc.AddEvent(id, "round_end", 1, "", {{"round_number", 1}});
    svc.AddEvent(id, "agent_message", 2, "demo:analyst",
                 {{"round_number", 2},
                  {"agent", "demo:analyst"},
                  {"role", "reviser"},
                  {"content", "Revised, with a flag"},
                  {"confidence", 0.8}});
    svc.AddEvent(id, "vote", 2, "demo:critic",
                 {{"agent", "demo:critic"},
                  {"choice", "demo:analyst"},
                  {"confidence", 0.6},
                  {"reasoning", "good enough"},
                  {"round_number", 2}});
    svc.AddEvent(id, "consensus", 2, "",
                 {{"reached", consensus}, {"method", "majority"}, {"result", r.final_answer}});
    svc.AddEvent(id, "debate_end", 2, "", {{"status", "completed"}});
}

// The explicit open mode (AuthConfig::open, as `aragora serve` decides it in development):
// every route answers without credentials, as the anonymous principal.
class OpenAuth {
public:
    OpenAuth() : pool_(1, 16), service_(Config(), clock_, pool_) {}
    ~OpenAuth() { pool_.Stop(); }
    auth::AuthService* get() { return &service_; }
    static auth::AuthConfig Config() {
        auth::AuthConfig c;
        c.open = true;
        return c;
    }

private:
    common::ManualClock clock_;
    common::BlockingPool pool_;
    auth::AuthService service_;
};

// Builds the real route table over the fakes and calls the middleware handler (open mode).
class ApiFixture : public ::testing::Test {
protected:
    ApiFixture() : keys_(TestKeys()), deps_{service_, keys_, system_, registry_} {
        deps_.auth = open_auth_.get();
        AddRoutes(router_, deps_);
        handler_ = MakeHttpHandler(router_, deps_);
    }

    net::HttpResponse Call(std::string method, std::string target, std::string body = {},
                           std::vector<std::pair<std::string, std::string>> headers = {}) {
        return Invoke(handler_, std::move(method), std::move(target), std::move(body),
                      std::move(headers));
    }

public:
    static net::HttpResponse Invoke(const net::HttpHandler& handler, std::string method,
                                    std::string target, std::string body = {},
                                    std::vector<std::pair<std::string, std::string>> headers = {}) {
        net::HttpRequest req;
        req.method = std::move(method);
        req.target = target;
        const size_t q = target.find('?');
        req.path = net::PercentDecode(target.substr(0, q), false).value_or(target.substr(0, q));
        req.query = q == std::string::npos ? "" : target.substr(q + 1);
        for (auto& [k, v] : headers) {
            std::string lower = k;
            for (char& c : lower)
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            req.headers.emplace_back(lower, v);
        }
        req.body = std::move(body);
        req.remote_address = "127.0.0.1";
        req.local_port = 8080;
        asio::io_context ioc;
        auto fut = asio::co_spawn(ioc, handler(std::move(req)), asio::use_future);
        ioc.run();
        return fut.get();
    }

protected:
    FakeDebateService service_;
    FakeSystemInfo system_;
    debate::ReceiptKeys keys_;
    metrics::Registry registry_;
    OpenAuth open_auth_;
    ApiDeps deps_;
    Router router_;
    net::HttpHandler handler_;
};

}  // namespace aragora::api::testing
