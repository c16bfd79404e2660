#include "agents/agent.hpp"

namespace aragora::agents {

std::string_view ToString(Phase phase) {
    switch (phase) {
        case Phase::kPropose:
            return "propose";
        case Phase::kCritique:
            return "critique";
        case Phase::kRevise:
            return "revise";
        case Phase::kVote:
            return "vote";
        case Phase::kJudge:
            return "judge";
    }
    return "propose";
}

bool RestartsStream(const AgentNotice& notice) {
    return std::visit([](const auto& n) { return n.restart; }, notice);
}

}  // namespace aragora::agents
