#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "debate/types.hpp"

namespace aragora::debate {

// Robust parsers for model replies: a JSON object if one is present (also inside a
// ```json fence), else labelled lines ("Issues:", "- ...", "Severity: 7", "Choice:",
// "Confidence: 0.8"), else a fallback. They never fail; `parsed` tells which path won.

// Critique reply → issues, suggestions, severity (clamped 0..10), reasoning.
Critique ParseCritique(std::string_view critic, std::string_view target, std::string_view reply);

// Vote reply → choice (must name one of `candidates`, matched case-insensitively, by
// exact name or unique prefix), confidence (0..1), reasoning. Falls back to `fallback_choice`
// with confidence 0.5 when no candidate is named. `parsed` is false on fallback.
struct ParsedVote {
    Vote vote;
    bool parsed = true;
};
ParsedVote ParseVote(std::string_view voter, std::string_view reply,
                     const std::vector<std::string>& candidates, std::string_view fallback_choice);

// Proposal reply → content (reply without a trailing "Confidence: x" line) and
// confidence (0..1, default 0.5).
Proposal ParseProposal(std::string_view agent, int round, std::string_view reply);

}  // namespace aragora::debate
