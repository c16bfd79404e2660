#!/usr/bin/env python3
"""cmake/build_info.cmake: the build facts follow the checked-out commit at every build.

In a throwaway git repository: the first run writes the header naming HEAD; a second run
at the same commit leaves the file untouched (nothing recompiles); after a new commit the
header names it. Usage: build_info_test.py <cmake> <source dir>
"""
import os
import subprocess
import sys
import tempfile


def main() -> int:
    cmake, source = sys.argv[1], sys.argv[2]
    script = os.path.join(source, "cmake", "build_info.cmake")
    template = os.path.join(source, "src", "common", "build_info.hpp.in")
    with tempfile.TemporaryDirectory() as tmp:
        repo = os.path.join(tmp, "repo")
        out = os.path.join(tmp, "out", "build_info.hpp")
        os.makedirs(repo)
        env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid",
                   GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.invalid")

        def git(*args: str) -> str:
            return subprocess.run(["git", *args], cwd=repo, env=env, check=True,
                                  capture_output=True, text=True).stdout.strip()

        def run() -> str:
            subprocess.run([cmake, f"-DSRC_DIR={repo}", f"-DIN_FILE={template}",
                            f"-DOUT_FILE={out}", "-DPROJECT_VERSION=9.9.9", "-P", script],
                           check=True)
            with open(out, encoding="utf-8") as f:
                return f.read()

        git("init", "-q")
        git("commit", "-q", "--allow-empty", "-m", "one")
        first = git("rev-parse", "HEAD")
        text = run()
        failures = []
        if f'kGitSha = "{first}";' not in text or 'kVersion = "9.9.9";' not in text:
            failures.append(f"first run does not name {first}:\n{text}")
        stamp = os.stat(out).st_mtime_ns
        os.utime(out, ns=(stamp - 10**9, stamp - 10**9))  # older, to see any rewrite
        stamp = os.stat(out).st_mtime_ns
        if run() != text or os.stat(out).st_mtime_ns != stamp:
            failures.append("a run at the same commit rewrote the header")
        git("commit", "-q", "--allow-empty", "-m", "two")
        second = git("rev-parse", "HEAD")
        text = run()
        if f'kGitSha = "{second}";' not in text:
            failures.append(f"after a new commit the header does not name {second}:\n{text}")
    for f in failures:
        print(f"FAIL: {f}")
    print("ok" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
