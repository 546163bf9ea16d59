# zmqscope: see README.md.  `make` builds build/zmqscope.
BUILD ?= build
PREFIX ?= /usr/local
CC ?= cc
CLANG ?= clang
BPFTOOL ?= bpftool
VERSION := 0.1.0

ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
CFLAGS ?= -O2 -g
ZS_CFLAGS := $(CFLAGS) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow \
	-Wstrict-prototypes -Wmissing-prototypes -fno-strict-aliasing \
	-Iinclude -I$(BUILD) -MMD -MP -DZS_VERSION='"$(VERSION)"'
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	-Iinclude -I$(BUILD) -MMD -MP
LDLIBS := -lbpf -lelf -lz -lmicrohttpd -lpthread -ldl -lm -lmsgpackc -lncurses
# --web.config.file: YAML, bcrypt (libxcrypt) and GnuTLS for client certificates.
WEB_LIBS := -lyaml -lcrypt -lgnutls
LDLIBS += $(WEB_LIBS)

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(BPF_SRCS:bpf/%.bpf.c=$(BUILD)/%.bpf.o)
SKELS := $(BPF_SRCS:bpf/%.bpf.c=$(BUILD)/%.skel.h)
USER_SRCS := $(wildcard user/*.c)
USER_OBJS := $(USER_SRCS:user/%.c=$(BUILD)/user/%.o)
# Modules with no BPF, root or process work: the unit tests link these.
PURE_MODULES := exposition options proc_maps elf_symbols probe_site layout_table pinning \
	strbuf json_writer metrics metrics_lmcache process_selector proc_files errmsg frame_assembler \
	kv_keyset lmcache_messages lmcache_model top_model socket_image x86_calls
PURE_MODULES += web_config
# Parsers that sit beside /proc or netlink reads; their unit tests need no root.
PURE_MODULES += libzmq_discovery libzmq_internals proc_events
PURE_MODULES += wire_metrics stop_progress
PURE_OBJS := $(PURE_MODULES:%=$(BUILD)/user/%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all install test unit integration demo bench fuzz fuzz-short clean deps fixtures
all: $(BUILD)/zmqscope

deps:
	@./scripts/install-deps.sh

$(BUILD)/vmlinux.h: /sys/kernel/btf/vmlinux | $(BUILD)
	$(BPFTOOL) btf dump file $< format c > $@.tmp && mv $@.tmp $@

$(BUILD)/%.bpf.o: bpf/%.bpf.c $(BUILD)/vmlinux.h
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# Not intermediates: make would delete them and rebuild the skeleton every time.
.SECONDARY: $(BPF_OBJS)
$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(BPFTOOL) gen skeleton $< > $@.tmp && mv $@.tmp $@

# The skeleton must exist before the first compile of the files that use it;
# -MMD takes over after.  The pure modules never wait for the BPF toolchain.
$(filter-out $(PURE_OBJS),$(USER_OBJS)): | $(SKELS)
$(BUILD)/user/%.o: user/%.c | $(BUILD)/user
	$(CC) $(ZS_CFLAGS) -c $< -o $@

$(BUILD)/zmqscope: $(USER_OBJS)
	$(CC) $(ZS_CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD) $(BUILD)/user $(BUILD)/tests $(BUILD)/fuzz:
	mkdir -p $@

install: $(BUILD)/zmqscope
	install -D -m 0755 $< $(DESTDIR)$(PREFIX)/sbin/zmqscope

include tests/fixtures/fixtures.mk
include deploy/toolbox.mk

$(BUILD)/tests/test_%: tests/unit/test_%.c $(PURE_OBJS) | $(BUILD)/tests
	$(CC) $(ZS_CFLAGS) $(filter %.c %.o,$^) -o $@ -lcmocka -lelf -lz -lm -lmsgpackc $(WEB_LIBS)

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

# libFuzzer: a bounded run on a copy of the seed corpus (inputs it finds
# accumulate there across runs); any crash or sanitizer report fails it.
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude

$(BUILD)/fuzz/fuzz_msgtype: tests/fuzz/fuzz_msgtype.c include/msgtype.h include/zmqscope.h \
		| $(BUILD)/fuzz
	$(CLANG) $(FUZZ_CFLAGS) $< -o $@

fuzz: $(BUILD)/fuzz/fuzz_msgtype
	mkdir -p $(BUILD)/fuzz/corpus
	cp tests/fuzz/corpus/* $(BUILD)/fuzz/corpus/
	$(BUILD)/fuzz/fuzz_msgtype -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
		-artifact_prefix=$(BUILD)/fuzz/ $(BUILD)/fuzz/corpus

fuzz-short:
	$(MAKE) fuzz FUZZ_SECONDS=15
	$(MAKE) fuzz-lmcache FUZZ_SECONDS=15
	$(MAKE) fuzz-zmtp FUZZ_SECONDS=15

# The LMCache model and its decoder, on sequences of (channel, payload).
LMC_FUZZ_SRCS := tests/fuzz/fuzz_lmcache_model.c user/lmcache_model.c user/lmcache_messages.c \
	user/kv_keyset.c
$(BUILD)/fuzz/fuzz_lmcache_model: $(LMC_FUZZ_SRCS) include/lmcache_model.h \
		include/lmcache_messages.h include/kv_keyset.h | $(BUILD)/fuzz
	$(CLANG) $(FUZZ_CFLAGS) $(LMC_FUZZ_SRCS) -o $@ -lmsgpackc

.PHONY: fuzz-lmcache
fuzz-lmcache: $(BUILD)/fuzz/fuzz_lmcache_model
	mkdir -p $(BUILD)/fuzz/corpus_lmcache
	cp tests/fuzz/corpus_lmcache/* $(BUILD)/fuzz/corpus_lmcache/
	$(BUILD)/fuzz/fuzz_lmcache_model -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
		-artifact_prefix=$(BUILD)/fuzz/ $(BUILD)/fuzz/corpus_lmcache

# The ZMTP stream parser (include/zmtp.h): whole, byte-by-byte and cut feeds must agree.
.PHONY: fuzz-zmtp
$(BUILD)/fuzz/fuzz_zmtp: tests/fuzz/fuzz_zmtp.c include/zmtp.h include/msgtype.h \
		include/zmqscope.h | $(BUILD)/fuzz
	$(CLANG) $(FUZZ_CFLAGS) $< -o $@

fuzz-zmtp: $(BUILD)/fuzz/fuzz_zmtp
	mkdir -p $(BUILD)/fuzz/corpus_zmtp
	cp tests/fuzz/corpus_zmtp/* $(BUILD)/fuzz/corpus_zmtp/
	$(BUILD)/fuzz/fuzz_zmtp -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
		-artifact_prefix=$(BUILD)/fuzz/zmtp- $(BUILD)/fuzz/corpus_zmtp

integration: all fixtures
	/usr/bin/python3 tests/integration/run.py --build $(BUILD)

test: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) toolbox-check
	$(MAKE) fuzz-short
	$(MAKE) integration
	$(MAKE) test-sanitize-quick

# Sanitizers: zmqscope and the unit tests again with ASan, LeakSanitizer and
# UBSan, in their own build directory.  Any report stops the process
# (halt_on_error) and lands in $(SAN_BUILD)/reports, which must stay empty:
# that catches daemons too, whose stderr no test reads.
SAN_BUILD ?= build-asan
SAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=all
SAN_REPORTS = $(abspath $(SAN_BUILD))/reports
SAN_ENV = ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:log_path=$(SAN_REPORTS)/asan \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$(SAN_REPORTS)/ubsan
# The share `make test` runs (about a minute): attach, count, scrape, stop,
# pins, bad input, what the adversarial review broke, and the fault test.
SAN_QUICK ?= -k test_counts_match_ground_truth -k test_exposition_and_http -k test_bad_input \
	-k test_hardening -k test_target_unharmed
.PHONY: test-sanitize test-sanitize-quick
test-sanitize-quick test-sanitize:
	rm -rf $(SAN_REPORTS) && mkdir -p $(SAN_REPORTS)
	$(SAN_ENV) $(MAKE) BUILD=$(SAN_BUILD) CFLAGS="$(SAN_CFLAGS)" all fixtures unit
	$(SAN_ENV) /usr/bin/python3 tests/integration/run.py --build $(SAN_BUILD) \
		$(if $(filter test-sanitize-quick,$@),$(SAN_QUICK))
	@if ls $(SAN_REPORTS)/* >/dev/null 2>&1; then cat $(SAN_REPORTS)/*; exit 1; fi

demo: deps
	$(MAKE) all fixtures
	./scripts/demo.sh $(BUILD)

bench: deps
	$(MAKE) all fixtures $(BUILD)/bench/probe_cost $(BUILD)/bench/lmcache_model_bench \
		$(BUILD)/bench/send_recv_loop
	$(BUILD)/bench/lmcache_model_bench > bench/results/lmcache-model.txt
	./scripts/bench.sh $(BUILD)
	/usr/bin/python3 bench/send_recv_loop.py $(BUILD) bench/results

# The send/recv loop alone (bench/results/send_recv_loop.md).
.PHONY: bench-loop
bench-loop: deps
	$(MAKE) all $(BUILD)/bench/send_recv_loop
	/usr/bin/python3 bench/send_recv_loop.py $(BUILD) bench/results

# Not part of `bench`: CHURN_SECONDS of controllers started and killed under
# a --name selector, sampling zmqscope's RSS (bench/results/churn.md).
CHURN_SECONDS ?= 600
# Not part of `bench`: attach, detach and stop time for 1, 10 and 100
# processes (bench/results/attach_scale.md).
.PHONY: bench-attach
bench-attach: deps
	$(MAKE) all fixtures
	/usr/bin/python3 bench/attach_scale.py $(BUILD) bench/results 1 10 100

.PHONY: bench-churn
bench-churn: deps
	$(MAKE) all fixtures
	./scripts/bench.sh $(BUILD) --churn $(CHURN_SECONDS)

# Memory per million keys and CPU per decoded message of the LMCache model.
.PHONY: bench-model
bench-model: $(BUILD)/bench/lmcache_model_bench
	$(BUILD)/bench/lmcache_model_bench

$(BUILD)/bench/lmcache_model_bench: bench/lmcache_model_bench.c $(BUILD)/user/kv_keyset.o \
		$(BUILD)/user/lmcache_messages.o $(BUILD)/user/lmcache_model.o
	@mkdir -p $(@D)
	$(CC) $(ZS_CFLAGS) $^ -o $@ -lmsgpackc
# Not part of `bench`: the wire layer's rows alone (bench/results/wire.md).
.PHONY: bench-wire
bench-wire: deps
	$(MAKE) all fixtures $(BUILD)/bench/syscall_loop $(BUILD)/bench/tp_floor \
		$(BUILD)/bench/tp_floor.bpf.o
	/usr/bin/python3 bench/wire_bench.py --build $(BUILD)

$(BUILD)/bench/tp_floor: bench/tp_floor.c
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -Wextra -Werror -o $@ $< -lbpf -lelf -lz

$(BUILD)/bench/tp_floor.bpf.o: bench/tp_floor.bpf.c $(BUILD)/vmlinux.h
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/bench/syscall_loop: bench/syscall_loop.c
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -Wextra -Werror -o $@ $<

$(BUILD)/bench/send_recv_loop: bench/send_recv_loop.c
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -Wextra -Werror -o $@ $< -lzmq

$(BUILD)/bench/probe_cost: bench/probe_cost.c
	@mkdir -p $(@D)
	$(CC) $(FIXTURE_CFLAGS) -o $@ $< $(FIXTURE_LDFLAGS) -lzmq

clean:
	rm -rf $(BUILD)
	rm -rf $(SAN_BUILD)

-include $(USER_OBJS:.o=.d) $(BPF_OBJS:.o=.d) $(UNIT_BINS:=.d)
