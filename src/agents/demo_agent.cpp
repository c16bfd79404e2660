#include "agents/demo_agent.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <set>
#include <utility>
#include <vector>

#include "common/strings.hpp"

namespace aragora::agents {
namespace {

using common::ToLower;
using common::Trim;

// ---- deterministic randomness -------------------------------------------------
// std:: distributions are implementation-defined; these are not, so a demo debate
// reads the same on every platform and release.

constexpr std::uint64_t kFnvOffset = 14695981039346656037ULL;
constexpr std::uint64_t kFnvPrime = 1099511628211ULL;

std::uint64_t Fnv1a(std::string_view s, std::uint64_t h = kFnvOffset) {
    for (char c : s) {
        h ^= static_cast<unsigned char>(c);
        h *= kFnvPrime;
    }
    return h;
}

class SplitMix64 {
public:
    explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
    std::uint64_t Next() {
        std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    // Modulo bias is irrelevant for the small ranges used here.
    int Int(int lo, int hi) {
        return lo + static_cast<int>(Next() % static_cast<std::uint64_t>(hi - lo + 1));
    }
    double Real(double lo, double hi) {
        return lo + (hi - lo) * static_cast<double>(Next() >> 11) * (1.0 / 9007199254740992.0);
    }
    std::string_view Pick(std::initializer_list<std::string_view> options) {
        return *(options.begin() + Next() % options.size());
    }

private:
    std::uint64_t state_;
};

// One value per task, shared by every demo agent of a debate: it decides the "mood" of
// the debate (who leads the vote, whether evidence is thin).
std::uint64_t TaskHash(std::string_view task) { return SplitMix64(Fnv1a(task)).Next(); }

// ---- text helpers ---------------------------------------------------------------

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }

// "0.85": two decimals, independent of the C locale.
std::string Fmt2(double v) {
    const long cents = std::lround(std::clamp(v, 0.0, 1000.0) * 100);
    std::string out = std::to_string(cents / 100) + ".";
    out += static_cast<char>('0' + cents % 100 / 10);
    out += static_cast<char>('0' + cents % 10);
    return out;
}

std::string JsonString(std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "\"";
    for (char ch : s) {
        const auto u = static_cast<unsigned char>(ch);
        if (ch == '"' || ch == '\\') {
            out += '\\';
            out += ch;
        } else if (ch == '\n') {
            out += "\\n";
        } else if (u < 0x20) {
            out += "\\u00";
            out += kHex[u >> 4];
            out += kHex[u & 0xF];
        } else {
            out += ch;
        }
    }
    out += '"';
    return out;
}

std::string JsonStrings(const std::vector<std::string>& items) {
    std::string out = "[";
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += ",";
        out += JsonString(items[i]);
    }
    return out + "]";
}

std::int64_t CountWords(std::string_view s) {
    std::int64_t n = 0;
    bool in_word = false;
    for (char c : s) {
        if (IsSpace(c)) {
            in_word = false;
        } else if (!in_word) {
            in_word = true;
            ++n;
        }
    }
    return n;
}

constexpr std::string_view kStopwords[] = {
    "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any",
    "are", "as", "at", "be", "because", "been", "before", "being", "below", "best", "better",
    "between", "both", "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during",
    "each", "either", "few", "for", "from", "further", "get", "good", "had", "has", "have",
    "having", "he", "her", "here", "hers", "him", "his", "how", "i", "if", "in", "into", "is", "it",
    "its", "itself", "just", "let", "like", "make", "many", "may", "me", "might", "more", "most",
    "much", "must", "my", "need", "needs", "no", "nor", "not", "now", "of", "off", "on", "once",
    "one", "only", "or", "other", "ought", "our", "ours", "out", "over", "own", "please", "same",
    "shall", "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs",
    "them", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under",
    "until", "up", "us", "use", "using", "very", "versus", "vs", "want", "was", "way", "we", "were",
    "what", "when", "where", "whether", "which", "while", "who", "whom", "why", "will", "with",
    "within", "without", "would", "you", "your", "yours", "instead", "rather", "really", "thing",
    "things", "something", "anything", "everything", "worth", "given", "think",
    // verbs and adjectives of questions, poor topics on their own
    "adopt", "adopting", "choose", "choice", "migrate", "move", "moving", "switch", "replace",
    "build", "invest", "rewrite", "ban", "open", "necessary", "dedicated", "new", "old", "worse",
    "right", "wrong", "important", "possible", "approach", "option", "options", "idea", "plan",
    "consider", "introduce", "start", "stop", "keep", "pros", "cons", "today", "years", "year",
    "time"};

bool IsStopword(std::string_view w) {
    return std::find(std::begin(kStopwords), std::end(kStopwords), w) != std::end(kStopwords);
}

// Salient words of a task: non-stopwords ranked by length, with a bonus for names
// (capitalised inside a sentence: "Rust", "PostgreSQL"); ties keep the task's order.
// Names keep their spelling, other words are lower-cased.
std::vector<std::string> SalientWords(std::string_view text, std::size_t count) {
    struct Word {
        std::string text;
        std::size_t score = 0;
    };
    constexpr std::size_t kNameBonus = 6;
    std::vector<Word> words;
    std::set<std::string> seen;
    std::string cur;
    bool sentence_start = true;
    const auto flush = [&](char next) {
        while (!cur.empty() && (cur.back() == '-' || cur.back() == '\'')) cur.pop_back();
        if (!cur.empty()) {
            const std::string low = ToLower(cur);
            const bool name = IsUpper(cur.front()) && !sentence_start;
            const bool long_enough = low.size() >= 3 || (name && low.size() >= 2);
            if (long_enough && !IsStopword(low) && seen.insert(low).second) {
                words.push_back({name ? cur : low, low.size() + (name ? kNameBonus : 0)});
            }
            sentence_start = false;
        }
        cur.clear();
        if (next == '.' || next == '?' || next == '!' || next == '\n') sentence_start = true;
    };
    for (char c : text) {
        const bool inner = (c == '-' || c == '\'') && !cur.empty();
        if (IsAlpha(c) || IsDigit(c) || static_cast<unsigned char>(c) >= 0x80 || inner) {
            cur.push_back(c);
        } else {
            flush(c);
        }
    }
    flush(' ');
    std::stable_sort(words.begin(), words.end(),
                     [](const Word& a, const Word& b) { return a.score > b.score; });
    std::vector<std::string> out;
    for (std::size_t i = 0; i < words.size() && i < count; ++i) out.push_back(words[i].text);
    return out;
}

struct Keywords {
    std::string k1, k2, k3;
    std::string topic;  // the task, shortened, for quoting
};

std::string Shorten(std::string_view text, std::size_t max_chars) {
    text = Trim(text);
    const std::size_t nl = text.find('\n');
    if (nl != std::string_view::npos) text = Trim(text.substr(0, nl));
    if (text.size() <= max_chars) return std::string(text);
    std::size_t cut = text.substr(0, max_chars).find_last_of(' ');
    if (cut == std::string_view::npos || cut < max_chars / 2) cut = max_chars;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    return std::string(Trim(text.substr(0, cut))) + "...";
}

Keywords TaskKeywords(std::string_view task) {
    auto words = SalientWords(task, 3);
    Keywords k;
    k.k1 = words.size() > 0 ? words[0] : "this decision";
    k.k2 = words.size() > 1 ? words[1] : k.k1;
    k.k3 = words.size() > 2 ? words[2] : k.k2;
    std::string topic = Shorten(task, 90);
    while (!topic.empty() && (topic.back() == '?' || topic.back() == '.' || topic.back() == '!')) {
        topic.pop_back();
    }
    k.topic = topic.empty() ? "the question" : topic;
    return k;
}

// Sentences end at [.!?] followed by a space and an upper-case letter (or the end), so
// "e.g. a pilot" stays whole.
std::vector<std::string> SplitSentences(std::string_view text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        const bool end_mark = c == '.' || c == '!' || c == '?';
        const bool newline = c == '\n';
        bool split = newline;
        if (end_mark) {
            std::size_t j = i + 1;
            while (j < text.size() && (text[j] == ' ' || text[j] == '\t')) ++j;
            split = j == text.size() || text[j] == '\n' || (j > i + 1 && !IsAlpha(text[j])) ||
                    (j > i + 1 && IsUpper(text[j]));
        }
        if (!split) continue;
        const auto piece = Trim(text.substr(start, i + (newline ? 0 : 1) - start));
        if (!piece.empty()) out.emplace_back(piece);
        start = i + 1;
    }
    if (start < text.size()) {
        const auto piece = Trim(text.substr(start));
        if (!piece.empty()) out.emplace_back(piece);
    }
    return out;
}

std::string Join(const std::vector<std::string>& sentences) {
    std::string out;
    for (const auto& s : sentences) {
        if (!out.empty()) out += ' ';
        out += s;
    }
    return out;
}

// A clause from a critique item: one line, lower-case start, no final period, at most
// ~16 words. Inner sentence ends become commas, so that the next revision still sees
// the answer as one sentence and replaces it whole.
std::string Clause(std::string_view text) {
    std::string s(Trim(text));
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\n' || s[i] == '\r' || s[i] == '\t') s[i] = ' ';
        const bool end_mark = s[i] == '.' || s[i] == '!' || s[i] == '?';
        if (end_mark && i + 1 < s.size() && (s[i + 1] == ' ' || s[i + 1] == '\n')) s[i] = ',';
    }
    while (!s.empty() && (s.back() == '.' || s.back() == '!' || s.back() == ';')) s.pop_back();
    std::size_t words = 0, pos = 0;
    for (; pos < s.size(); ++pos) {
        if (s[pos] == ' ' && ++words >= 16) break;
    }
    if (pos < s.size()) s = s.substr(0, pos) + "...";
    if (s.size() >= 2 && IsUpper(s[0]) && !IsUpper(s[1])) s[0] = common::ToLowerAscii(s[0]);
    return s;
}

std::string StripConfidenceLine(std::string_view text) {
    std::string_view body = Trim(text);
    const std::size_t nl = body.find_last_of('\n');
    std::string_view last = nl == std::string_view::npos ? body : body.substr(nl + 1);
    const std::string low = ToLower(Trim(last));
    if (low.rfind("confidence:", 0) == 0) {
        body = nl == std::string_view::npos ? std::string_view{} : Trim(body.substr(0, nl));
    }
    return std::string(body);
}

bool Contains(std::string_view haystack, std::string_view needle) {
    return ToLower(haystack).find(needle) != std::string::npos;
}

bool HasDigit(std::string_view s) { return std::any_of(s.begin(), s.end(), IsDigit); }

// ---- persona voices -------------------------------------------------------------

constexpr std::string_view kRevisionMarker = "Revision (round ";
constexpr std::string_view kEvidenceMarker = "Specific evidence: ";

struct Ctx {
    const AgentRequest& req;
    const std::string& name;
    Persona persona;
    Keywords kw;
    std::uint64_t task_hash;
    SplitMix64& rng;
};

// About one task in three is "thin": the moderator hedges and the critic drops its
// source, so that agreement there is hollow and the trickster has work to do. The
// contrarian also hedges on a further quarter of the tasks.
bool ThinEvidenceTask(std::uint64_t task_hash) { return task_hash % 3 == 0; }

bool VagueVoice(Persona p, std::uint64_t task_hash) {
    switch (p) {
        case Persona::kModerator:
            return ThinEvidenceTask(task_hash);
        case Persona::kContrarian:
            return ThinEvidenceTask(task_hash) || (task_hash >> 5) % 4 == 0;
        default:
            return false;
    }
}

// Every draw from the generator is its own statement: the operands of `+` are evaluated
// in an unspecified order, and the text must not depend on the compiler.
std::string ProposeText(Ctx& c) {
    const Keywords& k = c.kw;
    SplitMix64& r = c.rng;
    const auto n = [](int v) { return std::to_string(v); };
    std::vector<std::string> s;
    switch (c.persona) {
        case Persona::kAnalyst: {
            const std::string opener(r.Pick({"On \"", "Regarding \"", "For \""}));
            const std::string source(
                r.Pick({"pilot data from comparable teams",
                        "an industry survey of 400 organisations", "a published benchmark study"}));
            const std::string metric(
                r.Pick({"delivery speed", "reliability", "cost efficiency", "user satisfaction"}));
            const int gain = r.Int(18, 42);
            const int months = r.Int(3, 9);
            const int before = r.Int(20, 60);
            const int after = before - r.Int(6, before / 2);
            const int payback = r.Int(4, 11);
            const int cadence = r.Int(2, 4);
            s.push_back(opener + k.topic + "\", the evidence favours moving ahead with " + k.k1 +
                        ".");
            s.push_back("According to " + source + " [1], efforts centred on " + k.k1 +
                        " improved " + metric + " by " + n(gain) + "% within " + n(months) +
                        " months.");
            s.push_back("For example, a focused trial of " + k.k2 + " cut lead time from " +
                        n(before) + " to " + n(after) +
                        " days, which means the investment pays back in about " + n(payback) +
                        " months.");
            s.push_back("Because the benefits of " + k.k3 +
                        " compound as adoption grows, I recommend a phased rollout that starts "
                        "with " +
                        k.k2 + " and reports progress every " + n(cadence) + " weeks.");
            break;
        }
        case Persona::kCritic: {
            const std::string risk(
                r.Pick({"hidden operational cost", "vendor and technology lock-in",
                        "a skills gap in the team", "the cost of migrating existing work"}));
            const int overrun = r.Int(35, 65);
            const int weeks = r.Int(6, 16);
            const std::string base_rate =
                ThinEvidenceTask(c.task_hash)
                    ? std::string("many initiatives like this overrun their budget")
                    : "according to post-incident reviews of comparable projects, roughly " +
                          n(overrun) + "% of them overrun their budget";
            s.push_back("I am not convinced that " + k.k1 + " is the right answer to \"" + k.topic +
                        "\".");
            s.push_back("The main risk is " + risk + " around " + k.k2 + ": " + base_rate +
                        ", and such failures are expensive to reverse.");
            s.push_back("Before committing, we need a measurable success criterion for " + k.k1 +
                        " and a rollback plan, since a failed rollout would cost about " +
                        n(weeks) + " weeks of work.");
            s.push_back("My position: proceed only with a limited, reversible trial of " + k.k3 +
                        ", and stop it if the agreed metric does not move.");
            break;
        }
        case Persona::kModerator: {
            if (VagueVoice(c.persona, c.task_hash)) {
                s.push_back(
                    "It depends on the context, and there are various considerations "
                    "around \"" +
                    k.topic + "\".");
                s.push_back("Generally, " + k.k1 +
                            " can help in some cases, but it could potentially create new "
                            "problems with " +
                            k.k2 + ".");
                s.push_back("Many experts would suggest balancing " + k.k1 + " against " + k.k3 +
                            " and finding a middle ground.");
                s.push_back(
                    "Overall, a balanced approach that takes both views into account is "
                    "probably the most sensible path.");
            } else {
                const int weeks = r.Int(4, 8);
                const int bar = r.Int(10, 25);
                s.push_back("There are credible arguments on both sides of \"" + k.topic + "\".");
                s.push_back("The case for " + k.k1 +
                            " rests on faster feedback and lower long-term cost, while the case "
                            "against rests on the transition effort around " +
                            k.k2 + ".");
                s.push_back("Weighing them, a staged approach works best: start with " + k.k2 +
                            ", measure the outcome for " + n(weeks) +
                            " weeks, and expand only if it improves by at least " + n(bar) + "%.");
                s.push_back(
                    "For example, a pilot limited to one team would show within a quarter "
                    "whether " +
                    k.k3 +
                    " pays off, because the decision stays reversible at every "
                    "stage.");
            }
            break;
        }
        case Persona::kContrarian: {
            if (VagueVoice(c.persona, c.task_hash)) {
                s.push_back("I would argue the opposite of what everyone seems to assume about \"" +
                            k.topic + "\".");
                s.push_back("Perhaps " + k.k1 +
                            " is not really the issue, and various other factors matter more.");
                s.push_back(
                    "In some cases the conventional answer works, but generally it is "
                    "overrated, and " +
                    k.k2 + " could potentially turn out to be a distraction.");
                s.push_back("It depends on what we actually want from " + k.k3 + ".");
            } else {
                const int months = r.Int(3, 9);
                const int overhead = r.Int(15, 40);
                s.push_back("Contrary to the emerging consensus, we should not pursue " + k.k1 +
                            " at all for \"" + k.topic + "\".");
                s.push_back("The popular argument assumes " + k.k2 +
                            " is the bottleneck, yet in most post-mortems the real constraint is "
                            "elsewhere: unclear ownership and slow decisions.");
                s.push_back("Doing the opposite, keeping the current approach and spending the " +
                            n(months) + " months elsewhere, avoids a " + n(overhead) +
                            "% cost overhead.");
                s.push_back("If the others are right about " + k.k3 +
                            ", a small experiment would prove it, and none has been proposed.");
            }
            break;
        }
    }
    return Join(s);
}

double ProposalConfidence(Ctx& c) {
    double lo = 0.5, hi = 0.7;
    switch (c.persona) {
        case Persona::kAnalyst:
            lo = 0.78, hi = 0.90;
            break;
        case Persona::kCritic:
            lo = 0.55, hi = 0.70;
            break;
        case Persona::kModerator:
            lo = 0.60, hi = 0.75;
            break;
        case Persona::kContrarian:
            lo = 0.55, hi = 0.68;
            break;
    }
    const double bump = 0.03 * std::max(0, c.req.round - 1);
    return std::min(0.95, c.rng.Real(lo, hi) + bump);
}

std::string ResponseSentence(Ctx& c, const ReceivedCritique& crit) {
    // Later rounds take up the critique's next point, so a revision keeps moving a little.
    const std::size_t turn = static_cast<std::size_t>(std::max(0, c.req.round - 2));
    const std::string issue = crit.issues.empty() ? "the proposal needs more support"
                                                  : Clause(crit.issues[turn % crit.issues.size()]);
    const std::string fix = crit.suggestions.empty()
                                ? "a clearer success metric for " + c.kw.k1
                                : Clause(crit.suggestions[turn % crit.suggestions.size()]);
    const std::string head = std::string(kRevisionMarker) + std::to_string(c.req.round) + "): ";
    switch (c.persona) {
        case Persona::kAnalyst:
            return head + "taking " + crit.critic + "'s point that " + issue +
                   ", the core recommendation stays and the plan adds one step: " + fix + ".";
        case Persona::kCritic:
            return head + crit.critic + " argued that " + issue +
                   "; I accept part of it, but my concern stands until the plan does this: " + fix +
                   ".";
        case Persona::kModerator:
            return head + "weighing " + crit.critic + "'s point that " + issue +
                   ", the synthesis now adds: " + fix + ".";
        case Persona::kContrarian:
            return head + crit.critic + " objects that " + issue +
                   "; that does not change my position, though I concede one step: " + fix + ".";
    }
    return head + issue + ".";
}

std::string EvidenceSentence(Ctx& c) {
    SplitMix64& r = c.rng;
    const Keywords& k = c.kw;
    const int study = r.Int(2, 5);
    const int change = r.Int(12, 38);
    const std::string metric(
        r.Pick({"incident rate", "cycle time", "operating cost", "error rate"}));
    const int weeks = r.Int(6, 20);
    const int reverted = r.Int(2, 8);
    const int adoption = r.Int(20, 45);
    return std::string(kEvidenceMarker) + "in a documented case study [" + std::to_string(study) +
           "], a team that applied " + k.k1 + " measured a " + std::to_string(change) +
           "% change in " + metric + " over " + std::to_string(weeks) +
           " weeks (source: the team's published post-mortem); a concrete counter-example is a "
           "rollout of " +
           k.k2 + " that was reverted after " + std::to_string(reverted) +
           " weeks because adoption stalled below " + std::to_string(adoption) + "%.";
}

std::string ReviseText(Ctx& c) {
    const std::string previous = StripConfidenceLine(c.req.own_proposal);
    if (previous.empty()) return ProposeText(c);

    std::vector<std::string> kept;
    std::string old_evidence;
    for (auto& sentence : SplitSentences(previous)) {
        if (sentence.rfind(kRevisionMarker, 0) == 0) continue;
        if (sentence.rfind(kEvidenceMarker, 0) == 0) {
            old_evidence = std::move(sentence);
            continue;
        }
        kept.push_back(std::move(sentence));
    }

    const ReceivedCritique* strongest = nullptr;
    for (const auto& crit : c.req.critiques) {
        if (strongest == nullptr || crit.severity > strongest->severity) strongest = &crit;
    }
    if (strongest != nullptr) kept.push_back(ResponseSentence(c, *strongest));
    if (!c.req.challenge.empty()) {
        kept.push_back(EvidenceSentence(c));
    } else if (!old_evidence.empty()) {
        kept.push_back(std::move(old_evidence));
    }
    return Join(kept);
}

// ---- critique -------------------------------------------------------------------

std::string CritiqueJson(Ctx& c) {
    SplitMix64& r = c.rng;
    const Keywords& k = c.kw;
    const std::string& target_text = c.req.target.text;
    const std::string& target = c.req.target.agent;
    const std::string& tk = r.Int(0, 1) == 0 ? k.k1 : k.k2;
    const bool has_numbers = HasDigit(target_text);
    const bool has_sources = Contains(target_text, "[") || Contains(target_text, "source") ||
                             Contains(target_text, "according to");
    const bool vague = Contains(target_text, "it depends") || Contains(target_text, "generally") ||
                       Contains(target_text, "various") || Contains(target_text, "perhaps");
    const int later = std::max(0, c.req.round - 1);

    std::vector<std::string> issues, suggestions;
    int severity = 5;
    std::string reasoning;
    switch (c.persona) {
        case Persona::kAnalyst:
            issues.push_back(has_numbers ? "The " + tk +
                                               " estimate needs a range rather than a point figure."
                                         : "The argument about " + tk +
                                               " would be stronger with a "
                                               "quantified baseline.");
            if (vague)
                issues.push_back("Hedged wording makes the actual recommendation hard to act on.");
            suggestions.push_back("Add one measured data point for " + k.k1 +
                                  ", such as a pilot metric with its sample size.");
            severity = std::max(1, r.Int(2, 4) + (vague ? 1 : 0) - later);
            reasoning =
                "Directionally sound. " + target + " mostly needs sharper numbers on " + k.k2 + ".";
            break;
        case Persona::kCritic:
            issues.push_back("There is no rollback plan if " + tk + " fails in production.");
            issues.push_back(has_sources ? "The cited figures on " + k.k1 +
                                               " come from settings unlike ours."
                                         : "The claim about " + k.k1 +
                                               " is asserted, not evidenced: no source is cited.");
            if (r.Int(0, 1) == 1 || vague) {
                issues.push_back("The cost of " + k.k2 +
                                 " is ignored: migration, training and ongoing maintenance.");
            }
            suggestions.push_back("Define a kill criterion and a rollback path before starting.");
            suggestions.push_back("Cite the source behind every figure on " + k.k1 + ".");
            severity = std::max(5, r.Int(7, 9) - (has_sources ? 1 : 0) - later);
            reasoning = std::string(r.Pick({"The downside is under-examined. ",
                                            "Optimism is doing too much work here. "})) +
                        target + "'s proposal underestimates what can go wrong with " + k.k2 + ".";
            break;
        case Persona::kModerator:
            issues.push_back("The proposal weighs the upside of " + k.k1 +
                             " but not the trade-off with " + k.k2 + ".");
            if (!has_numbers) issues.push_back("No success metric is named.");
            suggestions.push_back(
                "State the conditions under which the recommendation would "
                "reverse.");
            severity = std::max(2, r.Int(4, 6) - later);
            reasoning = "Reasonable but one-sided. " + target +
                        " should integrate the strongest "
                        "objection on " +
                        k.k3 + ".";
            break;
        case Persona::kContrarian:
            issues.push_back("The proposal takes for granted that " + k.k1 +
                             " is desirable at all.");
            issues.push_back("It ignores the option of doing nothing about " + tk + ".");
            suggestions.push_back("Argue against the position once and keep only what survives.");
            severity = std::max(3, r.Int(5, 8) - later);
            reasoning = "Everyone is converging too quickly. " + target +
                        " has not considered the opposite of " + k.k1 + ".";
            break;
    }
    return "{\"issues\":" + JsonStrings(issues) + ",\"suggestions\":" + JsonStrings(suggestions) +
           ",\"severity\":" + std::to_string(std::min(10, severity)) +
           ",\"reasoning\":" + JsonString(reasoning) + "}";
}

// ---- vote -----------------------------------------------------------------------

int PersonaIndex(Persona p) { return static_cast<int>(p); }

std::string VoteJson(Ctx& c) {
    const auto& proposals = c.req.proposals;
    const std::size_t n = proposals.size();
    std::string choice;
    if (n > 0) {
        // The task hash picks a mode shared by all demo agents of the debate:
        // 0-2 a leader with the critic dissenting, 3-5 broad agreement (only the
        // contrarian dissents), 6-7 a split vote.
        const std::uint64_t mode = c.task_hash % 8;
        const std::size_t leader = (c.task_hash >> 8) % n;
        const std::size_t next = (leader + 1) % n;
        std::size_t pick = leader;
        std::size_t own = n;
        for (std::size_t i = 0; i < n; ++i) {
            if (proposals[i].agent == c.name) own = i;
        }
        if (mode >= 6) {
            pick = (leader + static_cast<std::size_t>(PersonaIndex(c.persona))) % n;
        } else {
            switch (c.persona) {
                case Persona::kAnalyst:
                case Persona::kModerator:
                    pick = leader;
                    break;
                case Persona::kCritic:
                    pick = mode <= 2 ? next : leader;
                    break;
                case Persona::kContrarian:
                    pick = (own < n && own != leader) ? own : next;
                    break;
            }
        }
        choice = proposals[pick].agent;
    }

    SplitMix64& r = c.rng;
    double lo = 0.6, hi = 0.8;
    std::string reasoning;
    const Keywords& k = c.kw;
    switch (c.persona) {
        case Persona::kAnalyst:
            lo = 0.75, hi = 0.92;
            reasoning = choice + "'s proposal gives the most measurable path on " + k.k1 +
                        ". Its plan can be checked against data within weeks.";
            break;
        case Persona::kCritic:
            lo = 0.55, hi = 0.75;
            reasoning = std::string(r.Pick({"Of the options, ", "On balance, "})) + choice +
                        "'s proposal carries the fewest unexamined risks around " + k.k2 +
                        ". The others still lack a rollback plan.";
            break;
        case Persona::kModerator:
            lo = 0.62, hi = 0.80;
            reasoning = choice + "'s proposal best balances the upside of " + k.k1 +
                        " against its costs. It leaves room to adjust course.";
            break;
        case Persona::kContrarian:
            lo = 0.50, hi = 0.70;
            reasoning = "The apparent favourite is not the strongest position. " + choice +
                        "'s proposal at least questions whether " + k.k1 + " is needed.";
            break;
    }
    return "{\"choice\":" + JsonString(choice) + ",\"confidence\":" + Fmt2(r.Real(lo, hi)) +
           ",\"reasoning\":" + JsonString(reasoning) + "}";
}

// ---- judge ----------------------------------------------------------------------

std::string JudgeText(Ctx& c) {
    const auto& proposals = c.req.proposals;
    if (proposals.empty()) {
        return "No proposals were available to synthesize for \"" + c.kw.topic +
               "\".\nConfidence: 0.30";
    }
    // The best-supported proposal anchors the synthesis: most digits and citations.
    std::size_t best = 0;
    int best_score = -1;
    for (std::size_t i = 0; i < proposals.size(); ++i) {
        const auto& t = proposals[i].text;
        int score = 0;
        for (char ch : t) score += IsDigit(ch) ? 1 : (ch == '[' ? 3 : 0);
        if (score > best_score) {
            best_score = score;
            best = i;
        }
    }
    const auto anchor = SplitSentences(StripConfidenceLine(proposals[best].text));
    std::string text = "Judge synthesis for \"" + c.kw.topic + "\" after weighing " +
                       std::to_string(proposals.size()) + " proposals. The strongest position is " +
                       proposals[best].agent +
                       "'s: " + (anchor.empty() ? std::string("no content") : anchor.front());
    if (anchor.size() > 1) text += " " + anchor[1];
    for (std::size_t i = 0; i < proposals.size(); ++i) {
        if (i == best) continue;
        const auto other = SplitSentences(StripConfidenceLine(proposals[i].text));
        if (other.empty()) continue;
        text += " From " + proposals[i].agent + " it keeps the caution that " +
                Clause(other.size() > 1 ? other[1] : other[0]) + ".";
        break;
    }
    text += " Final answer: proceed with " + c.kw.k1 +
            " in stages, with a named success metric "
            "and a rollback plan.";
    text += "\nConfidence: " + Fmt2(c.rng.Real(0.70, 0.85));
    return text;
}

std::int64_t InputWords(const AgentRequest& r) {
    std::int64_t n = CountWords(r.system_prompt) + CountWords(r.prompt) + CountWords(r.task) +
                     CountWords(r.context) + CountWords(r.own_proposal) +
                     CountWords(r.target.text) + CountWords(r.challenge);
    for (const auto& p : r.proposals) n += CountWords(p.text);
    for (const auto& crit : r.critiques) {
        for (const auto& i : crit.issues) n += CountWords(i);
        for (const auto& s : crit.suggestions) n += CountWords(s);
    }
    return n;
}

}  // namespace

std::string_view ToString(Persona p) {
    switch (p) {
        case Persona::kAnalyst:
            return "analyst";
        case Persona::kCritic:
            return "critic";
        case Persona::kModerator:
            return "moderator";
        case Persona::kContrarian:
            return "contrarian";
    }
    return "analyst";
}

bool ParsePersona(std::string_view name, Persona& out) {
    for (auto p :
         {Persona::kAnalyst, Persona::kCritic, Persona::kModerator, Persona::kContrarian}) {
        const auto s = ToString(p);
        if (common::IEquals(s, name)) {
            out = p;
            return true;
        }
    }
    return false;
}

DemoAgent::DemoAgent(std::string name, Persona persona, std::chrono::milliseconds latency)
    : name_(std::move(name)), persona_(persona), latency_(latency) {}

std::string DemoAgent::Compose(const AgentRequest& request) const {
    std::uint64_t seed = Fnv1a(name_);
    seed = Fnv1a("\x1f", seed);
    seed = Fnv1a(request.task, seed);
    seed = Fnv1a("\x1f", seed);
    seed = Fnv1a(ToString(request.phase), seed);
    seed = Fnv1a("\x1f", seed);
    seed = Fnv1a(std::to_string(request.round), seed);
    seed = Fnv1a("\x1f", seed);
    seed = Fnv1a(request.target.agent, seed);
    SplitMix64 rng(seed);
    Ctx c{request, name_, persona_, TaskKeywords(request.task), TaskHash(request.task), rng};

    switch (request.phase) {
        case Phase::kPropose:
        case Phase::kRevise: {
            const std::string text =
                request.phase == Phase::kPropose ? ProposeText(c) : ReviseText(c);
            return text + "\nConfidence: " + Fmt2(ProposalConfidence(c));
        }
        case Phase::kCritique:
            return CritiqueJson(c);
        case Phase::kVote:
            return VoteJson(c);
        case Phase::kJudge:
            return JudgeText(c);
    }
    return {};
}

boost::asio::awaitable<common::Result<AgentReply>> DemoAgent::Call(const AgentRequest& request) {
    namespace asio = boost::asio;
    // A signal that arrived before the wait began must not turn into an exception
    // (awaitable's throw_if_cancelled) or be lost.
    const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none) {
        co_return common::MakeError(common::ErrorCode::kCancelled, "demo agent call cancelled");
    }
    if (latency_.count() > 0) {
        asio::steady_timer timer(co_await asio::this_coro::executor, latency_);
        auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        if (ec) {
            co_return common::MakeError(common::ErrorCode::kCancelled, "demo agent call cancelled");
        }
    }
    AgentReply reply;
    reply.text = Compose(request);
    reply.usage.input_tokens = InputWords(request);
    reply.usage.output_tokens = CountWords(reply.text);
    co_return reply;
}

}  // namespace aragora::agents
