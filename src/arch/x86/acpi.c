#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hopvm/acpi.h"
#include "hopvm/acpi_pm.h"
#include "hopvm/aml.h"
#include "hopvm/error.h"
#include "hopvm/le.h"
#include "hopvm/mptable.h"
#include "hopvm/pci.h"

#define AREA_SIZE (BIOS_AREA_END - BIOS_AREA_ACPI)
#define HEADER_LEN 36
#define RSDP_LEN 36
#define FADT_LEN 276		/* revision 6 */
#define FADT_REVISION 6
#define FACS_LEN 64
#define DSDT_MAX 4096

/* FADT fields (ACPI 6.5, table 5.9), by offset. */
#define FADT_FIRMWARE_CTRL 36
#define FADT_DSDT 40
#define FADT_SCI_INT 46
#define FADT_PM1A_EVT_BLK 56
#define FADT_PM1A_CNT_BLK 64
#define FADT_PM_TMR_BLK 76
#define FADT_PM1_EVT_LEN 88
#define FADT_PM1_CNT_LEN 89
#define FADT_PM_TMR_LEN 91
#define FADT_P_LVL2_LAT 96
#define FADT_P_LVL3_LAT 98
#define FADT_CENTURY 108
#define FADT_IAPC_BOOT_ARCH 109
#define FADT_FLAGS 112
#define FADT_MINOR_VERSION 131

#define FADT_C2_NONE 101	/* a latency over 100 us: no C2 */
#define FADT_C3_NONE 1001	/* over 1000 us: no C3 */
#define RTC_CENTURY_REG 0x32
#define BOOT_ARCH_VGA_NOT_PRESENT 0x0004
#define FLAG_WBINVD 0x0001
#define FLAG_PROC_C1 0x0004
#define FLAG_SLP_BUTTON 0x0020	/* no fixed sleep button; the power button is fixed */

/* MADT entries (5.2.12). */
#define MADT_LAPIC 0
#define MADT_IOAPIC 1
#define MADT_OVERRIDE 2
#define MADT_LAPIC_NMI 4
#define MADT_PCAT_COMPAT 1
#define MADT_ENABLED 1
#define MPS_ACTIVE_HIGH 0x1
#define MPS_LEVEL 0xc
#define ALL_PROCESSORS 0xff

/* Resource descriptors (6.4). */
#define RES_IO 0x47
#define RES_END 0x79
#define RES_DWORD_ADDRESS 0x87
#define RES_WORD_ADDRESS 0x88
#define RES_TYPE_MEMORY 0
#define RES_TYPE_IO 1
#define RES_TYPE_BUS 2
#define RES_MIN_MAX_FIXED 0x0c	/* a producer whose range is fixed */
#define RES_IO_ENTIRE_RANGE 0x03
#define RES_MEM_READ_WRITE 0x01

static void put_header(uint8_t *t, const char *sig, uint8_t revision)
{
	memcpy(t, sig, 4);
	t[8] = revision;
	memcpy(t + 10, "HOPVM ", 6);
	memcpy(t + 16, "HOPVM   ", 8);
	le32_put(t + 24, 1);
	memcpy(t + 28, "HOPV", 4);
	le32_put(t + 32, 1);
}

static void finish_table(uint8_t *t, uint32_t len)
{
	le32_put(t + 4, len);
	t[9] = 0;
	t[9] = bios_table_checksum(t, len);
}

static size_t put_word_address(uint8_t *p, uint8_t type, uint16_t min, uint16_t max)
{
	p[0] = RES_WORD_ADDRESS;
	le16_put(p + 1, 13);
	p[3] = type;
	p[4] = RES_MIN_MAX_FIXED;
	p[5] = 0;
	le16_put(p + 6, 0);
	le16_put(p + 8, min);
	le16_put(p + 10, max);
	le16_put(p + 12, 0);
	le16_put(p + 14, (uint16_t)(max - min + 1));
	return 16;
}

static size_t put_dword_address(uint8_t *p, uint8_t type, uint8_t type_flags, uint32_t min,
				uint32_t max)
{
	p[0] = RES_DWORD_ADDRESS;
	le16_put(p + 1, 23);
	p[3] = type;
	p[4] = RES_MIN_MAX_FIXED;
	p[5] = type_flags;
	le32_put(p + 6, 0);
	le32_put(p + 10, min);
	le32_put(p + 14, max);
	le32_put(p + 18, 0);
	le32_put(p + 22, max - min + 1);
	return 26;
}

/* What the host bridge decodes: bus 0, its own configuration ports, the rest of the I/O
 * space and the BAR window. */
static size_t pci_host_bridge_crs(const struct acpi_machine *m, uint8_t *p)
{
	size_t n = 0;

	n += put_word_address(p + n, RES_TYPE_BUS, 0, 0);
	p[n++] = RES_IO;
	p[n++] = 1;	/* 16-bit decode */
	le16_put(p + n, PCI_CONFIG_PORT);
	le16_put(p + n + 2, PCI_CONFIG_PORT);
	p[n + 4] = 1;
	p[n + 5] = PCI_CONFIG_NR_PORTS;
	n += 6;
	n += put_dword_address(p + n, RES_TYPE_IO, RES_IO_ENTIRE_RANGE, 0, PCI_CONFIG_PORT - 1);
	n += put_dword_address(p + n, RES_TYPE_IO, RES_IO_ENTIRE_RANGE,
			       PCI_CONFIG_PORT + PCI_CONFIG_NR_PORTS, 0xffff);
	n += put_dword_address(p + n, RES_TYPE_MEMORY, RES_MEM_READ_WRITE,
			       (uint32_t)m->pci_mmio_base,
			       (uint32_t)(m->pci_mmio_base + m->pci_mmio_size - 1));
	p[n++] = RES_END;
	p[n++] = 0;	/* no checksum */
	return n;
}

static void sleep_package(struct aml *a, const char *name, unsigned slp_typ)
{
	size_t pkg;

	aml_name(a, name);
	pkg = aml_package_begin(a, 4);
	aml_integer(a, slp_typ);
	aml_integer(a, slp_typ);
	aml_integer(a, 0);
	aml_integer(a, 0);
	aml_end(a, pkg);
}

int acpi_build_dsdt_aml(const struct acpi_machine *m, uint8_t *buf, size_t len)
{
	uint8_t crs[128];
	struct aml a;
	size_t sb, dev, prt, entry;
	uint8_t nr_routes = 0;

	aml_init(&a, buf, len);
	sb = aml_scope_begin(&a, "\\_SB_");
	dev = aml_device_begin(&a, "PCI0");
	aml_name(&a, "_HID");
	aml_eisa_id(&a, "PNP0A03");
	aml_name(&a, "_UID");
	aml_integer(&a, 0);
	aml_name(&a, "_CRS");
	aml_buffer(&a, crs, pci_host_bridge_crs(m, crs));
	for (unsigned slot = 1; slot <= MPTABLE_PCI_MAX_SLOT; slot++)
		nr_routes += (m->pci_slots >> slot) & 1;
	/* Each entry: the device's address (any function), its pin (INTA#), no link device,
	 * and so a global system interrupt. */
	aml_name(&a, "_PRT");
	prt = aml_package_begin(&a, nr_routes);
	for (unsigned slot = 1; slot <= MPTABLE_PCI_MAX_SLOT; slot++) {
		if (!(m->pci_slots & (1U << slot)))
			continue;
		entry = aml_package_begin(&a, 4);
		aml_integer(&a, (uint64_t)slot << 16 | 0xffff);
		aml_integer(&a, 0);
		aml_integer(&a, 0);
		aml_integer(&a, MPTABLE_PCI_PIN(slot));
		aml_end(&a, entry);
	}
	aml_end(&a, prt);
	aml_end(&a, dev);
	aml_end(&a, sb);
	/* Suspend to RAM and power off: the SLP_TYP values for PM1a and PM1b, and two reserved.
	 * No _S4: hopvm has no firmware to save the guest to disk. */
	sleep_package(&a, "_S3_", ACPI_PM_SLP_TYP_S3);
	sleep_package(&a, "_S5_", ACPI_PM_SLP_TYP_S5);
	if (a.overflow)
		return err_set(-E2BIG, "the DSDT does not fit in %zu bytes", len);
	return (int)a.len;
}

static size_t build_madt(uint8_t *t, const struct acpi_machine *m)
{
	size_t n = HEADER_LEN;

	put_header(t, "APIC", 4);
	le32_put(t + n, MPTABLE_LAPIC_ADDR);
	le32_put(t + n + 4, MADT_PCAT_COMPAT);
	n += 8;
	for (unsigned i = 0; i < m->nr_cpus; i++, n += 8) {
		t[n] = MADT_LAPIC;
		t[n + 1] = 8;
		t[n + 2] = (uint8_t)i;	/* processor UID */
		t[n + 3] = (uint8_t)i;	/* APIC ID */
		le32_put(t + n + 4, MADT_ENABLED);
	}
	t[n] = MADT_IOAPIC;
	t[n + 1] = 12;
	t[n + 2] = (uint8_t)m->nr_cpus;
	t[n + 3] = 0;
	le32_put(t + n + 4, MPTABLE_IOAPIC_ADDR);
	le32_put(t + n + 8, 0);
	n += 12;
	/* ISA IRQs are GSIs of the same number, edge-triggered; only the SCI is not. */
	t[n] = MADT_OVERRIDE;
	t[n + 1] = 10;
	t[n + 2] = 0;	/* ISA */
	t[n + 3] = ACPI_SCI_IRQ;
	le32_put(t + n + 4, ACPI_SCI_IRQ);
	le16_put(t + n + 8, MPS_ACTIVE_HIGH | MPS_LEVEL);
	n += 10;
	t[n] = MADT_LAPIC_NMI;
	t[n + 1] = 6;
	t[n + 2] = ALL_PROCESSORS;
	le16_put(t + n + 3, 0);
	t[n + 5] = 1;	/* LINT1 */
	n += 6;
	finish_table(t, (uint32_t)n);
	return n;
}

static void build_fadt(uint8_t *t, uint32_t facs, uint32_t dsdt)
{
	put_header(t, "FACP", FADT_REVISION);
	le32_put(t + FADT_FIRMWARE_CTRL, facs);
	le32_put(t + FADT_DSDT, dsdt);
	le16_put(t + FADT_SCI_INT, ACPI_SCI_IRQ);
	le32_put(t + FADT_PM1A_EVT_BLK, ACPI_PM_PORT);
	le32_put(t + FADT_PM1A_CNT_BLK, ACPI_PM_PORT + ACPI_PM_CNT_OFFSET);
	t[FADT_PM1_EVT_LEN] = ACPI_PM_EVT_LEN;
	t[FADT_PM1_CNT_LEN] = ACPI_PM_CNT_LEN;
	/* 24 bits: no TMR_VAL_EXT flag. */
	le32_put(t + FADT_PM_TMR_BLK, ACPI_PM_PORT + ACPI_PM_TMR_OFFSET);
	t[FADT_PM_TMR_LEN] = ACPI_PM_TMR_LEN;
	le16_put(t + FADT_P_LVL2_LAT, FADT_C2_NONE);
	le16_put(t + FADT_P_LVL3_LAT, FADT_C3_NONE);
	t[FADT_CENTURY] = RTC_CENTURY_REG;
	/* No 8042 flag: Linux then leaves the keyboard controller, which hopvm has only for
	 * its reset line, unprobed. */
	le16_put(t + FADT_IAPC_BOOT_ARCH, BOOT_ARCH_VGA_NOT_PRESENT);
	le32_put(t + FADT_FLAGS, FLAG_WBINVD | FLAG_PROC_C1 | FLAG_SLP_BUTTON);
	t[FADT_MINOR_VERSION] = 5;
	finish_table(t, FADT_LEN);
}

static size_t align(size_t n, size_t a)
{
	return (n + a - 1) / a * a;
}

/* The fixed-size tables first, so their offsets in the area are constants. */
#define RSDT_OFFSET align(RSDP_LEN, 16)
#define XSDT_OFFSET align(RSDT_OFFSET + HEADER_LEN + 2 * 4, 16)
#define FADT_OFFSET align(XSDT_OFFSET + HEADER_LEN + 2 * 8, 16)
#define FACS_OFFSET align(FADT_OFFSET + FADT_LEN, 64)

uint64_t acpi_facs_addr(void)
{
	return BIOS_AREA_ACPI + FACS_OFFSET;
}

int acpi_write_tables(struct guest_mem *mem, const struct acpi_machine *m)
{
	size_t rsdt, xsdt, fadt, facs, madt, dsdt, end;
	uint8_t *area;
	int ret;

	if (m->nr_cpus == 0 || m->nr_cpus > MPTABLE_MAX_CPUS)
		return err_set(-EINVAL, "the MADT describes 1 to %d CPUs, not %u",
			       MPTABLE_MAX_CPUS, m->nr_cpus);
	area = calloc(1, AREA_SIZE);
	if (area == NULL)
		return err_set(-ENOMEM, "no memory for the ACPI tables");
	rsdt = RSDT_OFFSET;
	xsdt = XSDT_OFFSET;
	fadt = FADT_OFFSET;
	facs = FACS_OFFSET;
	madt = align(facs + FACS_LEN, 16);
	dsdt = align(madt + build_madt(area + madt, m), 16);
	ret = acpi_build_dsdt_aml(m, area + dsdt + HEADER_LEN, DSDT_MAX - HEADER_LEN);
	if (ret < 0)
		goto out;
	put_header(area + dsdt, "DSDT", 2);	/* 2: integers are 64 bits */
	finish_table(area + dsdt, (uint32_t)(HEADER_LEN + ret));
	end = dsdt + HEADER_LEN + (size_t)ret;

	memcpy(area + facs, "FACS", 4);
	le32_put(area + facs + 4, FACS_LEN);
	area[facs + 32] = 2;	/* version */
	build_fadt(area + fadt, (uint32_t)(BIOS_AREA_ACPI + facs),
		   (uint32_t)(BIOS_AREA_ACPI + dsdt));

	put_header(area + rsdt, "RSDT", 1);
	le32_put(area + rsdt + HEADER_LEN, (uint32_t)(BIOS_AREA_ACPI + fadt));
	le32_put(area + rsdt + HEADER_LEN + 4, (uint32_t)(BIOS_AREA_ACPI + madt));
	finish_table(area + rsdt, HEADER_LEN + 2 * 4);
	put_header(area + xsdt, "XSDT", 1);
	le64_put(area + xsdt + HEADER_LEN, BIOS_AREA_ACPI + fadt);
	le64_put(area + xsdt + HEADER_LEN + 8, BIOS_AREA_ACPI + madt);
	finish_table(area + xsdt, HEADER_LEN + 2 * 8);

	memcpy(area, "RSD PTR ", 8);
	memcpy(area + 9, "HOPVM ", 6);
	area[15] = 2;
	le32_put(area + 16, (uint32_t)(BIOS_AREA_ACPI + rsdt));
	le32_put(area + 20, RSDP_LEN);
	le64_put(area + 24, BIOS_AREA_ACPI + xsdt);
	area[8] = bios_table_checksum(area, 20);
	area[32] = bios_table_checksum(area, RSDP_LEN);

	ret = guest_mem_write(mem, BIOS_AREA_ACPI, area, end);
	if (ret < 0)
		ret = err_set(-EFAULT, "guest RAM does not reach the ACPI tables at 0x%llx",
			      (unsigned long long)BIOS_AREA_ACPI);
out:
	free(area);
	return ret < 0 ? ret : 0;
}
