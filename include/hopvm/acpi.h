/* The ACPI tables hopvm gives a guest (ACPI 6.5), as firmware leaves them in the BIOS area:
 *   RSDP (revision 2) -> RSDT and XSDT -> FADT, MADT;  FADT -> FACS, DSDT.
 * The FADT names the PM1 block of hopvm's acpi-pm device and SCI 9 (level-triggered, as the
 * MADT's override says); there is no SMI command port, so the machine is always in ACPI mode.
 * The MADT lists the CPUs (APIC IDs 0..n-1), the IOAPIC (ID n) and the LAPICs' NMI line.  The
 * DSDT holds the PCI host bridge (PNP0A03) with its bus, I/O and MMIO windows and a _PRT
 * routing each slot's INTA# to its IOAPIC pin (MPTABLE_PCI_PIN), _S3 for suspend to RAM and
 * _S5 for power off.  The FACS, at acpi_facs_addr(), holds the waking vector a guest that
 * suspends leaves for its resume (vm_sleep.h). */
#ifndef HOPVM_ACPI_H
#define HOPVM_ACPI_H

#include <stdint.h>

#include "hopvm/bios_area.h"
#include "hopvm/memory.h"

#define ACPI_RSDP_ADDR BIOS_AREA_ACPI
#define ACPI_PM_PORT 0x600	/* where QEMU's q35 puts its PM1 block */
#define ACPI_SCI_IRQ 9

struct acpi_machine {
	unsigned nr_cpus;
	uint32_t pci_slots;	/* slots whose INTA# the _PRT routes */
	uint64_t pci_mmio_base, pci_mmio_size;
};

/* Where the FACS is, and its fields a waking machine reads (ACPI 6.5, table 5.14). */
uint64_t acpi_facs_addr(void);
#define ACPI_FACS_WAKING_VECTOR 12	/* 32 bits: real mode, CS = vector >> 4 */
#define ACPI_FACS_X_WAKING_VECTOR 24	/* 64 bits */

int acpi_write_tables(struct guest_mem *mem, const struct acpi_machine *m)
	__attribute__((warn_unused_result));

/* The DSDT's AML alone, for tests: its length, or -E2BIG. */
int acpi_build_dsdt_aml(const struct acpi_machine *m, uint8_t *buf, size_t len);

#endif
