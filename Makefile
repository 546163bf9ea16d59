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
LDLIBS := -lbpf -lelf -lz -lmicrohttpd -lpthread -ldl -lm

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(BPF_SRCS:bpf/%.bpf.c=$(BUILD)/%.bpf.o)
SKELS := $(BPF_SRCS:bpf/%.bpf.c=$(BUILD)/%.skel.h)
USER_SRCS := $(wildcard user/*.c)
USER_OBJS := $(USER_SRCS:user/%.c=$(BUILD)/user/%.o)
# Modules with no BPF, root or process work: the unit tests link these.
PURE_MODULES := exposition options proc_maps elf_symbols probe_site layout_table pinning \
	strbuf json_writer metrics process_selector proc_files errmsg x86_calls
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

$(BUILD)/tests/test_%: tests/unit/test_%.c $(PURE_OBJS) | $(BUILD)/tests
	$(CC) $(ZS_CFLAGS) $(filter %.c %.o,$^) -o $@ -lcmocka -lelf -lz -lm

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

integration: all fixtures
	/usr/bin/python3 tests/integration/run.py --build $(BUILD)

test: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) fuzz-short
	$(MAKE) integration

demo: deps
	$(MAKE) all fixtures
	./scripts/demo.sh $(BUILD)

bench: deps
	$(MAKE) all fixtures $(BUILD)/bench/probe_cost
	./scripts/bench.sh $(BUILD)

# Not part of `bench`: CHURN_SECONDS of controllers started and killed under
# a --name selector, sampling zmqscope's RSS (bench/results/churn.md).
CHURN_SECONDS ?= 600
.PHONY: bench-churn
bench-churn: deps
	$(MAKE) all fixtures
	./scripts/bench.sh $(BUILD) --churn $(CHURN_SECONDS)

$(BUILD)/bench/probe_cost: bench/probe_cost.c
	@mkdir -p $(@D)
	$(CC) $(FIXTURE_CFLAGS) -o $@ $< $(FIXTURE_LDFLAGS) -lzmq

clean:
	rm -rf $(BUILD)

-include $(USER_OBJS:.o=.d) $(BPF_OBJS:.o=.d) $(UNIT_BINS:=.d)
