#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "debate/types.hpp"

namespace aragora::debate {

// Word-level TF-IDF cosine similarity in [0,1] between two texts, with IDF computed
// over `corpus` (the texts of the round). Lower-cased, split on non-alphanumerics.
double TfIdfCosine(std::string_view a, std::string_view b, const std::vector<std::string>& corpus);

enum class ConvergenceStatus { kConverged, kRefining, kDiverging };
std::string_view ToString(ConvergenceStatus s);

struct ConvergenceReport {
    ConvergenceStatus status = ConvergenceStatus::kRefining;
    double min_similarity = 0;
    double mean_similarity = 0;
    std::map<std::string, double> per_agent;
};

// Compares each agent's current proposal with its previous one. Agents missing from
// either side are ignored; with no comparable agent the status is kRefining.
ConvergenceReport CheckConvergence(const std::vector<Proposal>& previous,
                                   const std::vector<Proposal>& current, double converged_threshold,
                                   double diverging_threshold);

// Evidence quality of one text in [0,1]: citations/sources, specific numbers and
// units, concrete examples, reasoning connectors, minus vague-phrase density.
double EvidenceQuality(std::string_view text);

struct HollowDecision {
    bool hollow = false;          // agreement with weak evidence detected
    bool intervene = false;       // a challenge is injected into the next round
    double evidence_quality = 0;  // mean over proposals
    double agreement = 0;         // the agreement measure used
    std::string challenge;        // text of the challenge when intervening
};

struct TricksterState {
    int interventions = 0;
    int last_intervention_round = -100;
};

// Hollow-consensus ("trickster") check after round `round`: hollow when
// agreement ≥ settings.hollow_agreement_threshold and mean evidence quality <
// settings.hollow_evidence_threshold. Agreement = convergence min similarity (round ≥ 2)
// or the mean pairwise similarity of current proposals. Intervenes when hollow, the
// cooldown since the last intervention has passed and the cap is not reached;
// updates `state` when it intervenes.
HollowDecision CheckHollowConsensus(int round, const std::vector<Proposal>& current,
                                    const ConvergenceReport* convergence,
                                    const EngineSettings& settings, TricksterState& state);

}  // namespace aragora::debate
