#include "cli/backup_output.hpp"

#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "ops/backup_manager.hpp"

namespace aragora::cli {
namespace {

const char* Valid(bool ok) { return ok ? "Valid" : "INVALID"; }

}  // namespace

std::string FormatSize(std::uint64_t bytes) {
    static const char* kUnits[] = {"B", "KB", "MB", "GB", "TB"};
    double v = static_cast<double>(bytes);
    int unit = 0;
    while (v >= 1024 && unit < 4) {
        v /= 1024;
        ++unit;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[unit]);
    return buf;
}

std::string FormatDuration(double seconds) {
    char buf[32];
    if (seconds < 60) {
        std::snprintf(buf, sizeof buf, "%.1fs", seconds);
    } else if (seconds < 3600) {
        std::snprintf(buf, sizeof buf, "%.1fm", seconds / 60);
    } else {
        std::snprintf(buf, sizeof buf, "%.1fh", seconds / 3600);
    }
    return buf;
}

ProgressLine::ProgressLine(bool enabled) : enabled_(enabled && ::isatty(STDERR_FILENO) == 1) {}

ProgressLine::~ProgressLine() { Done(); }

ops::ProgressFn ProgressLine::Callback() {
    if (!enabled_) return {};
    return [this](std::string_view phase, std::uint64_t done, std::uint64_t total) {
        Draw(phase, done, total);
    };
}

void ProgressLine::Draw(std::string_view phase, std::uint64_t done, std::uint64_t total) {
    const auto now = std::chrono::steady_clock::now();
    const bool finished = total > 0 && done >= total;
    if (phase == last_phase_ && !finished && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    last_phase_ = std::string(phase);
    char buf[128];
    if (total > 0) {
        std::snprintf(buf, sizeof buf, "\r  %-10.*s %3d%%", static_cast<int>(phase.size()),
                      phase.data(), static_cast<int>(done * 100 / total));
    } else {
        std::snprintf(buf, sizeof buf, "\r  %-10.*s %s", static_cast<int>(phase.size()),
                      phase.data(), FormatSize(done).c_str());
    }
    std::cerr << buf << "\033[K" << std::flush;
    drawn_ = true;
}

void ProgressLine::Done() {
    if (drawn_) std::cerr << "\r\033[K" << std::flush;
    drawn_ = false;
}

void PrintVerification(const ops::VerificationResult& v) {
    std::cout << "Backup " << v.backup_id << ": " << (v.verified ? "VERIFIED" : "FAILED") << "\n"
              << "  Checksum: " << Valid(v.checksum_valid) << "\n";
    if (v.restore_tested) {
        std::cout << "  Tables: " << Valid(v.tables_valid) << "\n"
                  << "  Row counts: " << Valid(v.row_counts_valid) << "\n"
                  << "  Schema: " << Valid(v.schema_valid) << "\n"
                  << "  Integrity: " << Valid(v.integrity_valid) << "\n"
                  << "  Table checksums: " << Valid(v.table_checksums_valid) << "\n"
                  << "  Receipts: " << v.receipt_chain.verified << " of "
                  << v.receipt_chain.receipts << " verified, chain "
                  << (v.receipts_valid ? "intact" : "BROKEN") << "\n"
                  << "  Restore test: Passed\n";
    } else {
        std::cout << "  Restore test: Skipped\n";
    }
    for (const auto& e : v.errors) std::cout << "  error: " << e << "\n";
    for (const auto& w : v.warnings) std::cout << "  warning: " << w << "\n";
}

}  // namespace aragora::cli
