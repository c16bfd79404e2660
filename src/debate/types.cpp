#include "debate/types.hpp"

namespace aragora::debate {

std::string_view ToString(ConsensusMethod m) {
    switch (m) {
        case ConsensusMethod::kMajority:
            return "majority";
        case ConsensusMethod::kSupermajority:
            return "supermajority";
        case ConsensusMethod::kUnanimous:
            return "unanimous";
        case ConsensusMethod::kWeighted:
            return "weighted";
        case ConsensusMethod::kJudge:
            return "judge";
    }
    return "majority";
}

std::optional<ConsensusMethod> ParseConsensusMethod(std::string_view s) {
    for (auto m :
         {ConsensusMethod::kMajority, ConsensusMethod::kSupermajority, ConsensusMethod::kUnanimous,
          ConsensusMethod::kWeighted, ConsensusMethod::kJudge}) {
        if (ToString(m) == s) return m;
    }
    return std::nullopt;
}

std::string_view ConsensusMethodList() {
    return "majority, supermajority, unanimous, weighted, judge";
}

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

}  // namespace aragora::debate
