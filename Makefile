# hopvm: one Makefile, everything built under $(BUILD).
#   make              build/hopvm and every guest
#   make check        unit tests, then boot tests (through tools/kvm-sandbox without /dev/kvm)
#   make SAN=1 check  the same with AddressSanitizer + UndefinedBehaviorSanitizer (in build/san)
#   make install PREFIX=/usr/local DESTDIR=
#   V=1               show the full commands

CC ?= cc
ifeq ($(origin CC),default)
CC := cc
endif
SAN ?=
ifeq ($(SAN),1)
BUILD ?= build/san
else
BUILD ?= build
endif
PREFIX ?= /usr/local
DESTDIR ?=

ifeq ($(V),1)
Q :=
else
Q := @
endif

WARNINGS := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wpointer-arith -Wformat=2 -Wundef -Wvla -Wwrite-strings -Wcast-qual \
	-Wmissing-declarations -Wold-style-definition -Wno-format-nonliteral
CFLAGS ?= -O2 -g
HOST_CFLAGS := -std=gnu11 $(WARNINGS) $(CFLAGS) -Iinclude -MMD -MP -D_GNU_SOURCE -pthread
HOST_LDFLAGS := $(LDFLAGS) -pthread
ifeq ($(SAN),1)
HOST_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
HOST_LDFLAGS += -fsanitize=address,undefined
endif

# Guests are freestanding: no libc, no SSE, no red zone, linked at a fixed address.
GUEST_CFLAGS := -std=gnu11 $(WARNINGS) -O2 -g -ffreestanding -fno-pic -fno-pie -fno-builtin \
	-mno-red-zone -mno-sse -mno-sse2 -mno-mmx -mno-avx -fno-stack-protector \
	-fno-asynchronous-unwind-tables -mcmodel=small -Iinclude -Iguests/lib -MMD -MP
GUEST_LDFLAGS := -nostdlib -static -Wl,--build-id=none -Wl,-z,noexecstack \
	-Wl,-z,max-page-size=4096 -Wl,-T,guests/lib/guest.ld

# --- the product -----------------------------------------------------------------------
LIB_SRCS := src/error.c src/size.c src/memory.c src/bus.c src/kvm.c src/vm.c src/vcpu.c \
	src/devices/uart_16550.c src/devices/debug_exit.c \
	src/boot/image_file.c src/boot/elf64.c src/boot/boot.c \
	src/arch/x86/long_mode.c
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
LIB := $(BUILD)/libhopvm.a
HOPVM := $(BUILD)/hopvm

# --- guests ------------------------------------------------------------------------------
GUESTS := hello exitcode triple
GUEST_LIB_SRCS := guests/lib/start64.S guests/lib/serial.c guests/lib/exit.c guests/lib/string.c
GUEST_LIB_OBJS := $(patsubst %,$(BUILD)/obj/%.o,$(basename $(GUEST_LIB_SRCS)))
GUEST_ELFS := $(GUESTS:%=$(BUILD)/guests/%.elf)

# --- unit tests --------------------------------------------------------------------------
UNIT_TESTS := test_size test_memory test_bus test_uart test_debug_exit test_elf64 test_x86 \
	test_vcpu_exit
UNIT_BINS := $(UNIT_TESTS:%=$(BUILD)/tests/%)

all: $(HOPVM) $(GUEST_ELFS)

# Rebuild everything when the compiler or flags change (e.g. CC=clang after gcc).
FLAGS_STAMP := $(BUILD)/.flags
FLAGS_NOW := $(CC) $(HOST_CFLAGS) $(HOST_LDFLAGS)
$(shell mkdir -p $(BUILD) && (echo '$(FLAGS_NOW)' | cmp -s - $(FLAGS_STAMP) || echo '$(FLAGS_NOW)' > $(FLAGS_STAMP)))

$(BUILD)/obj/src/%.o: src/%.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(HOST_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(HOPVM): $(BUILD)/obj/src/main.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $^ $(HOST_LDFLAGS) -o $@

$(BUILD)/obj/guests/%.o: guests/%.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(GUEST_CFLAGS) -c $< -o $@

$(BUILD)/obj/guests/%.o: guests/%.S $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AS      $<")
	$(Q)$(CC) $(GUEST_CFLAGS) -c $< -o $@

# Each guest is guests/NAME/*.c linked with guests/lib into $(BUILD)/guests/NAME.elf.
define guest_rule
$(BUILD)/guests/$(1).elf: $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard guests/$(1)/*.c)) $(GUEST_LIB_OBJS) guests/lib/guest.ld
	@mkdir -p $$(dir $$@)
	@$$(if $$(Q),echo "  LD      $$@")
	$$(Q)$$(CC) $$(GUEST_CFLAGS) $$(GUEST_LDFLAGS) $$(filter %.o,$$^) -o $$@
endef
$(foreach g,$(GUESTS),$(eval $(call guest_rule,$(g))))

$(BUILD)/obj/tests/%.o: tests/%.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(HOST_CFLAGS) -c $< -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $^ $(HOST_LDFLAGS) -lcmocka -o $@

unit: $(UNIT_BINS)

check: all unit
	$(Q)BUILD=$(BUILD) tests/run-all $(UNIT_BINS)

check-unit: unit
	$(Q)BUILD=$(BUILD) HOPVM_SKIP_BOOT=1 tests/run-all $(UNIT_BINS)

install: $(HOPVM)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/hopvm/guests
	install -m 755 $(HOPVM) $(DESTDIR)$(PREFIX)/bin/hopvm
	install -m 644 $(GUEST_ELFS) $(DESTDIR)$(PREFIX)/share/hopvm/guests/

clean:
	rm -rf build

.PHONY: all unit check check-unit install clean
.SUFFIXES:
.SECONDARY:

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
