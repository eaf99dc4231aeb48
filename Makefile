# postern: one GNU Makefile. `make` builds build/postern; `make test` runs every test.
BUILD    ?= build
CC       ?= cc
OPT      ?= -O2
PKGS     := libuv inih libcrypto
CFLAGS   ?= $(OPT) -g
# snprintf truncation is how we bound untrusted text, not a bug to warn about.
CFLAGS   += -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-format-truncation -Isrc -MMD -MP \
            $(shell pkg-config --cflags $(PKGS))
LDLIBS   += $(shell pkg-config --libs $(PKGS))
TESTLIBS := $(shell pkg-config --libs cmocka json-c 2>/dev/null)
# The version lives in debian/changelog only: the package, --version and the man pages read it.
VERSION  := $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog)
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

SRCS     := $(sort $(filter-out src/main.c,$(wildcard src/*.c) $(wildcard src/*/*.c)))
OBJS     := $(SRCS:%.c=$(BUILD)/%.o)
UNITS    := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
FUZZERS  := $(patsubst fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard fuzz/fuzz_*.c))
FUZZ_SECONDS ?= 20
# Debian's interpreter: pytest and cryptography come from python3-* packages.
PYTHON   ?= /usr/bin/python3

.PHONY: all setup test check unit e2e asan valgrind fuzz fuzz-build format format-check clean demo bench
all: $(BUILD)/postern

$(BUILD)/postern: $(BUILD)/src/main.o $(BUILD)/libpostern.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/src/main.o: CFLAGS += -DPOSTERN_VERSION='"$(VERSION)"'
$(BUILD)/src/main.o: debian/changelog

$(BUILD)/libpostern.a: $(OBJS)
	$(AR) rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libpostern.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS) $(TESTLIBS)

# Unit tests run from the repository root so they find tests/vectors.
unit: $(UNITS)
	@set -e; for t in $(UNITS); do echo "== $$t"; $$t; done

e2e: $(BUILD)/postern
	POSTERN_BIN=$(abspath $(BUILD)/postern) $(PYTHON) -m pytest -q -c tests/e2e/pytest.ini tests/e2e

# `make test` works on a fresh machine: install first, then re-read this
# Makefile so pkg-config sees the new packages.
setup:
	scripts/setup-debian.sh

test: setup
	$(MAKE) check

check: unit e2e

# The whole suite again under ASan+UBSan, in its own build directory.
asan: setup
	$(MAKE) BUILD=build-asan OPT="-O1 -g $(SAN)" LDFLAGS="$(SAN)" check

valgrind: $(UNITS)
	@set -e; for t in $(UNITS); do \
		valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
			--error-exitcode=1 $$t; done

# libFuzzer harnesses: the modules are compiled once with clang and
# instrumentation into their own archive, which every harness links.
FUZZFLAGS := -std=c17 -D_GNU_SOURCE -g -O1 -Isrc $(shell pkg-config --cflags $(PKGS))
FUZZ_OBJS := $(SRCS:%.c=$(BUILD)/fuzzobj/%.o)

$(BUILD)/fuzzobj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZFLAGS) -fsanitize=fuzzer-no-link,address,undefined -MMD -MP -c -o $@ $<

$(BUILD)/fuzzobj/libpostern.a: $(FUZZ_OBJS)
	$(AR) rcs $@ $^

$(BUILD)/fuzz/%: fuzz/%.c $(BUILD)/fuzzobj/libpostern.a
	@mkdir -p $(dir $@)
	clang $(FUZZFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LDLIBS)

fuzz-build: $(FUZZERS)

fuzz: $(FUZZERS)
	@set -e; for f in $(FUZZERS); do n=$$(basename $$f); n=$${n#fuzz_}; \
		mkdir -p $(BUILD)/fuzz/work-$$n; \
		echo "== fuzz $$n for $(FUZZ_SECONDS) s"; \
		if ! $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 \
			-artifact_prefix=$(BUILD)/fuzz/ \
			$(BUILD)/fuzz/work-$$n fuzz/corpus/$$n > $(BUILD)/fuzz/$$n.log 2>&1; then \
			tail -n 40 $(BUILD)/fuzz/$$n.log; echo "fuzz $$n: FAILED"; exit 1; fi; \
		tail -n 1 $(BUILD)/fuzz/$$n.log; done

format:
	clang-format -i src/*.c src/*/*.c src/*/*.h tests/unit/*.c tests/unit/*.h fuzz/*.c bench/*.c

format-check:
	clang-format --dry-run -Werror src/*.c src/*/*.c src/*/*.h tests/unit/*.c tests/unit/*.h fuzz/*.c bench/*.c

demo: $(BUILD)/postern
	scripts/demo.sh

bench: $(BUILD)/postern
	bench/run

clean:
	rm -rf build build-asan

-include $(OBJS:.o=.d) $(BUILD)/src/main.d $(FUZZ_OBJS:.o=.d)
