#pragma once

// Internal to `aragora backup`: sizes, durations and the progress line.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "ops/backup_engine.hpp"
#include "ops/backup_manager.hpp"

namespace aragora::cli {

// The original's "%.1f B/KB/MB/GB/TB" and "%.1fs / m / h".
std::string FormatSize(std::uint64_t bytes);
std::string FormatDuration(double seconds);

// The verification as the original prints it (Checksum/Tables/Row counts: Valid|INVALID,
// Restore test: Passed|Skipped) plus schema, integrity, receipts and every error.
void PrintVerification(const ops::VerificationResult& v);

// A progress line on stderr, redrawn in place, only when stderr is a terminal (and not
// with --json); at most every 100 ms. Done() clears it.
class ProgressLine {
public:
    explicit ProgressLine(bool enabled);
    ~ProgressLine();
    ops::ProgressFn Callback();
    void Done();

private:
    void Draw(std::string_view phase, std::uint64_t done, std::uint64_t total);
    bool enabled_;
    bool drawn_ = false;
    std::chrono::steady_clock::time_point last_{};
    std::string last_phase_;
};

}  // namespace aragora::cli
