/* The ACPI tables read back as an OS reads them, the AML encoder byte by byte, and the PM1
 * block driven as ACPICA drives it. */
#include <errno.h>

#include "hopvm/acpi.h"
#include "hopvm/acpi_pm.h"
#include "hopvm/aml.h"
#include "hopvm/error.h"
#include "hopvm/le.h"
#include "unit.h"

static uint8_t ram[2 << 20];

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s = (uint8_t)(s + *p++);
	return s;
}

/* A table's address after checking its signature and checksum. */
static const uint8_t *table(uint64_t addr, const char *sig)
{
	const uint8_t *t = ram + addr;

	assert_true(addr + 36 <= sizeof(ram));
	assert_memory_equal(t, sig, 4);
	assert_int_equal(sum(t, le32_get(t + 4)), 0);
	return t;
}

/* As Linux does: the first "RSD PTR " on a 16-byte boundary in 0xe0000-0xfffff. */
static const uint8_t *find_rsdp(void)
{
	for (uint64_t a = 0xe0000; a < 0x100000; a += 16)
		if (memcmp(ram + a, "RSD PTR ", 8) == 0)
			return ram + a;
	return NULL;
}

static const uint8_t *find_bytes(const uint8_t *p, size_t len, const void *what, size_t n)
{
	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(p + i, what, n) == 0)
			return p + i;
	return NULL;
}

static void test_tables_describe_the_machine(void **state)
{
	struct guest_mem mem;
	struct acpi_machine m = { .nr_cpus = 3, .pci_slots = 1u << 1 | 1u << 3,
				  .pci_mmio_base = 0xe0000000, .pci_mmio_size = 0x10000000 };
	const uint8_t *rsdp, *xsdt, *rsdt, *fadt = NULL, *madt = NULL, *dsdt, *e, *end;
	unsigned lapics = 0, ioapics = 0, overrides = 0, nmis = 0;
	static const uint8_t s5[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04,
				      0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00 };
	/* _S3 as QEMU gives it: SLP_TYP 1 (OneOp) for PM1a and PM1b. */
	static const uint8_t s3[] = { 0x08, '_', 'S', '3', '_', 0x12, 0x06, 0x04,
				      0x01, 0x01, 0x00, 0x00 };
	const uint8_t *facs;
	static const uint8_t route3[] = { 0x12, 0x0b, 0x04, 0x0c, 0xff, 0xff, 0x03, 0x00,
					  0x00, 0x00, 0x0a, 18 };

	(void)state;
	memset(ram, 0, sizeof(ram));
	guest_mem_init_buffer(&mem, ram, sizeof(ram));
	assert_int_equal(acpi_write_tables(&mem, &m), 0);

	rsdp = find_rsdp();
	assert_non_null(rsdp);
	assert_int_equal(rsdp - ram, ACPI_RSDP_ADDR);
	assert_int_equal(sum(rsdp, 20), 0);
	assert_int_equal(rsdp[15], 2);
	assert_int_equal(le32_get(rsdp + 20), 36);
	assert_int_equal(sum(rsdp, 36), 0);

	/* The RSDT and the XSDT list the same two tables. */
	xsdt = table(le64_get(rsdp + 24), "XSDT");
	rsdt = table(le32_get(rsdp + 16), "RSDT");
	assert_int_equal(le32_get(xsdt + 4), 36 + 2 * 8);
	assert_int_equal(le32_get(rsdt + 4), 36 + 2 * 4);
	for (unsigned i = 0; i < 2; i++) {
		uint64_t a = le64_get(xsdt + 36 + 8 * i);

		assert_int_equal(a, le32_get(rsdt + 36 + 4 * i));
		if (memcmp(ram + a, "FACP", 4) == 0)
			fadt = table(a, "FACP");
		else
			madt = table(a, "APIC");
	}
	assert_non_null(fadt);
	assert_non_null(madt);

	/* FADT: the PM1 block, SCI 9, no SMI port, the FACS and the DSDT. */
	assert_int_equal(fadt[8], 6);
	assert_int_equal(le32_get(fadt + 4), 276);
	assert_int_equal(le16_get(fadt + 46), ACPI_SCI_IRQ);
	assert_int_equal(le32_get(fadt + 48), 0);
	assert_int_equal(le32_get(fadt + 56), ACPI_PM_PORT);
	assert_int_equal(le32_get(fadt + 64), ACPI_PM_PORT + 4);
	assert_int_equal(fadt[88], 4);
	assert_int_equal(fadt[89], 2);
	assert_int_equal(le32_get(fadt + 76), ACPI_PM_PORT + 8);	/* the PM timer, 24 bits */
	assert_int_equal(fadt[91], 4);
	assert_int_equal(le32_get(fadt + 112) & 0x100, 0);
	assert_int_equal(le32_get(fadt + 112) & 0x10, 0);	/* a fixed power button */
	assert_int_equal(le32_get(fadt + 36) % 64, 0);
	/* The FACS, where a waking machine finds its vector: empty until the OS sets it, no
	 * 64-bit wake, no S4BIOS, version 2. */
	assert_int_equal(le32_get(fadt + 36), acpi_facs_addr());
	assert_int_equal(le64_get(fadt + 132), 0);	/* X_FIRMWARE_CTRL unused */
	facs = ram + acpi_facs_addr();
	assert_memory_equal(facs, "FACS", 4);
	assert_int_equal(le32_get(facs + 4), 64);
	assert_int_equal(le32_get(facs + ACPI_FACS_WAKING_VECTOR), 0);
	assert_int_equal(le64_get(facs + ACPI_FACS_X_WAKING_VECTOR), 0);
	assert_int_equal(le32_get(facs + 20), 0);	/* flags */
	assert_int_equal(facs[32], 2);
	assert_int_equal(le32_get(facs + 36), 0);	/* OSPM flags */
	dsdt = table(le32_get(fadt + 40), "DSDT");

	/* MADT: three enabled LAPICs 0-2, the IOAPIC (ID 3) at GSI 0, SCI level-triggered. */
	assert_int_equal(le32_get(madt + 36), 0xfee00000);
	end = madt + le32_get(madt + 4);
	for (e = madt + 44; e < end; e += e[1]) {
		assert_true(e[1] >= 2);
		switch (e[0]) {
		case 0:
			assert_int_equal(e[3], lapics);
			assert_int_equal(le32_get(e + 4), 1);
			lapics++;
			break;
		case 1:
			assert_int_equal(e[2], 3);
			assert_int_equal(le32_get(e + 4), 0xfec00000);
			assert_int_equal(le32_get(e + 8), 0);
			ioapics++;
			break;
		case 2:
			assert_int_equal(e[3], 9);
			assert_int_equal(le32_get(e + 4), 9);
			assert_int_equal(le16_get(e + 8), 0x0d);
			overrides++;
			break;
		case 4:
			assert_int_equal(e[5], 1);
			nmis++;
			break;
		default:
			fail_msg("MADT entry type %u", e[0]);
		}
	}
	assert_true(e == end);
	assert_int_equal(lapics, 3);
	assert_int_equal(ioapics, 1);
	assert_int_equal(overrides, 1);
	assert_int_equal(nmis, 1);

	/* DSDT: _S3 with SLP_TYP 1, _S5 with SLP_TYP 5, no _S4, the host bridge, and slot 3's INTA# on GSI 18 (16 + 3 - 1);
	 * two routes for the two slots. */
	assert_int_equal(dsdt[8], 2);
	assert_non_null(find_bytes(dsdt, le32_get(dsdt + 4), s5, sizeof(s5)));
	assert_non_null(find_bytes(dsdt, le32_get(dsdt + 4), s3, sizeof(s3)));
	assert_null(find_bytes(dsdt, le32_get(dsdt + 4), "_S4_", 4));
	assert_non_null(find_bytes(dsdt, le32_get(dsdt + 4), "\x0c\x41\xd0\x0a\x03", 5));
	assert_non_null(find_bytes(dsdt, le32_get(dsdt + 4), route3, sizeof(route3)));
	assert_non_null(find_bytes(dsdt, le32_get(dsdt + 4), "_PRT\x12\x1a\x02", 7));
	/* The MMIO window in _CRS: a DWord memory descriptor from 0xe0000000 to 0xefffffff. */
	assert_non_null(find_bytes(dsdt, le32_get(dsdt + 4),
				   "\x87\x17\x00\x00\x0c\x01\x00\x00\x00\x00"
				   "\x00\x00\x00\xe0\xff\xff\xff\xef", 18));
}

static void test_tables_refuse_bad_machines(void **state)
{
	struct guest_mem mem;
	struct acpi_machine m = { .nr_cpus = 0 };

	(void)state;
	guest_mem_init_buffer(&mem, ram, sizeof(ram));
	assert_int_equal(acpi_write_tables(&mem, &m), -EINVAL);
	assert_err_mentions("1 to 254 CPUs, not 0");
	m.nr_cpus = 255;
	assert_int_equal(acpi_write_tables(&mem, &m), -EINVAL);
	/* RAM that ends before the BIOS area. */
	m.nr_cpus = 1;
	guest_mem_init_buffer(&mem, ram, 0x80000);
	assert_int_equal(acpi_write_tables(&mem, &m), -EFAULT);
	assert_err_mentions("ACPI tables at 0xf8000");
}

static void test_aml_encodings(void **state)
{
	uint8_t buf[8192];
	struct aml a;
	size_t mark;

	(void)state;
	aml_init(&a, buf, sizeof(buf));
	aml_integer(&a, 0);
	aml_integer(&a, 1);
	aml_integer(&a, 0x12);
	aml_integer(&a, 0x1234);
	aml_integer(&a, 0x12345678);
	aml_integer(&a, 0x100000000ULL);
	assert_int_equal(a.len, 1 + 1 + 2 + 3 + 5 + 9);
	assert_memory_equal(buf, "\x00\x01\x0a\x12\x0b\x34\x12\x0c\x78\x56\x34\x12"
			    "\x0e\x00\x00\x00\x00\x01\x00\x00\x00", 21);

	aml_init(&a, buf, sizeof(buf));
	aml_name_path(&a, "\\_SB_.PCI0");
	aml_name_path(&a, "A___.B___.C___");
	aml_string(&a, "hi");
	assert_int_equal(a.len, 10 + 14 + 4);
	assert_memory_equal(buf, "\\\x2e_SB_PCI0\x2f\x03" "A___B___C___\x0dhi", 28);

	/* A scope of 63 bytes takes a one-byte PkgLength; one byte more takes two. */
	aml_init(&a, buf, sizeof(buf));
	mark = aml_scope_begin(&a, "S___");
	for (int i = 0; i < 58; i++)
		aml_integer(&a, 0);
	aml_end(&a, mark);
	assert_int_equal(a.len, 64);
	assert_int_equal(buf[1], 63);
	assert_memory_equal(buf + 2, "S___", 4);
	aml_init(&a, buf, sizeof(buf));
	mark = aml_scope_begin(&a, "S___");
	for (int i = 0; i < 59; i++)
		aml_integer(&a, 0);
	aml_end(&a, mark);
	assert_int_equal(a.len, 66);
	assert_int_equal(buf[1], 0x40 | (65 & 0xf));
	assert_int_equal(buf[2], 65 >> 4);
	assert_memory_equal(buf + 3, "S___", 4);
	/* 4096 bytes and more: three bytes. */
	aml_init(&a, buf, sizeof(buf));
	mark = aml_device_begin(&a, "D___");
	for (int i = 0; i < 5000; i++)
		aml_integer(&a, 0);
	aml_end(&a, mark);
	assert_int_equal(buf[0], 0x5b);
	assert_int_equal(buf[1], 0x82);
	assert_int_equal(buf[2] >> 6, 2);
	assert_int_equal((buf[2] & 0xf) | buf[3] << 4 | buf[4] << 12, 3 + 4 + 5000);
	assert_int_equal(a.len, 2 + 3 + 4 + 5000);

	/* Overflow stops the encoder; the caller sees it once. */
	aml_init(&a, buf, 4);
	aml_string(&a, "too long");
	assert_true(a.overflow);
	assert_int_equal(a.len, 1);
	aml_integer(&a, 0);
	assert_int_equal(a.len, 1);
	assert_int_equal(acpi_build_dsdt_aml(&(struct acpi_machine){ .nr_cpus = 1 }, buf, 16),
			 -E2BIG);
}

static int sci, sleeps, last_slp_typ;

static void fake_sci(void *ctx, int level)
{
	(void)ctx;
	sci = level;
}

static void fake_sleep(void *ctx, unsigned slp_typ)
{
	(void)ctx;
	sleeps++;
	last_slp_typ = (int)slp_typ;
}

static uint16_t pm_r16(struct acpi_pm *pm, unsigned off)
{
	uint8_t b[2];

	assert_int_equal(acpi_pm_read(pm, off, b, 2), 0);
	return le16_get(b);
}

static void pm_w16(struct acpi_pm *pm, unsigned off, uint16_t v)
{
	uint8_t b[2];

	le16_put(b, v);
	assert_int_equal(acpi_pm_write(pm, off, b, 2), 0);
}

static void test_pm_power_button_and_sleep(void **state)
{
	struct acpi_pm pm;
	uint8_t b[4] = { 0 }, saved[64];
	int n;

	(void)state;
	sci = sleeps = 0;
	acpi_pm_init(&pm, fake_sci, fake_sleep, NULL);
	assert_int_equal(pm_r16(&pm, 4), ACPI_PM1_CNT_SCI_EN);	/* always in ACPI mode */

	/* A press the guest has not enabled sets the status but raises no SCI. */
	assert_false(acpi_pm_press_power_button(&pm));
	assert_int_equal(pm_r16(&pm, 0), ACPI_PM1_STS_PWRBTN);
	assert_int_equal(sci, 0);
	/* Enabling it raises the SCI; enables the OS checks read back, even those that never
	 * fire (global lock); an undefined bit does not stick. */
	pm_w16(&pm, 2, ACPI_PM1_EN_PWRBTN | 0x0020 | 0x8000);
	assert_int_equal(pm_r16(&pm, 2), ACPI_PM1_EN_PWRBTN | 0x0020);
	assert_int_equal(sci, 1);
	/* Writing 0 to the status changes nothing; 1 clears it and lowers the SCI. */
	pm_w16(&pm, 0, 0);
	assert_int_equal(sci, 1);
	pm_w16(&pm, 0, ACPI_PM1_STS_PWRBTN);
	assert_int_equal(pm_r16(&pm, 0), 0);
	assert_int_equal(sci, 0);
	assert_true(acpi_pm_press_power_button(&pm));
	assert_int_equal(sci, 1);

	/* Migration: the state round-trips, and the loaded SCI follows it. */
	n = acpi_pm_save(&pm, saved, sizeof(saved));
	assert_true(n > 0);
	acpi_pm_reset(&pm);
	assert_int_equal(sci, 0);
	assert_int_equal(pm_r16(&pm, 2), 0);
	assert_int_equal(acpi_pm_load(&pm, saved, (size_t)n), 0);
	assert_int_equal(sci, 1);
	assert_int_equal(pm_r16(&pm, 0), ACPI_PM1_STS_PWRBTN);
	assert_int_equal(acpi_pm_load(&pm, saved, (size_t)n - 1), -EINVAL);
	saved[0] = 0x02;	/* a status bit this device never sets */
	assert_int_equal(acpi_pm_load(&pm, saved, (size_t)n), -EINVAL);
	assert_err_mentions("acpi-pm");
	assert_int_equal(pm_r16(&pm, 0), ACPI_PM1_STS_PWRBTN);

	/* SLP_TYP first, then SLP_EN, as ACPICA does: one sleep request, of type 5. */
	pm_w16(&pm, 4, ACPI_PM_SLP_TYP_S5 << ACPI_PM1_CNT_SLP_TYP_SHIFT);
	assert_int_equal(sleeps, 0);
	pm_w16(&pm, 4, ACPI_PM_SLP_TYP_S5 << ACPI_PM1_CNT_SLP_TYP_SHIFT | ACPI_PM1_CNT_SLP_EN);
	assert_int_equal(sleeps, 1);
	assert_int_equal(last_slp_typ, 5);
	/* SLP_EN reads 0; SCI_EN stays set whatever is written. */
	assert_int_equal(pm_r16(&pm, 4), ACPI_PM_SLP_TYP_S5 << ACPI_PM1_CNT_SLP_TYP_SHIFT |
			 ACPI_PM1_CNT_SCI_EN);
	/* The high byte alone, as a byte-wide OS might write it: type 3 and SLP_EN. */
	b[0] = (uint8_t)((3 << ACPI_PM1_CNT_SLP_TYP_SHIFT | ACPI_PM1_CNT_SLP_EN) >> 8);
	assert_int_equal(acpi_pm_write(&pm, 5, b, 1), 0);
	assert_int_equal(sleeps, 2);
	assert_int_equal(last_slp_typ, 3);

	/* Accesses past the block are refused. */
	assert_int_equal(acpi_pm_read(&pm, 5, b, 2), -EINVAL);
	assert_int_equal(acpi_pm_write(&pm, 6, b, 1), -EINVAL);
	assert_int_equal(acpi_pm_read(&pm, 0, b, 8), -EINVAL);
	acpi_pm_destroy(&pm);
}

/* S3 as Linux and the KVM project's s3 test ask for it, and the wake that ends it. */
static void test_pm_suspend_and_wake(void **state)
{
	struct acpi_pm pm;
	uint8_t b[1];

	(void)state;
	sci = sleeps = 0;
	acpi_pm_init(&pm, fake_sci, fake_sleep, NULL);
	/* The s3 test's one write: 0x2400, type 1 with SLP_EN. */
	pm_w16(&pm, 4, 0x2400);
	assert_int_equal(sleeps, 1);
	assert_int_equal(last_slp_typ, ACPI_PM_SLP_TYP_S3);
	/* ACPICA's two writes: the type, then the type with SLP_EN in the high byte alone. */
	pm_w16(&pm, 4, ACPI_PM_SLP_TYP_S3 << ACPI_PM1_CNT_SLP_TYP_SHIFT | ACPI_PM1_CNT_SCI_EN);
	assert_int_equal(sleeps, 1);
	b[0] = (uint8_t)((ACPI_PM_SLP_TYP_S3 << ACPI_PM1_CNT_SLP_TYP_SHIFT | ACPI_PM1_CNT_SLP_EN) >> 8);
	assert_int_equal(acpi_pm_write(&pm, 5, b, 1), 0);
	assert_int_equal(sleeps, 2);
	assert_int_equal(last_slp_typ, ACPI_PM_SLP_TYP_S3);

	/* Until the guest writes PM1_EN, the RTC alarm may wake it (QEMU's rule); then only
	 * with RTC_EN; a reset (a reboot) starts over. */
	assert_true(acpi_pm_rtc_wake_enabled(&pm));
	pm_w16(&pm, 2, 0);
	assert_false(acpi_pm_rtc_wake_enabled(&pm));
	pm_w16(&pm, 2, ACPI_PM1_EN_RTC);
	assert_true(acpi_pm_rtc_wake_enabled(&pm));
	assert_int_equal(pm_r16(&pm, 2), ACPI_PM1_EN_RTC);
	acpi_pm_reset(&pm);
	assert_true(acpi_pm_rtc_wake_enabled(&pm));

	/* A wake sets WAK_STS, which raises no SCI (it has no enable bit), and the event's
	 * status, which does when enabled; both clear by writing 1. */
	acpi_pm_wake(&pm, ACPI_PM1_STS_PWRBTN);
	assert_int_equal(pm_r16(&pm, 0), ACPI_PM1_STS_WAK | ACPI_PM1_STS_PWRBTN);
	assert_int_equal(sci, 0);
	pm_w16(&pm, 0, ACPI_PM1_STS_WAK | ACPI_PM1_STS_PWRBTN);
	assert_int_equal(pm_r16(&pm, 0), 0);
	pm_w16(&pm, 2, ACPI_PM1_EN_RTC);
	acpi_pm_wake(&pm, ACPI_PM1_STS_RTC);
	assert_int_equal(pm_r16(&pm, 0), ACPI_PM1_STS_WAK | ACPI_PM1_STS_RTC);
	assert_int_equal(sci, 1);
	pm_w16(&pm, 0, ACPI_PM1_STS_RTC);
	assert_int_equal(pm_r16(&pm, 0), ACPI_PM1_STS_WAK);
	assert_int_equal(sci, 0);
	acpi_pm_destroy(&pm);
}

static uint64_t fake_ns;

static uint64_t fake_clock(void)
{
	return fake_ns;
}

static uint32_t pm_timer(struct acpi_pm *pm)
{
	uint8_t b[4];

	assert_int_equal(acpi_pm_read(pm, ACPI_PM_TMR_OFFSET, b, 4), 0);
	return le32_get(b);
}

static void test_pm_timer(void **state)
{
	struct acpi_pm pm, other;
	uint8_t b[4], saved[64];
	int n;

	(void)state;
	acpi_pm_init(&pm, NULL, NULL, NULL);
	pm.clock_ns = fake_clock;
	fake_ns = 0;
	assert_int_equal(pm_timer(&pm), 0);
	/* One second is 3579545 ticks, at any time (no overflow after hours of uptime). */
	fake_ns = 1000000000ULL;
	assert_int_equal(pm_timer(&pm), 3579545);
	fake_ns = 10ULL * 3600 * 1000000000ULL + 1000;	/* 10 hours and 1 us */
	assert_int_equal(acpi_pm_timer_ticks(&pm), 10ULL * 3600 * 3579545 + 3);
	/* The guest sees 24 bits, in any byte of them; writes change nothing. */
	assert_int_equal(pm_timer(&pm), (10ULL * 3600 * 3579545 + 3) & 0xffffff);
	assert_int_equal(acpi_pm_read(&pm, ACPI_PM_TMR_OFFSET + 2, b, 1), 0);
	assert_int_equal(b[0], ((10ULL * 3600 * 3579545 + 3) >> 16) & 0xff);
	assert_int_equal(acpi_pm_read(&pm, ACPI_PM_TMR_OFFSET + 3, b, 1), 0);
	assert_int_equal(b[0], 0);
	assert_int_equal(acpi_pm_write(&pm, ACPI_PM_TMR_OFFSET, b, 4), 0);
	assert_int_equal(pm_timer(&pm), (10ULL * 3600 * 3579545 + 3) & 0xffffff);
	/* Past the timer, and the two ports before it, are not there. */
	assert_int_equal(acpi_pm_read(&pm, ACPI_PM_TMR_OFFSET + 2, b, 4), -EINVAL);
	assert_int_equal(acpi_pm_read(&pm, 6, b, 2), -EINVAL);

	/* A migrated timer goes on from its count on a host whose clock is elsewhere. */
	fake_ns = 5000000000ULL;
	n = acpi_pm_save(&pm, saved, sizeof(saved));
	assert_true(n > 0);
	acpi_pm_init(&other, NULL, NULL, NULL);
	other.clock_ns = fake_clock;
	fake_ns = 123;
	assert_int_equal(acpi_pm_load(&other, saved, (size_t)n), 0);
	assert_int_equal(acpi_pm_timer_ticks(&other), 5ULL * 3579545);
	fake_ns = 123 + 2000000000ULL;
	assert_int_equal(acpi_pm_timer_ticks(&other), 7ULL * 3579545);
	acpi_pm_destroy(&other);
	acpi_pm_destroy(&pm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables_describe_the_machine),
		cmocka_unit_test(test_tables_refuse_bad_machines),
		cmocka_unit_test(test_aml_encodings),
		cmocka_unit_test(test_pm_power_button_and_sleep),
		cmocka_unit_test(test_pm_suspend_and_wake),
		cmocka_unit_test(test_pm_timer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
