#include "debate/convergence.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <unordered_map>

#include "common/strings.hpp"

namespace aragora::debate {
namespace {

// Bytes ≥ 0x80 count as word characters so that non-ASCII words stay whole.
bool IsWordByte(char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u >= 0x80;
}

// The tokens of one text: its lower-cased copy, and the counts of the words in it (keys
// point into `lowered`, so a Terms is not copied or moved once filled).
struct Terms {
    std::string lowered;
    // std::hash<string_view> equals std::hash<string>: the same keys inserted in the same
    // order iterate in the same order as a map keyed by std::string would.
    std::unordered_map<std::string_view, double> tf;

    explicit Terms(std::string_view text) : lowered(text.size(), '\0') {
        for (std::size_t i = 0; i < text.size(); ++i) lowered[i] = common::ToLowerAscii(text[i]);
        const std::string_view low(lowered);
        std::size_t i = 0;
        while (i < low.size()) {
            if (!IsWordByte(low[i])) {
                ++i;
                continue;
            }
            const std::size_t start = i;
            while (i < low.size() && IsWordByte(low[i])) ++i;
            tf[low.substr(start, i - start)] += 1;
        }
    }
    Terms(const Terms&) = delete;
    Terms& operator=(const Terms&) = delete;
};

// Document frequencies over a corpus whose texts are already counted.
using DocFrequency = std::unordered_map<std::string_view, int>;

DocFrequency DocFrequencies(const std::vector<const Terms*>& corpus) {
    DocFrequency df;
    for (const Terms* doc : corpus) {
        for (const auto& [t, c] : doc->tf) df[t] += 1;
    }
    return df;
}

// TfIdfCosine on counted texts (see there); `a_text`/`b_text` only for the equality test.
double Cosine(std::string_view a_text, std::string_view b_text, const Terms& a, const Terms& b,
              const DocFrequency& df, std::size_t corpus_size) {
    if (a_text == b_text) return 1.0;
    const auto& ta = a.tf;
    const auto& tb = b.tf;
    if (ta.empty() && tb.empty()) return 1.0;
    if (ta.empty() || tb.empty()) return 0.0;
    const double n = static_cast<double>(corpus_size);
    const auto idf = [&](std::string_view t) {
        auto it = df.find(t);
        const double d = it == df.end() ? 0.0 : it->second;
        return std::log((1 + n) / (1 + d)) + 1;
    };
    double dot = 0, na = 0, nb = 0;
    for (const auto& [t, c] : ta) {
        const double w = c * idf(t);
        na += w * w;
        if (auto it = tb.find(t); it != tb.end()) dot += w * it->second * idf(t);
    }
    for (const auto& [t, c] : tb) {
        const double w = c * idf(t);
        nb += w * w;
    }
    if (na <= 0 || nb <= 0) return 0.0;
    return std::clamp(dot / (std::sqrt(na) * std::sqrt(nb)), 0.0, 1.0);
}

// ---- evidence quality -------------------------------------------------------

constexpr double kCitationWeight = 0.15, kCitationCap = 0.35;
constexpr double kUnitNumberWeight = 0.10, kUnitNumberCap = 0.30;
constexpr double kPlainNumberWeight = 0.04, kPlainNumberCap = 0.10;
constexpr double kExampleWeight = 0.10, kExampleCap = 0.20;
constexpr double kConnectorWeight = 0.05, kConnectorCap = 0.15;
constexpr double kVagueWeight = 0.10, kVagueCap = 0.50;

constexpr std::string_view kCitationPhrases[] = {"according to", "source:", "sources:", "http://",
                                                 "https://",     "www.",    "et al"};
constexpr std::string_view kExamplePhrases[] = {"for example", "for instance", "e.g.", "such as",
                                                "case study"};
constexpr std::string_view kConnectorPhrases[] = {
    "because", "therefore", "since", "which means", "as a result", "thus", "consequently"};
constexpr std::string_view kVaguePhrases[] = {
    "it depends",   "generally",          "various",
    "many experts", "in some cases",      "could potentially",
    "some people",  "arguably",           "perhaps",
    "possibly",     "to some extent",     "in general",
    "more or less", "it is important to", "a number of",
    "somewhat",     "some say",           "things"};
constexpr std::string_view kUnits[] = {
    "percent",   "pct",       "ms",           "s",       "sec",       "secs",
    "seconds",   "second",    "min",          "mins",    "minutes",   "minute",
    "h",         "hr",        "hrs",          "hours",   "hour",      "day",
    "days",      "week",      "weeks",        "month",   "months",    "year",
    "years",     "kb",        "mb",           "gb",      "tb",        "k",
    "m",         "bn",        "thousand",     "million", "billion",   "users",
    "requests",  "rps",       "qps",          "usd",     "dollars",   "eur",
    "euros",     "x",         "times",        "points",  "pp",        "teams",
    "customers", "companies", "participants", "people",  "incidents", "engineers",
    "servers",   "nodes",     "tokens",       "calls",   "kg",        "km",
    "kwh",       "mw",        "tons"};

// Counts whole-word occurrences of `phrase` in lower-cased `text`.
int CountPhrase(std::string_view text, std::string_view phrase) {
    int n = 0;
    std::size_t pos = 0;
    while ((pos = text.find(phrase, pos)) != std::string_view::npos) {
        const bool start_ok = pos == 0 || !IsWordByte(text[pos - 1]) || !IsWordByte(phrase.front());
        const std::size_t end = pos + phrase.size();
        const bool end_ok =
            end >= text.size() || !IsWordByte(text[end]) || !IsWordByte(phrase.back());
        if (start_ok && end_ok) ++n;
        pos = end;
    }
    return n;
}

template <std::size_t N>
int CountAll(std::string_view text, const std::string_view (&phrases)[N]) {
    int n = 0;
    for (auto p : phrases) n += CountPhrase(text, p);
    return n;
}

bool IsUnit(std::string_view word) {
    return std::find(std::begin(kUnits), std::end(kUnits), word) != std::end(kUnits);
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAsciiAlnum(char c) { return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

struct NumberCounts {
    int citations = 0;  // "[1]"
    int with_unit = 0;
    int plain = 0;
};

NumberCounts ScanNumbers(std::string_view low) {
    NumberCounts nc;
    std::size_t i = 0;
    while (i < low.size()) {
        if (!IsDigit(low[i]) || (i > 0 && IsAsciiAlnum(low[i - 1]))) {
            ++i;
            continue;
        }
        const std::size_t start = i;
        while (i < low.size() && (IsDigit(low[i]) || ((low[i] == '.' || low[i] == ',') &&
                                                      i + 1 < low.size() && IsDigit(low[i + 1])))) {
            ++i;
        }
        const char before = start > 0 ? low[start - 1] : ' ';
        if (before == '[' && i < low.size() && low[i] == ']') {
            ++nc.citations;
            continue;
        }
        const bool currency = before == '$' ||
                              (start >= 3 && low.substr(start - 3, 3) == "\xE2\x82\xAC") ||  // €
                              (start >= 2 && low.substr(start - 2, 2) == "\xC2\xA3");        // £
        bool unit = currency || (i < low.size() && low[i] == '%');
        if (!unit) {
            std::size_t w = i;
            if (w < low.size() && low[w] == ' ') ++w;
            std::size_t e = w;
            while (e < low.size() && IsWordByte(low[e]) && !IsDigit(low[e])) ++e;
            if (e > w && (e >= low.size() || !IsDigit(low[e]))) unit = IsUnit(low.substr(w, e - w));
        }
        (unit ? nc.with_unit : nc.plain) += 1;
    }
    return nc;
}

// The reply's own "Confidence: 0.8" line is not evidence.
std::string EvidenceText(std::string_view text) {
    std::string out;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        std::size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        std::string line = common::ToLower(text.substr(pos, nl - pos));
        std::size_t k = line.find_first_not_of(" \t*#_");
        if (k == std::string::npos || line.compare(k, 10, "confidence") != 0) {
            out += line;
            out += '\n';
        }
        pos = nl + 1;
    }
    return out;
}

double Capped(int count, double weight, double cap) { return std::min(cap, count * weight); }

std::string FormatScore(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", v);
    return buf;
}

}  // namespace

// Similarity (the convergence backend, docs/engine.md):
//   tokens   = lower-cased maximal runs of [A-Za-z0-9] (and non-ASCII bytes)
//   tf(t, d) = raw count of t in d
//   idf(t)   = ln((1 + N) / (1 + df(t))) + 1, N = |corpus|, df = corpus texts containing t
//   w(t, d)  = tf(t, d) · idf(t);  similarity = cosine(w(·, a), w(·, b)) ∈ [0, 1]
// Two texts without any token are identical (1); one empty text against a non-empty one is 0.
double TfIdfCosine(std::string_view a, std::string_view b, const std::vector<std::string>& corpus) {
    if (a == b) return 1.0;
    const Terms ta(a), tb(b);
    std::deque<Terms> docs;
    std::vector<const Terms*> counted;
    for (const auto& doc : corpus) counted.push_back(&docs.emplace_back(doc));
    return Cosine(a, b, ta, tb, DocFrequencies(counted), corpus.size());
}

std::string_view ToString(ConvergenceStatus s) {
    switch (s) {
        case ConvergenceStatus::kConverged:
            return "converged";
        case ConvergenceStatus::kRefining:
            return "refining";
        case ConvergenceStatus::kDiverging:
            return "diverging";
    }
    return "refining";
}

// Both thresholds apply to the minimum per-agent similarity: the debate has converged
// only when every agent stopped changing its position, and one agent that rewrote its
// position is enough to call the round diverging.
ConvergenceReport CheckConvergence(const std::vector<Proposal>& previous,
                                   const std::vector<Proposal>& current, double converged_threshold,
                                   double diverging_threshold) {
    ConvergenceReport report;
    std::vector<std::pair<const Proposal*, const Proposal*>> pairs;
    for (const auto& cur : current) {
        if (report.per_agent.count(cur.agent)) continue;
        auto it = std::find_if(previous.begin(), previous.end(),
                               [&](const Proposal& p) { return p.agent == cur.agent; });
        if (it == previous.end()) continue;
        pairs.emplace_back(&*it, &cur);
        report.per_agent[cur.agent] = 0;
    }
    if (pairs.empty()) return report;

    // Each text is counted once for the whole round (the corpus is every compared text).
    std::deque<Terms> docs;
    std::vector<const Terms*> corpus;
    for (auto [prev, cur] : pairs) {
        corpus.push_back(&docs.emplace_back(prev->content));
        corpus.push_back(&docs.emplace_back(cur->content));
    }
    const DocFrequency df = DocFrequencies(corpus);
    double min_sim = 1.0, sum = 0;
    for (std::size_t k = 0; k < pairs.size(); ++k) {
        const auto [prev, cur] = pairs[k];
        const double sim = Cosine(prev->content, cur->content, *corpus[2 * k], *corpus[2 * k + 1],
                                  df, corpus.size());
        report.per_agent[cur->agent] = sim;
        min_sim = std::min(min_sim, sim);
        sum += sim;
    }
    report.min_similarity = min_sim;
    report.mean_similarity = sum / static_cast<double>(pairs.size());
    if (min_sim >= converged_threshold) {
        report.status = ConvergenceStatus::kConverged;
    } else if (min_sim < diverging_threshold) {
        report.status = ConvergenceStatus::kDiverging;
    } else {
        report.status = ConvergenceStatus::kRefining;
    }
    return report;
}

// Evidence quality = clamp(citations + numbers + examples + connectors − vagueness, 0, 1):
//   citations  0.15 each, cap 0.35: "[n]", "according to", "source(s):", http(s)://, www., "et al"
//   numbers    0.10 each, cap 0.30 with a unit, currency or percent ("42%", "$3", "200 ms",
//              "3.5x", "12 weeks"); 0.04 each, cap 0.10 for other numbers
//   examples   0.10 each, cap 0.20: "for example", "for instance", "e.g.", "such as", "case study"
//   connectors 0.05 each, cap 0.15: "because", "therefore", "since", "which means", "as a result",
//              "thus", "consequently"
//   vagueness  0.10 each, cap 0.50: "it depends", "generally", "various", "many experts",
//              "in some cases", "could potentially", "perhaps", "possibly", "arguably", ...
// Phrases match whole words, case-insensitively; a "Confidence: x" line is ignored.
double EvidenceQuality(std::string_view text) {
    const std::string low = EvidenceText(text);
    const NumberCounts nc = ScanNumbers(low);
    const int citations = nc.citations + CountAll(low, kCitationPhrases);
    double score = Capped(citations, kCitationWeight, kCitationCap) +
                   Capped(nc.with_unit, kUnitNumberWeight, kUnitNumberCap) +
                   Capped(nc.plain, kPlainNumberWeight, kPlainNumberCap) +
                   Capped(CountAll(low, kExamplePhrases), kExampleWeight, kExampleCap) +
                   Capped(CountAll(low, kConnectorPhrases), kConnectorWeight, kConnectorCap) -
                   Capped(CountAll(low, kVaguePhrases), kVagueWeight, kVagueCap);
    return std::clamp(score, 0.0, 1.0);
}

HollowDecision CheckHollowConsensus(int round, const std::vector<Proposal>& current,
                                    const ConvergenceReport* convergence,
                                    const EngineSettings& settings, TricksterState& state) {
    HollowDecision d;
    if (current.empty()) return d;

    std::vector<double> quality;
    double sum = 0;
    for (const auto& p : current) {
        quality.push_back(EvidenceQuality(p.content));
        sum += quality.back();
    }
    d.evidence_quality = sum / static_cast<double>(current.size());

    if (round >= 2 && convergence != nullptr && !convergence->per_agent.empty()) {
        d.agreement = convergence->min_similarity;
    } else if (current.size() >= 2) {
        std::deque<Terms> docs;
        std::vector<const Terms*> corpus;
        for (const auto& p : current) corpus.push_back(&docs.emplace_back(p.content));
        const DocFrequency df = DocFrequencies(corpus);
        double total = 0;
        int pairs = 0;
        for (std::size_t i = 0; i < current.size(); ++i) {
            for (std::size_t j = i + 1; j < current.size(); ++j) {
                total += Cosine(current[i].content, current[j].content, *corpus[i], *corpus[j], df,
                                corpus.size());
                ++pairs;
            }
        }
        d.agreement = total / pairs;
    }

    d.hollow = d.agreement >= settings.hollow_agreement_threshold &&
               d.evidence_quality < settings.hollow_evidence_threshold;
    const bool cooled_down =
        round - state.last_intervention_round > settings.trickster_cooldown_rounds;
    const bool under_cap = state.interventions < settings.trickster_max_interventions;
    d.intervene = d.hollow && cooled_down && under_cap;
    if (!d.intervene) return d;

    state.interventions += 1;
    state.last_intervention_round = round;
    const auto weakest = std::min_element(quality.begin(), quality.end()) - quality.begin();
    const Proposal& w = current[static_cast<std::size_t>(weakest)];
    d.challenge = "Hollow consensus check: the proposals agree (agreement " +
                  FormatScore(d.agreement) + ") but their evidence is thin (quality " +
                  FormatScore(d.evidence_quality) + " of 1.00). The weakest support comes from " +
                  w.agent + " (evidence " +
                  FormatScore(quality[static_cast<std::size_t>(weakest)]) +
                  "). Before agreeing again, every agent must back its position with specific "
                  "evidence: concrete numbers with units, named sources or citations, and at "
                  "least one concrete counter-example that would show the current consensus is "
                  "wrong.";
    return d;
}

}  // namespace aragora::debate
