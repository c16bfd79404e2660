#!/usr/bin/env bash
# Installs the Debian 12 packages the build and the tests need, and only the missing ones.
# Idempotent; nothing is downloaded except through apt.
set -euo pipefail

packages=(
    # toolchain
    g++ cmake ninja-build ccache pkg-config git
    # libraries (Boost 1.81 comes from the versioned packages: libboost-dev is 1.74)
    libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libboost-system1.81-dev
    libssl-dev libsodium-dev libsqlite3-dev libspdlog-dev libfmt-dev libcli11-dev
    # tests and benchmarks
    libgtest-dev libgmock-dev libbenchmark-dev jq curl python3 sqlite3
)
# --bench: also what `make bench-server` needs (the default list stays as it is).
if [[ "${1:-}" == "--bench" ]]; then
    packages+=(wrk nginx)
fi

missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-deps: all ${#packages[@]} packages present"
    exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null; then
        sudo_cmd=(sudo)
    else
        echo "install-deps: missing packages (${missing[*]}) and not root; run as root" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
