#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hopvm/acpi.h"
#include "hopvm/error.h"
#include "hopvm/kvm.h"
#include "hopvm/le.h"
#include "hopvm/vcpu.h"
#include "hopvm/vm.h"
#include "hopvm/vm_sleep.h"
#include "hopvm/x86.h"

/* KVM's paravirtual MSRs a reset turns off (Linux turns them on again as it resumes): the
 * clock, async page faults, steal time, PV EOI.  The old clock MSR too. */
static const uint32_t pv_msrs[] = { 0x11, 0x12, 0x4b564d01, 0x4b564d02, 0x4b564d03, 0x4b564d04 };
#define MSR_TSC_DEADLINE 0x6e0

void vm_suspend(struct vm *vm)
{
	bool was;

	pthread_mutex_lock(&vm->state_lock);
	was = vm->suspended;
	vm->suspended = true;
	pthread_cond_broadcast(&vm->state_cond);
	pthread_mutex_unlock(&vm->state_lock);
	if (was)
		return;
	rtc_cmos_alarm_start(&vm->rtc);
	/* The vCPU that asked parks as it leaves this exit; the others are kicked out of KVM. */
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].thread_started)
			vcpu_kick(&vm->vcpus[i]);
	if (vm->cfg.verbose)
		fprintf(stderr, "hopvm: the guest suspended to RAM (ACPI S3)\n");
}

int vm_wakeup(struct vm *vm, uint16_t event_sts)
{
	pthread_mutex_lock(&vm->state_lock);
	if (!vm->suspended) {
		pthread_mutex_unlock(&vm->state_lock);
		return err_set(-EAGAIN, "the guest is not suspended (ACPI S3)");
	}
	vm->suspended = false;
	vm->wake_event = event_sts;
	vm->aps_resetting = vm->nr_vcpus > 0 ? vm->nr_vcpus - 1 : 0;
	__atomic_store_n(&vm->wake_generation, vm->wake_generation + 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&vm->state_cond);
	pthread_mutex_unlock(&vm->state_lock);
	if (vm->cfg.verbose)
		fprintf(stderr, "hopvm: the guest wakes from ACPI S3 (%s)\n",
			event_sts == ACPI_PM1_STS_RTC ? "RTC alarm" : "wakeup command");
	return 0;
}

bool vm_suspended(struct vm *vm)
{
	return __atomic_load_n(&vm->suspended, __ATOMIC_ACQUIRE);
}

int vm_check_awake(struct vm *vm)
{
	if (vm_suspended(vm))
		return err_set(-EBUSY, "the guest is suspended to RAM (ACPI S3), and hopvm cannot "
			       "save a sleeping guest: wake it first (hopvm ctl SOCKET wakeup)");
	return 0;
}

void vm_sleep_poll(struct vm *vm)
{
	if (!vm_suspended(vm) || !vm->cfg.acpi)
		return;
	/* Only this thread wakes on the alarm; a wakeup command just before is no failure. */
	if (rtc_cmos_alarm_fired(&vm->rtc) && acpi_pm_rtc_wake_enabled(&vm->acpi_pm) &&
	    vm_wakeup(vm, ACPI_PM1_STS_RTC) < 0)
		err_clear();
}

/* The in-kernel PIC, IOAPIC and PIT as QEMU resets them: the PICs' masks open and their
 * ELCR kept, every IOAPIC entry masked, the PIT's counters in mode 3 from 0x10000. */
static int reset_irqchips(struct vm *vm)
{
	struct kvm_irqchip chip;
	struct kvm_pit_state2 pit;
	int ret;

	for (uint32_t id = KVM_IRQCHIP_PIC_MASTER; id <= KVM_IRQCHIP_IOAPIC; id++) {
		memset(&chip, 0, sizeof(chip));
		chip.chip_id = id;
		ret = kvm_get_irqchip(vm->vm_fd, &chip);
		if (ret < 0)
			return ret;
		if (id == KVM_IRQCHIP_IOAPIC) {
			struct kvm_ioapic_state *io = &chip.chip.ioapic;

			io->ioregsel = 0;
			io->irr = 0;
			for (unsigned i = 0; i < KVM_IOAPIC_NUM_PINS; i++)
				io->redirtbl[i].bits = 1ULL << 16;
		} else {
			struct kvm_pic_state *p = &chip.chip.pic;

			/* Level-triggered lines stay as they are driven; the ELCR is not reset. */
			*p = (struct kvm_pic_state){ .irr = p->irr & p->elcr, .elcr = p->elcr,
						     .elcr_mask = p->elcr_mask };
		}
		ret = kvm_set_irqchip(vm->vm_fd, &chip);
		if (ret < 0)
			return ret;
	}
	ret = kvm_get_pit2(vm->vm_fd, &pit);
	if (ret < 0)
		return ret;
	for (unsigned i = 0; i < 3; i++) {
		pit.channels[i].mode = 3;
		pit.channels[i].gate = i != 2;
		pit.channels[i].count = 0;	/* 0x10000 */
	}
	return kvm_set_pit2(vm->vm_fd, &pit);
}

/* The machine's side of the wake, on the boot vCPU's thread: devices, then PM1's status. */
static int reset_machine(struct vm *vm)
{
	int ret = reset_irqchips(vm);

	if (ret < 0)
		return ret;
	/* The RTC's reset clears its interrupt enables and flags, as QEMU's does; its time and
	 * RAM are battery-backed. */
	bus_reset(&vm->pio_bus);
	bus_reset(&vm->mmio_bus);
	if (vm->cfg.acpi)
		acpi_pm_wake(&vm->acpi_pm, vm->wake_event);
	return 0;
}

static int set_msr_zero(struct vcpu *vcpu, uint32_t index)
{
	struct kvm_msrs *msrs = calloc(1, sizeof(*msrs) + sizeof(msrs->entries[0]));
	int ret;

	if (msrs == NULL)
		return err_set(-ENOMEM, "out of memory for vCPU %u's MSRs", vcpu->id);
	msrs->nmsrs = 1;
	msrs->entries[0].index = index;
	ret = kvm_set_msrs(vcpu->fd, msrs);
	free(msrs);
	return ret;
}

static int reset_msrs(struct vcpu *vcpu)
{
	int ret = set_msr_zero(vcpu, MSR_TSC_DEADLINE);

	/* One at a time: a KVM without one of them refuses it, which is as good as off. */
	for (size_t i = 0; ret >= 0 && i < sizeof(pv_msrs) / sizeof(pv_msrs[0]); i++)
		ret = set_msr_zero(vcpu, pv_msrs[i]);
	return ret < 0 ? ret : 0;
}

/* The FPU, SSE and extended state as RESET leaves them: everything in its initial
 * configuration (XSTATE_BV 0), FCW 0x37f and MXCSR 0x1f80. */
static int reset_fpu(struct vcpu *vcpu)
{
	struct kvm_xsave xsave;
	uint8_t *r = (uint8_t *)xsave.region;
	struct kvm_xcrs xcrs;
	int ret;

	memset(&xsave, 0, sizeof(xsave));
	le16_put(r, 0x37f);
	le32_put(r + 24, 0x1f80);
	le32_put(r + 28, 0xffff);	/* MXCSR_MASK: as KVM reports it, ignored on load */
	ret = kvm_set_xsave(vcpu->fd, &xsave);
	if (ret < 0)
		return ret;
	if (kvm_get_xcrs(vcpu->fd, &xcrs) < 0 || xcrs.nr_xcrs == 0)
		return 0;	/* no XSAVE in this CPU model */
	xcrs.nr_xcrs = 1;
	xcrs.xcrs[0].xcr = 0;
	xcrs.xcrs[0].value = 1;	/* x87 only */
	return kvm_set_xcrs(vcpu->fd, &xcrs);
}

static int reset_cpu(struct vcpu *vcpu, uint16_t cs, uint16_t ip)
{
	bool bsp = vcpu->id == 0;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_debugregs dregs;
	struct kvm_mp_state mp = { bsp ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_UNINITIALIZED };
	int ret;

	x86_reset_sregs(&sregs, cs, bsp);
	ret = kvm_set_sregs(vcpu->fd, &sregs);
	if (ret < 0)
		return ret;
	x86_boot_regs(&regs, ip);
	ret = kvm_set_regs(vcpu->fd, &regs);
	if (ret < 0)
		return ret;
	/* After the APIC base (in sregs), which the LAPIC's mode follows. */
	ret = kvm_get_lapic(vcpu->fd, &lapic);
	if (ret < 0)
		return ret;
	x86_lapic_reset(&lapic, vcpu->id);
	ret = kvm_set_lapic(vcpu->fd, &lapic);
	if (ret < 0)
		return ret;
	/* Virtual wire and the boot MSRs, as at power-on. */
	ret = vcpu_set_firmware_state(vcpu);
	if (ret == 0)
		ret = reset_msrs(vcpu);
	if (ret == 0)
		ret = reset_fpu(vcpu);
	if (ret < 0)
		return ret;
	memset(&dregs, 0, sizeof(dregs));
	dregs.dr6 = 0xffff0ff0;
	dregs.dr7 = 0x400;
	ret = kvm_set_debugregs(vcpu->fd, &dregs);
	if (ret < 0)
		return ret;
	/* Nothing pending or being injected, NMIs unblocked. */
	memset(&events, 0, sizeof(events));
	events.flags = KVM_VCPUEVENT_VALID_NMI_PENDING;
	ret = kvm_set_vcpu_events(vcpu->fd, &events);
	if (ret < 0)
		return ret;
	return kvm_set_mp_state(vcpu->fd, &mp);
}

/* SeaBIOS's s3_resume(): the 32-bit vector only (it never uses X_Firmware_Waking_Vector,
 * which Linux leaves 0 on x86), entered as a far call to vector >> 4 : vector & 0xf. */
static int waking_vector(struct vm *vm, uint32_t *vector)
{
	const uint8_t *p = guest_mem_ptr(&vm->mem, acpi_facs_addr() + ACPI_FACS_WAKING_VECTOR, 4);

	if (p == NULL)
		return err_set(-EFAULT, "the FACS is not in guest RAM");
	*vector = le32_get(p);
	return 0;
}

int vcpu_wake(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	uint32_t vector = 0;
	int ret;

	if (vcpu->id != 0) {
		ret = reset_cpu(vcpu, 0, 0);
		pthread_mutex_lock(&vm->state_lock);
		vm->aps_resetting--;
		pthread_cond_broadcast(&vm->state_cond);
		pthread_mutex_unlock(&vm->state_lock);
		return ret;
	}
	ret = reset_machine(vm);
	if (ret == 0)
		ret = waking_vector(vm, &vector);
	if (ret < 0)
		return ret;
	if (vector == 0 || vector >= 0x100000) {
		vm_request_reboot(vm, "the guest woke from ACPI S3 with no real-mode waking vector "
				  "in its FACS (0x%x): the machine resets, as firmware does", vector);
		return 0;
	}
	ret = reset_cpu(vcpu, (uint16_t)(vector >> 4), (uint16_t)(vector & 0xf));
	if (ret < 0)
		return ret;
	/* No guest instruction before every AP waits for its SIPI: one sent early is lost. */
	pthread_mutex_lock(&vm->state_lock);
	while (vm->aps_resetting > 0 && !vm->stop_requested)
		pthread_cond_wait(&vm->state_cond, &vm->state_lock);
	pthread_mutex_unlock(&vm->state_lock);
	return 0;
}
