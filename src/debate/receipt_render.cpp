#include <boost/json.hpp>
#include <cstdio>

#include "common/jcs.hpp"
#include "common/json_access.hpp"
#include "common/strings.hpp"
#include "debate/receipt.hpp"

namespace aragora::debate {

namespace json = boost::json;
using common::ErrorCode;
using common::MakeError;

namespace {

// Numbers are only displayed here, so Boost.JSON's reading of them is good enough.
std::string Str(const json::object& obj, std::string_view key) {
    const json::value* v = obj.if_contains(key);
    if (!v || v->is_null()) return {};
    if (v->is_string()) return std::string(v->get_string());
    return json::serialize(*v);
}

std::string Fixed(std::optional<double> x, int decimals) {
    if (!x) return "n/a";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, *x);
    return buf;
}

std::string Confidence(std::optional<double> x) {
    if (!x) return "n/a";
    return Fixed(x, 2) + " (" + Fixed(*x * 100, 0) + "%)";
}

std::string YesNo(const json::object& obj, std::string_view key) {
    const json::value* v = obj.if_contains(key);
    if (!v || !v->is_bool()) return "n/a";
    return v->get_bool() ? "yes" : "no";
}

std::vector<std::string> Strings(const json::array& arr) {
    std::vector<std::string> out;
    for (const json::value& v : arr) {
        if (v.is_string()) out.emplace_back(v.get_string());
    }
    return out;
}

// --- Markdown -----------------------------------------------------------------------

// A table cell never empty, so that every row has all its columns.
std::string MdCell(std::string_view s) {
    std::string cell = common::MarkdownTableCell(s);
    return cell.empty() ? " " : cell;
}

std::string MdQuote(std::string_view s) {
    if (s.empty()) return "> _(none)_\n";
    std::string out = "> ";
    for (char c : common::MarkdownEscape(s)) {
        if (c == '\r') continue;
        out.push_back(c);
        if (c == '\n') out.append("> ");
    }
    out.push_back('\n');
    return out;
}

// Hashes, key ids and signature values (hex or base64) in a code span.
std::string MdCode(std::string_view s) {
    if (s.empty()) return "_none_";
    return "`" + MdCell(s) + "`";
}

std::string RenderMarkdown(const json::object& r) {
    const json::object& consensus = common::ObjectFieldOrEmpty(r, "consensus");
    std::string md;
    md += "# Decision receipt " + MdCell(Str(r, "receipt_id")) + "\n\n";
    md += "| Field | Value |\n|---|---|\n";
    md += "| Verdict | **" + MdCell(Str(r, "verdict")) + "** |\n";
    md += "| Confidence | " + Confidence(common::DoubleField(r, "confidence")) + " |\n";
    md += "| Status | " + MdCell(Str(r, "status")) + " |\n";
    md += "| Debate | " + MdCell(Str(r, "debate_id")) + " |\n";
    md += "| Rounds used | " + MdCell(Str(r, "rounds_used")) + " |\n";
    md += "| Timestamp | " + MdCell(Str(r, "timestamp")) + " |\n\n";

    md += "## Question\n\n" + MdQuote(Str(r, "question")) + "\n";
    md += "## Final answer\n\n" + MdQuote(Str(r, "final_answer")) + "\n";

    md += "## Consensus\n\n";
    md += "- Reached: " + YesNo(consensus, "reached") + "\n";
    md += "- Method: " + common::MarkdownEscape(Str(consensus, "method")) + "\n";
    md += "- Confidence: " + Confidence(common::DoubleField(consensus, "confidence")) + "\n";
    md += "- Supporting agents: " +
          common::MarkdownEscape(common::Join(
              Strings(common::ArrayFieldOrEmpty(consensus, "supporting_agents")), ", ")) +
          "\n";
    md += "- Dissenting agents: " +
          common::MarkdownEscape(common::Join(
              Strings(common::ArrayFieldOrEmpty(consensus, "dissenting_agents")), ", ")) +
          "\n\n";

    const json::array& dissents = common::ArrayFieldOrEmpty(consensus, "dissents");
    md += "### Dissents\n\n";
    if (dissents.empty()) md += "None.\n";
    for (const json::value& d : dissents) {
        if (!d.is_object()) continue;
        const json::object& dissent = d.get_object();
        md += "- **" + MdCell(Str(dissent, "agent")) + "**";
        auto reasons = Strings(common::ArrayFieldOrEmpty(dissent, "reasons"));
        if (!reasons.empty()) md += ": " + MdCell(common::Join(reasons, "; "));
        std::string alt = Str(dissent, "alternative_view");
        if (!alt.empty()) md += " (alternative view: " + MdCell(alt) + ")";
        md += "\n";
    }
    md += "\n## Agents\n\n";
    for (const std::string& a : Strings(common::ArrayFieldOrEmpty(r, "agents")))
        md += "- " + MdCell(a) + "\n";

    md +=
        "\n## Provenance\n\n| Round | Agent | Phase | Target | SHA-256 |\n|---|---|---|---|---|\n";
    for (const json::value& round : common::ArrayFieldOrEmpty(r, "provenance")) {
        if (!round.is_object()) continue;
        std::string number = Str(round.get_object(), "round");
        for (const json::value& e : common::ArrayFieldOrEmpty(round.get_object(), "entries")) {
            if (!e.is_object()) continue;
            const json::object& entry = e.get_object();
            md += "| " + MdCell(number) + " | " + MdCell(Str(entry, "agent")) + " | " +
                  MdCell(Str(entry, "phase")) + " | " + MdCell(Str(entry, "target")) + " | " +
                  MdCode(Str(entry, "sha256")) + " |\n";
        }
    }

    // Who failed and who stood in (docs/engine.md "When an agent's call fails"); receipts
    // made before these members existed show none.
    const json::array& failures = common::ArrayFieldOrEmpty(r, "agent_failures");
    md += "\n## Agent failures\n\n";
    if (failures.empty()) md += "None.\n";
    if (!failures.empty()) {
        md +=
            "| Round | Agent | Phase | Target | Error | Attempts | Outcome |\n"
            "|---|---|---|---|---|---|---|\n";
    }
    for (const json::value& f : failures) {
        if (!f.is_object()) continue;
        const json::object& x = f.get_object();
        md += "| " + MdCell(Str(x, "round")) + " | " + MdCell(Str(x, "agent")) + " | " +
              MdCell(Str(x, "phase")) + " | " + MdCell(Str(x, "target")) + " | " +
              MdCell(Str(x, "code") + ": " + Str(x, "message")) + " | " +
              MdCell(Str(x, "attempts")) + " | " + MdCell(Str(x, "outcome")) + " |\n";
    }
    const json::array& substitutions = common::ArrayFieldOrEmpty(r, "substitutions");
    md += "\n## Substitutions\n\n";
    if (substitutions.empty()) md += "None.\n";
    if (!substitutions.empty()) {
        md += "| Round | Agent | Phase | Replaced by | Reason |\n|---|---|---|---|---|\n";
    }
    for (const json::value& s : substitutions) {
        if (!s.is_object()) continue;
        const json::object& x = s.get_object();
        md += "| " + MdCell(Str(x, "round")) + " | " + MdCell(Str(x, "agent")) + " | " +
              MdCell(Str(x, "phase")) + " | " + MdCell(Str(x, "replaced_by")) + " | " +
              MdCell(Str(x, "reason")) + " |\n";
    }

    md += "\n## Integrity\n\n";
    md += "- Input hash (SHA-256 of the question): " + MdCode(Str(r, "input_hash")) + "\n";
    md += "- Content hash: " + MdCode(Str(r, "content_hash")) + "\n";
    md += "- Previous receipt: " + MdCode(Str(r, "previous_hash")) + "\n\n";

    md += "## Signatures\n\n| Algorithm | Key id | Signed at | Value |\n|---|---|---|---|\n";
    for (const json::value& s : common::ArrayFieldOrEmpty(r, "signatures")) {
        if (!s.is_object()) continue;
        const json::object& sig = s.get_object();
        md += "| " + MdCell(Str(sig, "algorithm")) + " | " + MdCode(Str(sig, "key_id")) + " | " +
              MdCell(Str(sig, "signed_at")) + " | " + MdCode(Str(sig, "value")) + " |\n";
    }
    return md;
}

// --- HTML ---------------------------------------------------------------------------

std::string Row(std::string_view label, std::string_view escaped_value) {
    return "<tr><th>" + common::HtmlEscape(label) + "</th><td>" + std::string(escaped_value) +
           "</td></tr>\n";
}

std::string RenderHtml(const json::object& r) {
    const json::object& consensus = common::ObjectFieldOrEmpty(r, "consensus");
    std::string h;
    h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    h += "<title>Decision receipt " + common::HtmlEscape(Str(r, "receipt_id")) + "</title>\n";
    h += "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
         "padding:0 1rem;color:#222}table{border-collapse:collapse;margin:.5rem 0}"
         "th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;vertical-align:top}"
         ".text{white-space:pre-wrap;background:#f6f6f6;padding:.6rem;border-left:3px solid #999}"
         "code{font-size:.85em;word-break:break-all}</style>\n</head>\n<body>\n";
    h += "<h1>Decision receipt</h1>\n<table class=\"summary\">\n";
    h += Row("Receipt", "<code>" + common::HtmlEscape(Str(r, "receipt_id")) + "</code>");
    h += Row("Verdict", "<strong>" + common::HtmlEscape(Str(r, "verdict")) + "</strong>");
    h += Row("Confidence", common::HtmlEscape(Confidence(common::DoubleField(r, "confidence"))));
    h += Row("Status", common::HtmlEscape(Str(r, "status")));
    h += Row("Debate", common::HtmlEscape(Str(r, "debate_id")));
    h += Row("Rounds used", common::HtmlEscape(Str(r, "rounds_used")));
    h += Row("Timestamp", common::HtmlEscape(Str(r, "timestamp")));
    h += "</table>\n";

    h += "<h2>Question</h2>\n<div class=\"text\">" + common::HtmlEscape(Str(r, "question")) +
         "</div>\n";
    h += "<h2>Final answer</h2>\n<div class=\"text\">" +
         common::HtmlEscape(Str(r, "final_answer")) + "</div>\n";

    h += "<h2>Consensus</h2>\n<table>\n";
    h += Row("Reached", common::HtmlEscape(YesNo(consensus, "reached")));
    h += Row("Method", common::HtmlEscape(Str(consensus, "method")));
    h += Row("Confidence",
             common::HtmlEscape(Confidence(common::DoubleField(consensus, "confidence"))));
    h += Row("Supporting agents",
             common::HtmlEscape(common::Join(
                 Strings(common::ArrayFieldOrEmpty(consensus, "supporting_agents")), ", ")));
    h += Row("Dissenting agents",
             common::HtmlEscape(common::Join(
                 Strings(common::ArrayFieldOrEmpty(consensus, "dissenting_agents")), ", ")));
    h += "</table>\n<h3>Dissents</h3>\n";
    const json::array& dissents = common::ArrayFieldOrEmpty(consensus, "dissents");
    if (dissents.empty()) {
        h += "<p>None.</p>\n";
    } else {
        h += "<ul>\n";
        for (const json::value& d : dissents) {
            if (!d.is_object()) continue;
            const json::object& dissent = d.get_object();
            h += "<li><strong>" + common::HtmlEscape(Str(dissent, "agent")) + "</strong>";
            auto reasons = Strings(common::ArrayFieldOrEmpty(dissent, "reasons"));
            if (!reasons.empty()) h += ": " + common::HtmlEscape(common::Join(reasons, "; "));
            std::string alt = Str(dissent, "alternative_view");
            if (!alt.empty()) h += " <em>(alternative view: " + common::HtmlEscape(alt) + ")</em>";
            h += "</li>\n";
        }
        h += "</ul>\n";
    }

    h += "<h2>Agents</h2>\n<ul>\n";
    for (const std::string& a : Strings(common::ArrayFieldOrEmpty(r, "agents")))
        h += "<li>" + common::HtmlEscape(a) + "</li>\n";
    h += "</ul>\n";

    h += "<h2>Provenance</h2>\n<table>\n<tr><th>Round</th><th>Agent</th><th>Phase</th>"
         "<th>Target</th><th>SHA-256</th></tr>\n";
    for (const json::value& round : common::ArrayFieldOrEmpty(r, "provenance")) {
        if (!round.is_object()) continue;
        std::string number = Str(round.get_object(), "round");
        for (const json::value& e : common::ArrayFieldOrEmpty(round.get_object(), "entries")) {
            if (!e.is_object()) continue;
            const json::object& entry = e.get_object();
            h += "<tr><td>" + common::HtmlEscape(number) + "</td><td>" +
                 common::HtmlEscape(Str(entry, "agent")) + "</td><td>" +
                 common::HtmlEscape(Str(entry, "phase")) + "</td><td>" +
                 common::HtmlEscape(Str(entry, "target")) + "</td><td><code>" +
                 common::HtmlEscape(Str(entry, "sha256")) + "</code></td></tr>\n";
        }
    }
    h += "</table>\n";

    h += "<h2>Agent failures</h2>\n";
    const json::array& failures = common::ArrayFieldOrEmpty(r, "agent_failures");
    if (failures.empty()) {
        h += "<p>None.</p>\n";
    } else {
        h += "<table>\n<tr><th>Round</th><th>Agent</th><th>Phase</th><th>Target</th>"
             "<th>Error</th><th>Attempts</th><th>Outcome</th></tr>\n";
        for (const json::value& f : failures) {
            if (!f.is_object()) continue;
            const json::object& x = f.get_object();
            h += "<tr><td>" + common::HtmlEscape(Str(x, "round")) + "</td><td>" +
                 common::HtmlEscape(Str(x, "agent")) + "</td><td>" +
                 common::HtmlEscape(Str(x, "phase")) + "</td><td>" +
                 common::HtmlEscape(Str(x, "target")) + "</td><td>" +
                 common::HtmlEscape(Str(x, "code") + ": " + Str(x, "message")) + "</td><td>" +
                 common::HtmlEscape(Str(x, "attempts")) + "</td><td>" +
                 common::HtmlEscape(Str(x, "outcome")) + "</td></tr>\n";
        }
        h += "</table>\n";
    }
    h += "<h2>Substitutions</h2>\n";
    const json::array& substitutions = common::ArrayFieldOrEmpty(r, "substitutions");
    if (substitutions.empty()) {
        h += "<p>None.</p>\n";
    } else {
        h += "<table>\n<tr><th>Round</th><th>Agent</th><th>Phase</th><th>Replaced by</th>"
             "<th>Reason</th></tr>\n";
        for (const json::value& s : substitutions) {
            if (!s.is_object()) continue;
            const json::object& x = s.get_object();
            h += "<tr><td>" + common::HtmlEscape(Str(x, "round")) + "</td><td>" +
                 common::HtmlEscape(Str(x, "agent")) + "</td><td>" +
                 common::HtmlEscape(Str(x, "phase")) + "</td><td>" +
                 common::HtmlEscape(Str(x, "replaced_by")) + "</td><td>" +
                 common::HtmlEscape(Str(x, "reason")) + "</td></tr>\n";
        }
        h += "</table>\n";
    }

    h += "<h2>Integrity</h2>\n<table>\n";
    h += Row("Input hash", "<code>" + common::HtmlEscape(Str(r, "input_hash")) + "</code>");
    h += Row("Content hash", "<code>" + common::HtmlEscape(Str(r, "content_hash")) + "</code>");
    std::string prev = Str(r, "previous_hash");
    h += Row("Previous receipt",
             prev.empty() ? "none" : "<code>" + common::HtmlEscape(prev) + "</code>");
    h += "</table>\n";

    h += "<h2>Signatures</h2>\n<table>\n<tr><th>Algorithm</th><th>Key id</th><th>Signed at</th>"
         "<th>Value</th></tr>\n";
    for (const json::value& s : common::ArrayFieldOrEmpty(r, "signatures")) {
        if (!s.is_object()) continue;
        const json::object& sig = s.get_object();
        h += "<tr><td>" + common::HtmlEscape(Str(sig, "algorithm")) + "</td><td><code>" +
             common::HtmlEscape(Str(sig, "key_id")) + "</code></td><td>" +
             common::HtmlEscape(Str(sig, "signed_at")) + "</td><td><code>" +
             common::HtmlEscape(Str(sig, "value")) + "</code></td></tr>\n";
    }
    h += "</table>\n</body>\n</html>\n";
    return h;
}

}  // namespace

std::optional<ReceiptFormat> ParseReceiptFormat(std::string_view s) {
    const std::string lower = common::ToLower(s);
    if (lower == "json") return ReceiptFormat::kJson;
    if (lower == "md" || lower == "markdown") return ReceiptFormat::kMarkdown;
    if (lower == "html") return ReceiptFormat::kHtml;
    return std::nullopt;
}

common::Result<std::string> RenderReceipt(std::string_view receipt_json, ReceiptFormat format) {
    // The receipt's own JSON, canonical and without the served-only members: what
    // format=json returns and what verifies.
    auto own = common::CanonicalizeJsonObjectWithout(receipt_json, ServedOnlyReceiptFields());
    if (!own) return MakeError(ErrorCode::kBadRequest, "invalid receipt: " + own.error().message);
    if (format == ReceiptFormat::kJson) return std::move(*own);
    json::error_code ec;
    json::value parsed = json::parse(*own, ec);
    if (ec || !parsed.is_object())
        return MakeError(ErrorCode::kBadRequest, "invalid receipt: " + ec.message());
    const json::object& receipt = parsed.get_object();
    if (format == ReceiptFormat::kMarkdown) return RenderMarkdown(receipt);
    return RenderHtml(receipt);
}

}  // namespace aragora::debate
