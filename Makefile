# ember: one non-recursive build. Objects under build/, header dependencies via -MMD -MP.
#
#   make            build/ember, build/ember-jailer, build/ember-snap-merge, the test guest images
#                   and build/uffd-handler
#   make run        boot Debian's kernel and a busybox root file system (config.example.json)
#   make run-guest  boot ember's test guest (tests/guest/run.json)
#   make test       every test (unit, fuzz smoke, integration); ends with "N passed, M failed"
#   make fuzz       run the libFuzzer targets longer (FUZZ_SECONDS each)
#   make deps       install missing Debian packages (root) or say which to install
#   SANITIZE=1      build with AddressSanitizer and UndefinedBehaviorSanitizer

BUILD   ?= build
CC      ?= gcc
FUZZ_CC ?= clang

# Debian packages: what the build needs, and what the tests need on top.
BUILD_PKGS := gcc make libc6-dev libseccomp-dev libcap-ng-dev libjsmn-dev liburing-dev
TEST_PKGS  := clang libclang-rt-14-dev qemu-system-x86 lz4 python3 python3-yaml python3-jsonschema \
              socat curl iproute2 e2fsprogs acpica-tools \
              binutils cpio xz-utils $(LAB_PKGS)
# The lab (tests/lab/lab.sh), for hosts without a working /dev/kvm.
LAB_PKGS   := qemu-system-x86 busybox-static kmod cpio gzip
# make run's Linux guest (tests/linux/guest_io.sh prepare).
RUN_PKGS   := busybox-static cpio socat e2fsprogs

WARN := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wpointer-arith -Wwrite-strings -Werror
CFLAGS_BASE := -std=gnu11 -D_GNU_SOURCE -O2 -g $(WARN) -MMD -MP -Isrc -Iapi -pthread -fPIE
HARDEN  := -fstack-protector-strong -D_FORTIFY_SOURCE=2
LDFLAGS_BASE := -pie -pthread -Wl,-z,relro,-z,now,-z,noexecstack
LIBS    := -lseccomp -lcap-ng -luring

# ember and the jailer are static PIEs: a jail holds the binary alone (no loader, no
# libraries), and start-up skips dynamic linking. Sanitizer builds stay dynamic.
LINK_MODE := -static-pie

ifeq ($(SANITIZE),1)
LINK_MODE :=
CFLAGS_BASE  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS_BASE += -fsanitize=address,undefined
HARDEN := -fstack-protector-strong
endif

CFLAGS  := $(CFLAGS_BASE) $(HARDEN) $(EXTRA_CFLAGS)
LDFLAGS := $(LDFLAGS_BASE) $(EXTRA_LDFLAGS)

# Everything under src/ and api/ except main.c and the tools (src/tools/, each a program
# of its own) is the ember library; the unit tests and fuzzers link the same objects.
LIB_SRCS  := $(sort $(shell find src api -name '*.c' ! -path src/main.c ! -path 'src/tools/*'))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
JAIL_SRCS := $(sort $(wildcard jailer/*.c))
JAIL_OBJS := $(JAIL_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/fuzz/obj/%.o)

.PHONY: all ember jailer tools guest unit fuzz-build fuzz test run run-guest deps deps-test deps-lab deps-run clean
all: deps ember jailer tools guest

ember: $(BUILD)/ember
jailer: $(if $(JAIL_SRCS),$(BUILD)/ember-jailer)
tools: $(BUILD)/ember-snap-merge
unit: $(UNIT_BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libember.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/ember: $(BUILD)/obj/src/main.o $(BUILD)/libember.a
	$(CC) $(LDFLAGS) $(LINK_MODE) -o $@ $^ $(LIBS)

$(BUILD)/ember-jailer: $(JAIL_OBJS) $(BUILD)/libember.a
	$(CC) $(LDFLAGS) $(LINK_MODE) -o $@ $^ $(LIBS)

# A Diff snapshot's memory file onto its base's (src/tools/snap_merge.c): libc only.
$(BUILD)/ember-snap-merge: $(BUILD)/obj/src/tools/snap_merge.o
	$(CC) $(LDFLAGS) -o $@ $^

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libember.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(BUILD)/libember.a $(LIBS)

# The jailer's files but main.c, for its unit test (which links only what it calls).
$(BUILD)/libjailer.a: $(filter-out $(BUILD)/obj/jailer/main.o,$(JAIL_OBJS))
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/tests/test_jailer: tests/unit/test_jailer.c $(BUILD)/libjailer.a $(BUILD)/libember.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests/unit -Ijailer $(LDFLAGS) -o $@ $< $(BUILD)/libjailer.a \
		$(BUILD)/libember.a $(LIBS)

# Fuzz targets: clang, libFuzzer, ASan and UBSan, against the library sources.
FUZZ_CFLAGS := -std=gnu11 -D_GNU_SOURCE -O1 -g -Isrc -Iapi -Itests/unit -pthread \
               -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer

$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_OBJS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LIBS)

fuzz-build: $(FUZZ_BINS)

FUZZ_SECONDS ?= 600
fuzz: deps-test fuzz-build
	@for f in $(FUZZ_BINS); do \
	  n=$$(basename $$f); mkdir -p $(BUILD)/corpus/$$n; \
	  echo "fuzz: $$n for $(FUZZ_SECONDS) s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(BUILD)/corpus/$$n \
	      $$( [ -d tests/fuzz/corpus/$$n ] && echo tests/fuzz/corpus/$$n ) || exit 1; \
	done

# A test-only ember whose threads make a forbidden call when EMBER_SECCOMP_SELFTEST
# names their kind: the seccomp tests check that each list is enforced (exit 148).
$(BUILD)/obj-sctest/seccomp_filters.o: src/seccomp_filters.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -DEMBER_SECCOMP_SELFTEST -c $< -o $@

$(BUILD)/ember-sctest: $(BUILD)/obj/src/main.o $(BUILD)/obj-sctest/seccomp_filters.o $(BUILD)/libember.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# Helpers the tests run beside ember: the example page-fault handler of the Uffd backend.
tools: $(BUILD)/uffd-handler

$(BUILD)/uffd-handler: tests/tools/uffd_handler.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $<

-include tests/guest/guest.mk

# Keep fuzz objects (make would otherwise delete them as intermediates).
.SECONDARY:

test: deps deps-test all unit fuzz-build $(BUILD)/ember-sctest
	@BUILD=$(BUILD) tests/run.sh

# make run [FUNC='shell command']: Debian's cloud kernel and a busybox root file system
# (tests/linux/guest_io.sh prepare: apt-get download, cached under build/) boot from
# config.example.json, run the function and power off. Where /dev/kvm does not work
# (tests/lab/kvm-probe says why), the same command runs in the lab.
run: all
	@$(MAKE) -s deps-run || exit 1; \
	tests/linux/guest_io.sh prepare >/dev/null || exit 1; \
	cfg=config.example.json; \
	if [ -n "$$FUNC" ]; then tests/linux/guest_io.sh demo-config "$$FUNC" >$(BUILD)/run.json && cfg=$(BUILD)/run.json; fi; \
	if why=$$(tests/lab/kvm-probe); then \
	  $(BUILD)/ember --no-api --boot-timer --config-file $$cfg; \
	else \
	  echo "make run: $$why; booting through the lab (tests/lab/lab.sh, about two minutes)"; \
	  $(MAKE) -s deps-lab || exit 1; \
	  EMBER_LAB_QUIET=1 tests/lab/lab.sh -- $(BUILD)/ember --no-api --boot-timer --config-file $$cfg; \
	fi

# make run-guest: ember's own test guest instead (tests/guest/run.json): its probe lines,
# PROBE DONE pass=5 fail=0, the boot time, exit 0 on its i8042 reset; through the lab likewise.
run-guest: all
	@if why=$$(tests/lab/kvm-probe); then \
	  $(BUILD)/ember --no-api --boot-timer --config-file tests/guest/run.json; \
	else \
	  echo "make run-guest: $$why; booting through the lab (tests/lab/lab.sh, about a minute)"; \
	  $(MAKE) -s deps-lab || exit 1; \
	  EMBER_LAB_QUIET=1 tests/lab/lab.sh -- $(BUILD)/ember --no-api --boot-timer --config-file tests/guest/run.json; \
	fi

# Install what is missing when we can; otherwise say exactly what to install.
define install_pkgs
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "deps: installing$$missing"; \
	    apt-get update -q >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing >/dev/null \
	      || { echo "deps: apt-get install$$missing failed"; exit 1; }; \
	  else \
	    echo "deps: missing Debian packages:$$missing"; \
	    echo "deps: run as root: apt-get install$$missing"; exit 1; \
	  fi; \
	fi
endef

deps:
	$(call install_pkgs,$(BUILD_PKGS))

deps-test:
	$(call install_pkgs,$(TEST_PKGS))

deps-lab:
	$(call install_pkgs,$(LAB_PKGS))

deps-run:
	$(call install_pkgs,$(RUN_PKGS))

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# Benchmarks side by side with QEMU microvm (perf/README.md): perf/results/SUMMARY.md, CSVs, a chart.
.PHONY: perf
# Where /dev/kvm does not work, the whole benchmark (ember and QEMU alike) runs in the lab.
perf: all
	@if why=$$(tests/lab/kvm-probe); then \
	  BUILD=$(BUILD) perf/run.sh; \
	else \
	  echo "make perf: $$why; measuring in the lab (QEMU TCG with nested KVM)"; \
	  $(MAKE) -s deps-lab && perf/deps.sh && \
	  BUILD=$(BUILD) EMBER_PERF_HOST="lab (QEMU TCG, nested kvm_amd)" tests/lab/lab.sh -- perf/run.sh; \
	fi
