// Benchmarks of a whole debate, each beside a baseline measured in the same run:
//  - BM_DemoDebate: one in-process demo debate (3 agents, 2 rounds, no latency) through
//    the engine; baseline BM_EngineFloor: the same protocol with agents that answer a
//    fixed string at once (engine + coroutine overhead alone).
//  - BM_AskProcess: the whole `aragora ask` process with demo agents (parse, open SQLite,
//    migrate check, debate, sign, store); baseline BM_VersionProcess: `aragora --version`
//    (process start alone). Needs --aragora-binary=PATH.
// Run: make bench. Report the ratios printed at the end.

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>

#include "agents/demo_agent.hpp"
#include "debate/engine.hpp"

extern char** environ;

namespace {

namespace asio = boost::asio;
using namespace aragora;

std::string g_binary;
std::map<std::string, double> g_ns_per_iter;

class NullSink final : public events::EventSink {
public:
    void Publish(const events::Event&) override {}
};

class FixedAgent final : public agents::Agent {
public:
    explicit FixedAgent(std::string name) : name_(std::move(name)) {}
    const std::string& Name() const override { return name_; }
    const std::string& Provider() const override { return provider_; }
    asio::awaitable<common::Result<agents::AgentReply>> Call(
        const agents::AgentRequest& r) override {
        agents::AgentReply reply;
        if (r.phase == agents::Phase::kCritique) {
            reply.text =
                R"({"issues":["thin"],"suggestions":["more"],"severity":4,"reasoning":"ok"})";
        } else if (r.phase == agents::Phase::kVote) {
            reply.text = "{\"choice\":\"" + r.proposals.front().agent + "\",\"confidence\":0.8}";
        } else {
            reply.text = "Adopt it gradually because the data supports it.\nConfidence: 0.7";
        }
        co_return reply;
    }

private:
    std::string name_;
    std::string provider_ = "fixed";
};

void RunDebate(benchmark::State& state, bool demo) {
    common::SystemClock clock;
    debate::EngineSettings settings;
    debate::Engine engine(clock, settings);
    debate::DebateSpec spec;
    spec.task = "Should a 40-person engineering team adopt continuous deployment?";
    spec.rounds = 2;
    NullSink sink;
    for (auto _ : state) {
        std::vector<std::shared_ptr<agents::Agent>> team;
        const agents::Persona personas[] = {agents::Persona::kAnalyst, agents::Persona::kCritic,
                                            agents::Persona::kModerator};
        spec.agents.clear();
        for (auto p : personas) {
            std::string name = "demo:" + std::string(agents::ToString(p));
            spec.agents.push_back(name);
            if (demo) {
                team.push_back(
                    std::make_shared<agents::DemoAgent>(name, p, std::chrono::milliseconds(0)));
            } else {
                team.push_back(std::make_shared<FixedAgent>(name));
            }
        }
        spec.id = "d_bench";
        debate::EventEmitter emitter(spec.id, clock, sink);
        asio::io_context ioc(1);
        debate::DebateResult result;
        asio::co_spawn(ioc, engine.Run(spec, team, emitter),
                       [&](std::exception_ptr, debate::DebateResult r) { result = std::move(r); });
        ioc.run();
        if (result.status != debate::DebateStatus::kCompleted) state.SkipWithError("debate failed");
        benchmark::DoNotOptimize(result);
    }
}

void BM_EngineFloor(benchmark::State& state) { RunDebate(state, false); }
void BM_DemoDebate(benchmark::State& state) { RunDebate(state, true); }
BENCHMARK(BM_EngineFloor)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_DemoDebate)->Unit(benchmark::kMicrosecond);

int Spawn(const std::vector<std::string>& args, const std::string& data_dir) {
    std::vector<std::string> a = args;
    std::vector<char*> argv;
    for (auto& s : a) argv.push_back(s.data());
    argv.push_back(nullptr);
    std::string d = "ARAGORA_DATA_DIR=" + data_dir;
    std::string k = "ARAGORA_RECEIPT_SIGNING_KEY=bench-key";
    std::string l = "ARAGORA_LOG_LEVEL=ERROR";
    char* envp[] = {d.data(), k.data(), l.data(), nullptr};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return -1;
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void RunProcess(benchmark::State& state, bool ask) {
    if (g_binary.empty()) {
        state.SkipWithError("pass --aragora-binary=PATH");
        return;
    }
    std::string dir = (std::filesystem::temp_directory_path() / "aragora-bench").string();
    std::filesystem::remove_all(dir);
    for (auto _ : state) {
        int rc = ask ? Spawn({g_binary, "ask", "Should we adopt continuous deployment?", "--agents",
                              "demo,demo,demo", "--rounds", "2"},
                             dir)
                     : Spawn({g_binary, "--version"}, dir);
        if (rc != 0) state.SkipWithError("process failed");
    }
    std::filesystem::remove_all(dir);
}

void BM_VersionProcess(benchmark::State& state) { RunProcess(state, false); }
void BM_AskProcess(benchmark::State& state) { RunProcess(state, true); }
BENCHMARK(BM_VersionProcess)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_AskProcess)->Unit(benchmark::kMillisecond)->MinTime(1.0);

class RatioReporter : public benchmark::ConsoleReporter {
public:
    void ReportRuns(const std::vector<Run>& runs) override {
        for (const auto& r : runs) {
            if (!r.error_occurred && r.iterations > 0) {
                std::string name = r.benchmark_name();
                name = name.substr(0, name.find('/'));
                g_ns_per_iter[name] =
                    r.GetAdjustedRealTime() * (r.time_unit == benchmark::kMillisecond ? 1e6 : 1e3);
            }
        }
        ConsoleReporter::ReportRuns(runs);
    }
};

}  // namespace

int main(int argc, char** argv) {
    std::vector<char*> args;
    for (int i = 0; i < argc; ++i) {
        const char* prefix = "--aragora-binary=";
        if (std::strncmp(argv[i], prefix, std::strlen(prefix)) == 0) {
            g_binary = std::filesystem::absolute(argv[i] + std::strlen(prefix)).string();
        } else {
            args.push_back(argv[i]);
        }
    }
    int n = static_cast<int>(args.size());
    benchmark::Initialize(&n, args.data());
    if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
    RatioReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    auto ratio = [](const char* a, const char* b) {
        if (g_ns_per_iter.count(a) && g_ns_per_iter.count(b)) {
            std::cout << a << " / " << b << " = " << g_ns_per_iter[a] / g_ns_per_iter[b] << "x  ("
                      << g_ns_per_iter[a] / 1e6 << " ms vs " << g_ns_per_iter[b] / 1e6 << " ms)\n";
        }
    };
    std::cout << "\nRatios against the same-run baselines:\n";
    ratio("BM_DemoDebate", "BM_EngineFloor");
    ratio("BM_AskProcess", "BM_VersionProcess");
    benchmark::Shutdown();
    return 0;
}
