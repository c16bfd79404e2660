#pragma once

// Exit statuses shared by every `aragora` command, and its one-line error on stderr.

#include <iostream>
#include <string_view>

namespace aragora::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;  // the command ran and failed (or found a problem)
inline constexpr int kExitUsage = 2;   // bad arguments or configuration

// Writes "aragora: <message>" on stderr and returns `code`.
inline int Complain(int code, std::string_view message) {
    std::cerr << "aragora: " << message << "\n";
    return code;
}

}  // namespace aragora::cli
