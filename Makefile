# hopvm: one Makefile, everything built under $(BUILD).
#   make              build/hopvm and every guest
#   make check        unit tests, then boot tests (through tools/kvm-sandbox without /dev/kvm)
#   make SAN=1 check  the same with AddressSanitizer + UndefinedBehaviorSanitizer (in build/san)
#   make SAN=thread check-unit  the unit tests under ThreadSanitizer (in build/tsan)
#   make fuzz         under libFuzzer for FUZZ_SECONDS each (default 60): the migration stream
#                     reader, the virtqueue walk with virtio-blk's requests, virtio-net's
#                     transmit, control and receive paths, the image loaders, the control
#                     socket's request lines (fuzz_control_json: the JSON, then the command
#                     and its arguments), every device's state loader (fuzz_device_state) and
#                     the virtio-fs FUSE server (fuzz_fuse_server)
#   make install PREFIX=/usr/local DESTDIR=
#   V=1               show the full commands

CC ?= cc
ifeq ($(origin CC),default)
CC := cc
endif
SAN ?=
ifeq ($(SAN),1)
BUILD ?= build/san
else ifeq ($(SAN),thread)
BUILD ?= build/tsan
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
HOPVM_LDFLAGS :=
else ifeq ($(SAN),thread)
# make SAN=thread: ThreadSanitizer, for the threads' locking; no report is suppressed.
HOST_CFLAGS += -fsanitize=thread -fno-omit-frame-pointer
HOST_LDFLAGS += -fsanitize=thread
HOPVM_LDFLAGS :=
# gcc warns that TSan does not model fences; the virtqueue's order the guest, not threads.
ifneq ($(findstring clang,$(CC)),clang)
HOST_CFLAGS += -Wno-tsan
endif
else
# hopvm itself is linked statically: only the libc it uses is resident (1.3 MiB beyond guest
# RAM with a disk, rng and console, against 2.2 MiB with the shared libc), and it starts
# without the dynamic loader.  getaddrinfo still loads glibc's NSS modules for host names.
HOPVM_LDFLAGS := -static
endif

# Guests are freestanding: no libc, no SSE, no red zone, linked at a fixed address.
GUEST_CFLAGS := -std=gnu11 $(WARNINGS) -O2 -g -ffreestanding -fno-pic -fno-pie -fno-builtin \
	-mno-red-zone -mno-sse -mno-sse2 -mno-mmx -mno-avx -fno-stack-protector \
	-fno-asynchronous-unwind-tables -mcmodel=small -Iinclude -Iguests/lib -MMD -MP
GUEST_LDFLAGS := -nostdlib -static -Wl,--build-id=none -Wl,-z,noexecstack \
	-Wl,-z,max-page-size=4096

# --- the product -----------------------------------------------------------------------
LIB_SRCS := src/error.c src/fd_io.c src/threads.c src/size.c src/device_state.c src/memory.c src/bus.c src/kvm.c \
	src/kvm_info.c src/kvm_host.c src/vm.c src/vm_sleep.c src/json.c src/control.c src/control_server.c \
	src/vcpu.c src/console.c src/control_client.c \
	src/devices/uart_16550.c src/devices/debug_exit.c \
	src/devices/i8042.c src/devices/rtc_cmos.c src/devices/acpi_pm.c src/devices/pc_testdev.c \
	src/devices/fw_cfg.c src/fw_cfg_option.c \
	src/boot/image_file.c src/boot/elf64.c src/boot/multiboot.c src/boot/raw.c src/boot/bzimage.c \
	src/boot/boot.c \
	src/arch/x86/long_mode.c src/arch/x86/cpuid.c src/arch/x86/cpu_model.c src/arch/x86/mptable.c src/arch/x86/e820.c \
	src/arch/x86/aml.c src/arch/x86/acpi.c src/arch/x86/kvmclock.c \
	src/migration/hash.c src/migration/stream.c src/migration/stream_write.c \
	src/migration/stream_read.c src/migration/stream_sections.c \
	src/migration/vm_state.c src/migration/transport.c src/migration/outgoing.c \
	src/migration/throttle.c src/migration/channel.c \
	src/migration/incoming.c \
	src/pci/pci.c src/pci/msix.c src/pci/testdev.c src/pci/machine.c src/irq.c \
	src/virtio/queue.c src/virtio/device.c src/virtio/pci.c src/virtio/pci_state.c \
	src/virtio/blk.c src/virtio/rng.c src/virtio/console.c \
	src/virtio/net.c src/virtio/net_ctrl.c src/net/tap.c \
	src/exec/cpio.c src/exec/exec_config.c src/exec/kmod.c src/exec/kmod_dir.c \
	src/fs/fuse_server.c src/fs/fuse_table.c src/fs/fuse_dir.c src/fs/fuse_file.c \
	src/virtio/fs.c src/exec/exec.c src/exec/relay.c src/exec/initramfs.c
# hopvm exec's guest init rides inside hopvm (src/exec/init_image.S).
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/src/exec/init_image.o
LIB := $(BUILD)/libhopvm.a
HOPVM := $(BUILD)/hopvm

# --- guests ------------------------------------------------------------------------------
# ELF64 guests: guests/NAME/*.{c,S} with guests/lib, entered in long mode.
GUESTS := hello exitcode triple smp spin echo timer cpuinfo tscdeadline cpumove unmapped halt burst reset \
	fwcfg testdev testdevstate netarp hostile irqlines ioapiclines
# guests/lib is an archive, so each guest links only the parts it uses.
GUEST_LIB_SRCS := guests/lib/serial.c guests/lib/cpu_flags.c guests/lib/exit.c guests/lib/string.c \
	guests/lib/mptable.c guests/lib/smp.c guests/lib/ap_boot.S guests/lib/long_mode32.S \
	guests/lib/interrupts.c guests/lib/isr.S guests/lib/multiboot_info.c \
	guests/lib/pagetable.c guests/lib/cmdline.c guests/lib/user_mode.S guests/lib/pci.c \
	guests/lib/virtio.c
GUEST_LIB := $(BUILD)/obj/guests/libguest.a
GUEST_START := $(BUILD)/obj/guests/lib/start64.o
guest_objs = $(patsubst %,$(BUILD)/obj/%.o,$(basename $(wildcard guests/$(1)/*.c guests/$(1)/*.S)))
# Flat binaries: modes and realirq (raw, real mode at 0x8000) and Multiboot kernels (hello
# again, and the guests that need the memory map).
MULTIBOOT_GUESTS := hello memtest paging bench ptbench dirtier testdev irqlines ioapiclines s3
GUEST_IMAGES := $(GUESTS:%=$(BUILD)/guests/%.elf) $(BUILD)/guests/modes.bin $(BUILD)/guests/realirq.bin \
	$(MULTIBOOT_GUESTS:%=$(BUILD)/guests/%-multiboot.bin) $(BUILD)/guests/qemutest.elf32 \
	$(BUILD)/guests/qemutest-low.elf32
# hopvm exec's init (PID 1 in its initramfs): a static Linux program, never sanitized.
EXEC_INIT := $(BUILD)/guests/exec-init
EXEC_INIT_SRCS := guests/exec-init/init.c guests/exec-init/relay.c
# The same built with EXEC_INIT_TEST, which test_exec_init runs on the host over a socketpair.
EXEC_INIT_TEST := $(BUILD)/tests/exec-init-test

# --- unit tests --------------------------------------------------------------------------
UNIT_TESTS := test_size test_memory test_bus test_uart test_debug_exit test_elf64 test_x86 \
	test_vcpu_exit test_multiboot_raw test_mptable test_bzimage \
	test_i8042 test_rtc_cmos test_console test_migration_stream test_device_state \
	test_json test_migration_live test_kvm_host test_pci test_virtio test_acpi test_cpu_model \
	test_fw_cfg test_testdev test_virtio_net test_seccomp test_cpio test_exec_config test_kmod \
	test_exec_init test_fuse_server
UNIT_BINS := $(UNIT_TESTS:%=$(BUILD)/tests/%)
# Programs the boot tests run under KVM, built on libhopvm.
BOOT_TOOLS := $(BUILD)/tests/pause_stress $(BUILD)/tests/pty_console $(BUILD)/tests/control_storm
# Benchmark programs (make bench).
BENCH_TOOLS := $(BUILD)/tests/bare_kvm $(BUILD)/tests/startup_time $(BUILD)/tests/qmp
# Runs in the bench's Linux guest: static, and never sanitized.
GUEST_BENCH_TOOLS := $(BUILD)/tests/diskbench $(BUILD)/tests/nettest
# Run by the boot tests inside hopvm exec's guest: static, and never sanitized.
GUEST_BOOT_TOOLS := $(BUILD)/tests/exec_hostile
# Runs in the soak's Linux guest (tests/soak): static, and never sanitized.
SOAK_GUEST := $(BUILD)/tests/soak_guest

all: $(HOPVM) $(GUEST_IMAGES) $(EXEC_INIT)

# Rebuild everything when the compiler or flags change (e.g. CC=clang after gcc).
FLAGS_STAMP := $(BUILD)/.flags
FLAGS_NOW := $(CC) $(HOST_CFLAGS) $(HOST_LDFLAGS) $(HOPVM_LDFLAGS)
$(shell mkdir -p $(BUILD) && (echo '$(FLAGS_NOW)' | cmp -s - $(FLAGS_STAMP) || echo '$(FLAGS_NOW)' > $(FLAGS_STAMP)))

# The x86-64 system call names, by number, for the message of a refused call (src/threads.c).
$(BUILD)/gen/syscall_names.h:
	@mkdir -p $(dir $@)
	$(Q)echo '#include <asm/unistd.h>' | $(CC) -dM -E - | \
		sed -n 's/^#define __NR_\([a-z0-9_]*\) \([0-9]*\)$$/	[\2] = "\1",/p' | \
		{ echo 'static const char *const syscall_names[] = {'; cat; echo '};'; } >$@.tmp
	$(Q)mv $@.tmp $@
$(BUILD)/obj/src/threads.o: $(BUILD)/gen/syscall_names.h
$(BUILD)/obj/src/threads.o: HOST_CFLAGS += -I$(BUILD)/gen

$(BUILD)/obj/src/%.o: src/%.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(HOST_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(HOPVM): $(BUILD)/obj/src/main.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $^ $(HOST_LDFLAGS) $(HOPVM_LDFLAGS) -o $@ 2>$@.ld; status=$$?; \
		grep -v "getaddrinfo' in statically linked\|: in function .\(mig_target_\)\{0,1\}resolve.:" $@.ld >&2; \
		rm -f $@.ld; exit $$status

$(BUILD)/obj/guests/%.o: guests/%.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(GUEST_CFLAGS) -c $< -o $@

$(BUILD)/obj/guests/%.o: guests/%.S $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AS      $<")
	$(Q)$(CC) $(GUEST_CFLAGS) -c $< -o $@

# guest_link(OUTPUT, OBJECTS, LINKER_SCRIPT)
define guest_link
$(1): $(2) $(GUEST_START) $(GUEST_LIB) $(3)
	@mkdir -p $$(dir $$@)
	@$$(if $$(Q),echo "  LD      $$@")
	$$(Q)$$(CC) $$(GUEST_CFLAGS) $$(GUEST_LDFLAGS) -Wl,-T,$(3) $$(filter %.o,$$^) $(GUEST_LIB) -o $$@
endef

$(GUEST_LIB): $(patsubst %,$(BUILD)/obj/%.o,$(basename $(GUEST_LIB_SRCS)))
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^
$(foreach g,$(GUESTS),$(eval $(call guest_link,$(BUILD)/guests/$(g).elf,$(call guest_objs,$(g)),guests/lib/guest.ld)))
$(foreach g,$(MULTIBOOT_GUESTS),$(eval $(call guest_link,$(BUILD)/guests/$(g)-multiboot.elf,$(call guest_objs,$(g)) $(BUILD)/obj/guests/lib/start_multiboot.o,guests/lib/multiboot.ld)))
$(eval $(call guest_link,$(BUILD)/guests/modes.elf,$(call guest_objs,modes),guests/modes/modes.ld))
# realirq is all real-mode assembly: no runtime, no guests/lib.
$(BUILD)/guests/realirq.elf: $(BUILD)/obj/guests/realirq/realirq.o guests/realirq/realirq.ld
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -Wl,-T,guests/realirq/realirq.ld $< -o $@
# The QEMU-style test kernel: ELF32 for Multiboot loaders, as kvm-unit-tests' images are.
$(eval $(call guest_link,$(BUILD)/guests/qemutest.elf,$(call guest_objs,qemutest),guests/qemutest/qemutest.ld))
$(eval $(call guest_link,$(BUILD)/guests/qemutest-low.elf,$(call guest_objs,qemutest),guests/qemutest/qemutest-low.ld))
$(BUILD)/guests/%.elf32: $(BUILD)/guests/%.elf
	@$(if $(Q),echo "  OBJCOPY $@")
	$(Q)objcopy -O elf32-i386 $< $@

$(BUILD)/guests/%.bin: $(BUILD)/guests/%.elf
	@$(if $(Q),echo "  OBJCOPY $@")
	$(Q)objcopy -O binary $< $@

$(BUILD)/obj/tests/%.o: tests/%.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(HOST_CFLAGS) -c $< -o $@

$(BUILD)/tests/pause_stress $(BUILD)/tests/pty_console $(BUILD)/tests/control_storm: \
		$(BUILD)/tests/%: $(BUILD)/obj/tests/boot/%.o $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $^ $(HOST_LDFLAGS) -o $@

$(BENCH_TOOLS): $(BUILD)/tests/%: $(BUILD)/obj/tests/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $^ $(HOST_LDFLAGS) -o $@

$(GUEST_BENCH_TOOLS): $(BUILD)/tests/%: tests/bench/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@ (static)")
	$(Q)$(CC) -std=gnu11 $(WARNINGS) -O2 -static $< -o $@

$(SOAK_GUEST): tests/soak/soak_guest.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@ (static)")
	$(Q)$(CC) -std=gnu11 $(WARNINGS) -O2 -static $< -o $@

# The ping-pong soak (tests/soak/run): SOAK_MOVES moves (100), then the boot tests too long
# for make check (LONG_CASES in tests/boot/run), in one sandbox boot where this host has no
# KVM.  Not part of make check, which runs the soak with 4 moves.
soak: all $(BOOT_TOOLS) $(GUEST_BENCH_TOOLS) $(SOAK_GUEST) san-hopvm
	$(Q)tools/kvm-sandbox --timeout 7200 -- bash -c 'tests/soak/run "$$1"; soak=$$?; \
		HOPVM_BOOT_LONG=only tests/boot/run "$$1" && exit $$soak' \
		soak $(BUILD)

$(GUEST_BOOT_TOOLS): $(BUILD)/tests/%: tests/boot/%.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@ (static)")
	$(Q)$(CC) -std=gnu11 $(WARNINGS) -O2 -static $< -o $@

$(BUILD)/obj/src/exec/init_image.o: src/exec/init_image.S $(EXEC_INIT)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AS      $<")
	$(Q)$(CC) -c -DEXEC_INIT_PATH='"$(EXEC_INIT)"' $< -o $@

$(EXEC_INIT): $(EXEC_INIT_SRCS) guests/exec-init/exec_init.h include/hopvm/exec_abi.h $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@ (static)")
	$(Q)$(CC) -std=gnu11 $(WARNINGS) -O2 -static -s -Iinclude $(EXEC_INIT_SRCS) -o $@

# With the host's flags (sanitizers under SAN=1), since it runs only on the host.
$(EXEC_INIT_TEST): $(EXEC_INIT_SRCS) guests/exec-init/exec_init.h include/hopvm/exec_abi.h \
		$(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(filter-out -MMD -MP,$(HOST_CFLAGS)) -DEXEC_INIT_TEST $(EXEC_INIT_SRCS) \
		$(HOST_LDFLAGS) -o $@
$(BUILD)/obj/tests/unit/test_exec_init.o: HOST_CFLAGS += -DEXEC_INIT_TEST_BIN='"$(EXEC_INIT_TEST)"'
$(BUILD)/tests/test_exec_init: | $(EXEC_INIT_TEST)

bench: all $(BENCH_TOOLS) $(GUEST_BENCH_TOOLS)
	$(Q)BUILD=$(BUILD) tests/bench/run

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $^ $(HOST_LDFLAGS) -lcmocka -o $@

unit: $(UNIT_BINS)

check: all unit $(BOOT_TOOLS) $(GUEST_BENCH_TOOLS) $(GUEST_BOOT_TOOLS) $(SOAK_GUEST)
	$(Q)BUILD=$(BUILD) tests/run-all $(UNIT_BINS)

# make check also runs the hostile guest under a hopvm built with ASan and UBSan.
# And a live migration and the pause stress under a hopvm built with ThreadSanitizer.
ifeq ($(SAN),)
check: san-hopvm
san-hopvm:
	$(Q)$(MAKE) --no-print-directory SAN=1 BUILD=build/san build/san/hopvm
	$(Q)$(MAKE) --no-print-directory SAN=thread BUILD=build/tsan build/tsan/hopvm \
		build/tsan/tests/pause_stress
endif

check-unit: unit
	$(Q)BUILD=$(BUILD) HOPVM_SKIP_BOOT=1 tests/run-all $(UNIT_BINS)

# --- fuzzing: make fuzz [FUZZ_SECONDS=60] ------------------------------------------------
# Each harness under libFuzzer with ASan and UBSan for FUZZ_SECONDS.  The migration stream
# reader starts from valid streams that a generator (the harness built with HOPVM_FUZZ_SEEDS)
# writes into $(BUILD)/fuzz/seeds, the device state loaders from states their own generator
# writes into $(BUILD)/fuzz/state-seeds, the others from the seeds under tests/fuzz.  What
# libFuzzer finds goes to $(BUILD)/fuzz/corpus*, crashes to $(BUILD)/fuzz/*crash-*.  The objects
# live under $(BUILD)/fuzz, so their flags never mix with the product's.  Not part of make check.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS := -std=gnu11 $(WARNINGS) -O1 -g -fno-omit-frame-pointer -Iinclude -MMD -MP \
	-D_GNU_SOURCE $(FUZZ_SAN)
# The stream codec alone: the harness needs no KVM, sockets or VM.
FUZZ_LIB_OBJS := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,src/error.c src/memory.c \
	$(filter src/migration/hash.c src/migration/stream%,$(LIB_SRCS)))
FUZZER := $(FUZZ_DIR)/fuzz_migration_stream
FUZZ_SEEDER := $(FUZZ_DIR)/fuzz_migration_stream_seeds
# The virtqueue walk and virtio-blk's requests over a guest RAM the input fills.
FUZZ_VIRTIO_OBJS := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,src/error.c src/memory.c \
	src/device_state.c src/pci/pci.c src/pci/msix.c src/virtio/queue.c src/virtio/device.c \
	src/virtio/pci.c src/virtio/pci_state.c src/virtio/blk.c src/threads.c)
FUZZER_VIRTIO := $(FUZZ_DIR)/fuzz_virtio
# virtio-net's transmit, control and receive placement, with frames over a socketpair.
FUZZ_VIRTIO_NET_OBJS := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,src/error.c src/memory.c \
	src/device_state.c src/pci/pci.c src/pci/msix.c src/virtio/queue.c src/virtio/device.c \
	src/virtio/pci.c src/virtio/pci_state.c src/virtio/net.c src/virtio/net_ctrl.c \
	src/net/tap.c src/threads.c)
FUZZER_VIRTIO_NET := $(FUZZ_DIR)/fuzz_virtio_net
ifneq ($(filter fuzz,$(MAKECMDGOALS)),)
FUZZ_FLAGS_STAMP := $(FUZZ_DIR)/.flags
FUZZ_FLAGS_NOW := $(FUZZ_CC) $(FUZZ_CFLAGS)
$(shell mkdir -p $(FUZZ_DIR) && (echo '$(FUZZ_FLAGS_NOW)' | cmp -s - $(FUZZ_FLAGS_STAMP) || \
	echo '$(FUZZ_FLAGS_NOW)' > $(FUZZ_FLAGS_STAMP)))
endif

# Says what is missing rather than failing on a compiler error.
fuzz-toolchain:
	@command -v $(FUZZ_CC) >/dev/null 2>&1 || { echo "make fuzz: $(FUZZ_CC) is not installed;" \
		"it needs clang with libFuzzer (tools/install-deps installs both)" >&2; exit 1; }
	@mkdir -p $(FUZZ_DIR)
	@echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return d && n; }' | \
		$(FUZZ_CC) -x c - -fsanitize=fuzzer,address,undefined -o $(FUZZ_DIR)/probe \
		>/dev/null 2>&1 || { echo "make fuzz: $(FUZZ_CC) cannot link -fsanitize=fuzzer:" \
		"libFuzzer's runtime is missing (Debian: libclang-rt-dev; tools/install-deps" \
		"installs it)" >&2; exit 1; }

# The device threads' code names its thread kind (src/threads.c), and so needs the names.
$(FUZZ_DIR)/obj/src/threads.o: $(BUILD)/gen/syscall_names.h
$(FUZZ_DIR)/obj/src/threads.o: FUZZ_CFLAGS += -I$(BUILD)/gen
$(FUZZ_DIR)/obj/%.o: %.c $(FUZZ_FLAGS_STAMP) | fuzz-toolchain
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZCC  $<")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/obj/seeds/fuzz_migration_stream.o: tests/fuzz/fuzz_migration_stream.c \
		$(FUZZ_FLAGS_STAMP) | fuzz-toolchain
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZCC  $< (seed generator)")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -DHOPVM_FUZZ_SEEDS -c $< -o $@

$(FUZZER): $(FUZZ_DIR)/obj/tests/fuzz/fuzz_migration_stream.o $(FUZZ_LIB_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(FUZZ_CC) $^ -fsanitize=fuzzer $(FUZZ_SAN) -o $@

$(FUZZ_SEEDER): $(FUZZ_DIR)/obj/seeds/fuzz_migration_stream.o $(FUZZ_LIB_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(FUZZ_CC) $^ $(FUZZ_SAN) -o $@

$(FUZZER_VIRTIO): $(FUZZ_DIR)/obj/tests/fuzz/fuzz_virtio.o $(FUZZ_VIRTIO_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(FUZZ_CC) $^ -fsanitize=fuzzer $(FUZZ_SAN) -pthread -o $@

$(FUZZER_VIRTIO_NET): $(FUZZ_DIR)/obj/tests/fuzz/fuzz_virtio_net.o $(FUZZ_VIRTIO_NET_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(FUZZ_CC) $^ -fsanitize=fuzzer $(FUZZ_SAN) -pthread -o $@

FUZZ_BOOT_OBJS := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,src/error.c src/memory.c \
	$(filter src/boot/%,$(LIB_SRCS)) $(filter src/arch/x86/%,$(LIB_SRCS)))
FUZZER_BOOT := $(FUZZ_DIR)/fuzz_boot_loaders
$(FUZZER_BOOT): $(FUZZ_DIR)/obj/tests/fuzz/fuzz_boot_loaders.o $(FUZZ_BOOT_OBJS)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(FUZZ_CC) $^ -fsanitize=fuzzer $(FUZZ_SAN) -o $@

# The control socket's request lines: the flat JSON parser, then control_parse_request() (the
# command and its arguments: migration targets, numbers, rates).  That lives in control.c
# beside the commands it feeds, which reach the whole VM: the harness links an archive of
# every library object built for fuzzing, and calls only the parsers.
FUZZ_ALL_LIB := $(FUZZ_DIR)/libhopvm.a
$(FUZZ_ALL_LIB): $(LIB_SRCS:%.c=$(FUZZ_DIR)/obj/%.o)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^
FUZZER_JSON := $(FUZZ_DIR)/fuzz_control_json
$(FUZZER_JSON): $(FUZZ_DIR)/obj/tests/fuzz/fuzz_control_json.o $(FUZZ_ALL_LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(FUZZ_CC) $^ -fsanitize=fuzzer $(FUZZ_SAN) -pthread -lm -o $@

# The device state loaders, each device built as hopvm builds it (the PCI bus with each virtio
# device, pci-testdev, or all of them); the seeds are each device's state after a little use,
# written into $(FUZZ_DIR)/state-seeds by the harness built with HOPVM_FUZZ_SEEDS.
FUZZ_STATE_OBJS := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,src/error.c src/memory.c \
	src/device_state.c src/devices/uart_16550.c src/devices/i8042.c src/devices/rtc_cmos.c \
	src/devices/acpi_pm.c src/devices/fw_cfg.c src/devices/pc_testdev.c src/arch/x86/e820.c \
	src/pci/pci.c src/pci/msix.c src/pci/testdev.c src/virtio/queue.c src/virtio/device.c \
	src/virtio/pci.c src/virtio/pci_state.c src/virtio/rng.c src/virtio/blk.c \
	src/virtio/console.c src/fd_io.c src/virtio/net.c src/virtio/net_ctrl.c src/net/tap.c \
	src/threads.c)
FUZZER_STATE := $(FUZZ_DIR)/fuzz_device_state
FUZZ_STATE_SEEDER := $(FUZZ_DIR)/fuzz_device_state_seeds
$(FUZZ_DIR)/obj/seeds/fuzz_device_state.o: tests/fuzz/fuzz_device_state.c \
		$(FUZZ_FLAGS_STAMP) | fuzz-toolchain
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZCC  $< (seed generator)")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -DHOPVM_FUZZ_SEEDS -c $< -o $@
$(FUZZER_STATE): $(FUZZ_DIR)/obj/tests/fuzz/fuzz_device_state.o $(FUZZ_STATE_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(FUZZ_CC) $^ -fsanitize=fuzzer $(FUZZ_SAN) -pthread -o $@
$(FUZZ_STATE_SEEDER): $(FUZZ_DIR)/obj/seeds/fuzz_device_state.o $(FUZZ_STATE_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(FUZZ_CC) $^ $(FUZZ_SAN) -pthread -o $@

# The virtio-fs FUSE server over a small read-write tree in a fresh /tmp directory, checking
# after every run that nothing beside the share changed; the seeds in tests/fuzz/fuse-seeds
# come from the harness built with HOPVM_FUZZ_SEEDS (make fuse-seeds writes them again).
FUZZ_FUSE_OBJS := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,src/error.c $(filter src/fs/%,$(LIB_SRCS)))
FUZZER_FUSE := $(FUZZ_DIR)/fuzz_fuse_server
FUZZ_FUSE_SEEDER := $(FUZZ_DIR)/fuzz_fuse_server_seeds
$(FUZZ_DIR)/obj/seeds/fuzz_fuse_server.o: tests/fuzz/fuzz_fuse_server.c \
		$(FUZZ_FLAGS_STAMP) | fuzz-toolchain
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZCC  $< (seed generator)")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -DHOPVM_FUZZ_SEEDS -c $< -o $@
$(FUZZER_FUSE): $(FUZZ_DIR)/obj/tests/fuzz/fuzz_fuse_server.o $(FUZZ_FUSE_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(FUZZ_CC) $^ -fsanitize=fuzzer $(FUZZ_SAN) -pthread -o $@
$(FUZZ_FUSE_SEEDER): $(FUZZ_DIR)/obj/seeds/fuzz_fuse_server.o $(FUZZ_FUSE_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(FUZZ_CC) $^ $(FUZZ_SAN) -pthread -o $@
fuse-seeds: $(FUZZ_FUSE_SEEDER)
	$(Q)mkdir -p tests/fuzz/fuse-seeds && $(FUZZ_FUSE_SEEDER) tests/fuzz/fuse-seeds

fuzz: $(FUZZER) $(FUZZ_SEEDER) $(FUZZER_VIRTIO) $(FUZZER_VIRTIO_NET) $(FUZZER_BOOT) \
		$(FUZZER_JSON) $(FUZZER_STATE) $(FUZZ_STATE_SEEDER) $(FUZZER_FUSE)
	$(Q)rm -rf $(FUZZ_DIR)/seeds && mkdir -p $(FUZZ_DIR)/seeds $(FUZZ_DIR)/corpus \
		$(FUZZ_DIR)/corpus-virtio $(FUZZ_DIR)/corpus-virtio-net
	$(Q)$(FUZZ_SEEDER) $(FUZZ_DIR)/seeds
	$(Q)$(FUZZER) -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 \
		-artifact_prefix=$(FUZZ_DIR)/ $(FUZZ_DIR)/corpus $(FUZZ_DIR)/seeds
	$(Q)$(FUZZER_VIRTIO) -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 \
		-artifact_prefix=$(FUZZ_DIR)/virtio- $(FUZZ_DIR)/corpus-virtio tests/fuzz/virtio-seeds
	$(Q)$(FUZZER_VIRTIO_NET) -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 \
		-artifact_prefix=$(FUZZ_DIR)/virtio-net- $(FUZZ_DIR)/corpus-virtio-net \
		tests/fuzz/virtio-net-seeds
	$(Q)mkdir -p $(FUZZ_DIR)/corpus-boot
	$(Q)$(FUZZER_BOOT) -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 \
		-artifact_prefix=$(FUZZ_DIR)/boot- $(FUZZ_DIR)/corpus-boot tests/fuzz/boot-seeds
	$(Q)mkdir -p $(FUZZ_DIR)/corpus-json
	$(Q)$(FUZZER_JSON) -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 \
		-artifact_prefix=$(FUZZ_DIR)/json- $(FUZZ_DIR)/corpus-json tests/fuzz/json-seeds
	$(Q)rm -rf $(FUZZ_DIR)/state-seeds && mkdir -p $(FUZZ_DIR)/state-seeds $(FUZZ_DIR)/corpus-state
	$(Q)$(FUZZ_STATE_SEEDER) $(FUZZ_DIR)/state-seeds
	$(Q)$(FUZZER_STATE) -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 \
		-artifact_prefix=$(FUZZ_DIR)/state- $(FUZZ_DIR)/corpus-state $(FUZZ_DIR)/state-seeds
	$(Q)mkdir -p $(FUZZ_DIR)/corpus-fuse
	$(Q)$(FUZZER_FUSE) -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 \
		-artifact_prefix=$(FUZZ_DIR)/fuse- $(FUZZ_DIR)/corpus-fuse tests/fuzz/fuse-seeds

install: $(HOPVM)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/hopvm/guests
	install -m 755 $(HOPVM) $(DESTDIR)$(PREFIX)/bin/hopvm
	install -m 644 $(GUEST_IMAGES) $(DESTDIR)$(PREFIX)/share/hopvm/guests/

clean:
	rm -rf build

.PHONY: all unit check check-unit san-hopvm soak bench fuzz fuse-seeds fuzz-toolchain install clean
.SUFFIXES:
.SECONDARY:

-include $(shell find $(BUILD)/obj $(FUZZ_DIR)/obj -name '*.d' 2>/dev/null)
