# Gatehouse — the two commands a newcomer needs are `make run` and `make test`.
# Both install missing Debian packages first (scripts/bootstrap.sh), then build.

JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 5
CONFIG     ?= gatehouse.toml
CMAKE_FLAGS ?=

.PHONY: all deps build build-asan build-fuzz run test test-fast test-asan test-packaging fuzz fuzz-smoke format format-check bench image deb install clean

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

# The libFuzzer harnesses (tests/fuzz, docs/fuzzing.md): a separate clang tree in which the
# whole project is compiled with coverage instrumentation, ASan and UBSan.
$(FUZZ_BUILD)/CMakeCache.txt:
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DGATEHOUSE_FUZZ=ON \
	  -DGATEHOUSE_WERROR=OFF $(CMAKE_FLAGS)

build-fuzz: deps $(FUZZ_BUILD)/CMakeCache.txt
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target gatehouse_fuzzers

# Starts the proxy in the foreground on the shipped default config (127.0.0.1:3128).
run: build
	./$(BUILD)/gatehouse --config $(CONFIG)

# Every suite in the normal build, then again under ASan+UBSan, then a few seconds of
# each fuzz harness.
test: format-check build build-asan
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS)
	$(MAKE) fuzz-smoke
	$(MAKE) test-packaging

# The container image, the units under a real systemd and the .deb (tests/packaging/,
# docs/operations.md); each test says why it is skipped where podman cannot run.
test-packaging: build
	./scripts/bootstrap.sh --packaging
	./tests/packaging/run.sh $(BUILD)

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: build-asan
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS)

# Each harness for FUZZ_SECONDS (default 60): executions per harness and what it found.
# Crash inputs go to $(FUZZ_BUILD)/fuzz-work/artifacts/, never into tests/fuzz/corpus/.
fuzz: build-fuzz
	./tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# The same for FUZZ_SMOKE_SECONDS (default 5) each; fails when a harness finds anything.
fuzz-smoke: build-fuzz
	./tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SMOKE_SECONDS)

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

format-check: deps
	clang-format --dry-run -Werror $$(git ls-files '*.cc' '*.h')

bench: build
	./scripts/bootstrap.sh --bench
	./bench/run.sh

# The container image (FROM scratch: the binary and the libraries it links).
image: build
	./scripts/bootstrap.sh --packaging
	./scripts/image.sh $(BUILD)

# gatehouse_<version>_<arch>.deb in $(BUILD)/.
deb: build
	./scripts/bootstrap.sh --packaging
	./scripts/deb.sh $(BUILD)

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
