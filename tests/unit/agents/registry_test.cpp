#include "agents/registry.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "agents/demo_agent.hpp"

namespace aragora::agents {
namespace {

using common::ErrorCode;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> Names(const std::vector<AgentSpec>& specs) {
    std::vector<std::string> out;
    for (const auto& s : specs) out.push_back(s.name);
    return out;
}

std::vector<std::string> Personas(const std::vector<AgentSpec>& specs) {
    std::vector<std::string> out;
    for (const auto& s : specs) out.push_back(s.persona);
    return out;
}

TEST(ParseAgentList, BareDemosCycleThroughPersonas) {
    const auto r = ParseAgentList("demo,demo,demo");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_THAT(Personas(*r), ElementsAre("analyst", "critic", "moderator"));
    EXPECT_THAT(Names(*r), ElementsAre("demo:analyst", "demo:critic", "demo:moderator"));
    for (const auto& s : *r) {
        EXPECT_EQ(s.provider, "demo");
        EXPECT_EQ(s.model, "");
    }
}

TEST(ParseAgentList, CycleWrapsAndRepeatsAreNumbered) {
    const auto r = ParseAgentList("demo,demo,demo,demo,demo,demo");
    ASSERT_TRUE(r.ok());
    EXPECT_THAT(Names(*r), ElementsAre("demo:analyst", "demo:critic", "demo:moderator",
                                       "demo:contrarian", "demo:analyst#2", "demo:critic#2"));
}

TEST(ParseAgentList, ExplicitPersonasDoNotAdvanceTheCycle) {
    const auto r = ParseAgentList("demo:critic,demo,demo,demo:critic");
    ASSERT_TRUE(r.ok());
    EXPECT_THAT(Names(*r),
                ElementsAre("demo:critic", "demo:analyst", "demo:critic#2", "demo:critic#3"));
    EXPECT_EQ((*r)[0].model, "critic");
    EXPECT_EQ((*r)[0].persona, "critic");
}

TEST(ParseAgentList, TrimsSpaces) {
    const auto r = ParseAgentList("  demo , demo : contrarian ,demo");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_THAT(Names(*r), ElementsAre("demo:analyst", "demo:contrarian", "demo:critic"));
}

TEST(ParseAgentList, UnknownProviderIsAValidationError) {
    const auto r = ParseAgentList("demo,llama");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kValidation);
    EXPECT_THAT(r.error().message, HasSubstr("unknown agent provider 'llama' (available: demo, "
                                             "anthropic, openai"));
}

TEST(ParseAgentList, UnknownPersonaListsThePersonas) {
    const auto r = ParseAgentList("demo:pirate,demo");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kValidation);
    EXPECT_THAT(r.error().message, HasSubstr("'pirate'"));
    EXPECT_THAT(r.error().message, HasSubstr("analyst, critic, moderator, contrarian"));
}

TEST(ParseAgentList, ProvidersAndAliasesResolveWithDefaultModels) {
    const auto r = ParseAgentList("claude,gpt-4,GROK,gemini,mistral,openrouter,openai:gpt-4o-mini");
    ASSERT_TRUE(r.ok()) << r.error().message;
    std::vector<std::string> providers;
    for (const auto& s : *r) providers.push_back(s.provider);
    EXPECT_THAT(providers, ElementsAre("anthropic", "openai", "xai", "gemini", "mistral",
                                       "openrouter", "openai"));
    EXPECT_EQ((*r)[1].model, "gpt-4");
    EXPECT_EQ((*r)[1].name, "openai:gpt-4");
    EXPECT_EQ((*r)[6].name, "openai:gpt-4o-mini");
    for (const auto& s : *r) EXPECT_FALSE(s.model.empty()) << s.provider;
    EXPECT_EQ(BreakerKey((*r)[0]), "anthropic:" + (*r)[0].model);
}

TEST(ParseAgentList, ExplicitNamesAndRepeats) {
    const auto r = ParseAgentList(
        "anthropic:claude-x@skeptic,anthropic:claude-x,"
        "anthropic:claude-x,local:llama3.1:8b");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_THAT(Names(*r), ElementsAre("skeptic", "anthropic:claude-x", "anthropic:claude-x#2",
                                       "openai-compatible:llama3.1:8b"));
    EXPECT_EQ((*r)[0].model, "claude-x");
}

TEST(ParseAgentList, BadNamesAndModelsAreValidationErrors) {
    for (const char* list : {"demo,claude@", "demo,claude@bad name", "demo,openai:gpt\\"}) {
        const auto r = ParseAgentList(list);
        ASSERT_FALSE(r.ok()) << list;
        EXPECT_EQ(r.error().code, ErrorCode::kValidation) << list;
    }
}

TEST(ParseAgentList, EmptyEntriesAreErrors) {
    for (const char* list : {"", "demo,,demo", "demo,", ",demo", " , "}) {
        const auto r = ParseAgentList(list);
        ASSERT_FALSE(r.ok()) << "'" << list << "'";
        EXPECT_EQ(r.error().code, ErrorCode::kValidation);
        EXPECT_EQ(r.error().field, "agents");
    }
}

TEST(ParseAgentSpecs, AcceptsAList) {
    const auto r = ParseAgentSpecs({"demo", " demo:moderator ", "demo"});
    ASSERT_TRUE(r.ok());
    EXPECT_THAT(Names(*r), ElementsAre("demo:analyst", "demo:moderator", "demo:critic"));
    EXPECT_TRUE(ParseAgentSpecs({}).ok());
    EXPECT_FALSE(ParseAgentSpecs({"demo", ""}).ok());
}

TEST(BuildAgents, CreatesDemoAgentsWithTheirPersonas) {
    const auto specs = ParseAgentList("demo,demo:contrarian,demo:contrarian");
    ASSERT_TRUE(specs.ok());
    RegistrySettings settings;
    settings.demo_latency = std::chrono::milliseconds(200);
    const auto agents = BuildAgents(*specs, settings);
    ASSERT_TRUE(agents.ok()) << agents.error().message;
    ASSERT_EQ(agents->size(), 3u);
    EXPECT_EQ((*agents)[0]->Name(), "demo:analyst");
    EXPECT_EQ((*agents)[1]->Name(), "demo:contrarian");
    EXPECT_EQ((*agents)[2]->Name(), "demo:contrarian#2");
    for (const auto& a : *agents) EXPECT_EQ(a->Provider(), "demo");
    const auto* demo = dynamic_cast<const DemoAgent*>((*agents)[2].get());
    ASSERT_NE(demo, nullptr);
    EXPECT_EQ(demo->persona(), Persona::kContrarian);
}

TEST(BuildAgents, RejectsSpecsItCannotBuild) {
    AgentSpec remote;
    remote.provider = "openai";
    remote.model = "gpt-x";
    remote.name = "openai:gpt-x";
    const auto r = BuildAgents({remote}, {});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kNotImplemented);

    AgentSpec odd;
    odd.provider = "demo";
    odd.persona = "pirate";
    EXPECT_EQ(BuildAgents({odd}, {}).error().code, ErrorCode::kValidation);
}

}  // namespace
}  // namespace aragora::agents
