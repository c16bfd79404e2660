#!/usr/bin/env python3
"""The route table's rows name their fields (STYLE.md: "named fields, so a swap cannot
compile"): every `r.Add({` in the given files must start with `.method =`. Exit 1 and one
line per positional row."""

import re
import sys


def main(paths):
    bad, rows = 0, 0
    for path in paths:
        with open(path) as f:
            src = f.read()
        for m in re.finditer(r"\br\.Add\(\{\s*(\S+)", src):
            rows += 1
            if m.group(1) != ".method":
                line = src.count("\n", 0, m.start()) + 1
                print("%s:%d: positional route row: write .method = ..., .path = ..." %
                      (path, line))
                bad += 1
    if rows == 0:
        print("no route rows found in %s" % " ".join(paths))
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
