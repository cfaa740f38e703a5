# savekeeper: `make` builds, `make check` builds and runs every test, `make run` starts a demo daemon.
VERSION   := 0.1.0
# Where `make install` puts things. PREFIX=/usr/local (root) or PREFIX=~/.local (one user).
PREFIX    ?= /usr/local
# zsh and dash pass PREFIX=~/.local with the ~ left in; make never expands it in a variable.
override PREFIX := $(patsubst ~/%,$(HOME)/%,$(patsubst ~,$(HOME),$(PREFIX)))
BINDIR    ?= $(PREFIX)/bin
# man finds PREFIX/share/man through PATH (man-db maps each PATH entry DIR/bin to DIR/share/man).
MANDIR    ?= $(PREFIX)/share/man
DOCDIR    ?= $(PREFIX)/share/doc/savekeeper
# A prefix under $HOME is a per-user install: the user manager and bash-completion search that
# user's XDG data folder, never PREFIX/lib or PREFIX/share (`systemd-analyze --user unit-paths`).
USERDATADIR := $(or $(XDG_DATA_HOME),$(HOME)/.local/share)
ifneq ($(filter-out /,$(HOME)),)
PER_USER  := $(filter $(HOME) $(HOME)/%,$(abspath $(PREFIX)))
endif
UNITDIR   ?= $(if $(PER_USER),$(USERDATADIR)/systemd/user,$(PREFIX)/lib/systemd/user)
BASHCOMPDIR ?= $(if $(PER_USER),$(USERDATADIR)/bash-completion/completions,$(PREFIX)/share/bash-completion/completions)
# The folders `make install` had to create, so that `make uninstall` removes those and no
# other. Empty: not recorded (a package manager owns the folders of a staged DESTDIR install).
INSTALL_RECORD ?= $(DOCDIR)/installed-folders

CC        ?= cc
CFLAGS    ?= -O2 -g
B         := build
ifeq ($(ASAN),1)
B         := build-asan
CFLAGS    += -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS   += -fsanitize=address,undefined
endif

PKGS      := libarchive inih libsystemd json-c libdeflate libcrypto yaml-0.1
# Compiled against, not linked: src/notify.c loads libnotify when it first notifies.
DLOPEN_PKGS := libnotify
WARN      := -Wall -Wextra -Werror -Wstrict-prototypes -Wmissing-prototypes \
             -Wshadow -Wcast-qual -Wsign-compare
# Library headers are system headers: their warnings are not ours.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) $(DLOPEN_PKGS) 2>/dev/null | sed 's/-I/-isystem /g')
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
SK_CFLAGS  = -std=gnu11 -D_GNU_SOURCE -DSK_VERSION='"$(VERSION)"' -Iinclude \
             $(WARN) $(PKG_CFLAGS) $(CFLAGS) -MMD -MP
LIBS       = $(PKG_LIBS) -lpthread -lm

MAINS     := src/savekeeperd.c src/savekeeperctl.c
# savekeeperctl's other files are linked into it alone, not into the library.
CTL_SRCS  := $(wildcard src/savekeeperctl_*.c)
LIB_SRCS  := $(filter-out $(MAINS) $(CTL_SRCS),$(wildcard src/*.c))
LIB_OBJS  := $(LIB_SRCS:src/%.c=$(B)/%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/%)
TEST_HELPERS := $(patsubst tests/helpers/%.c,$(B)/%,$(wildcard tests/helpers/*.c))
BENCH_BINS := $(patsubst bench/%.c,$(B)/%,$(wildcard bench/*.c))
# Shared objects the tests load with LD_PRELOAD to simulate what this machine lacks.
TEST_PRELOADS := $(patsubst tests/preload/%.c,$(B)/%.so,$(wildcard tests/preload/*.c))
INTEG     := $(sort $(wildcard tests/integration/*.sh))
BINS      := $(B)/savekeeperd $(B)/savekeeperctl
MANS      := $(patsubst docs/%.scd,$(B)/man/%,$(wildcard docs/*.scd))

.PHONY: all deps check check-build run bench bench-quick stress fuzz clean install uninstall check-package format format-check lint
all: $(B)/.deps-build $(BINS) $(MANS)

# The Debian packages a goal needs (scripts/deps.sh: build for `make` and `make run`, test for
# `make check` and `make check-package`, bench for `make bench`) are checked once per build
# tree; as root the missing ones are installed, otherwise they are named with the command that
# installs them.
DEPS_STAMPS := $(B)/.deps-build $(B)/.deps-test $(B)/.deps-bench
$(DEPS_STAMPS): $(B)/.deps-%: scripts/deps.sh
	@mkdir -p $(B)
	@sh scripts/deps.sh $*
	@touch $@
# Installs what building, testing and benchmarking need.
deps:
	@sh scripts/deps.sh all

$(B)/%.o: src/%.c | $(B)/.deps-build
	@echo "  CC      $<"
	@$(CC) $(SK_CFLAGS) -c -o $@ $<
$(B)/libsk.a: $(LIB_OBJS)
	@rm -f $@
	@ar rcs $@ $^
$(B)/savekeeperd: $(B)/savekeeperd.o $(B)/libsk.a
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -o $@ $(filter %.c %.o %.a,$^) $(LIBS)
$(B)/savekeeperctl: $(B)/savekeeperctl.o $(CTL_SRCS:src/%.c=$(B)/%.o) $(B)/libsk.a
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -o $@ $(filter %.c %.o %.a,$^) $(LIBS)

# Programs link only their sources and the library: $^ also holds the headers that the
# dependency files (-MMD) list, which gcc would compile as precompiled headers.
$(B)/test_%: tests/unit/test_%.c $(B)/libsk.a | $(B)/.deps-test
	@echo "  TEST-CC $<"
	@$(CC) $(SK_CFLAGS) -Wno-missing-prototypes $(LDFLAGS) -o $@ $(filter %.c %.o %.a,$^) $(LIBS) -lcmocka
$(B)/%: tests/helpers/%.c $(B)/libsk.a | $(B)/.deps-build
	@echo "  CC      $<"
	@$(CC) $(SK_CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.o %.a,$^) $(LIBS)
$(B)/%.so: tests/preload/%.c | $(B)/.deps-build
	@echo "  CC      $<"
	@$(CC) -std=gnu11 -D_GNU_SOURCE $(WARN) -O2 -fPIC -shared -o $@ $<
$(B)/%: bench/%.c $(B)/libsk.a | $(B)/.deps-build
	@echo "  CC      $<"
	@$(CC) $(SK_CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.o %.a,$^) $(LIBS)

$(B)/man/%: docs/%.scd | $(B)/.deps-build
	@mkdir -p $(B)/man
	@scdoc < $< > $@

# Everything `make check` runs, built without running it (.ci/run builds this with -j).
check-build: all $(B)/.deps-test $(UNIT_BINS) $(TEST_HELPERS) $(BENCH_BINS) $(TEST_PRELOADS)
# One summary line at the end: "N passed, N failed, K skipped" (tests that need root skip).
check: check-build
	@B=$(B) ASAN=$(ASAN) tests/run.sh $(UNIT_BINS) $(INTEG)

# A demo: a save folder with a few files, a short interval, archives under build/.
run: all
	@B=$(B) sh scripts/demo.sh

bench: all $(B)/.deps-bench $(BENCH_BINS)
	@B=$(B) bench/run.sh
bench-quick: all $(B)/.deps-bench $(BENCH_BINS)
	@B=$(B) QUICK=1 bench/run.sh

stress: all $(B)/.deps-test $(TEST_HELPERS)
	@B=$(B) STRESS=1 tests/run.sh $(INTEG)

fuzz: $(B)/.deps-test
	@B=$(B) tests/fuzz/run.sh $${FUZZ_SECONDS:-60}

# Everything `make install` puts, as MODE:SOURCE:DESTINATION, so that install and uninstall
# read one list. A SOURCE ending in .in has @BINDIR@ replaced on the way.
INSTALL_FILES = \
	755:$(B)/savekeeperd:$(BINDIR)/savekeeperd \
	755:$(B)/savekeeperctl:$(BINDIR)/savekeeperctl \
	644:systemd/savekeeper.service.in:$(UNITDIR)/savekeeper.service \
	644:systemd/savekeeper.socket:$(UNITDIR)/savekeeper.socket \
	644:conf/savekeeper.ini:$(DOCDIR)/savekeeper.ini \
	644:README.md:$(DOCDIR)/README.md \
	$(foreach d,$(wildcard docs/*.md),644:$(d):$(DOCDIR)/$(d)) \
	$(foreach m,$(MANS),644:$(m):$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m))) \
	644:contrib/savekeeperctl.bash:$(BASHCOMPDIR)/savekeeperctl
INSTALL_ENV = DESTDIR="$(DESTDIR)" BINDIR="$(BINDIR)" RECORD="$(INSTALL_RECORD)" \
	OWN_DIRS="$(DOCDIR)/docs $(DOCDIR)"

install: all
	@$(INSTALL_ENV) sh scripts/install.sh install $(INSTALL_FILES)

# Removes the files of INSTALL_FILES, then the folders that install recorded as its own.
uninstall:
	@$(INSTALL_ENV) sh scripts/install.sh uninstall $(INSTALL_FILES)

# The Debian package test alone (make check runs it too): builds the package and tries it in
# a fresh Debian 12 (root only; see README).
check-package: $(B)/.deps-test
	@B=$(B) tests/run.sh tests/integration/96-package.sh

format:
	clang-format -i include/*.h src/*.c tests/unit/*.c bench/*.c
# cppcheck does not model __attribute__((cleanup)), so it takes every _cleanup_free_ local for
# a leak; real leaks are caught by make check (LeakSanitizer with ASAN=1, and valgrind).
# The link graph check runs here too: no cycle among engine modules, no library object that
# needs a program's main file.
lint: all $(B)/.deps-test
	cppcheck --quiet --enable=warning,performance,portability --error-exitcode=1 \
	    --suppress=missingIncludeSystem --suppress=memleak -Iinclude src
	@sh scripts/linkgraph.sh $(B)

# The project's .clang-format, checked without rewriting anything.
format-check: $(B)/.deps-test
	clang-format --dry-run --Werror include/*.h src/*.c tests/unit/*.c bench/*.c

clean:
	rm -rf build build-asan

-include $(wildcard $(B)/*.d)
