#!/usr/bin/env bash
# `make install`: lays out one release of Aragora under a prefix and points `current` at it,
# the layout the runbook's rollback works on (deploy/systemd/README.md):
#
#   <prefix>/releases/v<version>/bin/aragora
#   <prefix>/releases/v<version>/share/aragora/{systemd,kubernetes,nginx,monitoring,grafana,scripts}/
#   <prefix>/releases/v<version>/share/aragora/web/   (the built console: --console DIR,
#                                                     found there by `aragora serve`)
#   <prefix>/releases/v<version>/share/doc/aragora/*.md
#   <prefix>/releases/v<version>/RELEASE          (version, commit, install time)
#   <prefix>/current -> releases/v<version>       (relative; replaced by one rename(2))
#
# A release is written under a temporary name and renamed into place, then `current` is
# flipped atomically (a new symlink renamed over the old one: a process starting at any
# moment sees the old release or the new one, never none). Previous releases are never
# touched or deleted; installing a version that already exists is refused (releases are
# immutable: pick a new VERSION, or remove that directory yourself).
#
# Usage: install-release.sh --prefix DIR --version X.Y.Z --binary PATH [--destdir DIR]
#                           [--console DIR] [--source DIR] [--no-activate] [--dry-run]
#   --console: the built web console (web/build.mjs output, with index.html); absent or
#              without index.html: the release has no console (said so)
#   --destdir: stage under DIR (packaging), the symlink is still relative
#   --no-activate: install the release without flipping `current`
set -euo pipefail

prefix="" version="" binary="" destdir="" console="" activate=1 dry_run=0
source_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --version) version="$2"; shift 2 ;;
        --binary) binary="$2"; shift 2 ;;
        --destdir) destdir="$2"; shift 2 ;;
        --console) console="$2"; shift 2 ;;
        --source) source_dir="$2"; shift 2 ;;
        --no-activate) activate=0; shift ;;
        --dry-run) dry_run=1; shift ;;
        *) echo "install-release: unknown argument $1" >&2; exit 2 ;;
    esac
done
say() { echo "install-release: $*"; }
fail() { echo "install-release: $*" >&2; exit "${2:-1}"; }
[[ -n "$prefix" && -n "$version" && -n "$binary" ]] ||
    fail "--prefix, --version and --binary are required" 2
[[ "$prefix" == /* ]] || fail "--prefix must be absolute (got $prefix)" 2
[[ "$version" =~ ^v?[0-9A-Za-z][0-9A-Za-z._+-]*$ ]] || fail "bad version '$version'" 2
[[ -x "$binary" ]] || fail "no executable at $binary (build first: make build)"

release="v${version#v}"
root="${destdir%/}${prefix%/}"
target="$root/releases/$release"
[[ -e "$target" ]] && fail "$target exists: releases are immutable; pick another VERSION"

if [[ $dry_run -eq 1 ]]; then
    say "would install $binary as $target/bin/aragora with deploy/ and docs under share/"
    [[ $activate -eq 1 ]] && say "would point $root/current at releases/$release"
    exit 0
fi

mkdir -p "$root/releases"
staging=$(mktemp -d "$root/releases/.$release.XXXXXX")
trap 'rm -rf "$staging"' EXIT
install -d "$staging/bin" "$staging/share/aragora" "$staging/share/doc/aragora"
install -m 0755 "$binary" "$staging/bin/aragora"
for d in systemd kubernetes nginx monitoring grafana scripts; do
    if [[ -d "$source_dir/deploy/$d" ]]; then
        cp -R "$source_dir/deploy/$d" "$staging/share/aragora/$d"
    fi
done
if [[ -n "$console" && -f "$console/index.html" ]]; then
    cp -R "$console" "$staging/share/aragora/web"
    rm -f "$staging/share/aragora/web/build-manifest.json"
else
    say "no built console${console:+ at $console} (make builds it): the release has none"
fi
if [[ -f "$source_dir/deploy/.env.template" ]]; then
    install -m 0644 "$source_dir/deploy/.env.template" "$staging/share/aragora/"
fi
# docs: <name in share/doc/aragora>=<source file>
for pair in README.md=README.md operations.md=docs/operations.md backup.md=docs/backup.md \
            doctor.md=docs/doctor.md deploy.md=deploy/README.md \
            DISASTER_RECOVERY.md=deploy/DISASTER_RECOVERY.md systemd.md=deploy/systemd/README.md \
            kubernetes.md=deploy/kubernetes/README.md; do
    if [[ -f "$source_dir/${pair#*=}" ]]; then
        install -m 0644 "$source_dir/${pair#*=}" "$staging/share/doc/aragora/${pair%%=*}"
    fi
done
commit=$(git -C "$source_dir" rev-parse HEAD 2>/dev/null || echo unknown)
printf 'version=%s\ncommit=%s\ninstalled_at=%s\n' "${version#v}" "$commit" \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$staging/RELEASE"
chmod 0755 "$staging"
mv -T "$staging" "$target"
trap - EXIT
say "installed $target"

if [[ $activate -eq 1 ]]; then
    link="$root/.current.$$"
    ln -sfn "releases/$release" "$link"
    mv -Tf "$link" "$root/current"
    say "$root/current -> releases/$release"
fi
kept=("$root"/releases/v*)
say "releases kept: ${kept[*]##*/}"
say "restart to run it: systemctl restart aragora (deploy/systemd/README.md)"
