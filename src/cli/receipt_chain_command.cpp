#include "cli/receipt_chain_command.hpp"

#include <boost/json.hpp>
#include <iostream>
#include <string>

#include "app/content_encryption.hpp"
#include "cli/exit_codes.hpp"
#include "cli/keys_command.hpp"
#include "common/json_text.hpp"
#include "common/logging.hpp"
#include "config/settings.hpp"
#include "debate/receipt_keys.hpp"
#include "service/receipt_retention.hpp"
#include "storage/open_stores.hpp"

namespace aragora::cli {
namespace {

namespace json = boost::json;

int VerifyChain(bool as_json) {
    auto settings = config::LoadSettings(config::ProcessEnv(), config::RunMode::kLocalCli);
    if (!settings) return Complain(kExitUsage, settings.error().message);
    if (auto logging = common::SetupLogging(settings->log); !logging) {
        return Complain(kExitUsage, logging.error().message);
    }
    auto opened = app::OpenStores(*settings, /*migrate=*/true);
    if (!opened) return Complain(kExitFailed, opened.error().message);
    auto ring = LoadCliKeyring(*settings, opened->store.get(), opened->cipher);
    if (!ring) return Complain(kExitUsage, ring.error().message);
    auto report = service::VerifyStoredChain(*opened->store, ring->keys);
    if (!report) return Complain(kExitFailed, report.error().message);

    if (as_json) {
        json::array failures;
        for (const auto& f : report->failures) {
            failures.push_back(json::object{
                {"chain_seq", f.chain_seq}, {"receipt_id", f.receipt_id}, {"reason", f.reason}});
        }
        json::object o{{"valid", report->ok()},
                       {"receipts", report->receipts},
                       {"tombstones", report->tombstones},
                       {"verified", report->verified},
                       {"failed", report->failed},
                       {"failures", std::move(failures)}};
        std::cout << common::SerializeJson(o) << "\n";
    } else if (report->ok()) {
        std::cout << "valid: receipt chain of " << report->receipts << " receipt(s) and "
                  << report->tombstones << " tombstone(s) of deleted receipts verifies\n";
    } else {
        std::cout << "invalid: " << report->failed << " failure(s) in a chain of "
                  << report->receipts << " receipt(s) and " << report->tombstones
                  << " tombstone(s)\n";
        for (const auto& f : report->failures) {
            std::cout << "  chain_seq " << f.chain_seq << " receipt " << f.receipt_id << ": "
                      << f.reason << "\n";
        }
    }
    return report->ok() ? kExitOk : kExitFailed;
}

}  // namespace

void AddVerifyChainCommand(CLI::App& receipt_cmd, int& exit_code) {
    auto* cmd = receipt_cmd.add_subcommand(
        "verify-chain",
        "Verify every stored receipt and the hash chain through them, across the tombstones "
        "of receipts deleted by retention (exit 1 on any failure)");
    auto as_json = std::make_shared<bool>(false);
    cmd->add_flag("--json", *as_json, "JSON report");
    cmd->callback([as_json, &exit_code] { exit_code = VerifyChain(*as_json); });
}

}  // namespace aragora::cli
