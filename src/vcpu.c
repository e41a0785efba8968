#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "hopvm/error.h"
#include "hopvm/kvm.h"
#include "hopvm/vcpu.h"
#include "hopvm/vm.h"
#include "hopvm/vm_sleep.h"
#include "hopvm/x86.h"
#include "hopvm/threads.h"

/* The signal that kicks a vCPU out of KVM_RUN.  Its handler does nothing: the point is that
 * KVM_RUN returns EINTR, and immediate_exit covers a signal that lands outside KVM_RUN. */
#define VCPU_KICK_SIGNAL SIGUSR1
#define X86_RFLAGS_IF (1ULL << 9)

static void vcpu_kick_handler(int sig)
{
	(void)sig;
}

int vcpu_install_kick_signal(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = vcpu_kick_handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0)
		return err_set(-errno, "sigaction: %s", strerror(errno));
	return 0;
}

/* Each vCPU gets the VM's CPU model (cpu_model.h) with its own APIC ID. */
int vcpu_set_cpuid(struct vcpu *vcpu)
{
	const struct kvm_cpuid2 *model = vcpu->vm->cpuid;
	size_t size = sizeof(*model) + model->nent * sizeof(model->entries[0]);
	struct kvm_cpuid2 *cpuid = malloc(size);
	int ret;

	if (cpuid == NULL)
		return err_set(-ENOMEM, "out of memory for CPUID");
	memcpy(cpuid, model, size);
	x86_cpuid_set_apic_id(cpuid, vcpu->id);
	ret = kvm_set_cpuid2(vcpu->fd, cpuid);
	free(cpuid);
	return ret;
}

int vcpu_create(struct vm *vm, unsigned id, struct vcpu *vcpu)
{
	void *run;
	int ret;

	memset(vcpu, 0, sizeof(*vcpu));
	vcpu->vm = vm;
	vcpu->id = id;
	ret = vcpu->fd = kvm_create_vcpu(vm->vm_fd, id);
	if (ret < 0)
		return ret;
	run = mmap(NULL, (size_t)vm->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   vcpu->fd, 0);
	if (run == MAP_FAILED)
		return err_set(-errno, "mmap of vCPU %u's kvm_run: %s", id, strerror(errno));
	vcpu->run = run;
	return vcpu_set_cpuid(vcpu);
}

void vcpu_destroy(struct vcpu *vcpu)
{
	if (vcpu->run != NULL)
		munmap(vcpu->run, (size_t)vcpu->vm->vcpu_mmap_size);
	if (vcpu->fd > 0)
		close(vcpu->fd);
	vcpu->run = NULL;
	vcpu->fd = -1;
}

static int vcpu_set_boot_msrs(struct vcpu *vcpu)
{
	struct kvm_msrs *msrs;
	int ret;

	msrs = calloc(1, sizeof(*msrs) + X86_BOOT_MSRS * sizeof(msrs->entries[0]));
	if (msrs == NULL)
		return err_set(-ENOMEM, "out of memory for vCPU %u's MSRs", vcpu->id);
	msrs->nmsrs = X86_BOOT_MSRS;
	for (unsigned i = 0; i < X86_BOOT_MSRS; i++) {
		msrs->entries[i].index = x86_boot_msrs[i].index;
		msrs->entries[i].data = x86_boot_msrs[i].value;
	}
	ret = kvm_set_msrs(vcpu->fd, msrs);
	free(msrs);
	if (ret >= 0 && ret < X86_BOOT_MSRS)
		return err_set(-EINVAL, "KVM_SET_MSRS: vCPU %u refused MSR %s (0x%x)", vcpu->id,
			       x86_boot_msrs[ret].name, x86_boot_msrs[ret].index);
	return ret < 0 ? ret : 0;
}

int vcpu_set_firmware_state(struct vcpu *vcpu)
{
	struct kvm_lapic_state lapic;
	int ret = kvm_get_lapic(vcpu->fd, &lapic);

	if (ret < 0)
		return ret;
	x86_lapic_virtual_wire(&lapic);
	ret = kvm_set_lapic(vcpu->fd, &lapic);
	if (ret < 0)
		return ret;
	return vcpu_set_boot_msrs(vcpu);
}

int vcpu_set_boot_state(struct vcpu *vcpu, const struct boot_info *info)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	int ret;

	ret = kvm_get_sregs(vcpu->fd, &sregs);
	if (ret < 0)
		return ret;
	switch (info->mode) {
	case BOOT_CPU_LONG:
		x86_long_mode_sregs(&sregs);
		break;
	case BOOT_CPU_PROTECTED:
		x86_protected_mode_sregs(&sregs, info->gdt_addr ? info->gdt_addr
								: X86_BOOT_GDT_ADDR);
		break;
	case BOOT_CPU_REAL:
		x86_real_mode_sregs(&sregs, info->real_cs);
		break;
	}
	ret = kvm_set_sregs(vcpu->fd, &sregs);
	if (ret < 0)
		return ret;
	x86_boot_regs(&regs, info->entry);
	if (info->mode == BOOT_CPU_REAL)
		regs.rip = info->entry - ((uint64_t)info->real_cs << 4);
	regs.rax = info->eax;
	regs.rbx = info->ebx;
	regs.rsi = info->rsi;
	return kvm_set_regs(vcpu->fd, &regs);
}

/* The guest's RIP as text, for messages; "unknown" if the registers cannot be read or the
 * vCPU was already reset (AMD reinitialises the VMCB on a shutdown, losing the RIP). */
static const char *vcpu_rip_text(struct vcpu *vcpu, char *buf, size_t len)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (vcpu->fd < 0 || kvm_get_regs(vcpu->fd, &regs) < 0 || kvm_get_sregs(vcpu->fd, &sregs) < 0)
		return "unknown";
	if (regs.rip == 0xfff0 && sregs.cs.base == 0xffff0000)
		return "unknown (the vCPU was reset: AMD SVM loses it on shutdown)";
	snprintf(buf, len, "0x%llx", (unsigned long long)regs.rip);
	return buf;
}

static void vcpu_log_unmapped_port(struct vcpu *vcpu, uint16_t port, bool is_write)
{
	struct vm *vm = vcpu->vm;
	unsigned bit = port * 2u + is_write;
	uint64_t mask = 1ULL << (bit % 64);

	if (!vm->cfg.verbose ||
	    (__atomic_fetch_or(&vm->unmapped_ports_logged[bit / 64], mask, __ATOMIC_RELAXED) & mask))
		return;
	fprintf(stderr, "hopvm: vCPU %u: %s of unmapped port 0x%x (%s; logged once)\n",
		vcpu->id, is_write ? "write" : "read", port,
		is_write ? "dropped" : "reads all-ones");
}

static void vcpu_log_unmapped_mmio(struct vcpu *vcpu, uint64_t addr, bool is_write)
{
	struct vm *vm = vcpu->vm;
	uint64_t page = (addr >> 12) << 1 | is_write;	/* per page and direction */
	bool seen = false;
	unsigned n;

	if (!vm->cfg.verbose)
		return;
	pthread_mutex_lock(&vm->log_lock);
	n = vm->nr_unmapped_mmio_pages;
	for (unsigned i = 0; i < n && i < VM_MMIO_LOG_PAGES; i++)
		seen |= vm->unmapped_mmio_pages[i] == page;
	if (!seen && n <= VM_MMIO_LOG_PAGES) {
		if (n < VM_MMIO_LOG_PAGES)
			vm->unmapped_mmio_pages[n] = page;
		vm->nr_unmapped_mmio_pages++;
		if (n < VM_MMIO_LOG_PAGES)
			fprintf(stderr, "hopvm: vCPU %u: %s of unmapped MMIO address 0x%llx "
				"(%s; logged once per page)\n", vcpu->id, is_write ? "write" : "read",
				(unsigned long long)addr, is_write ? "dropped" : "reads all-ones");
		else
			fprintf(stderr, "hopvm: vCPU %u: more unmapped MMIO pages, not logged\n",
				vcpu->id);
	}
	pthread_mutex_unlock(&vm->log_lock);
}

/* A device said no to an access (a wrong size, an offset it has no register at, a page flush
 * outside RAM): the guest gets all-ones or loses its write, and the first refusal of each
 * device is reported, with the device's own reason when it gave one. */
static void vcpu_log_refusal(struct vcpu *vcpu, const struct bus *bus, uint64_t addr,
			     unsigned size, bool is_write, int err)
{
	const char *device, *why = err_msg();

	if (!bus_first_refusal(bus, addr, &device))
		return;
	fprintf(stderr, "hopvm: vCPU %u: %s refused a %u-byte %s at %s 0x%llx (%s%s%s); further "
		"refusals by %s are not reported\n", vcpu->id, device, size,
		is_write ? "write" : "read", bus == &vcpu->vm->pio_bus ? "port" : "address",
		(unsigned long long)addr, strerror(-err), *why ? ": " : "", why, device);
}

static void vcpu_handle_io(struct vcpu *vcpu, struct kvm_run *run)
{
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;

	/* String I/O repeats on the same port while the data pointer moves on. */
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
		int ret;

		err_clear();
		ret = is_write ? bus_write(&vcpu->vm->pio_bus, run->io.port, data, run->io.size)
			       : bus_read(&vcpu->vm->pio_bus, run->io.port, data, run->io.size);
		if (ret == -ENODEV)
			vcpu_log_unmapped_port(vcpu, run->io.port, is_write);
		else if (ret < 0)
			vcpu_log_refusal(vcpu, &vcpu->vm->pio_bus, run->io.port, run->io.size,
					 is_write, ret);
	}
}

static void vcpu_handle_mmio(struct vcpu *vcpu, struct kvm_run *run)
{
	bool is_write = run->mmio.is_write;
	unsigned len = run->mmio.len <= sizeof(run->mmio.data) ? run->mmio.len : 0;
	int ret;

	err_clear();
	ret = is_write ? bus_write(&vcpu->vm->mmio_bus, run->mmio.phys_addr, run->mmio.data, len)
		       : bus_read(&vcpu->vm->mmio_bus, run->mmio.phys_addr, run->mmio.data, len);
	if (ret == -ENODEV)
		vcpu_log_unmapped_mmio(vcpu, run->mmio.phys_addr, is_write);
	else if (ret < 0)
		vcpu_log_refusal(vcpu, &vcpu->vm->mmio_bus, run->mmio.phys_addr, len, is_write,
				 ret);
}

static enum vcpu_action vcpu_fatal(struct vcpu *vcpu, int status, const char *what,
				   const char *detail)
{
	char rip[32];

	vm_request_stop(vcpu->vm, status, "guest stopped: %s on vCPU %u at RIP %s%s", what,
			vcpu->id, vcpu_rip_text(vcpu, rip, sizeof(rip)), detail);
	return VCPU_STOP;
}

/* KVM_EXIT_INTERNAL_ERROR, with the instruction KVM's emulator stopped at when it says.  Where
 * KVM emulates guest kernel code (PVM), an exception the guest's IDT cannot deliver, not even
 * as a double fault, ends emulation with this exit rather than KVM_EXIT_SHUTDOWN; the CPU
 * would have shut down, so it is reported as the triple fault it is. */
static enum vcpu_action vcpu_handle_internal_error(struct vcpu *vcpu, struct kvm_run *run)
{
	char detail[96];
	struct kvm_sregs sregs;
	int n;

	n = snprintf(detail, sizeof(detail), ", suberror %u", run->internal.suberror);
	if (run->internal.suberror != KVM_INTERNAL_ERROR_EMULATION)
		return vcpu_fatal(vcpu, HOPVM_EXIT_INTERNAL_ERROR, "KVM_EXIT_INTERNAL_ERROR", detail);
	n += snprintf(detail + n, sizeof(detail) - (size_t)n, " (emulation failed");
	if (run->emulation_failure.ndata >= 3 &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		unsigned len = run->emulation_failure.insn_size;

		n += snprintf(detail + n, sizeof(detail) - (size_t)n, "; instruction bytes");
		for (unsigned i = 0; i < len && i < 8; i++)
			n += snprintf(detail + n, sizeof(detail) - (size_t)n, " %02x",
				      run->emulation_failure.insn_bytes[i]);
	}
	snprintf(detail + n, sizeof(detail) - (size_t)n, ")");
	if (kvm_get_sregs(vcpu->fd, &sregs) == 0 && x86_double_fault_undeliverable(&sregs)) {
		char what[224];

		snprintf(what, sizeof(what), "triple fault (the guest's IDT, limit 0x%x, cannot "
			 "deliver even a double fault; KVM_EXIT_INTERNAL_ERROR%s)", sregs.idt.limit,
			 detail);
		return vcpu_fatal(vcpu, HOPVM_EXIT_TRIPLE_FAULT, what, "");
	}
	return vcpu_fatal(vcpu, HOPVM_EXIT_INTERNAL_ERROR, "KVM_EXIT_INTERNAL_ERROR", detail);
}

static enum vcpu_action vcpu_handle_system_event(struct vcpu *vcpu, struct kvm_run *run)
{
	switch (run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_request_stop(vcpu->vm, 0, NULL);
		return VCPU_STOP;
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_reboot(vcpu->vm, "the guest reset the machine");
		return VCPU_STOP;
	case KVM_SYSTEM_EVENT_CRASH:
		return vcpu_fatal(vcpu, HOPVM_EXIT_GUEST_CRASH, "guest crash (KVM_SYSTEM_EVENT_CRASH)",
				  "");
	default:
		return vcpu_fatal(vcpu, HOPVM_EXIT_UNHANDLED, "unknown system event", "");
	}
}

enum vcpu_action vcpu_handle_exit(struct vcpu *vcpu, struct kvm_run *run)
{
	char detail[96];

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		vcpu_handle_io(vcpu, run);
		return VCPU_CONTINUE;
	case KVM_EXIT_MMIO:
		vcpu_handle_mmio(vcpu, run);
		return VCPU_CONTINUE;
	case KVM_EXIT_INTR:
		return VCPU_CONTINUE;	/* a signal: the run loop looks at stop requests */
	case KVM_EXIT_HLT:
		return vcpu_fatal(vcpu, HOPVM_EXIT_GUEST_HALTED,
				  "HLT with nothing to wake the CPU (KVM_EXIT_HLT)", "");
	case KVM_EXIT_SHUTDOWN:
		return vcpu_fatal(vcpu, HOPVM_EXIT_TRIPLE_FAULT, "triple fault (KVM_EXIT_SHUTDOWN)",
				  "");
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(detail, sizeof(detail), ", hardware entry failure reason 0x%llx",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return vcpu_fatal(vcpu, HOPVM_EXIT_FAIL_ENTRY, "KVM_EXIT_FAIL_ENTRY", detail);
	case KVM_EXIT_INTERNAL_ERROR:
		return vcpu_handle_internal_error(vcpu, run);
	case KVM_EXIT_SYSTEM_EVENT:
		return vcpu_handle_system_event(vcpu, run);
	default:
		snprintf(detail, sizeof(detail), " (exit reason %u)", run->exit_reason);
		return vcpu_fatal(vcpu, HOPVM_EXIT_UNHANDLED, "an exit hopvm does not handle", detail);
	}
}

/* Records whether this vCPU could ever run again on its own, for vm_wait()'s halt check.
 * Only the vCPU's own thread may ask KVM, and only outside KVM_RUN. */
static void vcpu_record_parked_state(struct vcpu *vcpu)
{
	struct kvm_mp_state mp;
	struct kvm_regs regs;

	vcpu->parked_state = VCPU_PARKED_RUNNABLE;
	if (kvm_get_mp_state(vcpu->fd, &mp) < 0)
		return;
	if (mp.mp_state == KVM_MP_STATE_UNINITIALIZED || mp.mp_state == KVM_MP_STATE_INIT_RECEIVED)
		vcpu->parked_state = VCPU_PARKED_WAITING_FOR_SIPI;
	else if (mp.mp_state == KVM_MP_STATE_HALTED && kvm_get_regs(vcpu->fd, &regs) == 0 &&
		 !(regs.rflags & X86_RFLAGS_IF))
		vcpu->parked_state = VCPU_PARKED_HALTED_NO_IRQ;
}

/* Parks the vCPU while a pause is requested or the guest sleeps in S3, and resets it after
 * a wake; false once the VM is stopping. */
static bool vcpu_wait_while_paused(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	bool keep_running;
	unsigned wakes;

	/* The exit path's fast case: nothing asked, no lock taken.  A request made just after
	 * this look is not missed: its kick makes the next KVM_RUN return at once. */
	if (!__atomic_load_n(&vm->pause_count, __ATOMIC_ACQUIRE) &&
	    !__atomic_load_n(&vm->stop_requested, __ATOMIC_ACQUIRE) &&
	    !__atomic_load_n(&vm->suspended, __ATOMIC_ACQUIRE) &&
	    __atomic_load_n(&vm->wake_generation, __ATOMIC_ACQUIRE) == vcpu->wake_generation)
		return true;
	vcpu_record_parked_state(vcpu);
	pthread_mutex_lock(&vm->state_lock);
	if ((vm->pause_count > 0 || vm->suspended) && !vm->stop_requested) {
		vm->nr_paused++;
		pthread_cond_broadcast(&vm->state_cond);
		while ((vm->pause_count > 0 || vm->suspended) && !vm->stop_requested)
			pthread_cond_wait(&vm->state_cond, &vm->state_lock);
		vm->nr_paused--;
	}
	keep_running = !vm->stop_requested;
	wakes = vm->wake_generation;
	pthread_mutex_unlock(&vm->state_lock);
	if (keep_running && wakes != vcpu->wake_generation) {
		vcpu->wake_generation = wakes;
		if (vcpu_wake(vcpu) < 0) {
			vm_request_stop(vm, HOPVM_EXIT_ERROR, "vCPU %u: waking from ACPI S3: %s",
					vcpu->id, err_msg());
			return false;
		}
		keep_running = !vm_stop_requested(vm);
	}
	return keep_running;
}

/* Auto-converge: kicked by the migration's throttle, the vCPU sleeps its share of each slice
 * (throttle_pct of the time), waking early for a pause or a stop. */
static void vcpu_throttle(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	unsigned pct = __atomic_load_n(&vm->throttle_pct, __ATOMIC_ACQUIRE);
	struct timespec until;
	uint64_t ns;

	if (pct == 0 || pct >= 100)
		return;
	ns = VM_THROTTLE_SLICE_NS * pct / (100 - pct);
	clock_gettime(CLOCK_REALTIME, &until);
	ns += (uint64_t)until.tv_nsec;
	until.tv_sec += (time_t)(ns / 1000000000ULL);
	until.tv_nsec = (long)(ns % 1000000000ULL);
	pthread_mutex_lock(&vm->state_lock);
	while (vm->pause_count == 0 && !vm->stop_requested &&
	       pthread_cond_timedwait(&vm->state_cond, &vm->state_lock, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&vm->state_lock);
}

void vcpu_thread_ended(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;

	pthread_mutex_lock(&vm->state_lock);
	vm->nr_running--;
	pthread_cond_broadcast(&vm->state_cond);
	pthread_mutex_unlock(&vm->state_lock);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;

	if (thread_enter(THREAD_VCPU, vcpu->id) < 0) {
		vm_request_stop(vcpu->vm, HOPVM_EXIT_ERROR, "vCPU %u: %s", vcpu->id, err_msg());
		vcpu_thread_ended(vcpu);
		return NULL;
	}
	while (vcpu_wait_while_paused(vcpu)) {
		int ret = kvm_run(vcpu->fd);

		if (ret == -EINTR) {
			__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
			vcpu_throttle(vcpu);
			continue;
		}
		if (ret == -EAGAIN)
			continue;
		if (ret < 0) {
			vm_request_stop(vcpu->vm, HOPVM_EXIT_ERROR, "vCPU %u: %s", vcpu->id, err_msg());
			break;
		}
		if (vcpu_handle_exit(vcpu, vcpu->run) == VCPU_STOP)
			break;
	}
	vcpu_thread_ended(vcpu);
	return NULL;
}

int vcpu_start(struct vcpu *vcpu)
{
	int ret = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);

	if (ret != 0)
		return err_set(-ret, "cannot start vCPU %u's thread: %s", vcpu->id, strerror(ret));
	vcpu->thread_started = true;
	return 0;
}

void vcpu_kick(struct vcpu *vcpu)
{
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}
