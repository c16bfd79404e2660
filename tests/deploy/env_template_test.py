#!/usr/bin/env python3
"""deploy/.env.template lists every environment variable the binary reads.

The names are taken from the sources (src/): every string literal shaped like a variable
name (UPPER_CASE with an underscore: how settings.cpp, the agents' key table, the doctor
and the CLI name them) and every getenv("...") literal. Each must appear in the template,
set or commented (`NAME=` or `# NAME=`). Exit 1 names the missing ones.

  env_template_test.py <repo>            the check
  env_template_test.py <repo> --self-test  the check fails on a source that reads a
                                           variable the template lacks, passes otherwise
"""
import pathlib
import re
import sys
import tempfile

# Passed through to child processes (pg_dump's locale), not configuration.
NOT_CONFIGURATION = {"LC_ALL", "LANGUAGE"}
# Provider wire values the agents match (Gemini's error statuses and finishReasons in
# src/agents/wire.cpp), shaped like variable names but never read from the environment.
NOT_CONFIGURATION |= {"RESOURCE_EXHAUSTED", "PERMISSION_DENIED", "INVALID_ARGUMENT",
                      "NOT_FOUND", "FAILED_PRECONDITION", "PROHIBITED_CONTENT",
                      "IMAGE_SAFETY"}

LITERAL = re.compile(r'"([A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9])"')
GETENV = re.compile(r'getenv\(\s*"([A-Za-z_][A-Za-z0-9_]*)"\s*\)')
TEMPLATE_LINE = re.compile(r"^\s*#?\s*([A-Z][A-Z0-9_]*)=", re.M)


def names_read(src: pathlib.Path) -> dict:
    found = {}
    for path in sorted(src.rglob("*")):
        if path.suffix not in (".cpp", ".hpp", ".h", ".cc"):
            continue
        text = path.read_text(errors="replace")
        for rx in (LITERAL, GETENV):
            for m in rx.finditer(text):
                name = m.group(1)
                if name in NOT_CONFIGURATION or not name.isupper():
                    continue
                found.setdefault(name, f"{path.relative_to(src.parent)}:"
                                       f"{text.count(chr(10), 0, m.start()) + 1}")
    return found


def check(src: pathlib.Path, template: pathlib.Path) -> list:
    listed = set(TEMPLATE_LINE.findall(template.read_text()))
    read = names_read(src)
    return [f"{name} (read at {where})" for name, where in sorted(read.items())
            if name not in listed], len(read)


def main() -> int:
    repo = pathlib.Path(sys.argv[1]).resolve()
    template = repo / "deploy" / ".env.template"
    if "--self-test" in sys.argv[2:]:
        with tempfile.TemporaryDirectory() as tmp:
            src = pathlib.Path(tmp) / "src"
            src.mkdir()
            (src / "a.cpp").write_text('auto v = std::getenv("ARAGORA_HOST");\n')
            missing, _ = check(src, template)
            if missing:
                print(f"self-test: a listed variable was reported missing: {missing}")
                return 1
            (src / "b.cpp").write_text(
                'auto w = ReadInt(env, "ARAGORA_NOT_IN_THE_TEMPLATE", 1, 0, 2);\n')
            missing, _ = check(src, template)
            if not any(m.startswith("ARAGORA_NOT_IN_THE_TEMPLATE ") for m in missing):
                print("self-test: a variable missing from the template was not reported")
                return 1
        print("self-test: ok")
        return 0
    missing, total = check(repo / "src", template)
    if total < 50:
        print(f"only {total} variable names found in src/: the extraction is broken")
        return 1
    if missing:
        print(f"deploy/.env.template lacks {len(missing)} variable(s) the binary reads:")
        for m in missing:
            print(f"  {m}")
        return 1
    print(f"deploy/.env.template lists all {total} variables read in src/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
