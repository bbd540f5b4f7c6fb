# Thin wrapper around CMake.  `make` sets up and builds, `make run` runs the
# main recipe, `make test` runs every test, `make bench` the benchmarks.
BUILD       ?= build
BUILD_ASAN  ?= build-asan
BUILD_TYPE  ?= RelWithDebInfo
JOBS        ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all deps build run test test-sanitize check bench docs valgrind fuzz crash-test mutate \
        install clean distclean lint

all: build

deps:
	@sh tools/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/realprune run recipes/quickstart.lua

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

# The whole suite again, built with AddressSanitizer and UBSan.
test-sanitize: deps
	cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DREALPRUNE_SANITIZE=ON \
	  $(CMAKE_FLAGS)
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tools/lsan.supp \
	ctest --test-dir $(BUILD_ASAN) --output-on-failure -j $(JOBS)

check: test test-sanitize

# luacheck, clang-format and line length (also a test of the suite)
lint: deps
	sh tests/lint.sh

# libFuzzer on the IDX, CIFAR and image readers (clang), FUZZ_SECONDS each.
FUZZ_SECONDS ?= 60
fuzz: deps
	sh tools/fuzz.sh $(FUZZ_SECONDS) build-fuzz

# SIGKILL at 24 random moments of a lottery-ticket run, a recipe run and a
# local sweep, resumed each time.
crash-test: build
	./$(BUILD)/realprune tests/crash_kill.lua 24 1 lth
	./$(BUILD)/realprune tests/crash_kill.lua 24 2 recipe
	./$(BUILD)/realprune tests/crash_kill.lua 24 3 sweep

# valgrind memcheck on the main job at a tiny size (about 4 minutes; not in CI).
valgrind: build
	valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
	  ./$(BUILD)/realprune run recipes/quickstart.lua --train_images 64 --test_images 32 \
	  --epochs 1 --rounds 1 --strategies realprune --out $(BUILD)/valgrind-run

# Mutation testing: every mutant of tests/mutants.lua applied in a scratch copy,
# rebuilt and tested (about 15 minutes; not in CI). MUTANTS="text ..." picks some.
mutate: build
	./$(BUILD)/realprune tools/mutate.lua $(MUTANTS)

bench: build
	sh tools/install-deps.sh python3-torch time
	sh bench/run.sh $(BUILD)

# The API reference (LDoc, config.ld): build/docs/index.html.
docs: deps
	ldoc -c config.ld -d $(BUILD)/docs .

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)

distclean: clean
