// The receipt keyring against the real binary (issue 23 acceptance):
// - three receipt-key rotations in a row through the environment (restart after each: the
//   old HMAC key into _PREVIOUS, then into ARAGORA_RECEIPT_SIGNING_KEYS_RETIRED; the old
//   Ed25519 key kept by the store): receipts signed under all four keys verify through the
//   API, `aragora receipt verify`, `aragora keys verify-all`, and an independent verifier
//   (Debian's python3-cryptography, tests/tools/independent_receipt_verify.py) given only
//   the published Ed25519 public keys or only the kept HMAC keys; an unknown key id says so.
// - key material never appears in logs, /metrics, error bodies, CLI output or a backup.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/crypto.hpp"
#include "process.hpp"
#include "server_fixture.hpp"

namespace aragora::testing {
namespace {

namespace json = boost::json;

constexpr const char* kPython = "/usr/bin/python3";

std::string ReadBinary(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// Every regular file under `dir`, concatenated.
std::string ReadTree(const std::string& dir) {
    std::string all;
    std::error_code ec;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
        if (e.is_regular_file()) all += ReadBinary(e.path().string());
    }
    return all;
}

class ReceiptKeysTest : public ::testing::Test {
protected:
    std::string Data() const { return dir_.path() + "/data"; }

    // An Ed25519 PKCS#8 PEM made by openssl (not our code); its 32-byte seed.
    std::string NewEd25519(const std::string& name, std::string* seed = nullptr) {
        const std::string path = dir_.path() + "/" + name + ".pem";
        ProcessResult gen = RunProcess(
            {"/usr/bin/openssl", "genpkey", "-algorithm", "ed25519", "-out", path}, BaseEnv());
        EXPECT_EQ(gen.exit_code, 0) << gen.err;
        if (seed) {
            ProcessResult der =
                RunProcess({"/usr/bin/openssl", "pkey", "-in", path, "-outform", "DER"}, BaseEnv());
            EXPECT_EQ(der.exit_code, 0) << der.err;
            EXPECT_GE(der.out.size(), 32u);
            *seed = der.out.size() >= 32 ? der.out.substr(der.out.size() - 32) : "";
        }
        return path;
    }

    static std::map<std::string, std::string> BaseEnv() {
        std::map<std::string, std::string> env;
        for (const char* k : {"PATH", "HOME", "LANG", "TMPDIR"}) {
            if (const char* v = std::getenv(k)) env[k] = v;
        }
        return env;
    }

    // The environment of rotation `i` (0 = the first key): keys[i] signs, keys[i-1] is
    // _PREVIOUS, older ones are retired (a comma list, or a file from the third rotation).
    std::map<std::string, std::string> RotationEnv(int i) {
        std::map<std::string, std::string> env = {
            {"ARAGORA_RECEIPT_SIGNING_KEY", hmac_[i]},
            {"ARAGORA_RECEIPT_ED25519_KEY_FILE", ed_[i]},
            {"ARAGORA_LOG_LEVEL", "DEBUG"},
        };
        if (i >= 1) env["ARAGORA_RECEIPT_SIGNING_KEY_PREVIOUS"] = hmac_[i - 1];
        if (i == 2) env["ARAGORA_RECEIPT_SIGNING_KEYS_RETIRED"] = hmac_[0];
        if (i == 3) {
            const std::string file = dir_.path() + "/retired-receipt-keys";
            WriteAll(file, "# retired receipt keys\n" + hmac_[0] + "\n" + hmac_[1] + "\n");
            std::filesystem::permissions(
                file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
            env["ARAGORA_RECEIPT_SIGNING_KEYS_RETIRED"] = file;
        }
        return env;
    }

    ProcessResult Aragora(std::vector<std::string> args,
                          const std::map<std::string, std::string>& overrides) {
        args.insert(args.begin(), ARAGORA_BINARY);
        auto env = ServerEnv(Data(), overrides);
        env["BACKUP_DIR"] = dir_.path() + "/backups";
        return RunProcess(args, env, 120);
    }

    // Runs one debate to its receipt; the receipt's own JSON.
    std::string OneReceipt(ServerProcess& server, const std::string& task) {
        HttpClient http = server.Http();
        const std::string id = CreateDebate(http, DebateBody(task, 1, 2));
        EXPECT_FALSE(id.empty());
        auto done = WaitForStatus(http, id, {"completed"});
        EXPECT_TRUE(done.has_value());
        HttpResponse r = http.Get("/api/v1/debates/" + id + "/receipt?format=json");
        EXPECT_EQ(r.status, 200) << r.Describe();
        return r.body;
    }

    static std::string ReceiptId(const std::string& receipt) {
        return std::string(json::parse(receipt).as_object().at("receipt_id").as_string());
    }

    json::object RunVerifier(const std::vector<std::string>& receipts, const json::value& published,
                             const std::vector<std::string>& hmac_keys) {
        json::array rs, ks;
        for (const auto& r : receipts) rs.emplace_back(r);
        for (const auto& k : hmac_keys) ks.emplace_back(k);
        const std::string input = dir_.path() + "/verifier-input.json";
        WriteAll(input, json::serialize(json::object{
                            {"receipts", rs}, {"published", published}, {"hmac_keys", ks}}));
        ProcessResult run = RunProcess(
            {kPython,
             std::string(ARAGORA_SOURCE_DIR) + "/tests/tools/independent_receipt_verify.py", input},
            BaseEnv());
        EXPECT_EQ(run.exit_code, 0) << run.err;
        boost::system::error_code ec;
        json::value v = json::parse(run.out, ec);
        return ec || !v.is_object() ? json::object{} : v.as_object();
    }

    TempDir dir_;
    std::vector<std::string> hmac_;
    std::vector<std::string> ed_;
};

TEST_F(ReceiptKeysTest, ThreeRotationsVerifyThroughApiCliAndAnIndependentVerifier) {
    for (int i = 0; i < 4; ++i) {
        hmac_.push_back(common::Base64Encode(common::RandomBytes(32)));  // openssl rand -base64 32
        ed_.push_back(NewEd25519("ed" + std::to_string(i)));
    }
    std::vector<std::string> receipts;
    json::value published;
    for (int i = 0; i < 4; ++i) {
        SCOPED_TRACE("rotation " + std::to_string(i));
        ServerProcess server(Data(), RotationEnv(i));
        ASSERT_TRUE(server.StartReady()) << server.error() << server.Logs();
        receipts.push_back(OneReceipt(server, "Rotation " + std::to_string(i)));
        HttpClient http = server.Http();
        // Every receipt so far verifies through the API: as a body and as stored.
        for (const auto& r : receipts) {
            HttpResponse body = http.Post("/api/v1/receipts/verify", r);
            ASSERT_EQ(body.status, 200) << body.Describe();
            EXPECT_EQ(body.Object().at("valid"), true) << body.body;
            HttpResponse stored = http.Post("/api/v2/receipts/" + ReceiptId(r) + "/verify");
            EXPECT_EQ(stored.Object().at("valid"), true) << stored.body;
        }
        HttpResponse keys = http.Get("/.well-known/aragora/receipt-keys.json");
        ASSERT_EQ(keys.status, 200) << keys.Describe();
        published = keys.Json();
        EXPECT_EQ(published.at("keys").as_array().size(), static_cast<std::size_t>(i + 1));
        EXPECT_EQ(server.Terminate(), 0) << server.Logs();
    }

    // The published keys: all four Ed25519 key ids, one current, three retired, each with
    // its PEM; no HMAC key id.
    std::set<std::string> ed_ids;
    std::map<std::string, int> states;
    for (const auto& k : published.at("keys").as_array()) {
        ed_ids.insert(std::string(k.at("key_id").as_string()));
        ++states[std::string(k.at("state").as_string())];
        EXPECT_EQ(k.at("algorithm"), "Ed25519");
        EXPECT_NE(k.at("public_key_pem").as_string().find("BEGIN PUBLIC KEY"), std::string::npos);
    }
    EXPECT_EQ(ed_ids.size(), 4u);
    EXPECT_EQ(states["current"], 1);
    EXPECT_EQ(states["retired"], 3);
    for (const auto& k : hmac_) {
        EXPECT_EQ(json::serialize(published).find(common::Sha256Hex(k).substr(0, 16)),
                  std::string::npos);
    }

    // The CLI, with the last rotation's environment.
    const auto env = RotationEnv(3);
    for (std::size_t i = 0; i < receipts.size(); ++i) {
        const std::string file = dir_.path() + "/receipt" + std::to_string(i) + ".json";
        WriteAll(file, receipts[i]);
        ProcessResult v = Aragora({"receipt", "verify", file}, env);
        EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
        EXPECT_NE(v.out.find("valid: receipt"), std::string::npos) << v.out;
    }
    ProcessResult all = Aragora({"keys", "verify-all", "--json"}, env);
    ASSERT_EQ(all.exit_code, 0) << all.out << all.err;
    json::object report = json::parse(all.out).as_object();
    EXPECT_EQ(report.at("receipts"), 4);
    EXPECT_EQ(report.at("invalid"), 0);
    EXPECT_EQ(report.at("keys").as_array().size(), 8u);  // 4 HMAC + 4 Ed25519 key ids
    for (const auto& k : report.at("keys").as_array()) {
        EXPECT_EQ(k.at("receipts"), 1) << json::serialize(k);
        EXPECT_EQ(k.at("valid"), 1) << json::serialize(k);
    }
    ProcessResult list = Aragora({"keys", "list", "--json"}, env);
    ASSERT_EQ(list.exit_code, 0) << list.err;
    json::array listed = json::parse(list.out).at("keys").as_array();
    EXPECT_EQ(listed.size(), 8u) << list.out;
    for (const auto& k : hmac_) EXPECT_EQ(list.out.find(k), std::string::npos);

    // Without the retired keys (a fresh data dir, the current key only), the first
    // receipt's HMAC key id is unknown, and the CLI says exactly that.
    ProcessResult unknown = RunProcess(
        {ARAGORA_BINARY, "receipt", "verify", dir_.path() + "/receipt0.json"},
        ServerEnv(dir_.path() + "/elsewhere", {{"ARAGORA_RECEIPT_SIGNING_KEY", hmac_[3]}}));
    EXPECT_EQ(unknown.exit_code, 1);
    EXPECT_NE(unknown.out.find("unknown signing key (key_id "), std::string::npos) << unknown.out;
    // The API likewise, for a key id nobody knows.
    {
        ServerProcess server(Data(), env);
        ASSERT_TRUE(server.StartReady()) << server.error() << server.Logs();
        json::object r = json::parse(receipts[0]).as_object();
        json::array sigs;
        for (auto s : r.at("signatures").as_array()) {
            if (s.at("algorithm") != "HMAC-SHA256") continue;
            s.as_object()["key_id"] = "0123456789abcdef";
            sigs.push_back(s);
        }
        r["signatures"] = sigs;
        HttpResponse v = server.Http().Post("/api/v1/receipts/verify", json::serialize(r));
        EXPECT_EQ(v.Object().at("valid"), false);
        EXPECT_EQ(v.Object().at("reason"), "unknown signing key (key_id 0123456789abcdef)")
            << v.body;
        EXPECT_EQ(server.Terminate(), 0);
    }

    // An independent verifier: only the published public keys, then only the HMAC keys.
    json::object by_public = RunVerifier(receipts, published, {});
    ASSERT_EQ(by_public.at("results").as_array().size(), 4u) << json::serialize(by_public);
    for (const auto& r : by_public.at("results").as_array()) {
        EXPECT_EQ(r.at("hash_ok"), true) << json::serialize(r);
        EXPECT_EQ(r.at("ed25519").as_array().size(), 1u) << json::serialize(r);
        EXPECT_TRUE(r.at("failed").as_array().empty()) << json::serialize(r);
    }
    json::object by_hmac = RunVerifier(receipts, nullptr, hmac_);
    for (const auto& r : by_hmac.at("results").as_array()) {
        EXPECT_EQ(r.at("hash_ok"), true) << json::serialize(r);
        EXPECT_EQ(r.at("hmac").as_array().size(), 1u) << json::serialize(r);
        EXPECT_TRUE(r.at("failed").as_array().empty()) << json::serialize(r);
    }
    // And it is not fooled: a key it was not given verifies nothing.
    json::object none = RunVerifier(receipts, nullptr, {});
    for (const auto& r : none.at("results").as_array()) {
        EXPECT_TRUE(r.at("hmac").as_array().empty());
        EXPECT_TRUE(r.at("ed25519").as_array().empty());
    }
}

TEST_F(ReceiptKeysTest, KeyMaterialNeverAppearsInLogsMetricsErrorsOrBackups) {
    std::vector<std::string> seeds(2);
    for (int i = 0; i < 4; ++i)
        hmac_.push_back("leak-test-hmac-key-" + std::to_string(i) + "-" +
                        common::HexEncode(common::RandomBytes(8)));
    // Rotations 2 and 3 below: the Ed25519 key rotates too.
    ed_.push_back(NewEd25519("leak0", &seeds[0]));
    ed_.push_back(ed_[0]);
    ed_.push_back(ed_[0]);
    ed_.push_back(NewEd25519("leak1", &seeds[1]));

    std::string seen;  // everything a user or operator can read
    std::vector<std::string> receipts;
    for (int i : {2, 3}) {  // _PREVIOUS and RETIRED set from the start, then a rotation
        ServerProcess server(Data(), RotationEnv(i));
        ASSERT_TRUE(server.StartReady()) << server.error() << server.Logs();
        receipts.push_back(OneReceipt(server, "Leak " + std::to_string(i)));
        HttpClient http = server.Http();
        for (const auto& r : receipts) seen += http.Post("/api/v1/receipts/verify", r).body;
        // Error bodies: malformed, unknown key, missing receipt.
        seen += http.Post("/api/v1/receipts/verify", "{not json").body;
        seen += http.Post("/api/v1/receipts/verify", R"({"receipt": 5})").body;
        seen += http.Post("/api/v2/receipts/rcpt_missing/verify").body;
        seen += http.Get("/.well-known/aragora/receipt-keys.json").body;
        seen += http.Get("/metrics").body;
        seen += HttpClient(server.metrics_port()).Get("/metrics").body;
        if (i == 3) {
            ProcessResult backup = Aragora({"backup", "create", "--json"}, RotationEnv(i));
            ASSERT_EQ(backup.exit_code, 0) << backup.err << backup.out;
            seen += backup.out + backup.err;
            const std::string id(json::parse(backup.out).at("backup").at("id").as_string());
            ProcessResult restored =
                Aragora({"backup", "restore", id, "-o", dir_.path() + "/restored/aragora.sqlite3"},
                        RotationEnv(i));
            ASSERT_EQ(restored.exit_code, 0) << restored.err << restored.out;
            seen += restored.out + restored.err;
        }
        EXPECT_EQ(server.Terminate(), 0);
        // The logs were captured (DEBUG), keyring line included.
        EXPECT_NE(server.Logs().find("receipt keyring: "), std::string::npos) << server.Logs();
        seen += server.Logs();
    }
    for (const auto& args :
         std::vector<std::vector<std::string>>{{"keys", "list"},
                                               {"keys", "list", "--json"},
                                               {"keys", "verify-all"},
                                               {"receipt", "verify-chain", "--json"},
                                               {"doctor"}}) {
        ProcessResult r = Aragora(args, RotationEnv(3));
        seen += r.out + r.err;
    }
    // A configuration error about the keys names the variable, never a value.
    ProcessResult bad =
        Aragora({"keys", "list"}, {{"ARAGORA_ENV", "production"},
                                   {"ARAGORA_RECEIPT_SIGNING_KEY", ""},
                                   {"ARAGORA_RECEIPT_SIGNING_KEY_PREVIOUS", hmac_[1]}});
    seen += bad.out + bad.err;
    seen += ReadTree(Data());
    const std::string backups = ReadTree(dir_.path() + "/backups");
    const std::string restored = ReadTree(dir_.path() + "/restored");
    EXPECT_GT(backups.size(), 1000u);
    // The restored database holds the receipts and the keyring table (key ids, no secret).
    EXPECT_NE(restored.find("receipt_signing_keys"), std::string::npos);
    EXPECT_NE(restored.find(common::Sha256Hex(hmac_[3]).substr(0, 16)), std::string::npos);
    seen += backups + restored;
    ASSERT_GT(seen.size(), 1000u);

    std::vector<std::pair<std::string, std::string>> secrets;
    for (const auto& k : hmac_) secrets.emplace_back("hmac", k);
    for (const auto& s : seeds) secrets.emplace_back("ed25519 seed", s);
    for (const auto& [what, key] : secrets) {
        ASSERT_FALSE(key.empty());
        for (const std::string& form : {key, common::HexEncode(key), common::Base64Encode(key)}) {
            // Base64 of a prefix too (the encoding of a longer string starts the same).
            const std::string needle = form.size() > 24 ? form.substr(0, 24) : form;
            EXPECT_EQ(seen.find(needle), std::string::npos) << what << " key material found";
        }
    }
    // The receipts' data was read (the check above is not vacuous): key ids are there.
    EXPECT_NE(seen.find(common::Sha256Hex(hmac_[3]).substr(0, 16)), std::string::npos);
}

}  // namespace
}  // namespace aragora::testing
