#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "hopvm/acpi.h"
#include "hopvm/error.h"
#include "hopvm/guest_abi.h"
#include "hopvm/kvm.h"
#include "hopvm/kvm_info.h"
#include "hopvm/mptable.h"
#include "hopvm/pci.h"
#include "hopvm/vcpu.h"
#include "hopvm/vm.h"
#include "hopvm/vm_pci.h"
#include "hopvm/vm_sleep.h"
#include "hopvm/x86.h"
#include "hopvm/threads.h"

static void com1_tx(void *ctx, uint8_t byte)
{
	struct vm *vm = ctx;

	/* No byte may be lost to a slow or non-blocking stdout, but a closed one must not stop
	 * the guest: it just loses its console. */
	for (;;) {
		struct pollfd p = { .fd = vm->cfg.console_fd, .events = POLLOUT };

		if (write(vm->cfg.console_fd, &byte, 1) == 1)
			return;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN || vm_stop_requested(vm))
			return;
		(void)poll(&p, 1, 100);
	}
}

static void com1_irq(void *ctx, int level)
{
	struct vm *vm = ctx;

	/* Before the VM exists (unit tests, image loading) there is no line to drive. */
	if (vm->vm_fd >= 0)
		(void)kvm_irq_line(vm->vm_fd, GUEST_ABI_COM1_IRQ, level);
}

static void keyboard_irq(void *ctx, int level)
{
	struct vm *vm = ctx;

	if (vm->vm_fd >= 0)
		(void)kvm_irq_line(vm->vm_fd, GUEST_ABI_KEYBOARD_IRQ, level);
}

/* The PC's reset line, pulsed through the keyboard controller (Linux's default reboot). */
static void keyboard_reset_cpu(void *ctx)
{
	vm_request_reboot(ctx, "the guest reset the machine (through the i8042)");
}

static void debug_exit_stop(void *ctx, uint32_t value)
{
	struct vm *vm = ctx;
	int status = (int)(value & 0xff);

	if (vm->cfg.qemu_exit_status)
		status = (int)(((value << 1) | 1) & 0xff);
	vm_request_stop(vm, status, NULL);
}

static void acpi_sci(void *ctx, int level)
{
	struct vm *vm = ctx;

	if (vm->vm_fd >= 0)
		(void)kvm_irq_line(vm->vm_fd, ACPI_SCI_IRQ, level);
}

static void acpi_sleep(void *ctx, unsigned slp_typ)
{
	struct vm *vm = ctx;
	bool first;

	if (slp_typ == ACPI_PM_SLP_TYP_S5) {
		vm_request_stop(vm, 0, NULL);
		return;
	}
	if (slp_typ == ACPI_PM_SLP_TYP_S3) {
		vm_suspend(vm);
		return;
	}
	pthread_mutex_lock(&vm->log_lock);
	first = !vm->sleep_logged;
	vm->sleep_logged = true;
	pthread_mutex_unlock(&vm->log_lock);
	if (first)
		fprintf(stderr, "hopvm: the guest asked for ACPI sleep type %u, which hopvm's "
			"tables do not offer (only _S3, suspend to RAM, and _S5, power off); it goes "
			"on running\n", slp_typ);
}

static void testdev_irq(void *ctx, unsigned line, int level)
{
	struct vm *vm = ctx;

	if (vm->vm_fd >= 0)
		(void)kvm_irq_line(vm->vm_fd, line, level);
}

/* A page flush makes the page read-only for a moment: no I/O thread may write it then. */
static void testdev_quiesce(void *ctx, bool quiet)
{
	if (quiet)
		vm_pci_pause(ctx);
	else
		vm_pci_resume(ctx);
}

/* QEMU's pc-testdev: its ports, its IRQ block and its MMIO window (pc_testdev.h). */
static int vm_add_pc_testdev(struct vm *vm)
{
	int ret;

	vm->pc_testdev = malloc(sizeof(*vm->pc_testdev));
	if (vm->pc_testdev == NULL)
		return err_set(-ENOMEM, "out of memory for pc-testdev");
	pc_testdev_init(vm->pc_testdev, &vm->mem, testdev_irq, testdev_quiesce, vm);
	ret = bus_register(&vm->pio_bus, PC_TESTDEV_PORT, PC_TESTDEV_NR_PORTS, &pc_testdev_ops,
			   vm->pc_testdev);
	if (ret == 0)
		ret = bus_register(&vm->pio_bus, PC_TESTDEV_IRQ_PORT, PC_TESTDEV_NR_IRQS,
				   &pc_testdev_irq_ops, vm->pc_testdev);
	if (ret == 0)
		ret = bus_register(&vm->mmio_bus, PC_TESTDEV_IOMEM_BASE, PC_TESTDEV_IOMEM_SIZE,
				   &pc_testdev_iomem_ops, vm->pc_testdev);
	return ret;
}

int vm_init(struct vm *vm, const struct vm_config *cfg)
{
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->cfg = *cfg;
	vm->kvm_fd = vm->vm_fd = -1;
	vm->control.listen_fd = -1;
	pthread_mutex_init(&vm->state_lock, NULL);
	pthread_mutex_init(&vm->log_lock, NULL);
	pthread_cond_init(&vm->state_cond, NULL);
	bus_init(&vm->pio_bus, "pio");
	bus_init(&vm->mmio_bus, "mmio");

	uart_16550_init(&vm->com1, com1_tx, com1_irq, vm);
	debug_exit_init(&vm->debug_exit, debug_exit_stop, vm);
	i8042_init(&vm->i8042, keyboard_irq, keyboard_reset_cpu, vm);
	rtc_cmos_init(&vm->rtc, NULL, NULL);
	acpi_pm_init(&vm->acpi_pm, acpi_sci, acpi_sleep, vm);

	ret = guest_mem_alloc(&vm->mem, cfg->ram_size, cfg->hugepages);
	if (ret < 0)
		return ret;
	ret = fw_cfg_init(&vm->fw_cfg, &vm->mem, cfg->nr_vcpus);
	for (unsigned i = 0; ret == 0 && i < cfg->nr_fw_cfg_files; i++)
		ret = fw_cfg_add_file(&vm->fw_cfg, cfg->fw_cfg_files[i].name,
				      cfg->fw_cfg_files[i].data, cfg->fw_cfg_files[i].size);
	if (ret < 0)
		return ret;

	/* The machine's devices, in one visible table. */
	const struct {
		struct bus *bus;
		uint64_t base, len;
		const struct device_ops *ops;
		void *dev;
	} devices[] = {
		{ &vm->pio_bus, GUEST_ABI_COM1_PORT, UART_16550_NR_PORTS, &uart_16550_ops,
		  &vm->com1 },
		{ &vm->pio_bus, GUEST_ABI_DEBUG_EXIT_PORT, DEBUG_EXIT_NR_PORTS, &debug_exit_ops,
		  &vm->debug_exit },
		{ &vm->pio_bus, GUEST_ABI_I8042_PORT, I8042_NR_PORTS, &i8042_ops, &vm->i8042 },
		{ &vm->pio_bus, GUEST_ABI_RTC_PORT, RTC_CMOS_NR_PORTS, &rtc_cmos_ops, &vm->rtc },
		{ &vm->pio_bus, FW_CFG_PORT, FW_CFG_NR_PORTS, &fw_cfg_ops, &vm->fw_cfg },
	};
	for (size_t i = 0; i < sizeof(devices) / sizeof(devices[0]); i++) {
		ret = bus_register(devices[i].bus, devices[i].base, devices[i].len, devices[i].ops,
				   devices[i].dev);
		if (ret < 0)
			return ret;
	}
	if (cfg->acpi) {
		ret = bus_register(&vm->pio_bus, ACPI_PM_PORT, ACPI_PM_NR_PORTS, &acpi_pm_ops,
				   &vm->acpi_pm);
		if (ret < 0)
			return ret;
	}
	if (cfg->test_devices) {
		ret = vm_add_pc_testdev(vm);
		if (ret < 0)
			return ret;
	}
	return vm_pci_init(vm);
}

static int vm_check_kvm(struct vm *vm)
{
	int ret = kvm_info_read(vm->kvm_fd, &vm->kvm_info);

	if (ret < 0)
		return ret;
	kvm_info_read_host(&vm->kvm_info.host);
	ret = kvm_info_check(&vm->kvm_info);
	if (ret < 0)
		return ret;
	if (vm->cfg.nr_vcpus > (unsigned)kvm_info_max_vcpus(&vm->kvm_info))
		return err_set(-EINVAL, "--cpus %u is more than this KVM allows (%d)",
			       vm->cfg.nr_vcpus, kvm_info_max_vcpus(&vm->kvm_info));
	return 0;
}

/* One KVM memory slot per region, numbered as the regions are. */
static int vm_map_memory(struct vm *vm, uint32_t flags)
{
	for (unsigned i = 0; i < vm->mem.nr_regions; i++) {
		const struct guest_region *r = &vm->mem.regions[i];
		struct kvm_userspace_memory_region slot = {
			.slot = i,
			.flags = flags,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uintptr_t)r->host,
		};
		int ret = kvm_set_user_memory_region(vm->vm_fd, &slot);

		if (ret < 0)
			return ret;
	}
	return 0;
}

int vm_dirty_log_start(struct vm *vm)
{
	int ret = guest_mem_dirty_log_start(&vm->mem);

	if (ret == 0)
		ret = vm_map_memory(vm, KVM_MEM_LOG_DIRTY_PAGES);
	if (ret < 0)
		vm_dirty_log_stop(vm);
	return ret;
}

int vm_dirty_log_collect(struct vm *vm, unsigned region, uint64_t *bitmap)
{
	uint64_t words = guest_region_bitmap_words(&vm->mem.regions[region]);
	uint64_t *log_bits = calloc(words, sizeof(uint64_t));
	struct kvm_dirty_log log = { .slot = region, .dirty_bitmap = log_bits };
	int ret;

	if (log_bits == NULL)
		return err_set(-ENOMEM, "out of memory for the dirty log");
	ret = kvm_get_dirty_log(vm->vm_fd, &log);
	for (uint64_t w = 0; ret >= 0 && w < words; w++)
		bitmap[w] |= log_bits[w];
	free(log_bits);
	if (ret < 0)
		return ret;
	guest_mem_dirty_collect(&vm->mem, region, bitmap);
	return 0;
}

void vm_dirty_log_stop(struct vm *vm)
{
	/* Dropping the flag cannot fail for a slot KVM took with it. */
	(void)vm_map_memory(vm, 0);
	/* A device thread may be marking a page: the bitmaps go while none runs. */
	vm_pci_pause(vm);
	guest_mem_dirty_log_stop(&vm->mem);
	vm_pci_resume(vm);
}

/* --cpu's model, refused here (before any guest code runs) if it asks for more than KVM has. */
static int vm_make_cpu_model(struct vm *vm)
{
	int ret = kvm_info_cpu_available(vm->kvm_fd, &vm->kvm_info, &vm->cpu_available);

	if (ret < 0)
		return ret;
	vm->cpuid = cpu_model_copy(vm->cpu_available);
	if (vm->cpuid == NULL)
		return err_set(-ENOMEM, "out of memory for the CPU model");
	return cpu_model_apply(vm->cpuid, vm->cpu_available, &vm->cfg.cpu, vm->cpu_dropped,
			       sizeof(vm->cpu_dropped));
}

int vm_create_kvm(struct vm *vm)
{
	int ret;

	ret = vm->kvm_fd = kvm_open();
	if (ret < 0)
		return ret;
	ret = vm_check_kvm(vm);
	if (ret < 0)
		return ret;
	ret = vm->vcpu_mmap_size = kvm_get_vcpu_mmap_size(vm->kvm_fd);
	if (ret < 0)
		return ret;
	ret = vm_make_cpu_model(vm);
	if (ret < 0)
		return ret;
	ret = vm->vm_fd = kvm_create_vm(vm->kvm_fd);
	if (ret < 0)
		return ret;
	ret = kvm_set_tss_addr(vm->vm_fd, X86_KVM_TSS_ADDR);
	if (ret < 0)
		return ret;
	ret = kvm_set_identity_map_addr(vm->vm_fd, X86_KVM_IDENTITY_MAP_ADDR);
	if (ret < 0)
		return ret;
	/* PIC, IOAPIC and LAPICs in the kernel: interrupts and INIT-SIPI-SIPI never leave it. */
	ret = kvm_create_irqchip(vm->vm_fd);
	if (ret < 0)
		return ret;
	ret = kvm_create_pit2(vm->vm_fd, &(struct kvm_pit_config){ .flags = KVM_PIT_SPEAKER_DUMMY });
	if (ret < 0)
		return ret;
	ret = vm_map_memory(vm, 0);
	if (ret < 0)
		return ret;
	ret = vm_pci_attach(vm);
	if (ret < 0)
		return ret;

	vm->vcpus = calloc(vm->cfg.nr_vcpus, sizeof(*vm->vcpus));
	if (vm->vcpus == NULL)
		return err_set(-ENOMEM, "out of memory for %u vCPUs", vm->cfg.nr_vcpus);
	for (unsigned i = 0; i < vm->cfg.nr_vcpus; i++) {
		ret = vcpu_create(vm, i, &vm->vcpus[i]);
		if (ret < 0)
			return ret;
		vm->nr_vcpus++;
	}
	return 0;
}

static void vm_stop(struct vm *vm, int status, bool reboot, const char *fmt, va_list ap)
{
	pthread_mutex_lock(&vm->state_lock);
	if (!vm->stop_requested) {
		__atomic_store_n(&vm->stop_requested, true, __ATOMIC_RELEASE);
		vm->exit_status = status;
		vm->rebooted = reboot;
		if (fmt != NULL)
			vsnprintf(vm->stop_message, sizeof(vm->stop_message), fmt, ap);
		pthread_cond_broadcast(&vm->state_cond);
	}
	pthread_mutex_unlock(&vm->state_lock);
}

void vm_request_stop(struct vm *vm, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vm_stop(vm, status, false, fmt, ap);
	va_end(ap);
}

void vm_request_reboot(struct vm *vm, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vm_stop(vm, 0, true, fmt, ap);
	va_end(ap);
}

bool vm_stop_requested(struct vm *vm)
{
	return __atomic_load_n(&vm->stop_requested, __ATOMIC_ACQUIRE);
}

void vm_pause(struct vm *vm)
{
	pthread_mutex_lock(&vm->state_lock);
	__atomic_store_n(&vm->pause_count, vm->pause_count + 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&vm->state_cond);	/* wakes a throttled vCPU's sleep */
	pthread_mutex_unlock(&vm->state_lock);
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].thread_started)
			vcpu_kick(&vm->vcpus[i]);
	pthread_mutex_lock(&vm->state_lock);
	while (vm->nr_paused < vm->nr_running && !vm->stop_requested)
		pthread_cond_wait(&vm->state_cond, &vm->state_lock);
	pthread_mutex_unlock(&vm->state_lock);
	/* With the vCPUs still, the devices finish what they are doing and wait too (pauses
	 * nest there as here): nothing then writes guest RAM. */
	vm_pci_pause(vm);
}

void vm_resume(struct vm *vm)
{
	vm_pci_resume(vm);
	pthread_mutex_lock(&vm->state_lock);
	if (vm->pause_count > 0)
		__atomic_store_n(&vm->pause_count, vm->pause_count - 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&vm->state_cond);
	pthread_mutex_unlock(&vm->state_lock);
}

/* What firmware would leave in memory for the guest to find: the MP table and the ACPI
 * tables. */
static int vm_write_firmware_tables(struct vm *vm)
{
	struct mptable_cpu_info cpu = { 0 };
	struct acpi_machine acpi = {
		.nr_cpus = vm->nr_vcpus,
		.pci_slots = vm_pci_intx_slots(vm),
		.pci_mmio_base = PCI_MMIO_WINDOW_BASE,
		.pci_mmio_size = PCI_MMIO_WINDOW_SIZE,
	};
	int ret;

	for (unsigned i = 0; i < vm->cpuid->nent; i++) {
		if (vm->cpuid->entries[i].function == 1) {
			cpu.signature = vm->cpuid->entries[i].eax;
			cpu.features = vm->cpuid->entries[i].edx;
		}
	}
	ret = mptable_write(&vm->mem, vm->nr_vcpus, &cpu, acpi.pci_slots);
	if (ret == 0 && vm->cfg.acpi)
		ret = acpi_write_tables(&vm->mem, &acpi);
	return ret;
}

/* The PICs as a BIOS leaves them (x86_pic_bios_state): KVM creates them uninitialised. */
static int vm_set_firmware_pics(struct vm *vm)
{
	for (unsigned slave = 0; slave < 2; slave++) {
		struct kvm_irqchip chip = {
			.chip_id = slave ? KVM_IRQCHIP_PIC_SLAVE : KVM_IRQCHIP_PIC_MASTER,
		};
		int ret = kvm_get_irqchip(vm->vm_fd, &chip);

		if (ret < 0)
			return ret;
		x86_pic_bios_state(&chip.chip.pic, slave);
		ret = kvm_set_irqchip(vm->vm_fd, &chip);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int vm_start(struct vm *vm, const struct boot_info *info)
{
	int ret;

	ret = vcpu_install_kick_signal();
	if (ret < 0)
		return ret;
	/* A VM restored from a migration stream has its memory and CPUs as the guest left
	 * them: no firmware to play. */
	if (info != NULL) {
		ret = vm_write_firmware_tables(vm);
		if (ret == 0)
			ret = vm_set_firmware_pics(vm);
		for (unsigned i = 0; ret == 0 && i < vm->nr_vcpus; i++)
			ret = vcpu_set_firmware_state(&vm->vcpus[i]);
		if (ret < 0)
			return ret;
		/* Only the boot vCPU starts at the entry point; the others wait in the kernel's
		 * LAPIC for INIT-SIPI-SIPI, as on real hardware. */
		ret = vcpu_set_boot_state(&vm->vcpus[0], info);
		if (ret < 0)
			return ret;
	}
	ret = console_input_start(&vm->console_in, vm, vm->cfg.input_fd);
	if (ret < 0)
		return ret;
	if (vm->cfg.control_path != NULL) {
		ret = control_start(&vm->control, vm, vm->cfg.control_path,
				    vm->cfg.control_group ? (long)vm->cfg.control_gid : -1,
				    &vm->cfg.migration);
		if (ret < 0)
			return ret;
	}
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		pthread_mutex_lock(&vm->state_lock);
		vm->nr_running++;
		pthread_mutex_unlock(&vm->state_lock);
		ret = vcpu_start(&vm->vcpus[i]);
		if (ret < 0) {
			vcpu_thread_ended(&vm->vcpus[i]);
			return ret;
		}
	}
	/* A guest that just moved here tells the network where it is now. */
	ret = info == NULL ? vm_pci_announce(vm) : 0;
	/* Last: a thread started after this would inherit the main thread's filter. */
	return ret < 0 ? ret : thread_enter(THREAD_MAIN, 0);
}

/* True when no vCPU can ever run again: each is halted with interrupts off or still waits
 * for the SIPI that only a running CPU could send.  Read while the VM is paused. */
static bool vm_all_vcpus_stuck(struct vm *vm)
{
	bool any_halted = false;

	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		switch (vm->vcpus[i].parked_state) {
		case VCPU_PARKED_HALTED_NO_IRQ:
			any_halted = true;
			break;
		case VCPU_PARKED_WAITING_FOR_SIPI:
			break;
		default:
			return false;
		}
	}
	return any_halted;
}

/* A guest is declared dead only when it looks dead at this many checks a second apart:
 * Linux's paravirtual spinlocks halt a vCPU with interrupts off for a moment, to be woken
 * by another vCPU's kick hypercall, and a single look can catch every vCPU in between. */
#define VM_HALT_CHECK_SECONDS 1
#define VM_HALT_CHECKS 3
#define VM_SLEEP_POLL_NS 100000000L

int vm_wait(struct vm *vm)
{
	unsigned stuck_checks = 0;

	pthread_mutex_lock(&vm->state_lock);
	while (!vm->stop_requested) {
		struct timespec deadline;
		bool stuck;

		bool asleep = vm->suspended;

		clock_gettime(CLOCK_REALTIME, &deadline);
		if (asleep) {
			/* In S3 the guest is not dead; its RTC alarm is looked at 10 times a second. */
			deadline.tv_nsec += VM_SLEEP_POLL_NS;
			if (deadline.tv_nsec >= 1000000000L) {
				deadline.tv_sec++;
				deadline.tv_nsec -= 1000000000L;
			}
		} else {
			deadline.tv_sec += VM_HALT_CHECK_SECONDS;
		}
		if (pthread_cond_timedwait(&vm->state_cond, &vm->state_lock, &deadline) != ETIMEDOUT)
			continue;
		pthread_mutex_unlock(&vm->state_lock);
		if (asleep) {
			vm_sleep_poll(vm);
			stuck_checks = 0;
			pthread_mutex_lock(&vm->state_lock);
			continue;
		}
		vm_pause(vm);
		stuck = vm_all_vcpus_stuck(vm);
		vm_resume(vm);
		stuck_checks = stuck ? stuck_checks + 1 : 0;
		if (stuck_checks == VM_HALT_CHECKS)
			vm_request_stop(vm, HOPVM_EXIT_GUEST_HALTED,
					"guest stopped: every vCPU is halted with interrupts off "
					"(HLT that nothing can wake)");
		pthread_mutex_lock(&vm->state_lock);
	}
	pthread_mutex_unlock(&vm->state_lock);

	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].thread_started)
			vcpu_kick(&vm->vcpus[i]);
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		if (!vm->vcpus[i].thread_started)
			continue;
		pthread_join(vm->vcpus[i].thread, NULL);
		vm->vcpus[i].thread_started = false;
	}
	console_input_stop(&vm->console_in);
	control_stop(&vm->control);
	return vm->exit_status;
}

int vm_run(struct vm *vm, const struct boot_info *info)
{
	if (vm_start(vm, info) < 0)
		vm_request_stop(vm, HOPVM_EXIT_ERROR, "%s", err_msg());
	return vm_wait(vm);
}

void vm_destroy(struct vm *vm)
{
	/* The guest runs elsewhere now, maybe on this same host (a local upgrade, the boot
	 * tests): its old copy is freed at the lowest priority, so that unmapping its RAM and
	 * tearing down KVM's page tables (80 ms for 256 MiB in tools/kvm-sandbox) does not
	 * hold up the new vCPUs.  Only this thread's: Linux's nice is per thread. */
	if (vm->moved_away)
		(void)setpriority(PRIO_PROCESS, (id_t)gettid(), 19);
	vm_pci_free(vm);
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	free(vm->vcpus);
	free(vm->cpuid);
	free(vm->cpu_available);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	uart_16550_destroy(&vm->com1);
	i8042_destroy(&vm->i8042);
	rtc_cmos_destroy(&vm->rtc);
	acpi_pm_destroy(&vm->acpi_pm);
	if (vm->pc_testdev != NULL) {
		pc_testdev_destroy(vm->pc_testdev);
		free(vm->pc_testdev);
	}
	fw_cfg_destroy(&vm->fw_cfg);
	bus_free(&vm->pio_bus);
	bus_free(&vm->mmio_bus);
	guest_mem_free(&vm->mem);
	pthread_cond_destroy(&vm->state_cond);
	pthread_mutex_destroy(&vm->state_lock);
	pthread_mutex_destroy(&vm->log_lock);
	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = -1;
}
