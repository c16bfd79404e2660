// The OpenAPI document (/api/openapi.json) against what `aragora serve` answers: every
// documented GET is called with every documented query parameter (at its default or an
// example, then each integer at its documented bounds, each enum at every value) and must
// answer its documented success status; a documented bound is tight (one past it is 400);
// the state-changing routes the console and the SDKs use answer the status the document
// names (201 for the creations: debates, API keys, users, backups).

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cctype>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "http_client.hpp"
#include "process.hpp"
#include "server_fixture.hpp"

namespace aragora::testing {
namespace {

namespace json = boost::json;

constexpr char kToken[] = "openapi-conformance-service-token-4d2e";

std::string Encode(const std::string& s) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    return out;
}

// A value the parameter documents as valid: its default, else its first example, else
// its first enum value, else one of its type.
std::string DocumentedValue(const json::object& schema) {
    auto text = [](const json::value& v) -> std::string {
        if (v.is_string()) return std::string(v.get_string());
        if (v.is_bool()) return v.get_bool() ? "true" : "false";
        return json::serialize(v);
    };
    if (const auto* d = schema.if_contains("default")) return text(*d);
    if (const auto* e = schema.if_contains("examples");
        e && e->is_array() && !e->get_array().empty())
        return text(e->get_array().front());
    if (const auto* e = schema.if_contains("enum"); e && e->is_array() && !e->get_array().empty())
        return text(e->get_array().front());
    const std::string type = schema.contains("type") && schema.at("type").is_string()
                                 ? std::string(schema.at("type").get_string())
                                 : "";
    if (type == "integer") {
        if (const auto* m = schema.if_contains("minimum")) return text(*m);
        return "1";
    }
    if (type == "boolean") return "true";
    if (schema.contains("format") && schema.at("format") == "date-time")
        return "2026-01-01T00:00:00Z";
    return "conformance";
}

struct Param {
    std::string name;
    json::object schema;
};

class OpenApiConformanceTest : public ::testing::Test {
protected:
    void SetUp() override {
        server_ = std::make_unique<ServerProcess>(
            dir_.path() + "/data",
            // Encryption at rest on: its admin routes answer instead of 503 "off".
            std::map<std::string, std::string>{{"ARAGORA_API_TOKEN", kToken},
                                               {"ARAGORA_ENCRYPTION_KEY", std::string(64, 'c')},
                                               {"BACKUP_DIR", dir_.path() + "/backups"}});
        ASSERT_TRUE(server_->StartReady()) << server_->error();
        HttpResponse doc = Call("GET", "/api/openapi.json");
        ASSERT_EQ(doc.status, 200) << doc.Describe();
        doc_ = doc.Object();
        ASSERT_TRUE(doc_.contains("paths")) << doc.Describe();
    }

    void TearDown() override {
        if (!server_) return;
        const int code = server_->Terminate();
        EXPECT_EQ(code, 0) << "exit code after SIGTERM; server output:\n" << server_->Logs();
    }

    HttpResponse Call(const std::string& method, const std::string& target,
                      const std::string& body = "") const {
        return server_->Http().Request(method, target, body,
                                       {{"Authorization", std::string("Bearer ") + kToken}});
    }

    const json::object* Operation(const std::string& method, const std::string& path) const {
        const auto* item = doc_.at("paths").as_object().if_contains(path);
        if (item == nullptr) return nullptr;
        std::string m = method;
        for (char& c : m) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        const auto* op = item->as_object().if_contains(m);
        return op == nullptr ? nullptr : &op->as_object();
    }

    // The statuses the document names for the operation (not "default"); its one 2xx is
    // the success status.
    std::set<int> Documented(const json::object& op) const {
        std::set<int> out;
        for (const auto& [code, _] : op.at("responses").as_object()) {
            if (code != "default") out.insert(std::stoi(std::string(code)));
        }
        return out;
    }
    int Success(const json::object& op) const {
        for (int s : Documented(op)) {
            if (s >= 200 && s < 300) return s;
        }
        return 0;
    }

    std::vector<Param> QueryParams(const json::object& op) const {
        std::vector<Param> out;
        if (const auto* params = op.if_contains("parameters")) {
            for (const auto& p : params->as_array()) {
                const auto& o = p.as_object();
                if (o.at("in") != "query") continue;
                out.push_back({std::string(o.at("name").as_string()), o.at("schema").as_object()});
            }
        }
        return out;
    }

    static std::string Query(const std::map<std::string, std::string>& values) {
        std::string q;
        for (const auto& [k, v] : values)
            q += (q.empty() ? "?" : "&") + Encode(k) + "=" + Encode(v);
        return q;
    }

    // A state-changing call the document names: its status must be the documented success.
    HttpResponse ExpectDocumented(const std::string& method, const std::string& doc_path,
                                  const std::string& target, const std::string& body = "") {
        const json::object* op = Operation(method, doc_path);
        EXPECT_NE(op, nullptr) << method << " " << doc_path << " is not documented";
        HttpResponse r = Call(method, target, body);
        if (op != nullptr) {
            EXPECT_EQ(r.status, Success(*op))
                << method << " " << target << " (documented " << doc_path << "): " << r.Describe();
        }
        ++checked_;
        return r;
    }

    TempDir dir_;
    std::unique_ptr<ServerProcess> server_;
    json::object doc_;
    int checked_ = 0;
};

TEST_F(OpenApiConformanceTest, DocumentedStatusesAndQueryParametersAreWhatTheServerAnswers) {
    // --- the creations and other state changes, with the ids the GETs below use ----------
    HttpResponse debate = ExpectDocumented("POST", "/api/v1/debates", "/api/v1/debates",
                                           DebateBody("OpenAPI conformance", 1, 2));
    const std::string debate_id = StringOf(debate.Object(), "debate_id");
    ASSERT_FALSE(debate_id.empty()) << debate.Describe();
    ExpectDocumented("POST", "/api/debate", "/api/debate", DebateBody("Legacy create", 1, 2));
    std::string status;
    ASSERT_TRUE(PollUntil(
        [&] {
            status = StringOf(Call("GET", "/api/v1/debates/" + debate_id).Object(), "status");
            return kTerminalStatuses.count(status) > 0;
        },
        std::chrono::seconds(60)))
        << "debate " << debate_id << " still " << status;
    HttpResponse receipt = Call("GET", "/api/v1/debates/" + debate_id + "/receipt");
    ASSERT_EQ(receipt.status, 200) << receipt.Describe();
    const std::string receipt_id = StringOf(receipt.Object(), "receipt_id");
    ASSERT_FALSE(receipt_id.empty()) << receipt.Describe();

    HttpResponse key = ExpectDocumented("POST", "/api/v1/auth/api-keys", "/api/v1/auth/api-keys",
                                        R"({"name":"conformance"})");
    const std::string key_id = StringOf(key.Object(), "id");
    HttpResponse legacy_key =
        ExpectDocumented("POST", "/api/auth/api-key", "/api/auth/api-key", R"({"name":"legacy"})");
    ExpectDocumented("DELETE", "/api/v1/auth/api-keys/{id}", "/api/v1/auth/api-keys/" + key_id);
    ExpectDocumented("DELETE", "/api/auth/api-key",
                     "/api/auth/api-key?id=" + StringOf(legacy_key.Object(), "id"));

    HttpResponse user = ExpectDocumented(
        "POST", "/api/v1/admin/users", "/api/v1/admin/users",
        R"({"email":"conformance@example.com","password":"conformance-pass-1","role":"member"})");
    const std::string user_id = StringOf(user.Object(), "id");
    ASSERT_FALSE(user_id.empty()) << user.Describe();
    ExpectDocumented("PATCH", "/api/v1/admin/users/{id}", "/api/v1/admin/users/" + user_id,
                     R"({"role":"viewer"})");

    HttpResponse backup = ExpectDocumented("POST", "/api/v2/backups", "/api/v2/backups", "{}");
    std::string backup_id;
    const json::object backup_body = backup.Object();
    if (const auto* b = backup_body.if_contains("backup"); b && b->is_object())
        backup_id = StringOf(b->as_object(), "id");

    ExpectDocumented("POST", "/api/v2/receipts/{id}/verify",
                     "/api/v2/receipts/" + receipt_id + "/verify");
    ExpectDocumented("POST", "/api/v2/receipts/{id}/legal-hold",
                     "/api/v2/receipts/" + receipt_id + "/legal-hold",
                     R"({"reason":"conformance"})");
    ExpectDocumented("POST", "/api/v2/receipts/retention/run", "/api/v2/receipts/retention/run",
                     R"({"dry_run":true})");
    ExpectDocumented("DELETE", "/api/v2/receipts/{id}/legal-hold",
                     "/api/v2/receipts/" + receipt_id + "/legal-hold");
    ExpectDocumented("POST", "/api/v1/receipts/verify", "/api/v1/receipts/verify",
                     "{\"receipt\":" + receipt.body + "}");
    ExpectDocumented("POST", "/api/v1/auth/login", "/api/v1/auth/login",
                     R"({"email":"conformance@example.com","password":"conformance-pass-1"})");
    ExpectDocumented("POST", "/api/v1/admin/cleanup-caches", "/api/v1/admin/cleanup-caches");
    ExpectDocumented("POST", "/api/v2/backups/cleanup", "/api/v2/backups/cleanup",
                     R"({"dry_run":true})");
    if (!backup_id.empty()) {
        ExpectDocumented("POST", "/api/v2/backups/{id}/verify",
                         "/api/v2/backups/" + backup_id + "/verify");
    }

    // --- every documented GET, with its documented query parameters -----------------------
    int gets = 0;
    std::vector<std::string> skipped;
    for (const auto& [path_key, item] : doc_.at("paths").as_object()) {
        const std::string path(path_key);
        const auto* get = item.as_object().if_contains("get");
        if (get == nullptr) continue;
        const json::object& op = get->as_object();
        // Path parameters: the ids made above.
        std::string target = path;
        bool unresolved = false;
        for (std::size_t open; (open = target.find('{')) != std::string::npos;) {
            const std::size_t close = target.find('}', open);
            const std::string name = target.substr(open + 1, close - open - 1);
            const std::string before = target.substr(0, open);
            std::string value;
            if (name == "format")
                value = "json";
            else if (before.ends_with("/debates/"))
                value = debate_id;
            else if (before.ends_with("/receipts/"))
                value = receipt_id;
            else if (before.ends_with("/backups/"))
                value = backup_id;
            if (value.empty()) {
                unresolved = true;
                break;
            }
            target.replace(open, close - open + 1, value);
        }
        if (unresolved) {
            skipped.push_back(path);
            continue;
        }
        ++gets;
        const std::set<int> documented = Documented(op);
        const int success = Success(op);
        ASSERT_NE(success, 0) << path << " documents no success status";
        auto expect_documented = [&](const std::string& url, const std::string& what) {
            HttpResponse r = Call("GET", url);
            // A documented non-success answer (503 of the health checks) is the document's too.
            EXPECT_TRUE(r.status == success || (r.status >= 500 && documented.count(r.status)))
                << "GET " << url << " (" << what << "): documented " << success << ", got "
                << r.Describe();
        };
        const std::vector<Param> params = QueryParams(op);
        std::map<std::string, std::string> all;
        for (const Param& p : params) all[p.name] = DocumentedValue(p.schema);
        expect_documented(target, "no parameters");
        expect_documented(target + Query(all), "every documented parameter");
        for (const Param& p : params) {
            for (const char* bound : {"minimum", "maximum"}) {
                const auto* b = p.schema.if_contains(bound);
                if (b == nullptr) continue;
                const std::int64_t v = b->to_number<std::int64_t>();
                auto values = all;
                values[p.name] = std::to_string(v);
                expect_documented(target + Query(values), p.name + " at its " + bound);
                values[p.name] =
                    std::to_string(std::string_view(bound) == "minimum" ? v - 1 : v + 1);
                HttpResponse past = Call("GET", target + Query(values));
                EXPECT_EQ(past.status, 400)
                    << "GET " << target + Query(values) << ": one past the documented " << bound
                    << " of " << p.name << " is accepted: " << past.Describe();
            }
            if (const auto* e = p.schema.if_contains("enum")) {
                for (const auto& v : e->as_array()) {
                    auto values = all;
                    values[p.name] = std::string(v.as_string());
                    expect_documented(target + Query(values), p.name + " = " + values[p.name]);
                }
            }
        }
    }
    // The ids above resolve every GET's path parameters but the backups' when no backup
    // could be made (then the POST above has failed already).
    EXPECT_TRUE(skipped.empty() || backup_id.empty()) << skipped.front();
    EXPECT_GE(gets, 50) << "documented GETs exercised";
    ExpectDocumented("DELETE", "/api/v1/admin/users/{id}", "/api/v1/admin/users/" + user_id);
    EXPECT_GE(checked_, 18) << "state-changing calls checked";
    // The three the document used to leave out (audit, usage, recent errors) are in it.
    for (const auto& [path, names] :
         std::map<std::string, std::set<std::string>>{{"/api/v1/audit", {"limit", "since"}},
                                                      {"/api/v1/billing/usage", {"period"}},
                                                      {"/api/v1/system/errors", {"limit"}},
                                                      {"/api/system/errors", {"limit"}}}) {
        const json::object* op = Operation("GET", path);
        ASSERT_NE(op, nullptr) << path;
        std::set<std::string> got;
        for (const Param& p : QueryParams(*op)) got.insert(p.name);
        EXPECT_EQ(got, names) << path;
    }
}

}  // namespace
}  // namespace aragora::testing
