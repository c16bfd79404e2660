#!/usr/bin/env python3
"""`make reliability`: runs the selected scenarios one after the other, then report.py.

usage: run.py <release build dir> <fuzz build dir>
  RELIABILITY_ONLY  comma list of faults,chaos,soak,fuzz (default: all four)
  RELIABILITY_OUT   where the pieces, the report and the scratch data go
                    (default build-reliability)
Each scenario is its own process (scripts/reliability/<name>.py) bounded by its own
settings (docs/reliability.md); one that fails or is interrupted leaves the others
running and its piece missing ("not run" in the report). Exit 0 when every selected
scenario wrote its piece; the figures are judged in the report, not by the exit code.
"""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ALL = ["faults", "chaos", "soak", "fuzz"]


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    release, fuzz_dir = sys.argv[1], sys.argv[2]
    only = [s.strip() for s in os.environ.get("RELIABILITY_ONLY", ",".join(ALL)).split(",")
            if s.strip()]
    unknown = [s for s in only if s not in ALL]
    if unknown:
        print(f"reliability: unknown scenario(s) {unknown}; choose from {ALL}", file=sys.stderr)
        return 2
    failed = []
    for s in only:
        arg = fuzz_dir if s == "fuzz" else release
        print(f"\n== reliability: {s} ({time.strftime('%H:%M:%S')})", flush=True)
        code = subprocess.call([sys.executable, os.path.join(HERE, f"{s}.py"), arg])
        if code != 0:
            failed.append(f"{s} (exit {code})")
    subprocess.call([sys.executable, os.path.join(HERE, "report.py")])
    if failed:
        print(f"reliability: scenario(s) that did not finish: {', '.join(failed)}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
