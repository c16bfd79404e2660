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

std::string_view ToString(FailureOutcome o) {
    switch (o) {
        case FailureOutcome::kRecovered:
            return "recovered";
        case FailureOutcome::kCountedOut:
            return "counted_out";
        case FailureOutcome::kSubstituted:
            return "substituted";
        case FailureOutcome::kCarriedOver:
            return "carried_over";
    }
    return "counted_out";
}

std::string_view ToString(SubstitutionReason r) {
    switch (r) {
        case SubstitutionReason::kSubstituteJudge:
            return "substitute_judge";
        case SubstitutionReason::kPreviousProposalCarriedOver:
            return "previous_proposal_carried_over";
    }
    return "substitute_judge";
}

std::string_view ConsensusMethodList() {
    return "majority, supermajority, unanimous, weighted, judge";
}

}  // namespace aragora::debate
