/* The Intel MultiProcessor Specification 1.4 table: how a guest without ACPI learns its CPUs,
 * its IOAPIC and how ISA interrupts reach it.  Linux reads it; so does guests/smp. */
#ifndef HOPVM_MPTABLE_H
#define HOPVM_MPTABLE_H

#include <stdint.h>

#include "hopvm/bios_area.h"
#include "hopvm/memory.h"

/* In the BIOS area, where the spec tells an OS to search. */
#define MPTABLE_ADDR BIOS_AREA_MPTABLE
#define MPTABLE_MAX_CPUS 254	/* 8-bit APIC IDs; 255 is the broadcast ID */
#define MPTABLE_LAPIC_ADDR 0xfee00000U
#define MPTABLE_IOAPIC_ADDR 0xfec00000U
#define MPTABLE_ISA_IRQS 16

struct mptable_cpu_info {
	uint32_t signature;	/* CPUID leaf 1 EAX */
	uint32_t features;	/* CPUID leaf 1 EDX */
};

/* PCI slot s (1 to 8) has its INTA# on IOAPIC pin 16 + s - 1, a line of its own. */
#define MPTABLE_PCI_MAX_SLOT 8
#define MPTABLE_PCI_PIN(slot) (16 + (slot) - 1)

/* Writes the floating pointer and configuration table describing nr_cpus CPUs (APIC IDs
 * 0..nr_cpus-1, the first the boot CPU), one IOAPIC (ID nr_cpus), ISA IRQ n on IOAPIC pin n,
 * as KVM's in-kernel routing has it, and the INTA# of each PCI slot in the pci_slots mask
 * (level-triggered, on MPTABLE_PCI_PIN). */
int mptable_write(struct guest_mem *mem, unsigned nr_cpus, const struct mptable_cpu_info *cpu,
		  uint32_t pci_slots) __attribute__((warn_unused_result));

#endif
