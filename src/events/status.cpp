#include "events/status.hpp"

#include <string>

namespace aragora::events {

std::string_view ToString(DebateStatus s) {
    switch (s) {
        case DebateStatus::kPending:
            return "pending";
        case DebateStatus::kRunning:
            return "running";
        case DebateStatus::kCompleted:
            return "completed";
        case DebateStatus::kFailed:
            return "failed";
        case DebateStatus::kCancelled:
            return "cancelled";
    }
    return "failed";
}

std::optional<DebateStatus> ParseDebateStatus(std::string_view s) {
    for (auto st : {DebateStatus::kPending, DebateStatus::kRunning, DebateStatus::kCompleted,
                    DebateStatus::kFailed, DebateStatus::kCancelled}) {
        if (ToString(st) == s) return st;
    }
    return std::nullopt;
}

common::Result<DebateStatus> DebateStatusFromText(std::string_view s) {
    if (auto st = ParseDebateStatus(s)) return *st;
    return common::MakeError(common::ErrorCode::kStorage,
                             "unknown debate status '" + std::string(s) + "'");
}

bool IsTerminal(DebateStatus s) {
    return s == DebateStatus::kCompleted || s == DebateStatus::kFailed ||
           s == DebateStatus::kCancelled;
}

}  // namespace aragora::events
