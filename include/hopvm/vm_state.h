/* A whole VM's state in a migration stream: the KVM glue between struct vm and the stream
 * codec (migration_stream.h).  vm_state_write() needs every vCPU paused; vm_state_read()
 * needs a VM created by vm_create_kvm() whose vCPUs have never run, and leaves it ready for
 * vm_start_restored(). */
#ifndef HOPVM_VM_STATE_H
#define HOPVM_VM_STATE_H

#include "hopvm/migration_stream.h"
#include "hopvm/vm.h"

/* What the guest needs of a machine: RAM, vCPUs, CPUID, devices with state. */
void vm_state_describe(const struct vm *vm, struct mig_machine *machine);

/* Header, every page of RAM, each vCPU, the irqchip, PIT, clock, each device, END. */
int vm_state_write(struct vm *vm, struct mig_writer *w) __attribute__((warn_unused_result));

/* What follows RAM in a stream: each vCPU, the irqchip, PIT, clock and each device. */
int vm_state_write_cpus_and_devices(struct vm *vm, struct mig_writer *w)
	__attribute__((warn_unused_result));

/* Reads a whole stream (refusing another machine at its header) and loads it into vm; flags
 * as mig_read_sections() takes them. */
int vm_state_read(struct vm *vm, struct mig_reader *r, unsigned flags)
	__attribute__((warn_unused_result));

/* The source's CPU model (from its header) as KVM takes it, in *model (free() it); -EPROTO,
 * naming the features, if it has any that available (this host's: cpu_model.h) lacks. */
int vm_state_cpu_model(const struct mig_machine *source, const struct kvm_cpuid2 *available,
		       struct kvm_cpuid2 **model) __attribute__((warn_unused_result));

/* The two halves of vm_state_read(), for a destination that answers the header first; the
 * header's half also gives the vCPUs the source's CPU model. */
int vm_state_read_header(struct vm *vm, struct mig_reader *r) __attribute__((warn_unused_result));
int vm_state_read_rest(struct vm *vm, struct mig_reader *r, unsigned flags)
	__attribute__((warn_unused_result));

#endif
