#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hopvm/error.h"
#include "hopvm/guest_abi.h"
#include "hopvm/kvm.h"
#include "hopvm/vcpu.h"
#include "hopvm/vm.h"
#include "hopvm/x86.h"

/* The capabilities hopvm cannot run without, with the reason for each. */
static const struct {
	long cap;
	const char *name;
} required_caps[] = {
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },	/* race-free vCPU kicks */
};

static void com1_tx(void *ctx, uint8_t byte)
{
	struct vm *vm = ctx;

	/* The console is best effort: a closed stdout must not stop the guest. */
	while (write(vm->cfg.console_fd, &byte, 1) < 0 && errno == EINTR)
		;
}

static void debug_exit_stop(void *ctx, uint32_t value)
{
	struct vm *vm = ctx;
	int status = (int)(value & 0xff);

	if (vm->cfg.qemu_exit_status)
		status = (int)(((value << 1) | 1) & 0xff);
	vm_request_stop(vm, status, NULL);
}

int vm_init(struct vm *vm, const struct vm_config *cfg)
{
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->cfg = *cfg;
	vm->kvm_fd = vm->vm_fd = -1;
	pthread_mutex_init(&vm->stop_lock, NULL);
	pthread_cond_init(&vm->stop_cond, NULL);
	bus_init(&vm->pio_bus, "pio");
	bus_init(&vm->mmio_bus, "mmio");

	uart_16550_init(&vm->com1, com1_tx, NULL, vm);
	debug_exit_init(&vm->debug_exit, debug_exit_stop, vm);

	ret = guest_mem_alloc(&vm->mem, cfg->ram_size);
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
	};
	for (size_t i = 0; i < sizeof(devices) / sizeof(devices[0]); i++) {
		ret = bus_register(devices[i].bus, devices[i].base, devices[i].len, devices[i].ops,
				   devices[i].dev);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int vm_check_kvm(struct vm *vm)
{
	int version = kvm_get_api_version(vm->kvm_fd);

	if (version < 0)
		return version;
	if (version != KVM_EXPECTED_API_VERSION)
		return err_set(-ENOTSUP, "KVM API version %d, hopvm needs %d", version,
			       KVM_EXPECTED_API_VERSION);
	for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++) {
		int ret = kvm_check_extension(vm->kvm_fd, required_caps[i].cap);

		if (ret < 0)
			return ret;
		if (ret == 0)
			return err_set(-ENOTSUP, "this kernel's KVM lacks %s, which hopvm needs",
				       required_caps[i].name);
	}
	return 0;
}

static int vm_map_memory(struct vm *vm)
{
	for (unsigned i = 0; i < vm->mem.nr_regions; i++) {
		const struct guest_region *r = &vm->mem.regions[i];
		struct kvm_userspace_memory_region slot = {
			.slot = i,
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
	ret = kvm_get_supported_cpuid(vm->kvm_fd, &vm->cpuid);
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
	ret = vm_map_memory(vm);
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

void vm_request_stop(struct vm *vm, int status, const char *fmt, ...)
{
	pthread_mutex_lock(&vm->stop_lock);
	if (!vm->stop_requested) {
		vm->stop_requested = true;
		vm->exit_status = status;
		if (fmt != NULL) {
			va_list ap;

			va_start(ap, fmt);
			vsnprintf(vm->stop_message, sizeof(vm->stop_message), fmt, ap);
			va_end(ap);
		}
		pthread_cond_broadcast(&vm->stop_cond);
	}
	pthread_mutex_unlock(&vm->stop_lock);
}

bool vm_stop_requested(struct vm *vm)
{
	bool stop;

	pthread_mutex_lock(&vm->stop_lock);
	stop = vm->stop_requested;
	pthread_mutex_unlock(&vm->stop_lock);
	return stop;
}

int vm_run(struct vm *vm, const struct boot_info *info)
{
	int ret;

	ret = vcpu_install_kick_signal();
	if (ret == 0)
		ret = vcpu_set_boot_state(&vm->vcpus[0], info);
	for (unsigned i = 0; ret == 0 && i < vm->nr_vcpus; i++)
		ret = vcpu_start(&vm->vcpus[i]);
	if (ret < 0)
		vm_request_stop(vm, HOPVM_EXIT_ERROR, "%s", err_msg());

	pthread_mutex_lock(&vm->stop_lock);
	while (!vm->stop_requested)
		pthread_cond_wait(&vm->stop_cond, &vm->stop_lock);
	pthread_mutex_unlock(&vm->stop_lock);

	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		if (!vm->vcpus[i].thread_started)
			continue;
		vcpu_kick(&vm->vcpus[i]);
		pthread_join(vm->vcpus[i].thread, NULL);
		vm->vcpus[i].thread_started = false;
	}
	return vm->exit_status;
}

void vm_destroy(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	free(vm->vcpus);
	free(vm->cpuid);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	uart_16550_destroy(&vm->com1);
	bus_free(&vm->pio_bus);
	bus_free(&vm->mmio_bus);
	guest_mem_free(&vm->mem);
	pthread_cond_destroy(&vm->stop_cond);
	pthread_mutex_destroy(&vm->stop_lock);
	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = -1;
}
