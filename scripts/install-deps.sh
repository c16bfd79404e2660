#!/usr/bin/env bash
# Installs the Debian 12 packages the build and the tests need, and only the missing ones.
# Idempotent; nothing is downloaded except through apt.
set -euo pipefail

packages=(
    # toolchain
    g++ cmake ninja-build ccache pkg-config git
    # fuzz targets (tests/fuzz): clang 14 and its libFuzzer/ASan/UBSan runtimes
    clang libclang-rt-14-dev
    # libraries (Boost 1.81 comes from the versioned packages: libboost-dev is 1.74)
    libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libboost-system1.81-dev
    libssl-dev libsodium-dev libsqlite3-dev libspdlog-dev libfmt-dev libcli11-dev
    libpq-dev libpqxx-dev libhiredis-dev
    # OTLP/gRPC trace export (src/trace/otlp_grpc.cpp: gRPC's generic stub, no generated code)
    libgrpc++-dev
    # tests and benchmarks
    libgtest-dev libgmock-dev libbenchmark-dev jq curl python3 sqlite3
    # the AWS Secrets Manager stand-in (tests/tools/secrets_manager_standin.py) checks every
    # SigV4 signature with botocore's signer, independent of src/common/aws_sigv4
    python3-botocore
    # promtool (lints /metrics; checks and unit-tests deploy/monitoring's rules) and amtool
    # (checks the Alertmanager config); their services are not started. python3-yaml reads
    # the rule files in the monitoring tests.
    prometheus prometheus-alertmanager python3-yaml
    # the independent receipt verifier of the receipt-key tests (Ed25519 with Debian's
    # python3-cryptography; tests/tools/independent_receipt_verify.py)
    python3-cryptography openssl
    # servers the PostgreSQL/Redis/multi-instance tests start on free loopback ports (their
    # system services are not started)
    postgresql redis-server redis-tools nginx
    # deploy tests (ctest -L deploy): systemd-analyze verify on deploy/systemd's units,
    # shellcheck on deploy/scripts
    systemd shellcheck
    # the browser tests (tests/browser, ctest -L browser): headless Chromium driven by
    # puppeteer-core; a font for the screenshots
    chromium fonts-dejavu-core
)
# Node.js and npm install the npm test tools below; the machines bring their own Node.js,
# Debian's is the fallback.
if ! command -v npm >/dev/null; then
    packages+=(nodejs npm)
fi
# --bench: also what `make bench-server` needs (the default list stays as it is).
if [[ "${1:-}" == "--bench" ]]; then
    packages+=(wrk)
fi
# --docker: what `make test-deploy` needs: the Docker engine, Debian 12's Compose (1.29,
# the only one packaged; see install_compose_plugin), debootstrap for the local base
# image (deploy/scripts/make-base-image.sh), openssl for the test's certificate.
docker_mode=0
if [[ "${1:-}" == "--docker" ]]; then
    docker_mode=1
    packages+=(docker.io docker-compose debootstrap openssl)
fi

# `docker compose` (the runbooks' spelling) when the engine's CLI has no Compose v2 plugin:
# Debian 12 packages only docker-compose 1.29, so a CLI plugin that hands over to it
# (deploy/scripts/docker-compose-cli-plugin) is installed. Nothing when `docker compose`
# already works.
install_compose_plugin() {
    [[ $docker_mode -eq 1 ]] || return 0
    local dir=/usr/local/lib/docker/cli-plugins
    local src
    src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/deploy/scripts/docker-compose-cli-plugin"
    # Ours and current, or another Compose that works: nothing to do.
    cmp -s "$src" "$dir/docker-compose" && return 0
    [[ ! -e "$dir/docker-compose" ]] && docker compose version >/dev/null 2>&1 && return 0
    echo "install-deps: docker compose -> docker-compose 1.29 ($dir/docker-compose)"
    local sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    "${sudo[@]}" install -D -m 0755 "$src" "$dir/docker-compose"
}

# Test tools from npm (tests/tools/package.json: s3rver, the S3 stand-in of the offsite
# backup tests; kubernetes-models + yaml, the schema check of deploy/kubernetes;
# puppeteer-core + axe-core, the browser tests), installed exactly as package-lock.json pins them when node_modules is
# missing or older than the lock file. Nothing is fetched at build or test time.
install_test_tools() {
    local tools
    tools="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/tools"
    if [[ -f "$tools/node_modules/.package-lock.json" &&
          ! "$tools/package-lock.json" -nt "$tools/node_modules/.package-lock.json" ]]; then
        return 0
    fi
    echo "install-deps: npm ci in tests/tools"
    (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error)
}

# The web console's build (web/package.json: esbuild, and the libraries bundled into the
# console), installed the same way; web/console.cmake builds the console when it is there.
install_web_build() {
    local web
    web="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/web"
    if [[ -f "$web/node_modules/.package-lock.json" &&
          ! "$web/package-lock.json" -nt "$web/node_modules/.package-lock.json" ]]; then
        return 0
    fi
    echo "install-deps: npm ci in web"
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
}

missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-deps: all ${#packages[@]} packages present"
    install_test_tools
    install_web_build
    install_compose_plugin
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
# Packages with services (prometheus, prometheus-alertmanager) must not start them: a local
# Prometheus would take port 9090, Alertmanager 9093. policy-rc.d is Debian's switch for
# that; it is removed again afterwards.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ $(id -u) -eq 0 && ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created_policy=1
fi
cleanup() { [[ $created_policy -eq 1 ]] && rm -f "$policy"; return 0; }
trap cleanup EXIT
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
install_test_tools
install_web_build
install_compose_plugin
