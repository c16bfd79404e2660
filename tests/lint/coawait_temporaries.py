#!/usr/bin/env python3
"""The g++ 12 coroutine rule of docs/development.md, checked.

g++ 12 destroys a closure or braced aggregate temporary twice when it is created inside a
co_await full-expression and has a member with a destructor. This check reads C++ sources
as tokens and refuses, in every statement that contains `co_await`:

  - a lambda with a by-value capture (`[=]`, `[x]`, `[x = expr]`, `[*this]`), unless the
    captured name is declared earlier in the file with a type that has no destructor: a
    pointer, an arithmetic or std::chrono type, or an enum declared in the checked files
    (`auto` does not count: its type is not written);
  - a braced temporary with content (`Agg{a, b}`, `f({a, b})`); an empty `{}` is fine.

Lambdas capturing only `this` and references are fine (the coroutine frame outlives the
awaited work), as are lambdas named before the co_await statement, constructor calls
with parentheses and values returned by functions.

Usage: coawait_temporaries.py FILE_OR_DIR...   (exit 1 and one line per finding)
A statement that is known to be safe can end with the comment `// coawait-ok: <why>`.
"""

import os
import re
import sys

TRIVIAL_TYPES = {
    "int", "unsigned", "long", "short", "bool", "char", "double", "float", "size_t",
    "std::size_t", "ptrdiff_t", "std::ptrdiff_t", "auto*", "uint16_t", "uint8_t",
}
TRIVIAL_PATTERNS = [
    r"(std::)?u?int(8|16|32|64)_t",
    r"std::chrono::[\w:]+",
    r"(\w+::)*(time_point|duration|seconds|milliseconds|microseconds|nanoseconds)",
]
ENUMS = set()  # enum names declared in the checked sources (filled by main)
ENUM_DECL = re.compile(r"\benum\s+(?:class\s+|struct\s+)?(\w+)\s*(?::\s*[\w:]+\s*)?[{;]")
CONTROL = {"if", "while", "for", "switch", "catch"}
BLOCK_PREV = {";", "{", "}", "else", "do", "try", ":", "const", "override", "noexcept",
              "final", None}
SUPPRESS = "coawait-ok:"

TOKEN = re.compile(
    r"""(?P<ws>\s+)
      | (?P<comment>//[^\n]*|/\*.*?\*/)
      | (?P<string>R"(?P<delim>[^(\s]*)\(.*?\)(?P=delim)"|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')
      | (?P<pp>\#[^\n]*(?:\\\n[^\n]*)*)
      | (?P<word>[A-Za-z_]\w*)
      | (?P<num>\d[\w.']*)
      | (?P<op>::|->|&&|\|\||[-+*/%=<>!&|^~?:;,.(){}\[\]])
    """,
    re.S | re.X,
)


class Tok:
    __slots__ = ("text", "line", "kind")

    def __init__(self, text, line, kind):
        self.text, self.line, self.kind = text, line, kind


def tokenize(src):
    toks, suppressed = [], set()
    line, pos = 1, 0
    while pos < len(src):
        m = TOKEN.match(src, pos)
        if not m:  # an unknown character (e.g. '@' in a comment-less place): skip it
            pos += 1
            continue
        kind = m.lastgroup if m.lastgroup != "delim" else "string"
        text = m.group(0)
        if kind == "comment" and SUPPRESS in text:
            suppressed.add(line)
        if kind not in ("ws", "comment", "pp"):
            toks.append(Tok("\"\"" if kind == "string" else text, line, kind))
        line += text.count("\n")
        pos = m.end()
    return toks, suppressed


def match_brackets(toks):
    pairs, stack = {}, []
    opener = {")": "(", "]": "[", "}": "{"}
    for i, t in enumerate(toks):
        if t.text in "([{" and t.kind == "op":
            stack.append(i)
        elif t.text in ")]}" and t.kind == "op":
            while stack and toks[stack[-1]].text != opener[t.text]:
                stack.pop()  # tolerate unbalanced input
            if stack:
                j = stack.pop()
                pairs[i], pairs[j] = j, i
    return pairs


def text(toks, i):
    return toks[i].text if 0 <= i < len(toks) else None


def is_lambda_introducer(toks, pairs, i):
    """`[` at i opens a lambda (not a subscript, not an attribute)."""
    if text(toks, i) != "[" or i not in pairs:
        return False
    prev = text(toks, i - 1)
    if prev is not None and (toks[i - 1].kind in ("word", "num", "string") and
                             prev not in ("return", "co_await", "co_return", "co_yield")):
        return False
    if prev in (")", "]", ">") or text(toks, i + 1) == "[":
        return False
    after = text(toks, pairs[i] + 1)
    return after in ("(", "{", "mutable", "->", "<", "noexcept", "constexpr")


def brace_is_expression(toks, pairs, i):
    """`{` at i starts an expression (init list, aggregate, lambda body), not a block."""
    prev = text(toks, i - 1)
    if prev == ")":
        j = pairs.get(i - 1)
        return j is not None and text(toks, j - 1) == "]"  # lambda body after (params)
    if prev in BLOCK_PREV:
        return False
    return True


def lambda_body_brace(toks, pairs, i):
    """The index of the `{` of the lambda whose introducer `[` is at i."""
    j = pairs[i] + 1
    while j < len(toks) and toks[j].text != "{":
        if toks[j].text in "([" and j in pairs:
            j = pairs[j]
        j += 1
    return j


def statement_bounds(toks, pairs, i):
    """[start, end) of the statement holding the token at i."""
    j = i - 1
    while j >= 0:
        t = toks[j].text
        if t in (")", "]") and j in pairs:
            j = pairs[j] - 1
            continue
        if t == "}" and j in pairs:
            if brace_is_expression(toks, pairs, pairs[j]):
                j = pairs[j] - 1
                continue
            break
        if t in (";", "{"):
            break
        j -= 1
    start = j + 1
    k = i + 1
    while k < len(toks):
        t = toks[k].text
        if t in ("(", "[") and k in pairs:
            k = pairs[k] + 1
            continue
        if t == "{":
            if brace_is_expression(toks, pairs, k) and k in pairs:
                k = pairs[k] + 1
                continue
            break
        if t in (";", "}"):
            break
        k += 1
    return start, k


def declared_type(toks, name, before):
    """The type written before the last declaration of `name` ahead of token `before`."""
    for j in range(before - 1, 0, -1):
        if toks[j].text != name or toks[j].kind != "word":
            continue
        nxt = text(toks, j + 1)
        if nxt not in ("=", ";", "{", "(", ",", ")", ":", "["):
            continue
        # Collect the type tokens to the left: words, ::, <>, *, &, const.
        k, parts = j - 1, []
        depth = 0
        while k >= 0:
            t = toks[k].text
            if t == ">":
                depth += 1
            elif t == "<":
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and not (toks[k].kind == "word" or t in ("::", "*", "&")):
                break
            parts.append(t)
            k -= 1
        parts.reverse()
        if not parts or parts[-1] in ("return", "co_return", "co_await", "case", "goto"):
            continue
        if toks[j - 1].kind == "op" and toks[j - 1].text not in ("*", "&", ">"):
            continue
        if toks[j - 1].kind == "word" or toks[j - 1].text in ("*", "&", ">"):
            return " ".join(parts)
    return None


def trivially_destructible(type_text):
    if type_text is None:
        return False
    t = type_text.replace(" :: ", "::").replace(" ::", "::").replace(":: ", "::")
    t = re.sub(r"\b(const|volatile|static|constexpr|inline|mutable)\b", "", t).strip()
    if t.endswith("*") or t.endswith("* &") or "*" in t.split("<")[0]:
        return True
    t = t.rstrip("&").strip()
    if t in TRIVIAL_TYPES or t.split("::")[-1] in ENUMS:
        return True
    return any(re.fullmatch(p, t) for p in TRIVIAL_PATTERNS)


def capture_findings(toks, pairs, i):
    """Problems with the capture list of the lambda introduced at i."""
    out, items, cur = [], [], []
    for k in range(i + 1, pairs[i]):
        t = toks[k].text
        if t == "," and not cur_depth(toks, pairs, i, k):
            items.append(cur)
            cur = []
        else:
            cur.append(k)
    if cur:
        items.append(cur)
    for item in items:
        words = [toks[k].text for k in item]
        if not words:
            continue
        line = toks[item[0]].line
        if words[0] == "&" or words == ["this"]:
            continue
        if words == ["="]:
            out.append((line, "captures everything by copy ([=])"))
        elif words[:2] == ["*", "this"]:
            out.append((line, "captures *this by copy"))
        elif len(words) > 1:
            out.append((line, "init-capture '%s' by value" % words[0]))
        elif not trivially_destructible(declared_type(toks, words[0], i)):
            out.append((line, "captures '%s' by value" % words[0]))
    return out


def cur_depth(toks, pairs, start, k):
    depth = 0
    for j in range(start + 1, k):
        if toks[j].text in "([{":
            depth += 1
        elif toks[j].text in ")]}":
            depth -= 1
    return depth


def check_statement(toks, pairs, start, end):
    findings = []
    k = start
    while k < end:
        t = toks[k].text
        if t == "[" and is_lambda_introducer(toks, pairs, k):
            for line, problem in capture_findings(toks, pairs, k):
                findings.append((line, "lambda " + problem))
            body = lambda_body_brace(toks, pairs, k)
            # A lambda's body has statements of its own: not part of this expression.
            k = pairs.get(body, body) + 1
            continue
        if t == "{" and k in pairs and brace_is_expression(toks, pairs, k):
            if pairs[k] != k + 1:  # `{}` is value-initialisation: nothing to destroy twice
                prev = text(toks, k - 1)
                what = ("'%s{...}'" % prev) if toks[k - 1].kind == "word" else "'{...}'"
                findings.append((toks[k].line, "braced temporary %s" % what))
            k = pairs[k] + 1
            continue
        k += 1
    return findings


def check_source(src):
    toks, suppressed = tokenize(src)
    pairs = match_brackets(toks)
    seen, findings = set(), []
    for i, t in enumerate(toks):
        if t.text != "co_await":
            continue
        start, end = statement_bounds(toks, pairs, i)
        if (start, end) in seen:
            continue
        seen.add((start, end))
        lines = {toks[k].line for k in range(start, min(end + 1, len(toks)))}
        if lines & suppressed:
            continue
        for line, what in check_statement(toks, pairs, start, end):
            findings.append((line, what))
    return sorted(set(findings))


def sources(paths):
    for p in paths:
        if os.path.isdir(p):
            for root, _, files in os.walk(p):
                for f in sorted(files):
                    if f.endswith((".cpp", ".hpp", ".h", ".cc")):
                        yield os.path.join(root, f)
        else:
            yield p


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    paths = list(sources(argv[1:]))
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            ENUMS.update(ENUM_DECL.findall(f.read()))
    count = 0
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line, what in check_source(f.read()):
                print("%s:%d: %s inside a co_await statement (docs/development.md, "
                      "coroutine rule)" % (path, line, what))
                count += 1
    if count:
        print("%d finding(s): name the lambda or value before the co_await statement, or "
              "capture by reference" % count, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
