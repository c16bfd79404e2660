#pragma once

// `aragora doctor [--json] [--strict]` (alias `aragora validate`): one line per check of
// ops::RunDoctor, exit 0 when nothing failed, 1 otherwise (warnings too with --strict),
// 2 for bad flags. docs/doctor.md.

#include <CLI/CLI.hpp>

namespace aragora::cli {

// Adds the `doctor` subcommand to `app`; its callback sets `exit_code`.
void AddDoctorCommand(CLI::App& app, int& exit_code);

}  // namespace aragora::cli
