#pragma once

#include <vector>

#include "debate/types.hpp"

namespace aragora::debate {

// Decides consensus from votes (pure). Weights are vote confidences (clamped to
// [0,1]; a zero-confidence vote weighs 0.01 so it still counts). Share = weight of
// the leading choice / total weight. Ties break deterministically: higher total
// weight, then more voters, then the proposal listed first in `proposals`.
// For kJudge this function applies majority (the engine runs the judge itself and
// calls this as the fallback). `threshold` is the weighted / supermajority threshold.
ConsensusOutcome DecideConsensus(ConsensusMethod method, double threshold,
                                 const std::vector<Proposal>& proposals,
                                 const std::vector<Vote>& votes);

// Verdict mapping (DEBATE.md step 7) applied to a reported confidence.
std::string MapVerdict(bool reached, bool has_dissent, double confidence);

// Confidence after `interventions` trickster challenges: −0.05 each, floor 0.10
// (never raises a confidence already below the floor).
double PenalizedConfidence(double confidence, int interventions);

}  // namespace aragora::debate
