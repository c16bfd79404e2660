#!/usr/bin/env python3
"""Tests coawait_temporaries.py on its samples: on samples/coawait_bad.cpp it must fail
and report exactly the lines marked `// EXPECT`; on samples/coawait_good.cpp it must pass
and report nothing."""

import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LINT = os.path.join(HERE, "coawait_temporaries.py")


def run(sample):
    path = os.path.join(HERE, "samples", sample)
    proc = subprocess.run([sys.executable, LINT, path], capture_output=True, text=True)
    lines = {int(m.group(1)) for m in re.finditer(r":(\d+): ", proc.stdout)}
    return path, proc, lines


def main():
    failures = []
    path, proc, reported = run("coawait_bad.cpp")
    with open(path) as f:
        expected = {n for n, line in enumerate(f, 1) if line.rstrip().endswith("// EXPECT")}
    if proc.returncode != 1:
        failures.append("bad sample: exit %d, want 1" % proc.returncode)
    if reported != expected:
        failures.append("bad sample: missed lines %s, extra lines %s" %
                        (sorted(expected - reported), sorted(reported - expected)))
    if len(expected) < 10:
        failures.append("bad sample: only %d EXPECT lines (sample damaged?)" % len(expected))

    _, proc, reported = run("coawait_good.cpp")
    if proc.returncode != 0 or reported:
        failures.append("good sample: exit %d, lines %s\n%s" %
                        (proc.returncode, sorted(reported), proc.stdout))

    for f in failures:
        print("FAIL:", f)
    if not failures:
        print("ok: %d bad constructs found, good sample clean" % len(expected))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
