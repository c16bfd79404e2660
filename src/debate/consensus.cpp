#include "debate/consensus.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>

#include "common/strings.hpp"

namespace aragora::debate {
namespace {

using common::Trim;

// Floating sums of the same weights in a different order can differ in the last bit;
// ties and thresholds must not depend on vote order.
constexpr double kEpsilon = 1e-9;
constexpr double kZeroConfidenceWeight = 0.01;
constexpr double kSupermajorityFloor = 2.0 / 3.0;
constexpr std::size_t kAlternativeViewChars = 300;

double VoteWeight(double confidence) {
    if (!(confidence > 0)) return kZeroConfidenceWeight;  // also catches NaN
    return std::min(confidence, 1.0);
}

struct Tally {
    std::string choice;
    double weight = 0;
    int voters = 0;
    std::size_t order = 0;  // index in `proposals`; unknown choices sort after them
};

// Sentence ends at '.', '!' or '?' followed by whitespace (or the end), or at a newline.
std::vector<std::string> SplitSentences(std::string_view text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    const auto flush = [&](std::size_t end) {
        auto piece = Trim(text.substr(start, end - start));
        if (!piece.empty()) out.emplace_back(piece);
        start = end;
    };
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '\n') {
            flush(i);
            start = i + 1;
        } else if ((c == '.' || c == '!' || c == '?') &&
                   (i + 1 == text.size() || text[i + 1] == ' ' || text[i + 1] == '\t' ||
                    text[i + 1] == '\n' || text[i + 1] == '\r')) {
            flush(i + 1);
        }
    }
    flush(text.size());
    return out;
}

// Cuts at a word boundary without splitting a UTF-8 sequence.
std::string Truncate(std::string_view text, std::size_t max_chars) {
    text = Trim(text);
    if (text.size() <= max_chars) return std::string(text);
    std::size_t cut = max_chars;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    const std::size_t space = text.substr(0, cut).find_last_of(" \t\n");
    if (space != std::string_view::npos && space > max_chars / 2) cut = space;
    std::string out(Trim(text.substr(0, cut)));
    out += "...";
    return out;
}

const Proposal* FindProposal(const std::vector<Proposal>& proposals, std::string_view agent) {
    for (const auto& p : proposals) {
        if (p.agent == agent) return &p;
    }
    return nullptr;
}

}  // namespace

ConsensusOutcome DecideConsensus(ConsensusMethod method, double threshold,
                                 const std::vector<Proposal>& proposals,
                                 const std::vector<Vote>& votes) {
    ConsensusOutcome out;
    out.method = method;

    if (votes.empty()) {
        if (!proposals.empty()) {
            out.winner = proposals.front().agent;
            out.final_answer = proposals.front().content;
        }
        return out;
    }

    std::vector<Tally> tallies;
    double total = 0;
    for (const auto& v : votes) {
        auto it = std::find_if(tallies.begin(), tallies.end(),
                               [&](const Tally& t) { return t.choice == v.choice; });
        if (it == tallies.end()) {
            Tally t;
            t.choice = v.choice;
            t.order = proposals.size();
            for (std::size_t i = 0; i < proposals.size(); ++i) {
                if (proposals[i].agent == v.choice) {
                    t.order = i;
                    break;
                }
            }
            tallies.push_back(std::move(t));
            it = std::prev(tallies.end());
        }
        const double w = VoteWeight(v.confidence);
        it->weight += w;
        it->voters += 1;
        total += w;
    }

    std::sort(tallies.begin(), tallies.end(), [](const Tally& a, const Tally& b) {
        if (std::fabs(a.weight - b.weight) > kEpsilon) return a.weight > b.weight;
        if (a.voters != b.voters) return a.voters > b.voters;
        if (a.order != b.order) return a.order < b.order;
        return a.choice < b.choice;
    });

    const Tally& lead = tallies.front();
    const double share = total > 0 ? lead.weight / total : 0;
    out.winner = lead.choice;
    out.confidence = share;
    if (const Proposal* p = FindProposal(proposals, lead.choice)) out.final_answer = p->content;

    switch (method) {
        case ConsensusMethod::kMajority:
        case ConsensusMethod::kJudge:
            out.reached = share + kEpsilon >= 0.5;
            break;
        case ConsensusMethod::kSupermajority:
            out.reached = share + kEpsilon >= std::max(threshold, kSupermajorityFloor);
            break;
        case ConsensusMethod::kUnanimous:
            out.reached = tallies.size() == 1;
            break;
        case ConsensusMethod::kWeighted:
            out.reached = share + kEpsilon >= threshold;
            break;
    }

    for (const auto& v : votes) {
        if (v.choice == out.winner) {
            out.supporting_agents.push_back(v.voter);
            continue;
        }
        out.dissenting_agents.push_back(v.voter);
        Dissent d;
        d.agent = v.voter;
        d.reasons = SplitSentences(v.reasoning);
        if (d.reasons.empty()) d.reasons.push_back("Voted for " + v.choice + "'s proposal.");
        if (const Proposal* p = FindProposal(proposals, v.choice)) {
            d.alternative_view = Truncate(p->content, kAlternativeViewChars);
        }
        out.dissents.push_back(std::move(d));
    }
    return out;
}

std::string MapVerdict(bool reached, bool has_dissent, double confidence) {
    if (!reached) return confidence >= 0.4 ? "needs_review" : "rejected";
    if (has_dissent) return "approved_with_conditions";
    if (confidence >= 0.8) return "approved";
    return "approved_with_conditions";
}

double PenalizedConfidence(double confidence, int interventions) {
    constexpr double kPenalty = 0.05;
    constexpr double kFloor = 0.10;
    if (interventions <= 0 || confidence <= kFloor) return confidence;
    return std::max(kFloor, confidence - kPenalty * interventions);
}

}  // namespace aragora::debate
