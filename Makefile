# postern: one GNU Makefile. `make` builds build/postern; `make test` runs every test.
BUILD    ?= build
CC       ?= cc
OPT      ?= -O2
PKGS     := libuv inih libcrypto libnftables hiredis
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

# Where `make install` puts things; debian/rules sets the Debian paths.
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/postern
SYSCONFDIR ?= $(PREFIX)/etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
COMPDIR    ?= $(PREFIX)/share/bash-completion/completions
MANPAGES   := $(BUILD)/man/postern.1 $(BUILD)/man/postern.conf.5
UNITFILES  := $(wildcard contrib/systemd/*.service)
EXAMPLES   := $(wildcard examples/*)

.PHONY: all setup test check unit e2e asan valgrind fuzz fuzz-build format format-check clean demo bench \
	man install deb
all: $(BUILD)/postern

$(BUILD)/postern: $(BUILD)/src/main.o $(BUILD)/libpostern.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/src/main.o: CFLAGS += -DPOSTERN_VERSION='"$(VERSION)"'
$(BUILD)/src/main.o: debian/changelog

$(BUILD)/libpostern.a: $(OBJS)
	$(AR) rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

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

# The man pages' generated parts (every setting and flag) come from the
# binary's settings table; scripts/man-fill.sh splices them into the sources.
man: $(MANPAGES)

$(BUILD)/man/%: man/%.scd $(BUILD)/postern scripts/man-fill.sh debian/changelog
	@mkdir -p $(dir $@)
	scripts/man-fill.sh $(BUILD)/postern $(VERSION) < $< > $@.scd
	scdoc < $@.scd > $@

# The same files as the package, without one. Units point at BINDIR.
install: $(BUILD)/postern $(MANPAGES)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(COMPDIR) $(DESTDIR)$(DOCDIR)/examples \
		$(DESTDIR)$(SYSCONFDIR)/postern
	install -m 0755 $(BUILD)/postern $(DESTDIR)$(BINDIR)/postern
	install -m 0644 $(BUILD)/man/postern.1 $(DESTDIR)$(MANDIR)/man1/postern.1
	install -m 0644 $(BUILD)/man/postern.conf.5 $(DESTDIR)$(MANDIR)/man5/postern.conf.5
	install -m 0644 contrib/bash-completion/postern $(DESTDIR)$(COMPDIR)/postern
	for u in $(UNITFILES); do \
		sed -e 's|/usr/bin/postern|$(BINDIR)/postern|g' -e 's|/etc/postern|$(SYSCONFDIR)/postern|g' \
			$$u > $(DESTDIR)$(UNITDIR)/$$(basename $$u); \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$(basename $$u); done
	install -m 0644 $(filter-out %.sh,$(EXAMPLES)) $(DESTDIR)$(DOCDIR)/examples/
	install -m 0755 $(filter %.sh,$(EXAMPLES)) $(DESTDIR)$(DOCDIR)/examples/
	for f in contrib/etc/*.conf; do \
		[ -e $(DESTDIR)$(SYSCONFDIR)/postern/$$(basename $$f) ] || \
			install -m 0644 $$f $(DESTDIR)$(SYSCONFDIR)/postern/; done

# ../postern_$(VERSION)_ARCH.deb (and its .changes and .buildinfo).
deb:
	dpkg-buildpackage -us -uc -b

format:
	clang-format -i src/*.c src/*/*.c src/*/*.h tests/unit/*.c tests/unit/*.h fuzz/*.c bench/*.c

format-check:
	clang-format --dry-run -Werror src/*.c src/*/*.c src/*/*.h tests/unit/*.c tests/unit/*.h fuzz/*.c bench/*.c

demo: $(BUILD)/postern
	scripts/demo.sh

bench: $(BUILD)/postern
	bench/run

clean:
	rm -rf build build-asan build-deb

-include $(OBJS:.o=.d) $(BUILD)/src/main.d $(FUZZ_OBJS:.o=.d)
