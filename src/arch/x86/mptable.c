#include <errno.h>
#include <string.h>

#include "hopvm/error.h"
#include "hopvm/mptable.h"

struct mpf_pointer {
	char signature[4];	/* "_MP_" */
	uint32_t config_addr;
	uint8_t length;		/* in 16-byte units */
	uint8_t spec_rev;
	uint8_t checksum;
	uint8_t features[5];
} __attribute__((packed));

struct mpc_header {
	char signature[4];	/* "PCMP" */
	uint16_t length;
	uint8_t spec_rev;
	uint8_t checksum;
	char oem[8];
	char product[12];
	uint32_t oem_table;
	uint16_t oem_table_size;
	uint16_t entry_count;
	uint32_t lapic_addr;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

struct mpc_cpu {
	uint8_t type;
	uint8_t apic_id;
	uint8_t apic_version;
	uint8_t flags;
	uint32_t signature;
	uint32_t features;
	uint32_t reserved[2];
} __attribute__((packed));

struct mpc_bus {
	uint8_t type;
	uint8_t bus_id;
	char bus_type[6];
} __attribute__((packed));

struct mpc_ioapic {
	uint8_t type;
	uint8_t apic_id;
	uint8_t apic_version;
	uint8_t flags;
	uint32_t addr;
} __attribute__((packed));

struct mpc_intsrc {
	uint8_t type;
	uint8_t irq_type;
	uint16_t flags;
	uint8_t src_bus;
	uint8_t src_irq;
	uint8_t dst_apic;
	uint8_t dst_pin;
} __attribute__((packed));

enum { MP_CPU, MP_BUS, MP_IOAPIC, MP_INTSRC, MP_LINTSRC };
enum { MP_INT, MP_NMI, MP_SMI, MP_EXTINT };
#define MP_CPU_ENABLED 0x01
#define MP_CPU_BOOT 0x02
#define MP_SPEC_REV 4
#define LAPIC_VERSION 0x14
#define IOAPIC_VERSION 0x11
/* Linux looks a PCI interrupt up by the PCI bus number as an MP bus ID: bus 0 must be PCI. */
#define PCI_BUS_ID 0
#define ISA_BUS_ID 1
#define MP_IRQ_LEVEL_HIGH 0x0d	/* polarity active high (01), trigger level (11) */
#define ALL_LAPICS 0xff

#define MPTABLE_MAX_SIZE                                                                   \
	(sizeof(struct mpf_pointer) + sizeof(struct mpc_header) +                          \
	 MPTABLE_MAX_CPUS * sizeof(struct mpc_cpu) + 2 * sizeof(struct mpc_bus) +          \
	 sizeof(struct mpc_ioapic) +                                                       \
	 (MPTABLE_ISA_IRQS + 2 + MPTABLE_PCI_MAX_SLOT) * sizeof(struct mpc_intsrc))

_Static_assert(MPTABLE_ADDR + MPTABLE_MAX_SIZE <= BIOS_AREA_ACPI,
	       "the largest MP table reaches into the ACPI tables");

int mptable_write(struct guest_mem *mem, unsigned nr_cpus, const struct mptable_cpu_info *cpu,
		  uint32_t pci_slots)
{
	uint8_t buf[MPTABLE_MAX_SIZE];
	struct mpf_pointer *mpf = (struct mpf_pointer *)buf;
	struct mpc_header *mpc = (struct mpc_header *)(mpf + 1);
	uint8_t *p = (uint8_t *)(mpc + 1);
	uint8_t ioapic_id = (uint8_t)nr_cpus;
	uint16_t entries = 0;

	if (nr_cpus == 0 || nr_cpus > MPTABLE_MAX_CPUS)
		return err_set(-EINVAL, "the MP table describes 1 to %d CPUs, not %u",
			       MPTABLE_MAX_CPUS, nr_cpus);
	memset(buf, 0, sizeof(buf));

	for (unsigned i = 0; i < nr_cpus; i++, entries++, p += sizeof(struct mpc_cpu))
		*(struct mpc_cpu *)p = (struct mpc_cpu){
			.type = MP_CPU, .apic_id = (uint8_t)i, .apic_version = LAPIC_VERSION,
			.flags = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BOOT : 0),
			.signature = cpu->signature, .features = cpu->features,
		};
	*(struct mpc_bus *)p = (struct mpc_bus){ .type = MP_BUS, .bus_id = PCI_BUS_ID,
						 .bus_type = "PCI   " };
	p += sizeof(struct mpc_bus);
	*(struct mpc_bus *)p = (struct mpc_bus){ .type = MP_BUS, .bus_id = ISA_BUS_ID,
						 .bus_type = "ISA   " };
	p += sizeof(struct mpc_bus);
	entries += 2;
	*(struct mpc_ioapic *)p = (struct mpc_ioapic){
		.type = MP_IOAPIC, .apic_id = ioapic_id, .apic_version = IOAPIC_VERSION,
		.flags = MP_CPU_ENABLED, .addr = MPTABLE_IOAPIC_ADDR,
	};
	p += sizeof(struct mpc_ioapic);
	entries++;
	for (uint8_t irq = 0; irq < MPTABLE_ISA_IRQS; irq++) {
		if (irq == 2)
			continue;	/* the PICs' cascade, never a device */
		*(struct mpc_intsrc *)p = (struct mpc_intsrc){
			.type = MP_INTSRC, .irq_type = MP_INT, .src_bus = ISA_BUS_ID,
			.src_irq = irq, .dst_apic = ioapic_id, .dst_pin = irq,
		};
		p += sizeof(struct mpc_intsrc);
		entries++;
	}
	/* A PCI interrupt source is the slot and pin: (slot << 2) | (INTA# = 0). */
	for (unsigned slot = 1; slot <= MPTABLE_PCI_MAX_SLOT; slot++) {
		if (!(pci_slots & (1U << slot)))
			continue;
		*(struct mpc_intsrc *)p = (struct mpc_intsrc){
			.type = MP_INTSRC, .irq_type = MP_INT, .flags = MP_IRQ_LEVEL_HIGH,
			.src_bus = PCI_BUS_ID, .src_irq = (uint8_t)(slot << 2),
			.dst_apic = ioapic_id, .dst_pin = (uint8_t)MPTABLE_PCI_PIN(slot),
		};
		p += sizeof(struct mpc_intsrc);
		entries++;
	}
	/* Every LAPIC: the PIC on LINT0 (virtual wire mode), NMI on LINT1. */
	for (uint8_t lint = 0; lint < 2; lint++, entries++, p += sizeof(struct mpc_intsrc))
		*(struct mpc_intsrc *)p = (struct mpc_intsrc){
			.type = MP_LINTSRC, .irq_type = lint == 0 ? MP_EXTINT : MP_NMI,
			.src_bus = ISA_BUS_ID, .dst_apic = ALL_LAPICS, .dst_pin = lint,
		};

	memcpy(mpc->signature, "PCMP", 4);
	mpc->length = (uint16_t)(p - (uint8_t *)mpc);
	mpc->spec_rev = MP_SPEC_REV;
	memcpy(mpc->oem, "HOPVM   ", 8);
	memcpy(mpc->product, "HOPVM       ", 12);
	mpc->entry_count = entries;
	mpc->lapic_addr = MPTABLE_LAPIC_ADDR;
	mpc->checksum = bios_table_checksum(mpc, mpc->length);

	memcpy(mpf->signature, "_MP_", 4);
	mpf->config_addr = (uint32_t)(MPTABLE_ADDR + sizeof(*mpf));
	mpf->length = 1;
	mpf->spec_rev = MP_SPEC_REV;
	mpf->checksum = bios_table_checksum(mpf, sizeof(*mpf));

	if (guest_mem_write(mem, MPTABLE_ADDR, buf, (uint64_t)(p - buf)) < 0)
		return err_set(-EFAULT, "guest RAM does not reach the MP table at 0x%llx",
			       (unsigned long long)MPTABLE_ADDR);
	return 0;
}
