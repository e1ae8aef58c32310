# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Everything is found by convention, nothing by a hand-kept list:
#   bpf/NAME.bpf.c        -> build/bpf/NAME.bpf.o -> build/include/NAME.skel.h
#   ctl/*.c (not main)    -> build/libxlb.a
#   ctl/xlbd.c, xlbctl.c  -> build/xlbd, build/xlbctl (when present)
#   tests/lib/*.c         -> build/libxlbtest.a
#   tests/unit/test_*.c   -> build/tests/unit/test_*   (cmocka)
#   tests/bpf/test_*.c    -> build/tests/bpf/test_*    (cmocka, needs root)
#   bench/*.c             -> build/xlb-bench
# V=1 prints full commands.

BUILD	?= build
CLANG	?= clang
CC	?= gcc
AR	?= ar
BPFTOOL	?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

LIBBPF_CFLAGS := $(shell pkg-config --cflags libbpf 2>/dev/null)
LIBBPF_LIBS   := $(shell pkg-config --libs libbpf 2>/dev/null || echo -lbpf) -lelf -lz

# Debian keeps asm/ under the multiarch dir; clang -target bpf does not look
# there by itself, so hand it the host compiler's system dirs, searched last.
CLANG_BPF_SYS_INCLUDES ?= $(shell $(CLANG) -v -E - </dev/null 2>&1 | \
	sed -n '/<...> search starts here:/,/End of search list./{ s| \(/.*\)|-idirafter \1|p }')

# -mcpu=v3 (kernel 5.1+): 32-bit subregisters and 32-bit jumps, so jhash's
# 32-bit rotations need no 64-bit masks (each flow hash 294 -> 246
# instructions); established packets measured 3-14% cheaper (README).
BPF_CFLAGS := -target bpf -mcpu=v3 -O2 -g -Wall -Werror -Wno-unused-function \
	-Iinclude -Ibpf $(CLANG_BPF_SYS_INCLUDES)
CFLAGS	?= -O2 -g
# What xlb_info reports: the commit, when built from a git checkout.
XLB_VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
CFLAGS	+= -DXLB_VERSION='"$(XLB_VERSION)"'
CFLAGS	+= -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
	-Iinclude -Ictl -Itests/lib -I$(BUILD)/include $(LIBBPF_CFLAGS)
LDLIBS	+= $(LIBBPF_LIBS)
# Kept apart from the flags so tests/build/test_deps.sh can run the compilers
# with exactly these flags and -M instead (-MMD leaves out system headers).
DEPFLAGS := -MMD -MP

BPF_SRCS   := $(wildcard bpf/*.bpf.c)
BPF_OBJS   := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS      := $(patsubst bpf/%.bpf.c,$(BUILD)/include/%.skel.h,$(BPF_SRCS))
MAINS      := $(wildcard ctl/xlbd.c ctl/xlbctl.c)
LIB_SRCS   := $(filter-out $(MAINS),$(wildcard ctl/*.c))
LIB_OBJS   := $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRCS))
BINS       := $(patsubst ctl/%.c,$(BUILD)/%,$(MAINS))
TLIB_OBJS  := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/lib/*.c))
UNIT_TESTS := $(patsubst %.c,$(BUILD)/%,$(wildcard tests/unit/test_*.c))
BPF_TESTS  := $(patsubst %.c,$(BUILD)/%,$(wildcard tests/bpf/test_*.c))
BENCH_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard bench/*.c))
# Every userspace source compiled with $(CFLAGS), each by the $(BUILD)/%.o rule.
USER_SRCS  := $(patsubst $(BUILD)/%.o,%.c,$(LIB_OBJS) $(TLIB_OBJS) $(BENCH_OBJS)) \
	$(MAINS) $(wildcard tests/unit/test_*.c tests/bpf/test_*.c)

.DELETE_ON_ERROR:
.SECONDARY:
.PHONY: all deps test test-unit test-bpf test-e2e bench bench-compare bench-katran demo clean format

all: $(SKELS) $(BINS) $(UNIT_TESTS) $(BPF_TESTS) $(if $(BENCH_OBJS),$(BUILD)/xlb-bench)

deps:
	$(Q)scripts/install-deps.sh

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(BUILD)/include/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*) > $@

# Userspace objects may include any skeleton.
$(BUILD)/%.o: %.c $(SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

$(BUILD)/libxlb.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/libxlbtest.a: $(TLIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/xlbd $(BUILD)/xlbctl: $(BUILD)/%: $(BUILD)/ctl/%.o $(BUILD)/libxlb.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(BUILD)/libxlbtest.a $(BUILD)/libxlb.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ -lcmocka $(LDLIBS) -lm -o $@

$(BUILD)/tests/bpf/%: $(BUILD)/tests/bpf/%.o $(BUILD)/libxlbtest.a $(BUILD)/libxlb.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ -lcmocka $(LDLIBS) -lm -o $@

$(BUILD)/xlb-bench: $(BENCH_OBJS) $(BUILD)/libxlbtest.a $(BUILD)/libxlb.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -lm -o $@

# The test and demo entry points install what they need first: a fresh
# Debian 12 machine has only gcc and make.
test: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/run-tests.sh $(BUILD)

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/mount-bpffs.sh
	$(Q)BUILD=$(abspath $(BUILD)) scripts/demo.sh

bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/mount-bpffs.sh
	$(Q)$(BUILD)/xlb-bench

# Per packet, this build against another in one process, rounds interleaved:
#   make bench-compare OLD=path/to/xlb.bpf.o    an object built elsewhere
#   make bench-compare OLD_REV=main             built here from a git revision
OLD_REV	?= HEAD
bench-compare: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/mount-bpffs.sh
ifeq ($(OLD),)
	$(call msg,BPF,$(BUILD)/old/xlb.bpf.o ($(OLD_REV)))
	$(Q)rm -rf $(BUILD)/old && mkdir -p $(BUILD)/old/src
	$(Q)git archive $(OLD_REV) bpf include | tar -x -C $(BUILD)/old/src
	$(Q)cd $(BUILD)/old/src && $(CLANG) $(BPF_CFLAGS) -c bpf/xlb.bpf.c -o ../xlb.bpf.o
	$(Q)$(BUILD)/xlb-bench --only packets --old $(BUILD)/old/xlb.bpf.o
else
	$(Q)$(BUILD)/xlb-bench --only packets --old $(OLD)
endif

# Per packet against Katran's XDP balancer, an object built elsewhere (README
# "Performance"; nothing is fetched): make bench-katran KATRAN=path/balancer.bpf.o
bench-katran: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/mount-bpffs.sh
	$(Q)$(BUILD)/xlb-bench --only katran $(if $(KATRAN),--katran $(KATRAN))

# `make -s print-VAR` prints a variable's value as make sees it, one line:
# how scripts read the flags and lists instead of keeping copies of them.
print-%:
	$(info $($*))@:

clean:
	$(call msg,CLEAN,$(BUILD))
	$(Q)rm -rf $(BUILD)

format:
	$(Q)clang-format -i $(wildcard bpf/*.c bpf/*.h ctl/*.c ctl/*.h include/*.h tests/*/*.c tests/*/*.h bench/*.c)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
