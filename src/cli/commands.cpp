#include "cli/commands.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/json.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "agents/factory.hpp"
#include "agents/registry.hpp"
#include "app/content_encryption.hpp"
#include "app/secrets_source.hpp"
#include "app/server_app.hpp"
#include "cli/backup_command.hpp"
#include "cli/debate_runner.hpp"
#include "cli/doctor_command.hpp"
#include "cli/exit_codes.hpp"
#include "cli/keys_command.hpp"
#include "cli/keys_rotation_command.hpp"
#include "cli/receipt_chain_command.hpp"
#include "cli/users_command.hpp"
#include "cli/worker_command.hpp"
#include "common/atomic_file.hpp"
#include "common/build_info.hpp"
#include "common/ids.hpp"
#include "common/jcs.hpp"
#include "common/json_access.hpp"
#include "common/json_text.hpp"
#include "common/logging.hpp"
#include "common/strings.hpp"
#include "config/settings.hpp"
#include "debate/receipt.hpp"
#include "debate/receipt_keys.hpp"
#include "events/payloads.hpp"
#include "net/http_client.hpp"
#include "resilience/circuit_breaker.hpp"
#include "service/records.hpp"
#include "storage/open_stores.hpp"

namespace aragora::cli {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

std::string Shorten(const std::string& s, std::size_t n) {
    if (s.size() <= n) return s;
    return s.substr(0, n - 3) + "...";
}

// Checks up front that `path` can be created, so a bad path fails before any work.
common::Status CheckWritable(const std::string& path) {
    std::string probe = path + ".tmp";
    std::ofstream out(probe, std::ios::binary | std::ios::trunc);
    if (!out) {
        return common::MakeError(common::ErrorCode::kBadRequest,
                                 "cannot write receipt file " + path + ": " + std::strerror(errno));
    }
    out.close();
    std::remove(probe.c_str());
    return {};
}

common::Result<std::string> ReadFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return common::MakeError(common::ErrorCode::kBadRequest,
                                 "cannot read " + path + ": " + std::strerror(errno));
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct Environment {
    config::Settings settings;
};

common::Result<Environment> LoadEnvironment() {
    auto settings = config::LoadSettings(config::ProcessEnv(), config::RunMode::kLocalCli);
    if (!settings) return settings.error();
    if (auto logging = common::SetupLogging(settings->log); !logging) return logging.error();
    return Environment{std::move(*settings)};
}

// Prints progress lines for a terminal user (stderr).
class ProgressPrinter final : public events::EventSink {
public:
    void Publish(const events::Event& e) override {
        if (auto p = events::As<events::RoundStart>(e)) {
            std::cerr << "  round " << e.round << "/" << p->total_rounds << ": proposing"
                      << (e.round > 1 ? " (revising)" : "") << "...\n";
        } else if (e.type == events::RoundEnd::kType) {
            std::cerr << "  round " << e.round << " done: " << critiques_ << " critiques\n";
            critiques_ = 0;
        } else if (e.type == events::Critique::kType) {
            ++critiques_;
        } else if (auto p = events::As<events::Convergence>(e)) {
            std::cerr << "  convergence: " << p->status << " (min similarity " << std::fixed
                      << std::setprecision(2) << p->similarity << ")\n";
        } else if (e.type == events::TricksterIntervention::kType) {
            std::cerr << "  trickster: weak evidence behind the agreement, challenge injected\n";
        } else if (auto p = events::As<events::AgentFallback>(e)) {
            std::cerr << "  agent " << p->agent << ": " << p->from_provider
                      << " refused, retrying on OpenRouter (" << p->model << ")\n";
        } else if (auto p = events::As<events::AgentRetry>(e)) {
            std::cerr << "  agent " << p->agent << ": retry " << p->retry << " in " << p->delay_ms
                      << " ms (" << p->reason << ")\n";
        } else if (auto p = events::As<events::AgentError>(e)) {
            std::cerr << "  agent " << p->agent << " failed in " << p->phase << ": " << p->message
                      << (p->final ? "" : " (to be tried again later in the phase)") << "\n";
        } else if (auto p = events::As<events::AgentPhaseRetry>(e)) {
            std::cerr << "  agent " << p->agent << ": " << p->phase << " attempt " << p->attempt
                      << " in " << p->delay_ms << " ms\n";
        } else if (auto p = events::As<events::AgentSubstitution>(e)) {
            std::cerr << "  agent " << p->agent << " could not answer its " << p->phase << ": "
                      << (p->agent == p->replaced_by ? "its previous proposal stands"
                                                     : p->replaced_by + " stands in")
                      << " (" << p->reason << ")\n";
        } else if (auto p = events::As<events::Vote>(e)) {
            std::cerr << "  vote: " << p->agent << " -> " << p->choice << "\n";
        }
    }

private:
    int critiques_ = 0;
};

void PrintVerdictBlock(const RunOutcome& out, const std::string& receipt_file) {
    const auto& r = out.record;
    const auto& res = out.result;
    std::ostringstream os;
    os << std::fixed << std::setprecision(2);
    os << "\nDebate " << r.id << ": " << events::ToString(r.status) << " in "
       << res.duration_seconds << " s (" << r.rounds_used << " of " << r.rounds << " rounds, "
       << r.agents.size() << " agents)\n";
    os << "Question: " << r.task << "\n";
    if (r.status == events::DebateStatus::kCompleted) {
        const std::string verdict = common::ToUpper(r.verdict);
        os << "Verdict:  " << verdict << "  (confidence " << r.confidence.value_or(0) << ")\n";
        os << "Consensus: " << (res.consensus.reached ? "reached" : "not reached") << " ("
           << debate::ToString(res.consensus.method);
        if (res.consensus.judge_fallback) os << ", judge failed: majority fallback";
        os << "; " << res.consensus.supporting_agents.size() << " of " << res.votes.size()
           << " votes for " << (res.consensus.winner.empty() ? "-" : res.consensus.winner) << ")\n";
        if (res.trickster_interventions > 0) {
            os << "Trickster interventions: " << res.trickster_interventions << "\n";
        }
        os << "\nFinal answer:\n  " << r.final_answer << "\n";
        if (!res.consensus.dissents.empty()) {
            os << "\nDissent:\n";
            for (const auto& d : res.consensus.dissents) {
                os << "  " << d.agent << ": ";
                for (std::size_t i = 0; i < d.reasons.size(); ++i) {
                    os << (i ? " " : "") << d.reasons[i];
                }
                os << "\n";
            }
        }
    } else {
        os << "Error: " << r.error_code << ": " << r.error_message << "\n";
    }
    if (!res.failures.empty()) {
        os << "\nAgent failures: " << res.failures.size() << "\n";
        for (const auto& f : res.failures) {
            os << "  " << f.agent << " (" << f.phase << ", round " << f.round << "): " << f.code
               << ": " << f.message << " [" << f.attempts
               << (f.attempts == 1 ? " attempt, " : " attempts, ") << debate::ToString(f.outcome)
               << "]\n";
        }
    }
    if (!res.substitutions.empty()) {
        os << "\nSubstitutions: " << res.substitutions.size() << "\n";
        for (const auto& s : res.substitutions) {
            os << "  " << s.agent << " (" << s.phase << ", round " << s.round << ") -> "
               << s.replaced_by << ": " << debate::ToString(s.reason) << "\n";
        }
    }
    if (out.receipt) {
        os << "\nReceipt: " << out.receipt->receipt_id << "  sha256 " << out.receipt->content_hash
           << "\n";
        os << "Previous receipt hash: " << out.receipt->previous_hash.value_or("(none: first)")
           << "\n";
        if (!receipt_file.empty()) os << "Receipt written to " << receipt_file << "\n";
    }
    std::cout << os.str();
}

struct AskOptions {
    std::string question;
    std::string agents = "demo,demo,demo";
    int rounds = debate::kDefaultRounds;
    std::string consensus = "majority";
    std::string context;
    bool json = false;
    std::string receipt_file;
    std::string format;
};

int RunDebateCommand(const AskOptions& opt) {
    // 1. Validate everything before touching the disk.
    std::string question(common::Trim(opt.question));
    if (question.empty()) return Complain(kExitUsage, "the question is empty");
    if (question.size() > debate::kMaxTaskChars) {
        return Complain(kExitUsage, "the question is longer than " +
                                        std::to_string(debate::kMaxTaskChars) + " characters");
    }
    if (opt.rounds < debate::kMinRounds || opt.rounds > debate::kMaxRounds) {
        return Complain(kExitUsage,
                        "--rounds must be between 1 and 12, got " + std::to_string(opt.rounds));
    }
    auto method = debate::ParseConsensusMethod(opt.consensus);
    if (!method) {
        return Complain(kExitUsage,
                        "unknown consensus method '" + opt.consensus +
                            "' (use one of: " + std::string(debate::ConsensusMethodList()) + ")");
    }
    std::string format = opt.format;
    if (format.empty()) {
        auto ends_with = [&](const char* ext) {
            std::string e(ext);
            return opt.receipt_file.size() >= e.size() &&
                   opt.receipt_file.compare(opt.receipt_file.size() - e.size(), e.size(), e) == 0;
        };
        format = ends_with(".md") ? "md" : ends_with(".html") ? "html" : "json";
    }
    auto receipt_format = debate::ParseReceiptFormat(format);
    if (!receipt_format) {
        return Complain(kExitUsage,
                        "unknown receipt format '" + format + "' (use md, json or html)");
    }
    auto specs = agents::ParseAgentList(opt.agents);
    if (!specs) return Complain(kExitUsage, specs.error().message);
    if (specs->size() > debate::kMaxAgents) {
        return Complain(kExitUsage, "at most " + std::to_string(debate::kMaxAgents) +
                                        " agents can take part in one debate, got " +
                                        std::to_string(specs->size()));
    }
    if (specs->size() < 2) {
        return Complain(kExitUsage,
                        "a debate needs at least 2 agents, got " + std::to_string(specs->size()));
    }
    auto env = LoadEnvironment();
    if (!env) return Complain(kExitUsage, env.error().message);
    const auto& settings = env->settings;
    if (!opt.receipt_file.empty()) {
        if (auto s = CheckWritable(opt.receipt_file); !s) {
            return Complain(kExitUsage, s.error().message);
        }
    }
    // Provider agents call out on the debate's one I/O thread. The client (and the trust
    // store it loads) exists only when a provider agent takes part.
    asio::io_context ioc(1);
    std::optional<net::HttpClient> http;
    if (std::any_of(specs->begin(), specs->end(),
                    [](const agents::AgentSpec& s) { return s.provider != "demo"; })) {
        http.emplace(ioc, agents::ClientOptionsFrom(settings.agents));
    }
    common::SystemClock breaker_clock;
    resilience::CircuitBreakerRegistry breakers(
        breaker_clock, {.breaker = agents::BreakerConfigFrom(settings.agents)});
    agents::AgentFactory factory(agents::FactorySettingsFrom(settings), config::ProcessEnv(),
                                 http ? &*http : nullptr, &breakers, nullptr);
    auto agent_objects = factory.Build(*specs);
    if (!agent_objects) return Complain(kExitUsage, agent_objects.error().message);

    // 2. Open what we need.
    auto keys = debate::LoadReceiptKeys(settings);
    if (!keys) return Complain(kExitUsage, keys.error().message);
    auto opened = app::OpenStores(settings, /*migrate=*/true);
    if (!opened) return Complain(kExitFailed, opened.error().message);
    auto store = common::Result<std::unique_ptr<storage::Store>>(std::move(opened->store));

    debate::DebateSpec spec;
    spec.id = common::NewId("d_");
    spec.task = question;
    spec.context = opt.context;
    for (const auto& s : *specs) spec.agents.push_back(s.name);
    spec.rounds = opt.rounds;
    spec.consensus = *method;
    spec.consensus_threshold = settings.debate.consensus_threshold;

    debate::EngineSettings engine;
    engine.agent_timeout = factory.TurnBudget();
    engine.debate_timeout = std::chrono::seconds(settings.debate.debate_timeout_seconds);
    engine.convergence_threshold = settings.debate.convergence_threshold;
    engine.max_parallel_calls = settings.debate.max_parallel_calls;
    debate::ApplyPhaseRetrySettings(settings.debate, engine);

    // 3. Run it on one I/O thread; SQLite runs on the blocking pool.
    common::SystemClock clock;
    common::BlockingPool pool(1, 64);
    DebateRunner runner(clock, engine, **store, pool, *keys);
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int) {
        if (ec) return;
        std::cerr << "aragora: cancelling the debate...\n";
        runner.Cancel();
    });
    bool tty = isatty(STDERR_FILENO) == 1 && !opt.json;
    ProgressPrinter progress;
    if (tty) {
        std::cerr << "Debating with " << spec.agents.size() << " agents, up to " << spec.rounds
                  << " rounds (" << debate::ToString(spec.consensus) << ")...\n";
    }
    std::optional<common::Result<RunOutcome>> outcome;
    std::exception_ptr failure;
    asio::co_spawn(ioc, runner.Run(spec, std::move(*agent_objects), tty ? &progress : nullptr),
                   [&](std::exception_ptr ep, common::Result<RunOutcome> r) {
                       failure = ep;
                       outcome.emplace(std::move(r));
                       signals.cancel();
                   });
    ioc.run();
    pool.Stop();
    if (failure) {
        try {
            std::rethrow_exception(failure);
        } catch (const std::exception& e) {
            return Complain(kExitFailed, std::string("debate failed: ") + e.what());
        }
    }
    if (!outcome || !outcome->ok()) {
        return Complain(kExitFailed, "could not store the debate: " +
                                         (outcome ? outcome->error().message : "no result"));
    }
    const RunOutcome& out = outcome->value();

    // 4. Report.
    if (out.receipt && !opt.receipt_file.empty()) {
        auto rendered = debate::RenderReceipt(out.receipt->json, *receipt_format);
        if (!rendered) return Complain(kExitFailed, rendered.error().message);
        if (auto s = common::WriteFileAtomically(opt.receipt_file, *rendered, 0644); !s) {
            return Complain(kExitFailed, s.error().message);
        }
    }
    if (opt.json) {
        // The receipt is spliced in as stored: re-serializing it through Boost.JSON could
        // change its numbers, and it must stay verifiable when cut out of this output.
        std::string debate_json = service::DebateToJson(out.record);
        debate_json.pop_back();  // the closing brace
        std::cout << debate_json << ",\"receipt\":" << (out.receipt ? out.receipt->json : "null")
                  << "}\n";
    } else {
        PrintVerdictBlock(out, out.receipt ? opt.receipt_file : std::string());
    }
    if (out.record.status != events::DebateStatus::kCompleted) return kExitFailed;
    return kExitOk;
}

int VerifyCommand(const std::string& path, bool integrity_only) {
    auto content = ReadFile(path);
    if (!content) return Complain(kExitUsage, content.error().message);
    auto canonical = common::CanonicalizeJson(*content);
    if (!canonical)
        return Complain(kExitUsage, path + " is not a JSON receipt: " + canonical.error().message);
    auto env = LoadEnvironment();
    if (!env) return Complain(kExitUsage, env.error().message);
    // The keyring: the configured keys and the retired ones the store keeps.
    auto store = OpenKeyringStore(env->settings);
    if (!store) {
        std::cerr << "aragora: warning: the database is unavailable (" << store.error().message
                  << "); verifying with the configured keys only\n";
    }
    auto ring = store ? LoadCliKeyring(env->settings, store->store.get(), store->cipher)
                      : LoadCliKeyring(env->settings, nullptr);
    if (!ring) return Complain(kExitUsage, ring.error().message);
    const debate::ReceiptKeys* keys = &ring->keys;
    auto v = debate::VerifyReceipt(
        *content, *keys,
        integrity_only ? debate::ReceiptCheck::kIntegrityOnly : debate::ReceiptCheck::kFull);
    if (v.valid && integrity_only) {
        std::cout << "integrity only: receipt " << v.receipt_id << " content_hash "
                  << v.computed_hash << " matches its content\n";
        std::cout << "NOT AUTHENTICATED: "
                  << (v.has_signatures ? "its signatures were not checked"
                                       : "the receipt is unsigned")
                  << "; anyone can edit a receipt and recompute its hash\n";
        std::cout << "previous_hash: " << v.previous_hash.value_or("null") << "\n";
        return kExitOk;
    }
    if (v.valid) {
        std::cout << "valid: receipt " << v.receipt_id << " (content_hash " << v.computed_hash;
        if (!v.algorithm.empty()) std::cout << ", " << v.algorithm << " key_id " << v.key_id;
        std::cout << ")\n";
        std::cout << "previous_hash: " << v.previous_hash.value_or("null") << "\n";
        return kExitOk;
    }
    std::cout << "invalid: " << (v.reason.empty() ? "verification failed" : v.reason);
    if (v.reason == debate::kUnsignedReason) {
        std::cout << " (no signature by a known key; --integrity-only checks the content hash "
                     "alone)";
    }
    std::cout << "\n";
    return kExitFailed;
}

common::Result<std::unique_ptr<storage::Store>> OpenStoreFromEnv() {
    auto env = LoadEnvironment();
    if (!env) return env.error();
    auto opened = app::OpenStores(env->settings, /*migrate=*/true);
    if (!opened) return opened.error();
    return std::move(opened->store);
}

int ListCommand(const std::string& status, int limit, int offset, bool as_json) {
    if (limit < 1 || limit > 100) return Complain(kExitUsage, "--limit must be between 1 and 100");
    if (offset < 0) return Complain(kExitUsage, "--offset must be >= 0");
    auto store = OpenStoreFromEnv();
    if (!store) return Complain(kExitUsage, store.error().message);
    storage::DebateFilter filter{status, limit, offset};
    auto page = (*store)->ListDebates(filter);
    if (!page) {
        return Complain(
            page.error().code == common::ErrorCode::kValidation ? kExitUsage : kExitFailed,
            page.error().message);
    }
    if (as_json) {
        json::array items;
        for (const auto& d : page->items) items.push_back(json::parse(service::DebateToJson(d)));
        json::object o{
            {"debates", items}, {"total", page->total}, {"limit", limit}, {"offset", offset}};
        std::cout << common::SerializeJson(o) << "\n";
        return kExitOk;
    }
    if (page->items.empty()) {
        std::cout << "no debates" << (status.empty() ? "" : " with status " + status) << "\n";
        return kExitOk;
    }
    std::cout << std::left << std::setw(28) << "ID" << std::setw(11) << "STATUS" << std::setw(26)
              << "VERDICT" << std::setw(26) << "CREATED"
              << "TASK\n";
    for (const auto& d : page->items) {
        std::cout << std::left << std::setw(28) << d.id << std::setw(11)
                  << events::ToString(d.status) << std::setw(26)
                  << (d.verdict.empty() ? "-" : d.verdict) << std::setw(26) << d.created_at
                  << Shorten(d.task, 60) << "\n";
    }
    std::cout << page->items.size() << " of " << page->total << " debates\n";
    return kExitOk;
}

int ShowCommand(const std::string& id, bool as_json) {
    if (!common::IsValidId(id)) return Complain(kExitUsage, "invalid debate id '" + id + "'");
    auto store = OpenStoreFromEnv();
    if (!store) return Complain(kExitUsage, store.error().message);
    auto d = (*store)->GetDebate(id);
    if (!d) {
        return Complain(d.error().code == common::ErrorCode::kNotFound ? kExitFailed : kExitFailed,
                        d.error().message);
    }
    if (as_json) {
        std::cout << service::DebateToJson(*d) << "\n";
        return kExitOk;
    }
    std::cout << "Debate " << d->id << "\n"
              << "  status:     " << events::ToString(d->status) << "\n"
              << "  task:       " << d->task << "\n"
              << "  agents:     ";
    for (std::size_t i = 0; i < d->agents.size(); ++i) std::cout << (i ? ", " : "") << d->agents[i];
    std::cout << "\n  rounds:     " << d->rounds_used << " of " << d->rounds << " ("
              << d->consensus_method << ")\n"
              << "  created:    " << d->created_at << "\n";
    if (!d->completed_at.empty()) std::cout << "  finished:   " << d->completed_at << "\n";
    if (d->status == events::DebateStatus::kCompleted) {
        std::cout << std::fixed << std::setprecision(2) << "  verdict:    " << d->verdict
                  << " (confidence " << d->confidence.value_or(0) << ", consensus "
                  << (d->consensus_reached.value_or(false) ? "reached" : "not reached") << ")\n"
                  << "  receipt:    " << d->receipt_id << "\n"
                  << "  answer:     " << d->final_answer << "\n";
        if (!d->dissenting_agents.empty()) {
            std::cout << "  dissent:    ";
            for (std::size_t i = 0; i < d->dissenting_agents.size(); ++i)
                std::cout << (i ? ", " : "") << d->dissenting_agents[i];
            std::cout << "\n";
        }
    }
    if (!d->error_code.empty()) {
        std::cout << "  error:      " << d->error_code << ": " << d->error_message << "\n";
    }
    return kExitOk;
}

int MigrateCommand(bool check, bool upgrade) {
    if (check == upgrade)
        return Complain(kExitUsage, "db migrate needs exactly one of --check or --upgrade");
    auto env = LoadEnvironment();
    if (!env) return Complain(kExitUsage, env.error().message);
    std::string path;
    if (check) {
        auto status = storage::CheckConfiguredMigrations(env->settings.storage, &path);
        if (!status) return Complain(kExitFailed, status.error().message);
        std::cout << "database " << path << ": schema version " << status->current_version
                  << ", latest " << status->latest_version << "\n";
        if (status->pending.empty()) {
            std::cout << "up to date\n";
            return kExitOk;
        }
        std::cout << status->pending.size() << " pending migration(s):\n";
        for (const auto& m : status->pending)
            std::cout << "  " << m.version << " " << m.name << "\n";
        return kExitFailed;
    }
    auto before = storage::CheckConfiguredMigrations(env->settings.storage, &path);
    auto status = storage::ApplyConfiguredMigrations(env->settings.storage, &path);
    if (!status) return Complain(kExitFailed, status.error().message);
    std::size_t applied = before ? before->pending.size() : 0;
    std::cout << "database " << path << ": applied " << applied << " migration(s), schema version "
              << status->current_version << "\n";
    return kExitOk;
}

// The secrets could not be loaded: RunCli's one line and exit 1.
struct SecretsRefused : std::runtime_error {
    using std::runtime_error::runtime_error;
};

}  // namespace

int RunCli(int argc, char** argv) {
    CLI::App app{"aragora: adversarial debates between AI agents, with signed decision receipts"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string("aragora ") + build::kVersion + " (" +
                                          build::kGitSha + ", built " + build::kBuildTime + ")");
    int exit_code = kExitOk;
    // ARAGORA_USE_SECRETS_MANAGER's variables, loaded before any command runs (below).
    std::shared_ptr<app::SecretsSource> secrets;

    AskOptions ask;
    auto* ask_cmd = app.add_subcommand("ask", "Run a debate on a question and sign its receipt");
    ask_cmd->add_option("question", ask.question, "The question to debate")->required();
    ask_cmd
        ->add_option("--agents", ask.agents, "Comma-separated agents, e.g. demo,demo:critic,demo")
        ->capture_default_str();
    ask_cmd->add_option("--rounds", ask.rounds, "Rounds (1..12)")->capture_default_str();
    ask_cmd
        ->add_option("--consensus", ask.consensus,
                     "majority | supermajority | unanimous | weighted | judge")
        ->capture_default_str();
    ask_cmd->add_option("--context", ask.context, "Extra context given to every agent");
    ask_cmd->add_flag("--json", ask.json, "Print the debate and its receipt as JSON");
    ask_cmd->add_option("--receipt", ask.receipt_file, "Write the receipt to FILE");
    ask_cmd->add_option("--format", ask.format, "Receipt file format: md | json | html");
    ask_cmd->callback([&] { exit_code = RunDebateCommand(ask); });

    AskOptions demo;
    demo.question =
        "Should a 40-person engineering team move from weekly releases to continuous deployment?";
    demo.agents = "demo,demo,demo,demo";
    auto* demo_cmd = app.add_subcommand("demo", "Run a showcase debate with four demo agents");
    demo_cmd->add_flag("--json", demo.json, "Print the debate and its receipt as JSON");
    demo_cmd->add_option("--receipt", demo.receipt_file, "Write the receipt to FILE");
    demo_cmd->add_option("--format", demo.format, "Receipt file format: md | json | html");
    demo_cmd->callback([&] { exit_code = RunDebateCommand(demo); });

    auto* receipt_cmd = app.add_subcommand("receipt", "Decision receipts");
    receipt_cmd->require_subcommand(1);
    std::string verify_path;
    bool verify_integrity_only = false;
    auto* verify_cmd = receipt_cmd->add_subcommand(
        "verify",
        "Verify a receipt file: its content hash and a signature by a configured key (exit 1 "
        "when invalid or unsigned)");
    verify_cmd->add_option("file", verify_path, "Receipt JSON file")->required();
    verify_cmd->add_flag("--integrity-only", verify_integrity_only,
                         "Check only the content hash (proves no origin; said in the output)");
    verify_cmd->callback([&] { exit_code = VerifyCommand(verify_path, verify_integrity_only); });
    AddVerifyChainCommand(*receipt_cmd, exit_code);

    auto* debates_cmd = app.add_subcommand("debates", "Stored debates");
    debates_cmd->require_subcommand(1);
    std::string list_status;
    int list_limit = 20;
    int list_offset = 0;
    bool list_json = false;
    auto* list_cmd = debates_cmd->add_subcommand("list", "List debates, newest first");
    list_cmd->add_option("--status", list_status,
                         "pending|running|completed|failed|cancelled|active|no_consensus");
    list_cmd->add_option("--limit", list_limit, "1..100")->capture_default_str();
    list_cmd->add_option("--offset", list_offset, "Skip this many")->capture_default_str();
    list_cmd->add_flag("--json", list_json, "JSON output");
    list_cmd->callback(
        [&] { exit_code = ListCommand(list_status, list_limit, list_offset, list_json); });
    std::string show_id;
    bool show_json = false;
    auto* show_cmd = debates_cmd->add_subcommand("show", "Show one debate");
    show_cmd->add_option("id", show_id, "Debate id")->required();
    show_cmd->add_flag("--json", show_json, "JSON output");
    show_cmd->callback([&] { exit_code = ShowCommand(show_id, show_json); });

    auto* db_cmd = app.add_subcommand("db", "Database administration");
    db_cmd->require_subcommand(1);
    bool migrate_check = false;
    bool migrate_upgrade = false;
    auto* migrate_cmd = db_cmd->add_subcommand("migrate", "Check or apply schema migrations");
    migrate_cmd->add_flag("--check", migrate_check, "List pending migrations (exit 1 if any)");
    migrate_cmd->add_flag("--upgrade", migrate_upgrade, "Apply pending migrations");
    migrate_cmd->callback([&] { exit_code = MigrateCommand(migrate_check, migrate_upgrade); });

    AddUsersCommand(app, exit_code);
    AddDoctorCommand(app, exit_code);
    AddWorkerCommand(app, exit_code, secrets);
    AddBackupCommand(app, exit_code);
    AddKeysRotationCommands(*AddKeysCommand(app, exit_code), exit_code);

    app::ServeOptions serve;
    auto* serve_cmd = app.add_subcommand(
        "serve", "Run the REST API, the WebSocket stream and the metrics endpoint");
    serve_cmd->add_option("--host", serve.host, "Listen address (env ARAGORA_HOST, 127.0.0.1)");
    serve_cmd->add_option("--api-port", serve.api_port, "REST port (env ARAGORA_API_PORT, 8080)");
    serve_cmd->add_option("--ws-port", serve.ws_port, "WebSocket port (env ARAGORA_WS_PORT, 8765)");
    serve_cmd->add_option("--metrics-port", serve.metrics_port,
                          "Prometheus port (env ARAGORA_METRICS_PORT, 9090)");
    serve_cmd->callback([&] { exit_code = app::RunServe(serve); });

    // Before any command reads its settings (and after --help/--version, which need none):
    // the variables of the AWS Secrets Manager secret, when ARAGORA_USE_SECRETS_MANAGER=true.
    // A failure stops the command in one line, never a fallback to the bare environment.
    app.parse_complete_callback([&serve, &secrets] {
        auto loaded = app::SecretsSource::LoadAtStart(config::ProcessEnv());
        if (!loaded) throw SecretsRefused(loaded.error().message);
        secrets = *loaded;
        serve.secrets = secrets;
    });

    try {
        app.parse(argc, argv);
    } catch (const SecretsRefused& e) {
        std::cerr << "aragora: cannot start: " << e.what() << "\n";
        return kExitFailed;
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        return Complain(kExitUsage, std::string(e.what()) + " (see aragora --help)");
    }
    return exit_code;
}

}  // namespace aragora::cli
