# The two set-up commands: `make serve` and `make test` (see README.md).
BUILD_DIR ?= build
RELEASE_DIR ?= build-release
JOBS ?= $(shell nproc)
ARAGORA := $(BUILD_DIR)/src/cli/aragora

.PHONY: all deps configure build test serve demo bench format clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug

configure: deps $(BUILD_DIR)/build.ninja

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS) --timeout 300

# Until the HTTP server lands, `make serve` shows a demo debate (development mode,
# embedded SQLite under ./data, demo agents, no API keys).
serve: build
	@echo "aragora serve is not built yet: running the demo debate instead."
	ARAGORA_ENV=development ARAGORA_DATA_DIR=./data $(ARAGORA) demo
	@echo
	@echo "Stored in ./data/aragora.sqlite3. Look around:"
	@echo "  $(ARAGORA) debates list"
	@echo "  $(ARAGORA) ask \"Should we adopt a four-day work week?\" --agents demo,demo,demo,demo --receipt receipt.json"
	@echo "  $(ARAGORA) receipt verify receipt.json"

demo: build
	ARAGORA_ENV=development ARAGORA_DATA_DIR=./data $(ARAGORA) demo

$(RELEASE_DIR)/build.ninja:
	cmake -S . -B $(RELEASE_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release -DARAGORA_BUILD_TESTS=OFF

bench: deps $(RELEASE_DIR)/build.ninja
	cmake --build $(RELEASE_DIR) -j $(JOBS)
	$(RELEASE_DIR)/bench/aragora_bench --aragora-binary=$(RELEASE_DIR)/src/cli/aragora

format:
	find src tests bench -name '*.cpp' -o -name '*.hpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) $(RELEASE_DIR)
