# The two set-up commands: `make serve` and `make test` (see README.md).
BUILD_DIR ?= build
RELEASE_DIR ?= build-release
JOBS ?= $(shell nproc)
ARAGORA := $(BUILD_DIR)/src/cli/aragora

.PHONY: all deps configure build test test-deploy fuzz fuzz-gate fuzz-build serve demo bench bench-server bench-auth bench-distributed bench-agents bench-backup bench-runtime bench-tracing bench-console bench-encryption test-asan test-asan-runtime test-tsan \
    reliability format clean install

all: build

deps:
	@scripts/install-deps.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug

configure: deps $(BUILD_DIR)/build.ninja

# The web console (web/console.cmake) is part of the build once web/node_modules is there
# (install-deps runs npm ci); a tree configured before that is re-configured once.
CONSOLE_RECONFIGURE = if [ -f web/node_modules/.package-lock.json ] && [ -f $(1)/build.ninja ] && \
    ! grep -q aragora_console $(1)/build.ninja; then cmake -S . -B $(1); fi

build: configure
	@$(call CONSOLE_RECONFIGURE,$(BUILD_DIR))
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS) --timeout 300
	@$(MAKE) --no-print-directory fuzz-gate
	@if why=$$(tests/deploy/ensure-dockerd.sh --quiet); then \
	    $(MAKE) --no-print-directory test-deploy; \
	else echo "test-deploy: skipped: $$why"; fi

# The deploy artifacts run by Docker (deploy/README.md "Checked by"): base image, image,
# container, compose (tests/deploy/docker_test.py), then the deploy checks that need no
# Docker (ctest -L deploy). Needs a Docker engine (started when installed and not running).
# The image ships the console too (aragora_console: web/node_modules from install-deps; when
# it is not built, docker_test.py says so and fails).
test-deploy: configure
	@$(call CONSOLE_RECONFIGURE,$(BUILD_DIR))
	cmake --build $(BUILD_DIR) -j $(JOBS) --target aragora \
	    $$(grep -q '^build aragora_console:' $(BUILD_DIR)/build.ninja && echo aragora_console)
	@scripts/install-deps.sh --docker
	@tests/deploy/ensure-dockerd.sh
	python3 tests/deploy/docker_test.py --repo . --binary $(ARAGORA)
	ctest --test-dir $(BUILD_DIR) -L '^deploy$$' --output-on-failure

# libFuzzer targets under ASan/UBSan (tests/fuzz/README.md) in their own clang tree.
# fuzz-gate (part of `make test`): each target replays its committed corpus, then a fixed
# number of inputs mutated with a fixed seed: the same inputs every run, so a commit that
# passed passes again. fuzz: open-ended, a random seed for FUZZ_SECONDS per target (two at
# a time); what it finds is fixed or classified, then added to tests/fuzz/corpus/<target>/.
FUZZ_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60
$(FUZZ_DIR)/build.ninja:
	cmake -S . -B $(FUZZ_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ \
	    -DARAGORA_BUILD_FUZZ=ON -DARAGORA_BUILD_TESTS=OFF -DARAGORA_BUILD_BENCH=OFF

fuzz-build: deps $(FUZZ_DIR)/build.ninja
	cmake --build $(FUZZ_DIR) -j $(JOBS)

fuzz-gate: fuzz-build
	ctest --test-dir $(FUZZ_DIR) -L '^fuzz-gate$$' -j2 --output-on-failure

fuzz: fuzz-build
	ARAGORA_FUZZ_SECONDS=$(FUZZ_SECONDS) ctest --test-dir $(FUZZ_DIR) -L '^fuzz-explore$$' -j2 \
	    --output-on-failure --timeout $$(( $(FUZZ_SECONDS) + 120 ))

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer (own tree).
ASAN_DIR ?= build-asan
ASAN_CONFIGURE = cmake -S . -B $(ASAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DARAGORA_BUILD_BENCH=OFF \
    -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined"
ASAN_ENV = ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
test-asan: deps
	$(ASAN_CONFIGURE)
	cmake --build $(ASAN_DIR) -j $(JOBS)
	$(ASAN_ENV) ctest --test-dir $(ASAN_DIR) --output-on-failure -j $(JOBS) --timeout 300

# The runtime's integration suites (run by hand with test-asan-runtime and test-tsan, not part
# of `make test`): the real `aragora` of the sanitized tree (ARAGORA_BINARY) with WebSocket
# viewers: streaming, replay, the SDK flows, slow readers, SIGUSR1, cancel, drain, kill -9
# recovery, provider faults; the multi-instance relay (two serve + worker + nginx + PostgreSQL
# + Redis). The server's stderr is a test's temporary file, so every sanitized process writes
# its reports under <tree>/sanitizer-reports (log_path); any report there fails the target.
RUNTIME_INTEGRATION_TESTS ?= server_integration_tests multi_instance_integration_tests
RUNTIME_INTEGRATION_FILTER ?= SdkFlowTest.*:RecoveryTest.*:AgentsTest.*:PhaseFailureTest.*:$\
ServerApiTest.CancelIsEffectiveBeforeTheAnswer:ServerApiTest.MessagesAndEventPolling:MultiInstanceTest.*
# $(call RUN_RUNTIME_INTEGRATION,<tree>,<sanitizer options to export; each log_path= gets the path>)
define RUN_RUNTIME_INTEGRATION
	rm -rf $(1)/sanitizer-reports && mkdir -p $(1)/sanitizer-reports
	status=0; export $(subst log_path=,log_path=$(CURDIR)/$(1)/sanitizer-reports/report,$(2)); \
	for t in $(RUNTIME_INTEGRATION_TESTS); do \
	    $(1)/tests/integration/$$t --gtest_filter='$(RUNTIME_INTEGRATION_FILTER)' || status=1; \
	done; \
	if [ -n "$$(ls $(1)/sanitizer-reports)" ]; then cat $(1)/sanitizer-reports/*; \
	    echo "sanitizer reports: $$(ls $(1)/sanitizer-reports | wc -l) file(s) in $(1)/sanitizer-reports"; \
	    status=1; fi; \
	exit $$status
endef

# The service, events and WebSocket tests under ASan/UBSan (the ASan tree, only these
# targets): the service and events unit tests, the API's DebateStream* and net's Ws* tests,
# then the runtime's integration suites above against an ASan-built `aragora`.
ASAN_RUNTIME_UNIT_TESTS ?= service_unit_tests events_unit_tests api_unit_tests net_unit_tests
test-asan-runtime: deps
	$(ASAN_CONFIGURE)
	cmake --build $(ASAN_DIR) -j $(JOBS) --target $(ASAN_RUNTIME_UNIT_TESTS) $(RUNTIME_INTEGRATION_TESTS)
	set -e; export $(ASAN_ENV); \
	for t in service events; do $(ASAN_DIR)/tests/$${t}_unit_tests; done; \
	$(ASAN_DIR)/tests/api_unit_tests --gtest_filter='DebateStream*'; \
	$(ASAN_DIR)/tests/net_unit_tests --gtest_filter='Ws*'
	$(call RUN_RUNTIME_INTEGRATION,$(ASAN_DIR),ASAN_OPTIONS=detect_leaks=0:log_path= \
	    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=)

# The service, events, WebSocket and Redis tests under ThreadSanitizer (own tree), then the
# runtime's integration suites above against a TSan-built `aragora`. The suppressions
# (tests/tsan.supp) are reports inside libraries TSan cannot follow, never in src/.
TSAN_DIR ?= build-tsan
TSAN_TESTS ?= service_unit_tests events_unit_tests api_unit_tests net_unit_tests redis_unit_tests
TSAN_OPTS = suppressions=$(CURDIR)/tests/tsan.supp
test-tsan: deps
	cmake -S . -B $(TSAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DARAGORA_BUILD_BENCH=OFF \
	    -DCMAKE_CXX_FLAGS="-fsanitize=thread -O1 -fno-omit-frame-pointer" \
	    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread"
	cmake --build $(TSAN_DIR) -j $(JOBS) --target $(TSAN_TESTS) $(RUNTIME_INTEGRATION_TESTS)
	set -e; export TSAN_OPTIONS="$(TSAN_OPTS) halt_on_error=1"; \
	for t in service events redis; do $(TSAN_DIR)/tests/$${t}_unit_tests; done; \
	$(TSAN_DIR)/tests/api_unit_tests --gtest_filter='DebateStream*'; \
	$(TSAN_DIR)/tests/net_unit_tests --gtest_filter='Ws*'
	$(call RUN_RUNTIME_INTEGRATION,$(TSAN_DIR),TSAN_OPTIONS=$(TSAN_OPTS):log_path=)

# The server in development mode: embedded SQLite under ./data, demo agents (no API
# keys), listening on 127.0.0.1 (API 8080, WebSocket 8765, metrics 9090; override with
# ARAGORA_API_PORT etc.). It prints where to look and a curl that starts a debate.
serve: build
	ARAGORA_ENV=development ARAGORA_DATA_DIR=$${ARAGORA_DATA_DIR:-./data} \
	ARAGORA_LOG_FORMAT=$${ARAGORA_LOG_FORMAT:-text} $(ARAGORA) serve

demo: build
	ARAGORA_ENV=development ARAGORA_DATA_DIR=./data $(ARAGORA) demo

$(RELEASE_DIR)/build.ninja:
	cmake -S . -B $(RELEASE_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release -DARAGORA_BUILD_TESTS=OFF

bench: deps $(RELEASE_DIR)/build.ninja
	cmake --build $(RELEASE_DIR) -j $(JOBS)
	$(RELEASE_DIR)/bench/aragora_bench --aragora-binary=$(RELEASE_DIR)/src/cli/aragora

# The server beside nginx (HTTP), WebSocket fan-out and startup; needs wrk and nginx, which
# only this target installs. Report and how to read it: bench/README.md.
bench-server:
	@scripts/install-deps.sh --bench
	@$(MAKE) --no-print-directory $(RELEASE_DIR)/build.ninja
	cmake --build $(RELEASE_DIR) -j $(JOBS) --target aragora aragora_ws_fanout
	bench/server_bench.sh $(RELEASE_DIR)

# The auth + rate-limit middleware per request: wrk on an authenticated GET (service token,
# JWT, API key) against the same route open (bench/README.md).
bench-auth:
	@scripts/install-deps.sh --bench
	@$(MAKE) --no-print-directory $(RELEASE_DIR)/build.ninja
	cmake --build $(RELEASE_DIR) -j $(JOBS) --target aragora
	bench/auth_bench.sh $(RELEASE_DIR)

# PostgreSQL vs SQLite behind POST /api/v1/debates, and debate events across two instances
# through Redis (bench/README.md); starts its own PostgreSQL and Redis.
bench-distributed:
	@scripts/install-deps.sh --bench
	@$(MAKE) --no-print-directory $(RELEASE_DIR)/build.ninja
	cmake --build $(RELEASE_DIR) -j $(JOBS) --target aragora
	python3 bench/distributed_bench.py $(RELEASE_DIR)/src/cli/aragora

# Provider-agent debates against the fake LLM provider at 50 ms: critical-path ratio and
# debates in flight before the p99 overhead doubles (bench/README.md).
bench-agents: deps $(RELEASE_DIR)/build.ninja
	cmake --build $(RELEASE_DIR) -j $(JOBS) --target aragora aragora_fake_llm_server
	python3 bench/agent_bench.py $(RELEASE_DIR)/src/cli/aragora \
	    $(RELEASE_DIR)/tests/fake_llm/aragora_fake_llm

# The debate runtime at scale (issue 20): server CPU per debate, the critical path, debates
# in flight (SQLite and PostgreSQL), live WebSocket viewers; figures and same-run ratios
# (bench/README.md). Smaller by default; RUNTIME_DEBATES=10000 RUNTIME_VIEWERS=10000 for the
# full size. Starts its own fake provider, PostgreSQL and servers.
bench-runtime: deps $(RELEASE_DIR)/build.ninja
	cmake --build $(RELEASE_DIR) -j $(JOBS) --target aragora aragora_fake_llm_server aragora_ws_viewers \
	    aragora_ws_subscriber_memory
	python3 bench/runtime_bench.py $(RELEASE_DIR)

# Backups of a live SQLite database against sqlite3 .backup, and serve's read latency during
# backups (bench/README.md).
bench-backup: deps $(RELEASE_DIR)/build.ninja
	cmake --build $(RELEASE_DIR) -j $(JOBS) --target aragora
	python3 bench/backup_bench.py $(RELEASE_DIR)/src/cli/aragora

# Request p99 and throughput with OpenTelemetry tracing off, on (sampling 1.0 and 0.1, gRPC
# and HTTP) and with the collector down, in one run (bench/README.md); needs wrk and node.
bench-tracing: deps $(RELEASE_DIR)/build.ninja
	@scripts/install-deps.sh --bench
	cmake --build $(RELEASE_DIR) -j $(JOBS) --target aragora
	python3 bench/tracing_bench.py $(RELEASE_DIR)/src/cli/aragora

# Debate create+read with debate content encryption on against off, and the re-encryption
# rate, in one run (bench/README.md).
bench-encryption: deps $(RELEASE_DIR)/build.ninja
	cmake --build $(RELEASE_DIR) -j $(JOBS) --target aragora_content_encryption_bench
	$(RELEASE_DIR)/bench/aragora_content_encryption_bench

# The web console's first load in headless Chromium: bytes transferred and time to
# interactive, cold and warm (bench/README.md "Console first load"); then the live view
# drawing an 8-agent 12-round debate: frame times against the idle shell's, long tasks,
# the replay of the finished debate (bench/README.md "Console live render").
bench-console: deps $(RELEASE_DIR)/build.ninja
	@$(call CONSOLE_RECONFIGURE,$(RELEASE_DIR))
	cmake --build $(RELEASE_DIR) -j $(JOBS) --target aragora aragora_console
	node bench/console_first_load.mjs --aragora $(RELEASE_DIR)/src/cli/aragora \
	    --console-dir $(RELEASE_DIR)/web
	node bench/console_live_render.mjs --aragora $(RELEASE_DIR)/src/cli/aragora \
	    --console-dir $(RELEASE_DIR)/web --runs 3
	node bench/console_live_render.mjs --aragora $(RELEASE_DIR)/src/cli/aragora \
	    --console-dir $(RELEASE_DIR)/web --runs 3 --stream-words 24

# The reliability suite (issue 25; docs/reliability.md), not part of `make test`: provider
# faults at 10 % and 30 %, kill -9 chaos (SQLite, then PostgreSQL with workers), a soak
# (RELIABILITY_SOAK_SECONDS, 3600), every fuzz target for 10^6 executions; Release build,
# loopback only. RELIABILITY_ONLY=faults,chaos,soak,fuzz picks scenarios; the figures go to
# $(RELIABILITY_OUT)/report.md and report.json (one JSON piece per scenario beside them).
RELIABILITY_ONLY ?= faults,chaos,soak,fuzz
RELIABILITY_OUT ?= build-reliability
reliability: deps $(RELEASE_DIR)/build.ninja
	cmake --build $(RELEASE_DIR) -j $(JOBS) --target aragora aragora_fake_llm_server
	@case ",$(RELIABILITY_ONLY)," in *,fuzz,*) $(MAKE) --no-print-directory fuzz-build ;; esac
	RELIABILITY_ONLY=$(RELIABILITY_ONLY) RELIABILITY_OUT=$(RELIABILITY_OUT) \
	    python3 scripts/reliability/run.py $(RELEASE_DIR) $(FUZZ_DIR)

# One release under PREFIX (default /opt/aragora): releases/v<VERSION>/{bin,share} (the web
# console in share/aragora/web) and the
# `current` symlink flipped to it atomically; earlier releases stay for the rollback
# (deploy/systemd/README.md). The binary is the Release build unless INSTALL_BINARY names
# another; DESTDIR stages the tree for packaging.
PREFIX ?= /opt/aragora
VERSION ?= $(shell sed -n 's/^project(aragora VERSION \([^ )]*\).*/\1/p' CMakeLists.txt)
INSTALL_BINARY ?= $(RELEASE_DIR)/src/cli/aragora
# The built web console copied to share/aragora/web (skipped with a note when not built).
CONSOLE_DIR ?= $(RELEASE_DIR)/web
install:
	@if [ "$(INSTALL_BINARY)" = "$(RELEASE_DIR)/src/cli/aragora" ]; then \
	    $(MAKE) --no-print-directory deps $(RELEASE_DIR)/build.ninja && \
	    { $(call CONSOLE_RECONFIGURE,$(RELEASE_DIR)); } && \
	    cmake --build $(RELEASE_DIR) -j $(JOBS) --target aragora && \
	    if grep -q aragora_console $(RELEASE_DIR)/build.ninja; then \
	        cmake --build $(RELEASE_DIR) --target aragora_console; fi; fi
	scripts/install-release.sh --prefix "$(PREFIX)" --version "$(VERSION)" \
	    --binary "$(INSTALL_BINARY)" --console "$(CONSOLE_DIR)" $(if $(DESTDIR),--destdir "$(DESTDIR)")

format:
	find src tests bench -name '*.cpp' -o -name '*.hpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) $(RELEASE_DIR) $(FUZZ_DIR)
