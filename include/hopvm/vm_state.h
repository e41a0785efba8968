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

/* Reads a whole stream (refusing another machine at its header) and loads it into vm. */
int vm_state_read(struct vm *vm, struct mig_reader *r) __attribute__((warn_unused_result));

#endif
