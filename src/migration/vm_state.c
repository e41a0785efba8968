/* Capturing and restoring a VM through KVM, in the order NOTES-kvm-facts gives: MP state first
 * when saving (reading it settles pending APIC events) and events last; on restore MP state,
 * registers, special registers (which set the APIC base), XSAVE and XCRs, LAPIC, MSRs (TSC
 * before the TSC deadline), debug registers, then events, since setting registers clears
 * pending exceptions. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hopvm/cpu_model.h"
#include "hopvm/error.h"
#include "hopvm/kvm.h"
#include "hopvm/kvmclock.h"
#include "hopvm/vcpu.h"
#include "hopvm/vm_sleep.h"
#include "hopvm/vm_state.h"

/* The MSRs a guest's state lives in, in restore order; those KVM does not list are skipped. */
#define MSR_IA32_TSC 0x10

static const uint32_t saved_msrs[] = {
	MSR_IA32_TSC,	/* before the deadline */
	0x3b,		/* IA32_TSC_ADJUST */
	0x174, 0x175, 0x176,	/* SYSENTER_CS, _ESP, _EIP */
	0x1a0,		/* IA32_MISC_ENABLE */
	0x277,		/* IA32_PAT */
	0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084,	/* STAR, LSTAR, CSTAR, FMASK */
	0xc0000102,	/* KERNEL_GS_BASE */
	0xc0000103,	/* TSC_AUX */
	0x11, 0x12,	/* kvmclock, old numbers */
	0x4b564d00, 0x4b564d01, 0x4b564d02, 0x4b564d03, 0x4b564d04, 0x4b564d05,	/* KVM PV */
	0x6e0,		/* IA32_TSC_DEADLINE, after the TSC */
};
#define NR_SAVED_MSRS (sizeof(saved_msrs) / sizeof(saved_msrs[0]))
#define RAM_BATCH 1024

/* KVM's chip for each IRQCHIP blob tag. */
static const unsigned irqchip_ids[MIG_IRQCHIP_NR_TAGS] = {
	[MIG_IRQCHIP_PIC_MASTER] = KVM_IRQCHIP_PIC_MASTER,
	[MIG_IRQCHIP_PIC_SLAVE] = KVM_IRQCHIP_PIC_SLAVE,
	[MIG_IRQCHIP_IOAPIC] = KVM_IRQCHIP_IOAPIC,
};

void vm_state_describe(const struct vm *vm, struct mig_machine *machine)
{
	const struct bus *bus = &vm->pio_bus;

	memset(machine, 0, sizeof(*machine));
	machine->ram_size = vm->cfg.ram_size;
	machine->nr_vcpus = vm->cfg.nr_vcpus;
	/* A model too long for the stream keeps its count, so the writer refuses it by name. */
	machine->nr_cpuid_entries = vm->cpuid != NULL ? vm->cpuid->nent : 0;
	for (unsigned i = 0; i < machine->nr_cpuid_entries && i < MIG_MAX_CPUID_ENTRIES; i++) {
		const struct kvm_cpuid_entry2 *e = &vm->cpuid->entries[i];

		machine->cpuid[i] = (struct mig_cpuid_entry){
			e->function, e->index, e->flags, e->eax, e->ebx, e->ecx, e->edx,
		};
	}
	for (size_t i = 0; i < bus->nr_ranges && machine->nr_devices < MIG_MAX_DEVICES; i++) {
		const struct device_ops *ops = bus->ranges[i].ops;

		if (ops->save == NULL)
			continue;
		snprintf(machine->devices[machine->nr_devices].name, MIG_DEVICE_NAME_MAX + 1, "%s",
			 ops->name);
		machine->devices[machine->nr_devices++].version = ops->state_version;
	}
}

/* Copies size bytes at p into a new blob. */
static int blob_copy(struct mig_blob *b, const void *p, size_t size)
{
	b->data = malloc(size);
	if (b->data == NULL)
		return err_set(-ENOMEM, "out of memory for VM state");
	memcpy(b->data, p, size);
	b->len = (uint32_t)size;
	return 0;
}

static void vcpu_state_free(struct mig_vcpu_state *st)
{
	for (unsigned t = 0; t < MIG_VCPU_NR_TAGS; t++)
		free(st->blobs[t].data);
	memset(st, 0, sizeof(*st));
}

/* The MSRs of saved_msrs that KVM knows, as a kvm_msrs with empty values. */
static int msr_list(struct vm *vm, struct kvm_msrs **out)
{
	struct kvm_msr_list probe = { .nmsrs = 0 }, *list;
	struct kvm_msrs *msrs;
	int ret = -ENOMEM;

	/* The first call fails with E2BIG and says how many there are. */
	(void)kvm_get_msr_index_list(vm->kvm_fd, &probe);
	list = calloc(1, sizeof(*list) + probe.nmsrs * sizeof(list->indices[0]));
	msrs = calloc(1, sizeof(*msrs) + NR_SAVED_MSRS * sizeof(msrs->entries[0]));
	if (list == NULL || msrs == NULL) {
		err_set(ret, "out of memory for the MSR list");
		goto fail;
	}
	list->nmsrs = probe.nmsrs;
	ret = kvm_get_msr_index_list(vm->kvm_fd, list);
	if (ret < 0)
		goto fail;
	for (size_t i = 0; i < NR_SAVED_MSRS; i++)
		for (unsigned j = 0; j < list->nmsrs; j++)
			if (list->indices[j] == saved_msrs[i])
				msrs->entries[msrs->nmsrs++].index = saved_msrs[i];
	free(list);
	*out = msrs;
	return 0;
fail:
	free(list);
	free(msrs);
	return ret;
}

/* template: the MSRs to read, from msr_list() once per save; each vCPU reads into a copy. */
static int vcpu_state_save(struct vcpu *vcpu, const struct kvm_msrs *template,
			   struct mig_vcpu_state *st)
{
	struct kvm_mp_state mp;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_debugregs dregs;
	struct kvm_vcpu_events events;
	struct kvm_xsave *xsave = malloc(sizeof(*xsave));
	size_t msrs_size = sizeof(*template) + template->nmsrs * sizeof(template->entries[0]);
	struct kvm_msrs *msrs = malloc(msrs_size);
	int ret = -ENOMEM, nr_msrs = 0;

	memset(st, 0, sizeof(*st));
	if (xsave == NULL || msrs == NULL)
		goto out;
	memcpy(msrs, template, msrs_size);
	if ((ret = kvm_get_mp_state(vcpu->fd, &mp)) < 0 ||
	    (ret = kvm_get_regs(vcpu->fd, &regs)) < 0 ||
	    (ret = kvm_get_sregs(vcpu->fd, &sregs)) < 0 ||
	    (ret = kvm_get_xsave(vcpu->fd, xsave)) < 0 ||
	    (ret = kvm_get_xcrs(vcpu->fd, &xcrs)) < 0 ||
	    (ret = kvm_get_lapic(vcpu->fd, &lapic)) < 0 ||
	    (ret = nr_msrs = kvm_get_msrs(vcpu->fd, msrs)) < 0 ||
	    (ret = kvm_get_debugregs(vcpu->fd, &dregs)) < 0 ||
	    (ret = kvm_get_vcpu_events(vcpu->fd, &events)) < 0)
		goto out;
	if ((unsigned)nr_msrs != msrs->nmsrs) {
		ret = err_set(-EIO, "KVM_GET_MSRS: vCPU %u gave %d of %u MSRs; MSR 0x%x was refused",
			      vcpu->id, nr_msrs, msrs->nmsrs, msrs->entries[nr_msrs].index);
		goto out;
	}
	ret = blob_copy(&st->blobs[MIG_VCPU_MP_STATE], &mp, sizeof(mp));
	ret = ret ? ret : blob_copy(&st->blobs[MIG_VCPU_REGS], &regs, sizeof(regs));
	ret = ret ? ret : blob_copy(&st->blobs[MIG_VCPU_SREGS], &sregs, sizeof(sregs));
	ret = ret ? ret : blob_copy(&st->blobs[MIG_VCPU_XSAVE], xsave, sizeof(*xsave));
	ret = ret ? ret : blob_copy(&st->blobs[MIG_VCPU_XCRS], &xcrs, sizeof(xcrs));
	ret = ret ? ret : blob_copy(&st->blobs[MIG_VCPU_LAPIC], &lapic, sizeof(lapic));
	ret = ret ? ret : blob_copy(&st->blobs[MIG_VCPU_MSRS], msrs, msrs_size);
	ret = ret ? ret : blob_copy(&st->blobs[MIG_VCPU_DEBUGREGS], &dregs, sizeof(dregs));
	ret = ret ? ret : blob_copy(&st->blobs[MIG_VCPU_EVENTS], &events, sizeof(events));
out:
	if (ret < 0)
		vcpu_state_free(st);
	free(xsave);
	free(msrs);
	return ret;
}

/* A blob must be exactly the size of the struct KVM takes: the stream came from a stranger. */
static const void *blob_as(const struct mig_blob *b, size_t size, unsigned vcpu, const char *what)
{
	if (b->data == NULL || b->len != size) {
		err_set(-EBADMSG, "migration stream: vCPU %u's %s is %u bytes, KVM's is %zu", vcpu,
			what, b->len, size);
		return NULL;
	}
	return b->data;
}

/* KVM takes a host's write of a TSC value within a second of what it expects (the last value
 * written plus the time since) for an attempt to synchronise the vCPUs' TSCs, and keeps its
 * old offset instead: a guest restored into a VM about as old as the guest would find its TSC
 * gone back.  So the first vCPU's TSC is first set far away, which makes the real value a
 * deliberate change; the other vCPUs' values, a moment apart, then synchronise with it, as
 * they should. */
static int vcpu_tsc_unsync(struct vcpu *vcpu, const struct kvm_msrs *msrs)
{
	struct {
		uint32_t nmsrs, pad;
		struct kvm_msr_entry entry;
	} far = { .nmsrs = 1 };
	int ret;

	if (vcpu->id != 0)
		return 0;
	for (uint32_t i = 0; i < msrs->nmsrs; i++) {
		if (msrs->entries[i].index != MSR_IA32_TSC)
			continue;
		far.entry.index = MSR_IA32_TSC;
		far.entry.data = msrs->entries[i].data ^ (1ULL << 62);
		ret = kvm_set_msrs(vcpu->fd, (const struct kvm_msrs *)&far);
		return ret < 0 ? ret : 0;
	}
	return 0;
}

static int vcpu_state_load(struct vcpu *vcpu, const struct mig_vcpu_state *st)
{
	const struct mig_blob *b = st->blobs;
	const struct kvm_msrs *msrs = b[MIG_VCPU_MSRS].data;
	unsigned id = vcpu->id;
	const void *mp = blob_as(&b[MIG_VCPU_MP_STATE], sizeof(struct kvm_mp_state), id, "MP state");
	const void *regs = blob_as(&b[MIG_VCPU_REGS], sizeof(struct kvm_regs), id, "registers");
	const void *sregs = blob_as(&b[MIG_VCPU_SREGS], sizeof(struct kvm_sregs), id, "sregs");
	const void *xsave = blob_as(&b[MIG_VCPU_XSAVE], sizeof(struct kvm_xsave), id, "XSAVE");
	const void *xcrs = blob_as(&b[MIG_VCPU_XCRS], sizeof(struct kvm_xcrs), id, "XCRs");
	const void *lapic = blob_as(&b[MIG_VCPU_LAPIC], sizeof(struct kvm_lapic_state), id, "LAPIC");
	const void *dregs = blob_as(&b[MIG_VCPU_DEBUGREGS], sizeof(struct kvm_debugregs), id,
				    "debug registers");
	const void *events = blob_as(&b[MIG_VCPU_EVENTS], sizeof(struct kvm_vcpu_events), id,
				     "events");
	int ret, nr_msrs = 0;

	if (!mp || !regs || !sregs || !xsave || !xcrs || !lapic || !dregs || !events)
		return -EBADMSG;
	if (msrs == NULL || b[MIG_VCPU_MSRS].len < sizeof(*msrs) ||
	    b[MIG_VCPU_MSRS].len != sizeof(*msrs) + msrs->nmsrs * sizeof(msrs->entries[0]))
		return err_set(-EBADMSG, "migration stream: vCPU %u's MSR list does not match its "
			       "length", vcpu->id);
	if ((ret = kvm_set_mp_state(vcpu->fd, mp)) < 0 ||
	    (ret = kvm_set_regs(vcpu->fd, regs)) < 0 ||
	    (ret = kvm_set_sregs(vcpu->fd, sregs)) < 0 ||
	    (ret = kvm_set_xsave(vcpu->fd, xsave)) < 0 ||
	    /* A host without XSAVE has no XCRs to give or take. */
	    (((const struct kvm_xcrs *)xcrs)->nr_xcrs > 0 &&
	     (ret = kvm_set_xcrs(vcpu->fd, xcrs)) < 0) ||
	    (ret = kvm_set_lapic(vcpu->fd, lapic)) < 0 ||
	    (ret = vcpu_tsc_unsync(vcpu, msrs)) < 0 ||
	    (ret = nr_msrs = kvm_set_msrs(vcpu->fd, msrs)) < 0 ||
	    (ret = kvm_set_debugregs(vcpu->fd, dregs)) < 0 ||
	    (ret = kvm_set_vcpu_events(vcpu->fd, events)) < 0)
		return ret;
	if ((unsigned)nr_msrs != msrs->nmsrs)
		return err_set(-EINVAL, "KVM_SET_MSRS: vCPU %u took %d of %u MSRs; MSR 0x%x was "
			       "refused", vcpu->id, nr_msrs, msrs->nmsrs, msrs->entries[nr_msrs].index);
	return 0;
}

static int write_ram(struct vm *vm, struct mig_writer *w)
{
	uint64_t gpns[RAM_BATCH];

	for (unsigned r = 0; r < vm->mem.nr_regions; r++) {
		const struct guest_region *reg = &vm->mem.regions[r];
		uint64_t first = reg->gpa / MEM_PAGE_SIZE, n = reg->size / MEM_PAGE_SIZE;

		for (uint64_t done = 0; done < n;) {
			uint32_t count = (uint32_t)(n - done < RAM_BATCH ? n - done : RAM_BATCH);
			int ret;

			for (uint32_t i = 0; i < count; i++)
				gpns[i] = first + done + i;
			ret = mig_write_ram(w, &vm->mem, gpns, count);
			if (ret < 0)
				return ret;
			done += count;
		}
	}
	return 0;
}

/* The MSR index from a vCPU's saved list, in *value; false if it is not there. */
static bool saved_msr(const struct mig_vcpu_state *st, uint32_t index, uint64_t *value)
{
	const struct kvm_msrs *msrs = st->blobs[MIG_VCPU_MSRS].data;

	for (uint32_t i = 0; msrs != NULL && i < msrs->nmsrs; i++)
		if (msrs->entries[i].index == index) {
			*value = msrs->entries[i].data;
			return true;
		}
	return false;
}

/* The time a stopped vCPU's kvmclock showed its guest last, or 0 if unknown. */
static uint64_t vcpu_guest_clock(const struct vm *vm, const struct mig_vcpu_state *st)
{
	uint64_t tsc, msr, ns;

	if (!saved_msr(st, MSR_IA32_TSC, &tsc))
		return 0;
	if ((!saved_msr(st, MSR_KVM_SYSTEM_TIME_NEW, &msr) || !(msr & 1)) &&
	    !saved_msr(st, MSR_KVM_SYSTEM_TIME, &msr))
		return 0;
	return kvmclock_guest_ns(&vm->mem, msr, tsc, &ns) == 0 ? ns : 0;
}

/* guest_ns: the latest time a vCPU's kvmclock had shown (vcpu_guest_clock). */
static int write_vm_level(struct vm *vm, struct mig_writer *w, uint64_t guest_ns)
{
	struct mig_blob chips[MIG_IRQCHIP_NR_TAGS] = { { NULL, 0 } }, pit = { NULL, 0 },
		clock = { NULL, 0 };
	struct kvm_pit_state2 pit_state;
	struct kvm_clock_data clock_data;
	int ret = 0;

	for (unsigned t = 1; ret == 0 && t < MIG_IRQCHIP_NR_TAGS; t++) {
		struct kvm_irqchip chip = { .chip_id = irqchip_ids[t] };

		ret = kvm_get_irqchip(vm->vm_fd, &chip);
		ret = ret < 0 ? ret : blob_copy(&chips[t], &chip, sizeof(chip));
	}
	if (ret == 0)
		ret = kvm_get_pit2(vm->vm_fd, &pit_state);
	if (ret == 0)
		ret = blob_copy(&pit, &pit_state, sizeof(pit_state));
	memset(&clock_data, 0, sizeof(clock_data));
	if (ret == 0)
		ret = kvm_get_clock(vm->vm_fd, &clock_data);
	/* Without a stable TSC (no KVM_CLOCK_TSC_STABLE) KVM's own count drifts from the time
	 * the guest computes from its kvmclock page and TSC.  Restored as it is, the guest's
	 * clock would go back, and its timekeeping stand still until KVM's caught up: guests in
	 * tools/kvm-sandbox stopped for up to 300 ms after a move.  So the clock saved is the
	 * latest a vCPU had seen, as QEMU's kvmclock does. */
	if (ret == 0 && !(clock_data.flags & KVM_CLOCK_TSC_STABLE) && guest_ns > clock_data.clock)
		clock_data.clock = guest_ns;
	if (ret == 0)
		ret = blob_copy(&clock, &clock_data, sizeof(clock_data));
	if (ret == 0)
		ret = mig_write_irqchip(w, chips);
	if (ret == 0)
		ret = mig_write_pit(w, &pit);
	if (ret == 0)
		ret = mig_write_clock(w, &clock);
	for (unsigned t = 0; t < MIG_IRQCHIP_NR_TAGS; t++)
		free(chips[t].data);
	free(pit.data);
	free(clock.data);
	return ret;
}

/* The largest: pc-testdev, with its 64 KiB window; then the PCI bus with every device. */
#define DEVICE_STATE_BUF (128 * 1024)

static int write_devices(struct vm *vm, struct mig_writer *w)
{
	uint8_t *buf = malloc(DEVICE_STATE_BUF);
	int ret = 0;

	if (buf == NULL)
		return err_set(-ENOMEM, "out of memory for device state");
	for (size_t i = 0; i < vm->pio_bus.nr_ranges && ret == 0; i++) {
		const struct bus_range *r = &vm->pio_bus.ranges[i];
		struct mig_blob state = { buf, 0 };
		int len;

		if (r->ops->save == NULL)
			continue;
		len = r->ops->save(r->dev, buf, DEVICE_STATE_BUF);
		if (len < 0) {
			ret = err_set(len, "%s: cannot save its state", r->ops->name);
			break;
		}
		state.len = (uint32_t)len;
		ret = mig_write_device(w, r->ops->name, &state);
	}
	free(buf);
	return ret < 0 ? ret : 0;
}

int vm_state_write_cpus_and_devices(struct vm *vm, struct mig_writer *w)
{
	struct kvm_msrs *msrs = NULL;
	uint64_t guest_ns = 0;
	int ret = vm_check_awake(vm);

	/* A guest that went to sleep during a live migration's rounds ends it here. */
	if (ret == 0)
		ret = msr_list(vm, &msrs);
	if (ret < 0)
		return ret;
	for (unsigned i = 0; ret == 0 && i < vm->nr_vcpus; i++) {
		struct mig_vcpu_state st;

		ret = vcpu_state_save(&vm->vcpus[i], msrs, &st);
		if (ret == 0) {
			uint64_t ns = vcpu_guest_clock(vm, &st);

			guest_ns = ns > guest_ns ? ns : guest_ns;
			ret = mig_write_vcpu(w, vm->vcpus[i].id, &st);
		}
		vcpu_state_free(&st);
	}
	free(msrs);
	if (ret == 0)
		ret = write_vm_level(vm, w, guest_ns);
	if (ret == 0)
		ret = write_devices(vm, w);
	return ret;
}

int vm_state_write(struct vm *vm, struct mig_writer *w)
{
	struct mig_machine machine;
	int ret = vm_check_awake(vm);

	if (ret < 0)
		return ret;
	vm_state_describe(vm, &machine);
	ret = mig_write_header(w, &machine);
	if (ret == 0)
		ret = mig_write_one_way(w);
	if (ret == 0)
		ret = write_ram(vm, w);
	if (ret == 0)
		ret = vm_state_write_cpus_and_devices(vm, w);
	if (ret == 0)
		ret = mig_write_end(w, mig_ram_hash(&vm->mem));
	return ret;
}

static int load_vm_level(struct vm *vm, const struct mig_state *st)
{
	int ret;

	for (unsigned t = 1; t < MIG_IRQCHIP_NR_TAGS; t++) {
		const struct kvm_irqchip *chip = st->irqchip[t].data;

		if (st->irqchip[t].len != sizeof(*chip) || chip->chip_id != irqchip_ids[t])
			return err_set(-EBADMSG, "migration stream: interrupt controller %u's state "
				       "is not KVM's", t);
		ret = kvm_set_irqchip(vm->vm_fd, chip);
		if (ret < 0)
			return ret;
	}
	if (st->pit.len != sizeof(struct kvm_pit_state2) ||
	    st->clock.len != sizeof(struct kvm_clock_data))
		return err_set(-EBADMSG, "migration stream: the PIT's or the clock's state is not "
			       "KVM's");
	ret = kvm_set_pit2(vm->vm_fd, st->pit.data);
	if (ret == 0) {
		struct kvm_clock_data clock;

		/* Only the clock's value travels; flags describe the source host. */
		memcpy(&clock, st->clock.data, sizeof(clock));
		clock.flags = 0;
		ret = kvm_set_clock(vm->vm_fd, &clock);
	}
	return ret;
}

static int load_devices(struct vm *vm, const struct mig_reader *r, const struct mig_state *st)
{
	for (uint32_t d = 0; d < r->source.nr_devices; d++) {
		const struct bus_range *range = NULL;
		int ret;

		for (size_t i = 0; i < vm->pio_bus.nr_ranges; i++)
			if (strcmp(vm->pio_bus.ranges[i].ops->name, r->source.devices[d].name) == 0)
				range = &vm->pio_bus.ranges[i];
		if (range == NULL || range->ops->load == NULL)
			return err_set(-EPROTO, "migration stream: no device %s here",
				       r->source.devices[d].name);
		ret = range->ops->load(range->dev, st->devices[d].data, st->devices[d].len);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int vm_state_cpu_model(const struct mig_machine *source, const struct kvm_cpuid2 *available,
		       struct kvm_cpuid2 **model)
{
	struct kvm_cpuid2 *m;
	char missing[400];
	unsigned n;

	m = calloc(1, sizeof(*m) + source->nr_cpuid_entries * sizeof(m->entries[0]));
	if (m == NULL)
		return err_set(-ENOMEM, "out of memory for the CPU model");
	m->nent = source->nr_cpuid_entries;
	for (unsigned i = 0; i < m->nent; i++) {
		const struct mig_cpuid_entry *e = &source->cpuid[i];

		m->entries[i] = (struct kvm_cpuid_entry2){
			.function = e->function, .index = e->index, .flags = e->flags,
			.eax = e->eax, .ebx = e->ebx, .ecx = e->ecx, .edx = e->edx,
		};
	}
	n = cpu_model_missing(m, available, missing, sizeof(missing));
	if (n > 0) {
		free(m);
		return err_set(-EPROTO, "migration stream: header: the source's guest has CPU "
			       "feature%s this host's KVM cannot give: %s", n == 1 ? "" : "s",
			       missing);
	}
	*model = m;
	return 0;
}

int vm_state_read_header(struct vm *vm, struct mig_reader *r)
{
	struct mig_machine *local = malloc(sizeof(*local));
	struct kvm_cpuid2 *model;
	int ret;

	if (local == NULL)
		return err_set(-ENOMEM, "out of memory for the machine description");
	vm_state_describe(vm, local);
	ret = mig_read_header(r, local);
	free(local);
	if (ret < 0)
		return ret;
	ret = vm_state_cpu_model(&r->source, vm->cpu_available, &model);
	if (ret < 0)
		return ret;
	/* The guest keeps the model it started with, not this side's --cpu. */
	free(vm->cpuid);
	vm->cpuid = model;
	for (unsigned i = 0; ret == 0 && i < vm->nr_vcpus; i++)
		ret = vcpu_set_cpuid(&vm->vcpus[i]);
	return ret;
}

int vm_state_read_rest(struct vm *vm, struct mig_reader *r, unsigned flags)
{
	struct mig_state st;
	int ret = mig_read_sections(r, &vm->mem, &st, flags);

	if (ret < 0)
		return ret;
	for (unsigned i = 0; ret == 0 && i < vm->nr_vcpus; i++)
		ret = vcpu_state_load(&vm->vcpus[i], &st.vcpus[i]);
	if (ret == 0)
		ret = load_vm_level(vm, &st);
	if (ret == 0)
		ret = load_devices(vm, r, &st);
	mig_state_free(&st);
	return ret;
}

int vm_state_read(struct vm *vm, struct mig_reader *r, unsigned flags)
{
	int ret = vm_state_read_header(vm, r);

	return ret < 0 ? ret : vm_state_read_rest(vm, r, flags);
}
