/* The VM's PCI bus as a machine has it: the host bridge in slot 0, then the virtio functions
 * the command line asked for (the disks in order, the network devices in order, the entropy
 * device, the virtio console),
 * and QEMU's pci-testdev with --test-devices; the virtio functions are each wired to KVM: its kicks arrive as ioeventfds, its interrupts leave as irqfds (MSI-X) or
 * on its own IOAPIC pin (INTx, as the MP table says). */
#ifndef HOPVM_VM_PCI_H
#define HOPVM_VM_PCI_H

#include <stdint.h>

struct vm;

/* Builds the bus and the devices and registers the bus on the VM's port and MMIO buses (no
 * KVM needed: a bad disk image fails here, before anything starts). */
int vm_pci_init(struct vm *vm) __attribute__((warn_unused_result));

/* Once the VM exists in KVM: GSI routes and irqfds for every MSI-X vector, then the devices'
 * I/O threads. */
int vm_pci_attach(struct vm *vm) __attribute__((warn_unused_result));

/* The slots whose INTA# the MP table describes. */
uint32_t vm_pci_intx_slots(const struct vm *vm);

/* Stops every device between two requests, and lets them go on. */
void vm_pci_pause(struct vm *vm);
void vm_pci_resume(struct vm *vm);

/* After a migrated guest starts here: each network device announces the guest's new place
 * (virtio_net_announce). */
int vm_pci_announce(struct vm *vm) __attribute__((warn_unused_result));

/* Makes every disk's writes durable (fdatasync), as before a migrated guest runs elsewhere. */
int vm_pci_flush(struct vm *vm) __attribute__((warn_unused_result));

void vm_pci_free(struct vm *vm);

#endif
