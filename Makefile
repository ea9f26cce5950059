# Gatehouse — the two commands a newcomer needs are `make run` and `make test`.
# Both install missing Debian packages first (scripts/bootstrap.sh), then build.

JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
BUILD      ?= build
ASAN_BUILD ?= build-asan
CONFIG     ?= gatehouse.toml
CMAKE_FLAGS ?=

.PHONY: all deps build build-asan run test test-fast test-asan format format-check bench install clean

all: build

deps:
	@./scripts/bootstrap.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

$(ASAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DGATEHOUSE_SANITIZE=ON $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

build-asan: deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# Starts the proxy in the foreground on the shipped default config (127.0.0.1:3128).
run: build
	./$(BUILD)/gatehouse --config $(CONFIG)

# Every suite in the normal build, then again under ASan+UBSan.
test: format-check build build-asan
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS)

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: build-asan
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS)

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

format-check: deps
	clang-format --dry-run -Werror $$(git ls-files '*.cc' '*.h')

bench: build
	./scripts/bootstrap.sh --bench
	./bench/run.sh

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
