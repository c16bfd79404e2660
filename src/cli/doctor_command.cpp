#include "cli/doctor_command.hpp"

#include <unistd.h>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include "cli/exit_codes.hpp"
#include "common/build_info.hpp"
#include "common/logging.hpp"
#include "config/settings.hpp"
#include "ops/doctor.hpp"

namespace aragora::cli {
namespace {

namespace json = boost::json;
using ops::CheckStatus;

struct Style {
    bool color = false;
    std::string Paint(std::string_view code, std::string_view text) const {
        if (!color) return std::string(text);
        return "\033[" + std::string(code) + "m" + std::string(text) + "\033[0m";
    }
};

std::string Icon(CheckStatus status, const Style& style) {
    switch (status) {
        case CheckStatus::kOk:
            return style.Paint("32", "✓");
        case CheckStatus::kFail:
            return style.Paint("31", "✗");
        case CheckStatus::kWarn:
            return style.Paint("33", "!");
        case CheckStatus::kSkip:
            return style.Paint("33", "○");
    }
    return "?";
}

void PrintText(const ops::DoctorReport& report, bool failed, const Style& style) {
    const std::string rule(50, '=');
    std::cout << rule << "\n" << style.Paint("36", "ARAGORA HEALTH CHECK") << "\n" << rule << "\n";
    int passed = 0;
    int failures = 0;
    int warnings = 0;
    int skipped = 0;
    for (const auto& c : report.checks) {
        std::cout << "  " << Icon(c.status, style) << " " << c.name << ": ";
        switch (c.status) {
            case CheckStatus::kOk:
                ++passed;
                std::cout << c.detail;
                break;
            case CheckStatus::kFail:
                ++failures;
                std::cout << c.detail;
                break;
            case CheckStatus::kWarn:
                ++warnings;
                std::cout << c.detail;
                break;
            case CheckStatus::kSkip:
                ++skipped;
                std::cout << "skipped (" << c.detail << ")";
                break;
        }
        std::cout << "\n";
    }
    char took[32];
    std::snprintf(took, sizeof took, "%.1f s", static_cast<double>(report.duration_ms) / 1000.0);
    std::cout << "\nSummary: " << passed << " passed, " << failures << " failed, " << warnings
              << " warning(s), " << skipped << " skipped in " << took << "\n";
    if (!failed) {
        std::cout << style.Paint("32", "✓ Aragora is ready to start.") << "\n";
    } else if (failures == 0) {
        std::cout << style.Paint("31", "✗ Warnings count as failures with --strict.") << "\n";
    } else {
        std::cout << style.Paint("31",
                                 "✗ Some required checks failed. Please fix the issues above.")
                  << "\n";
    }
}

void PrintJson(const ops::DoctorReport& report, bool failed) {
    json::array checks;
    for (const auto& c : report.checks) {
        checks.push_back(json::object{{"name", c.name},
                                      {"status", std::string(ops::ToString(c.status))},
                                      {"detail", c.detail},
                                      {"duration_ms", c.duration_ms}});
    }
    json::object out{
        {"ok", !failed}, {"checks", std::move(checks)}, {"duration_ms", report.duration_ms}};
    std::cout << json::serialize(out) << "\n";
}

int RunDoctorCommand(bool as_json, bool strict) {
    // The checks report every problem themselves; log lines would only interleave.
    common::SetLogLevel("CRITICAL");
    ops::DoctorOptions options;
    options.env = config::ProcessEnv();
    options.build_time = build::kBuildTime;
    const ops::DoctorReport report = ops::RunDoctor(options);
    const bool failed = !report.ok || (strict && report.any_warning);
    if (as_json) {
        PrintJson(report, failed);
    } else {
        Style style;
        style.color = ::isatty(STDOUT_FILENO) == 1 && std::getenv("NO_COLOR") == nullptr;
        PrintText(report, failed, style);
    }
    const int code = failed ? kExitFailed : kExitOk;
    if (report.abandoned > 0) {
        // A check that did not answer (PostgreSQL or Redis hanging) still runs on a detached
        // thread; leave without running static destructors under it.
        std::cout.flush();
        std::fflush(nullptr);
        std::_Exit(code);
    }
    return code;
}

}  // namespace

void AddDoctorCommand(CLI::App& app, int& exit_code) {
    struct Flags {
        bool json = false;
        bool strict = false;
    };
    auto flags = std::make_shared<Flags>();
    auto* cmd = app.add_subcommand(
        "doctor",
        "Check what `aragora serve` needs (settings, secrets, dirs, database, Redis, ports, "
        "receipt keys, backups, clock); exit 1 when a check fails");
    cmd->alias("validate");
    cmd->add_flag("--json", flags->json, "JSON output");
    cmd->add_flag("--strict", flags->strict, "Warnings fail too");
    cmd->callback(
        [flags, &exit_code] { exit_code = RunDoctorCommand(flags->json, flags->strict); });
}

}  // namespace aragora::cli
