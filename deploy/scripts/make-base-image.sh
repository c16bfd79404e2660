#!/usr/bin/env bash
# Makes the base image the Dockerfile starts from, `debian:bookworm-slim`, locally, for a
# Docker engine that reaches Debian's package mirror but no image registry (this project's
# build machines). Anywhere a registry is reachable this script is not needed: `docker build`
# pulls the same tag.
#
# What it does:
#   1. If an image tagged debian:bookworm-slim already exists, it says so and stops
#      (idempotent; pass --force to rebuild it).
#   2. `debootstrap --variant=minbase bookworm` into a temporary directory (the essential
#      and required packages only, ~90 MB), from DEBIAN_MIRROR (default deb.debian.org).
#   3. Trims it the way Debian's own slim image is trimmed: the dpkg excludes for
#      documentation, man pages and locales (so later `apt-get install`s stay small too),
#      apt's package lists and caches removed, the apt settings that keep it so (and no
#      translated package descriptions).
#   4. `tar -C rootfs -c . | docker import` with CMD ["bash"], tagged debian:bookworm-slim.
#   5. Removes the temporary directory.
# Needs root (debootstrap), debootstrap and a running Docker engine. It changes nothing on
# the host but the image list.
set -euo pipefail

TAG="${BASE_IMAGE_TAG:-debian:bookworm-slim}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
force=0
[[ "${1:-}" == "--force" ]] && force=1

say() { echo "make-base-image: $*"; }

if [[ $force -eq 0 ]] && docker image inspect "$TAG" >/dev/null 2>&1; then
    say "$TAG exists ($(docker image inspect -f '{{.Id}}' "$TAG" | cut -c1-19)); nothing to do"
    exit 0
fi
command -v debootstrap >/dev/null || { say "debootstrap missing (scripts/install-deps.sh --docker)" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || { say "debootstrap needs root" >&2; exit 1; }

work="$(mktemp -d /tmp/aragora-base.XXXXXX)"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
root="$work/rootfs"

say "debootstrap --variant=minbase bookworm from $MIRROR into $root"
debootstrap --variant=minbase --arch=amd64 bookworm "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 || {
    tail -20 "$work/debootstrap.log" >&2
    exit 1
}

say "trimming as Debian's slim image does"
cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CFG
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
cat >"$root/etc/apt/apt.conf.d/docker-no-recommends" <<'CFG'
APT::Install-Recommends "false";
CFG
# No translated package descriptions: every `apt-get update` of a build fetches 6 MB less.
cat >"$root/etc/apt/apt.conf.d/docker-no-languages" <<'CFG'
Acquire::Languages "none";
CFG
cat >"$root/etc/apt/sources.list" <<CFG
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
CFG
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
rm -rf "$root"/usr/share/{man,info,groff,lintian,linda}/* "$root"/usr/share/locale/* \
    "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/var/log/*.log "$root"/var/log/apt/* "$root"/tmp/* "$root/debootstrap"
: >"$root/etc/machine-id" 2>/dev/null || true
echo "aragora-build" >"$root/etc/hostname"

say "docker import -> $TAG"
tar --numeric-owner -C "$root" -c . | docker import --change 'CMD ["bash"]' \
    --message "debootstrap --variant=minbase bookworm (deploy/scripts/make-base-image.sh)" - "$TAG" >/dev/null
say "$TAG: $(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.1f MB", $1/1e6}')"
