#pragma once

namespace aragora::cli {

// Entry point of the `aragora` binary. Exit codes: 0 success; 1 the operation ran and
// failed (invalid receipt, pending migrations, storage failure, debate not completed);
// 2 bad input (one line on stderr, nothing written).
int RunCli(int argc, char** argv);

}  // namespace aragora::cli
