#include "debate/parse.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <optional>

#include "common/strings.hpp"

namespace aragora::debate {
namespace {

namespace json = boost::json;
using common::IsAsciiSpace;
using common::ToLower;
using common::Trim;

// A reply may hold several '{' before the real object (prose, code); bound the work.
constexpr int kMaxJsonAttempts = 32;
constexpr double kDefaultSeverity = 5;
constexpr double kDefaultConfidence = 0.5;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) {
    return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           static_cast<unsigned char>(c) >= 0x80;
}
// Characters that may continue an agent name such as "demo:critic#2".
bool IsNameChar(char c) { return IsAlnum(c) || c == ':' || c == '#' || c == '-' || c == '_'; }

std::vector<std::string_view> Lines(std::string_view text) {
    std::vector<std::string_view> out = common::Split(text, '\n');
    for (std::string_view& line : out) {
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    }
    return out;
}

// ---- numbers ------------------------------------------------------------------

struct Number {
    double value = 0;
    bool percent = false;
    double denominator = 0;  // "7/10" → 10; 0 when absent
};

// First number in `s` ("7", "0.85", "85%", "7/10").
std::optional<Number> FirstNumber(std::string_view s) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        const bool starts = IsDigit(s[i]) || (s[i] == '.' && i + 1 < s.size() && IsDigit(s[i + 1]));
        if (!starts) continue;
        std::string buf;
        if (s[i] == '.') buf = "0";
        std::size_t j = i;
        while (j < s.size() && (IsDigit(s[j]) || s[j] == '.')) buf.push_back(s[j++]);
        Number n;
        auto [ptr, ec] = std::from_chars(buf.data(), buf.data() + buf.size(), n.value);
        if (ec != std::errc()) return std::nullopt;
        const std::size_t consumed = static_cast<std::size_t>(ptr - buf.data()) - (s[i] == '.');
        std::size_t k = i + consumed;
        while (k < s.size() && s[k] == ' ') ++k;
        n.percent = k < s.size() && s[k] == '%';
        if (k < s.size() && s[k] == '/') {
            std::size_t d = k + 1;
            while (d < s.size() && s[d] == ' ') ++d;
            std::size_t e = d;
            while (e < s.size() && IsDigit(s[e])) ++e;
            double denominator = 0;
            if (e > d &&
                std::from_chars(s.data() + d, s.data() + e, denominator).ec == std::errc() &&
                denominator > 0) {
                n.denominator = denominator;
            }
        }
        return n;
    }
    return std::nullopt;
}

// 0.85, "85%", 85 and "8.5/10" all mean 0.85.
double NormalizeConfidence(Number n) {
    double v = n.value;
    if (n.denominator > 0) {
        v /= n.denominator;
    } else if (n.percent || (v > 1 && v <= 100)) {
        v /= 100;
    }
    if (!std::isfinite(v)) return kDefaultConfidence;
    return std::clamp(v, 0.0, 1.0);
}

// Severity is on a 0-10 scale; "70/100" and "7/10" both mean 7.
double NormalizeSeverity(Number n) {
    double v = n.denominator > 0 ? n.value * 10 / n.denominator : n.value;
    if (!std::isfinite(v)) return kDefaultSeverity;
    return std::clamp(v, 0.0, 10.0);
}

// ---- JSON ---------------------------------------------------------------------

std::optional<json::object> TryParseObject(std::string_view text) {
    json::parse_options opts;
    opts.allow_comments = true;
    opts.allow_trailing_commas = true;
    json::parser p(json::storage_ptr(), opts);
    json::error_code ec;
    p.write_some(text.data(), text.size(), ec);
    if (ec) return std::nullopt;
    json::value v = p.release();
    if (!v.is_object()) return std::nullopt;
    return std::move(v.as_object());
}

// The first JSON object of the reply: inside a ``` fence if there is one, else the
// first '{' from which a complete object parses.
std::optional<json::object> ExtractObject(std::string_view reply) {
    std::size_t fence = reply.find("```");
    while (fence != std::string_view::npos) {
        std::size_t body = reply.find('\n', fence + 3);
        if (body == std::string_view::npos) break;
        const std::size_t end = reply.find("```", body);
        if (end == std::string_view::npos) break;
        const std::string_view inner = Trim(reply.substr(body + 1, end - body - 1));
        if (!inner.empty() && inner.front() == '{') {
            if (auto obj = TryParseObject(inner)) return obj;
        }
        fence = reply.find("```", end + 3);
    }
    int attempts = 0;
    for (std::size_t pos = reply.find('{');
         pos != std::string_view::npos && attempts < kMaxJsonAttempts;
         pos = reply.find('{', pos + 1), ++attempts) {
        if (auto obj = TryParseObject(reply.substr(pos))) return obj;
    }
    return std::nullopt;
}

const json::value* FindKey(const json::object& obj, std::initializer_list<std::string_view> keys) {
    for (auto key : keys) {
        for (const auto& kv : obj) {
            if (ToLower(kv.key()) == key) return &kv.value();
        }
    }
    return nullptr;
}

std::optional<std::string> AsText(const json::value& v) {
    if (v.is_string()) return std::string(v.as_string());
    if (v.is_number() || v.is_bool()) return json::serialize(v);
    if (v.is_object()) {
        const auto* inner = FindKey(v.as_object(), {"issue", "description", "text", "suggestion",
                                                    "summary", "title", "message"});
        if (inner != nullptr && inner->is_string()) return std::string(inner->as_string());
        return json::serialize(v);
    }
    return std::nullopt;
}

std::vector<std::string> AsStrings(const json::value& v) {
    std::vector<std::string> out;
    const auto add = [&](const json::value& item) {
        if (auto s = AsText(item)) {
            auto t = Trim(*s);
            if (!t.empty()) out.emplace_back(t);
        }
    };
    if (v.is_array()) {
        for (const auto& item : v.as_array()) add(item);
    } else {
        add(v);
    }
    return out;
}

std::optional<Number> AsNumber(const json::value& v) {
    if (v.is_double()) return Number{v.as_double(), false};
    if (v.is_int64()) return Number{static_cast<double>(v.as_int64()), false};
    if (v.is_uint64()) return Number{static_cast<double>(v.as_uint64()), false};
    if (v.is_string()) return FirstNumber(v.as_string());
    return std::nullopt;
}

// ---- labelled lines -------------------------------------------------------------

struct Labelled {
    std::string key;  // lower-case label without markdown decoration
    std::string_view value;
};

// "**Severity:** 7", "## Issues:", "Choice - demo:critic" are labels; bullets are not.
std::optional<Labelled> AsLabel(std::string_view line) {
    std::string_view s = Trim(line);
    while (!s.empty() && (s.front() == '#' || s.front() == '*' || s.front() == '_')) {
        s.remove_prefix(1);
    }
    const std::size_t colon = s.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon > 40) return std::nullopt;
    std::string_view key = s.substr(0, colon);
    while (!key.empty() && (key.back() == '*' || key.back() == '_' || IsAsciiSpace(key.back()))) {
        key.remove_suffix(1);
    }
    std::string_view value = s.substr(colon + 1);
    while (!value.empty() &&
           (value.front() == '*' || value.front() == '_' || IsAsciiSpace(value.front()))) {
        value.remove_prefix(1);
    }
    for (char c : key) {
        if (!(IsAlnum(c) || c == ' ' || c == '-' || c == '_')) return std::nullopt;
    }
    return Labelled{ToLower(Trim(key)), Trim(value)};
}

// "- x", "* x", "• x", "1. x", "2) x" → "x".
std::optional<std::string_view> AsBullet(std::string_view line) {
    std::string_view s = Trim(line);
    if (s.size() >= 2 && (s[0] == '-' || s[0] == '*' || s[0] == '+') && IsAsciiSpace(s[1])) {
        return Trim(s.substr(2));
    }
    if (s.rfind("\xE2\x80\xA2", 0) == 0) return Trim(s.substr(3));
    std::size_t i = 0;
    while (i < s.size() && IsDigit(s[i])) ++i;
    if (i > 0 && i + 1 < s.size() && (s[i] == '.' || s[i] == ')') && IsAsciiSpace(s[i + 1])) {
        return Trim(s.substr(i + 2));
    }
    return std::nullopt;
}

template <std::size_t N>
bool OneOf(const std::string& key, const std::string_view (&names)[N]) {
    return std::find(std::begin(names), std::end(names), key) != std::end(names);
}

constexpr std::string_view kIssueLabels[] = {"issues",     "issue",    "problems", "problem",
                                             "weaknesses", "weakness", "concerns", "concern"};
constexpr std::string_view kSuggestionLabels[] = {"suggestions",     "suggestion",
                                                  "recommendations", "recommendation",
                                                  "improvements",    "improvement"};
constexpr std::string_view kReasoningLabels[] = {"reasoning", "reason",      "rationale",
                                                 "summary",   "explanation", "justification"};
constexpr std::string_view kSeverityLabels[] = {"severity", "severity score"};
constexpr std::string_view kChoiceLabels[] = {"choice",        "vote",     "my vote",
                                              "winner",        "selected", "selection",
                                              "best proposal", "best",     "pick"};
constexpr std::string_view kConfidenceLabels[] = {"confidence"};

void AppendText(std::string& to, std::string_view more) {
    more = Trim(more);
    if (more.empty()) return;
    if (!to.empty()) to += ' ';
    to += more;
}

bool ParseCritiqueLines(std::string_view reply, Critique& c) {
    enum class Section { kNone, kIssues, kSuggestions, kReasoning } section = Section::kNone;
    bool any = false;
    for (std::string_view line : Lines(reply)) {
        if (Trim(line).empty()) continue;
        if (auto label = AsLabel(line)) {
            if (OneOf(label->key, kIssueLabels)) {
                section = Section::kIssues;
                if (!label->value.empty()) c.issues.emplace_back(label->value);
                any = true;
                continue;
            }
            if (OneOf(label->key, kSuggestionLabels)) {
                section = Section::kSuggestions;
                if (!label->value.empty()) c.suggestions.emplace_back(label->value);
                any = true;
                continue;
            }
            if (OneOf(label->key, kSeverityLabels)) {
                if (auto n = FirstNumber(label->value)) c.severity = NormalizeSeverity(*n);
                section = Section::kNone;
                any = true;
                continue;
            }
            if (OneOf(label->key, kReasoningLabels)) {
                section = Section::kReasoning;
                AppendText(c.reasoning, label->value);
                any = true;
                continue;
            }
        }
        const auto bullet = AsBullet(line);
        const std::string_view text = bullet ? *bullet : Trim(line);
        switch (section) {
            case Section::kIssues:
                if (!text.empty()) c.issues.emplace_back(text);
                break;
            case Section::kSuggestions:
                if (!text.empty()) c.suggestions.emplace_back(text);
                break;
            case Section::kReasoning:
                AppendText(c.reasoning, text);
                break;
            case Section::kNone:
                break;
        }
    }
    return any;
}

// ---- candidate matching -----------------------------------------------------------

std::string CleanChoice(std::string_view s) {
    s = Trim(s);
    const auto junk = [](char ch) {
        return ch == '"' || ch == '\'' || ch == '`' || ch == '*' || ch == '_' || ch == '[' ||
               ch == ']' || ch == '(' || ch == ')' || ch == '<' || ch == '>';
    };
    while (!s.empty() && junk(s.front())) s.remove_prefix(1);
    while (!s.empty() && (junk(s.back()) || s.back() == '.' || s.back() == ',' || s.back() == '!' ||
                          s.back() == ';' || IsAsciiSpace(s.back()))) {
        s.remove_suffix(1);
    }
    return ToLower(s);
}

// Exact name, else unique prefix, else unique bare model/persona ("critic" for
// "demo:critic"), else the longest name the text starts with ("demo:critic's proposal").
std::optional<std::string> MatchCandidate(std::string_view given,
                                          const std::vector<std::string>& candidates) {
    const std::string g = CleanChoice(given);
    if (g.empty()) return std::nullopt;
    std::vector<std::string> lower;
    for (const auto& c : candidates) lower.push_back(ToLower(c));

    for (std::size_t i = 0; i < candidates.size(); ++i) {
        if (lower[i] == g) return candidates[i];
    }
    const auto unique = [&](auto pred) -> std::optional<std::string> {
        std::optional<std::size_t> found;
        for (std::size_t i = 0; i < candidates.size(); ++i) {
            if (!pred(lower[i])) continue;
            if (found) return std::nullopt;
            found = i;
        }
        if (found) return candidates[*found];
        return std::nullopt;
    };
    if (auto m = unique([&](const std::string& c) { return c.rfind(g, 0) == 0; })) return m;
    if (auto m = unique([&](const std::string& c) {
            const std::size_t colon = c.find(':');
            return colon != std::string::npos && c.substr(colon + 1) == g;
        })) {
        return m;
    }
    std::optional<std::size_t> best;
    for (std::size_t i = 0; i < candidates.size(); ++i) {
        const std::string& c = lower[i];
        if (c.empty() || g.rfind(c, 0) != 0 || IsNameChar(g[c.size()])) continue;
        if (!best || c.size() > lower[*best].size()) best = i;
    }
    if (best) return candidates[*best];
    return std::nullopt;
}

// The only candidate the text names (whole-name match), if exactly one is named.
std::optional<std::string> SoleMention(std::string_view text,
                                       const std::vector<std::string>& candidates) {
    const std::string low = ToLower(text);
    std::optional<std::size_t> found;
    for (std::size_t i = 0; i < candidates.size(); ++i) {
        const std::string name = ToLower(candidates[i]);
        if (name.empty()) continue;
        bool mentioned = false;
        for (std::size_t pos = low.find(name); pos != std::string::npos;
             pos = low.find(name, pos + 1)) {
            const std::size_t end = pos + name.size();
            const bool start_ok = pos == 0 || !IsNameChar(low[pos - 1]);
            const bool end_ok = end >= low.size() || !IsNameChar(low[end]);
            if (start_ok && end_ok) {
                mentioned = true;
                break;
            }
        }
        if (!mentioned) continue;
        if (found && ToLower(candidates[*found]) != name) return std::nullopt;
        found = i;
    }
    if (found) return candidates[*found];
    return std::nullopt;
}

}  // namespace

Critique ParseCritique(std::string_view critic, std::string_view target, std::string_view reply) {
    Critique c;
    c.critic = std::string(critic);
    c.target = std::string(target);
    c.content = std::string(reply);
    c.severity = kDefaultSeverity;

    if (auto obj = ExtractObject(reply)) {
        bool known = false;
        if (const auto* v =
                FindKey(*obj, {"issues", "issue", "problems", "weaknesses", "concerns"})) {
            c.issues = AsStrings(*v);
            known = true;
        }
        if (const auto* v =
                FindKey(*obj, {"suggestions", "suggestion", "recommendations", "improvements"})) {
            c.suggestions = AsStrings(*v);
            known = true;
        }
        if (const auto* v = FindKey(*obj, {"severity", "severity_score"})) {
            if (auto n = AsNumber(*v)) c.severity = NormalizeSeverity(*n);
            known = true;
        }
        if (const auto* v =
                FindKey(*obj, {"reasoning", "reason", "rationale", "summary", "explanation"})) {
            if (auto s = AsText(*v)) c.reasoning = std::string(Trim(*s));
            known = true;
        }
        if (known) {
            c.parsed = true;
            return c;
        }
        c.issues.clear();
        c.suggestions.clear();
        c.severity = kDefaultSeverity;
        c.reasoning.clear();
    }

    if (ParseCritiqueLines(reply, c)) {
        c.parsed = true;
        return c;
    }

    c.issues.clear();
    c.suggestions.clear();
    c.reasoning.clear();
    c.severity = kDefaultSeverity;
    if (auto whole = Trim(reply); !whole.empty()) c.issues.emplace_back(whole);
    c.parsed = false;
    return c;
}

ParsedVote ParseVote(std::string_view voter, std::string_view reply,
                     const std::vector<std::string>& candidates, std::string_view fallback_choice) {
    ParsedVote out;
    out.vote.voter = std::string(voter);

    std::optional<std::string> choice;
    std::optional<double> confidence;
    std::string reasoning;

    if (auto obj = ExtractObject(reply)) {
        if (const auto* v = FindKey(
                *obj, {"choice", "vote", "winner", "agent", "proposal", "selected", "pick"})) {
            if (auto s = AsText(*v)) choice = MatchCandidate(*s, candidates);
        }
        if (const auto* v = FindKey(*obj, {"confidence"})) {
            if (auto n = AsNumber(*v)) confidence = NormalizeConfidence(*n);
        }
        if (const auto* v = FindKey(*obj, {"reasoning", "reason", "rationale", "explanation"})) {
            if (auto s = AsText(*v)) reasoning = std::string(Trim(*s));
        }
    }

    if (!choice || !confidence || reasoning.empty()) {
        bool in_reasoning = false;
        std::string line_reasoning;
        for (std::string_view line : Lines(reply)) {
            if (Trim(line).empty()) continue;
            if (auto label = AsLabel(line)) {
                if (OneOf(label->key, kChoiceLabels)) {
                    if (!choice) choice = MatchCandidate(label->value, candidates);
                    in_reasoning = false;
                    continue;
                }
                if (OneOf(label->key, kConfidenceLabels)) {
                    if (auto n = FirstNumber(label->value); n && !confidence) {
                        confidence = NormalizeConfidence(*n);
                    }
                    in_reasoning = false;
                    continue;
                }
                if (OneOf(label->key, kReasoningLabels)) {
                    AppendText(line_reasoning, label->value);
                    in_reasoning = true;
                    continue;
                }
            }
            if (in_reasoning) AppendText(line_reasoning, line);
        }
        if (reasoning.empty()) reasoning = std::move(line_reasoning);
    }

    if (!choice) choice = SoleMention(reply, candidates);

    if (!choice) {
        out.vote.choice = std::string(fallback_choice);
        out.vote.confidence = kDefaultConfidence;
        out.vote.reasoning = std::string(Trim(reply));
        out.parsed = false;
        return out;
    }
    out.vote.choice = *choice;
    out.vote.confidence = confidence.value_or(kDefaultConfidence);
    out.vote.reasoning = reasoning.empty() ? std::string(Trim(reply)) : std::move(reasoning);
    out.parsed = true;
    return out;
}

Proposal ParseProposal(std::string_view agent, int round, std::string_view reply) {
    Proposal p;
    p.agent = std::string(agent);
    p.round = round;
    p.confidence = kDefaultConfidence;

    std::string_view body = Trim(reply);
    const std::size_t nl = body.find_last_of('\n');
    const std::string_view last = nl == std::string_view::npos ? body : body.substr(nl + 1);
    if (auto label = AsLabel(last); label && OneOf(label->key, kConfidenceLabels)) {
        if (auto n = FirstNumber(label->value)) {
            p.confidence = NormalizeConfidence(*n);
            body = Trim(nl == std::string_view::npos ? std::string_view{} : body.substr(0, nl));
        }
    }
    p.content = std::string(body);
    return p;
}

}  // namespace aragora::debate
