// Drives the built `aragora` binary: debates, receipts, the chain link, verification
// (valid, tampered, rotated and unknown keys), bad input and migrations.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/json.hpp>
#include <filesystem>

#include "common/crypto.hpp"
#include "common/jcs.hpp"
#include "process.hpp"

namespace aragora::testing {
namespace {

namespace json = boost::json;

class CliTest : public ::testing::Test {
protected:
    std::map<std::string, std::string> Env(const std::string& key = "integration-key-1") const {
        std::map<std::string, std::string> env{{"ARAGORA_DATA_DIR", dir_.path() + "/data"},
                                               {"ARAGORA_LOG_LEVEL", "WARNING"}};
        if (!key.empty()) env["ARAGORA_RECEIPT_SIGNING_KEY"] = key;
        return env;
    }
    ProcessResult Aragora(
        std::vector<std::string> args,
        std::optional<std::map<std::string, std::string>> env = std::nullopt) const {
        args.insert(args.begin(), ARAGORA_BINARY);
        return RunProcess(args, env ? *env : Env());
    }
    std::string Path(const std::string& name) const { return dir_.path() + "/" + name; }
    json::object ReadJson(const std::string& name) const {
        return json::parse(ReadAll(Path(name))).as_object();
    }
    std::int64_t DebateCount() const {
        auto r = Aragora({"debates", "list", "--json"});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return json::parse(r.out).as_object().at("total").as_int64();
    }

    TempDir dir_;
};

TEST_F(CliTest, TwoDebatesChainAndVerify) {
    auto first =
        Aragora({"ask", "Should we migrate our monolith to microservices this year?", "--agents",
                 "demo,demo,demo", "--rounds", "2", "--receipt", Path("r1.json")});
    ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
    EXPECT_NE(first.out.find("Verdict:"), std::string::npos) << first.out;
    auto second = Aragora({"ask", "Is a four-day work week good for a 40-person startup?",
                           "--agents", "demo,demo,demo,demo", "--receipt", Path("r2.json")});
    ASSERT_EQ(second.exit_code, 0) << second.out << second.err;

    auto r1 = ReadJson("r1.json");
    auto r2 = ReadJson("r2.json");
    // The chain: the second receipt carries the first one's content hash.
    ASSERT_TRUE(r1.contains("content_hash"));
    EXPECT_TRUE(r1.at("previous_hash").is_null());
    EXPECT_EQ(r2.at("previous_hash"), r1.at("content_hash"));
    EXPECT_EQ(r1.at("content_hash").as_string().size(), 64u);

    for (const char* name : {"r1.json", "r2.json"}) {
        auto v = Aragora({"receipt", "verify", Path(name)});
        EXPECT_EQ(v.exit_code, 0) << name << ": " << v.out << v.err;
        EXPECT_NE(v.out.find("valid"), std::string::npos);
    }

    // A tampered copy fails with the reason.
    auto tampered = r1;
    tampered["final_answer"] = "We should do whatever the vendor says.";
    WriteAll(Path("tampered.json"), json::serialize(tampered));
    auto bad = Aragora({"receipt", "verify", Path("tampered.json")});
    EXPECT_EQ(bad.exit_code, 1);
    EXPECT_NE(bad.out.find("hash"), std::string::npos) << bad.out;

    // Another changed field fails too.
    auto forged = r1;
    forged["verdict"] = "approved";
    WriteAll(Path("forged.json"), json::serialize(forged));
    EXPECT_EQ(Aragora({"receipt", "verify", Path("forged.json")}).exit_code, 1);

    // Key rotation: the old key as PREVIOUS still verifies; unknown keys are named.
    auto rotated = Env("integration-key-2");
    rotated["ARAGORA_RECEIPT_SIGNING_KEY_PREVIOUS"] = "integration-key-1";
    EXPECT_EQ(Aragora({"receipt", "verify", Path("r1.json")}, rotated).exit_code, 0);
    auto unknown = Aragora({"receipt", "verify", Path("r1.json")}, Env("integration-key-3"));
    EXPECT_EQ(unknown.exit_code, 1);
    EXPECT_NE(unknown.out.find("unknown"), std::string::npos) << unknown.out;

    // Both debates are stored, with their receipts.
    auto list = Aragora({"debates", "list", "--json"});
    ASSERT_EQ(list.exit_code, 0) << list.err;
    auto page = json::parse(list.out).as_object();
    EXPECT_EQ(page.at("total").as_int64(), 2);
    auto id = std::string(r2.at("debate_id").as_string());
    auto show = Aragora({"debates", "show", id, "--json"});
    ASSERT_EQ(show.exit_code, 0) << show.err;
    auto debate = json::parse(show.out).as_object();
    EXPECT_EQ(debate.at("status"), "completed");
    EXPECT_EQ(debate.at("receipt_id"), r2.at("receipt_id"));
}

TEST_F(CliTest, ForgedUnsignedReceiptFailsUnlessIntegrityOnly) {
    auto ask = Aragora({"ask", "Should audit receipts be signed?", "--agents", "demo,demo,demo",
                        "--rounds", "1", "--receipt", Path("r.json")});
    ASSERT_EQ(ask.exit_code, 0) << ask.out << ask.err;
    // The forgery: verdict edited, content_hash recomputed, signatures dropped.
    json::object forged = ReadJson("r.json");
    forged["verdict"] = forged["verdict"] == "rejected" ? "approved" : "rejected";
    forged.erase("signatures");
    forged.erase("content_hash");
    auto signed_bytes = common::CanonicalizeJson(json::serialize(forged));
    ASSERT_TRUE(signed_bytes.ok());
    forged["content_hash"] = common::Sha256Hex(*signed_bytes);
    WriteAll(Path("forged.json"), json::serialize(forged));

    auto full = Aragora({"receipt", "verify", Path("forged.json")});
    EXPECT_EQ(full.exit_code, 1) << full.out << full.err;
    EXPECT_NE(full.out.find("invalid: unsigned"), std::string::npos) << full.out;

    auto integrity = Aragora({"receipt", "verify", "--integrity-only", Path("forged.json")});
    EXPECT_EQ(integrity.exit_code, 0) << integrity.out << integrity.err;
    EXPECT_NE(integrity.out.find("integrity only"), std::string::npos) << integrity.out;
    EXPECT_NE(integrity.out.find("unsigned"), std::string::npos) << integrity.out;
    EXPECT_NE(integrity.out.find("NOT AUTHENTICATED"), std::string::npos) << integrity.out;
    EXPECT_EQ(integrity.out.find("valid:"), std::string::npos) << "never plain `valid`";

    // The signed original: valid in full; integrity-only says its signatures were not checked.
    EXPECT_EQ(Aragora({"receipt", "verify", Path("r.json")}).exit_code, 0);
    auto signed_only = Aragora({"receipt", "verify", Path("r.json"), "--integrity-only"});
    EXPECT_EQ(signed_only.exit_code, 0) << signed_only.out;
    EXPECT_NE(signed_only.out.find("not checked"), std::string::npos) << signed_only.out;
    // An edit after the hash fails either way.
    forged["final_answer"] = "Something else.";
    WriteAll(Path("edited.json"), json::serialize(forged));
    auto edited = Aragora({"receipt", "verify", "--integrity-only", Path("edited.json")});
    EXPECT_EQ(edited.exit_code, 1);
    EXPECT_NE(edited.out.find("content hash mismatch"), std::string::npos) << edited.out;
}

TEST_F(CliTest, ReceiptFormatsRender) {
    auto md = Aragora({"ask", "Should we use <b>tabs</b> or spaces?", "--receipt", Path("r.md")});
    ASSERT_EQ(md.exit_code, 0) << md.err;
    EXPECT_NE(ReadAll(Path("r.md")).find("erdict"), std::string::npos);
    auto html = Aragora({"ask", "Should we use <b>tabs</b> or spaces?", "--receipt", Path("r.html"),
                         "--format", "html"});
    ASSERT_EQ(html.exit_code, 0) << html.err;
    std::string page = ReadAll(Path("r.html"));
    EXPECT_NE(page.find("&lt;b&gt;tabs"), std::string::npos);
    EXPECT_EQ(page.find("<b>tabs"), std::string::npos);
}

TEST_F(CliTest, JsonOutputAndDemo) {
    auto r = Aragora({"ask", "Which database should a small team start with?", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto o = json::parse(r.out).as_object();
    EXPECT_EQ(o.at("status"), "completed");
    EXPECT_TRUE(o.at("receipt").is_object());
    EXPECT_EQ(o.at("agents").as_array().size(), 3u);
    auto demo = Aragora({"demo"});
    EXPECT_EQ(demo.exit_code, 0) << demo.err;
    EXPECT_NE(demo.out.find("Verdict"), std::string::npos);
}

TEST_F(CliTest, BadInputExits2AndWritesNothing) {
    ASSERT_EQ(Aragora({"ask", "Seed question?"}).exit_code, 0);
    const std::int64_t before = DebateCount();
    struct Case {
        std::vector<std::string> args;
        std::string needle;
    };
    std::vector<Case> cases = {
        {{"ask", "   "}, "empty"},
        {{"ask", "Q?", "--agents", "demo"}, "at least 2"},
        {{"ask", "Q?", "--agents", "demo,wizard"}, "wizard"},
        {{"ask", "Q?", "--agents", "demo,demo:pirate"}, "pirate"},
        {{"ask", "Q?", "--consensus", "vibes"}, "vibes"},
        {{"ask", "Q?", "--rounds", "0"}, "rounds"},
        {{"ask", "Q?", "--rounds", "13"}, "rounds"},
        {{"ask", "Q?", "--rounds", "many"}, "rounds"},
        {{"ask", "Q?", "--format", "pdf", "--receipt", Path("x.pdf")}, "pdf"},
        {{"ask", "Q?", "--receipt", Path("no/such/dir/r.json")}, "cannot write"},
        {{"receipt", "verify", Path("missing.json")}, "cannot read"},
        {{"debates", "show", "bad id!"}, "invalid"},
        {{"frobnicate"}, ""},
    };
    for (const auto& c : cases) {
        auto r = Aragora(c.args);
        EXPECT_EQ(r.exit_code, 2) << c.args[0] << " " << (c.args.size() > 1 ? c.args[1] : "");
        EXPECT_NE(r.err.find(c.needle), std::string::npos) << r.err;
        // One readable line.
        EXPECT_LE(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    }
    WriteAll(Path("notjson.json"), "this is not json");
    EXPECT_EQ(Aragora({"receipt", "verify", Path("notjson.json")}).exit_code, 2);
    EXPECT_EQ(DebateCount(), before);
    EXPECT_FALSE(std::filesystem::exists(Path("x.pdf")));
}

TEST_F(CliTest, MigrateCheckAndUpgrade) {
    auto check = Aragora({"db", "migrate", "--check"});
    EXPECT_EQ(check.exit_code, 1) << check.out << check.err;
    EXPECT_NE(check.out.find("pending"), std::string::npos) << check.out;
    auto up = Aragora({"db", "migrate", "--upgrade"});
    EXPECT_EQ(up.exit_code, 0) << up.err;
    EXPECT_EQ(Aragora({"db", "migrate", "--upgrade"}).exit_code, 0);
    auto again = Aragora({"db", "migrate", "--check"});
    EXPECT_EQ(again.exit_code, 0) << again.out;
    EXPECT_TRUE(std::filesystem::exists(Path("data/aragora.sqlite3")));
}

TEST_F(CliTest, LocalKeyInDevelopmentRefusalInProduction) {
    auto env = Env("");
    auto r = Aragora({"ask", "Local key?", "--receipt", Path("r.json")}, env);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    struct stat st {};
    ASSERT_EQ(stat(Path("data/receipt_signing.key").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600);
    EXPECT_EQ(Aragora({"receipt", "verify", Path("r.json")}, env).exit_code, 0);

    env["ARAGORA_ENV"] = "production";
    auto prod = Aragora({"ask", "Production without a key?"}, env);
    EXPECT_EQ(prod.exit_code, 2);
    EXPECT_NE(prod.err.find("ARAGORA_RECEIPT_SIGNING_KEY"), std::string::npos) << prod.err;
}

TEST_F(CliTest, VersionAndHelp) {
    auto v = Aragora({"--version"});
    EXPECT_EQ(v.exit_code, 0);
    EXPECT_NE(v.out.find("aragora"), std::string::npos);
    for (std::vector<std::string> args :
         std::vector<std::vector<std::string>>{{"--help"},
                                               {"ask", "--help"},
                                               {"receipt", "verify", "--help"},
                                               {"debates", "--help"},
                                               {"db", "migrate", "--help"},
                                               {"demo", "--help"}}) {
        auto h = Aragora(args);
        EXPECT_EQ(h.exit_code, 0) << args[0];
        EXPECT_NE(h.out.find("Usage"), std::string::npos) << h.out;
    }
}

}  // namespace
}  // namespace aragora::testing
