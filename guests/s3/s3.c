/* ACPI S3 as an OS (and the KVM project's s3 test) does it: finds the FACS, the PM1a
 * control block and _S3's sleep type through the ACPI tables, leaves real-mode code and a
 * marker in low RAM with the FACS's waking vector pointing at it, optionally arms the RTC
 * alarm, and writes the sleep type with SLP_EN.  The code in wake.S runs after the wake.
 * Built as a Multiboot kernel for its command line:
 *   rtc=0  (default) no alarm: hopvm ctl SOCKET wakeup wakes it
 *   rtc=1  the s3 test's alarm: every field "don't care", AIE, PM1_EN never written
 *   rtc=2  as Linux's rtcwake: RTC_EN in PM1_EN first, then the alarm
 *   rtc=3  PM1_EN written without RTC_EN, then the alarm: which must not wake it */
#include <stdbool.h>

#include "guest.h"

#define WAKE_ADDR 0x30000UL	/* CS 0x3000; the code at IP 8 */
#define MARKER 0x33533353u
#define RTC_INDEX 0x70
#define RTC_DATA 0x71
#define RTC_REG_A 0x0a
#define RTC_REG_B 0x0b
#define RTC_REG_C 0x0c
#define RTC_UIP 0x80
#define RTC_AIE 0x20
#define RTC_ALARM_ANY 0xc0
#define PM1_EN_RTC 0x0400
#define SLP_EN 0x2000

extern const char wake_start[], wake_end[];

static const uint8_t *find_rsdp(void)
{
	for (uintptr_t a = 0xe0000; a < 0x100000; a += 16)
		if (__builtin_memcmp((const void *)a, "RSD PTR ", 8) == 0)
			return (const uint8_t *)a;
	return 0;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The FADT, through the RSDT. */
static const uint8_t *find_fadt(void)
{
	const uint8_t *rsdp = find_rsdp(), *rsdt;

	if (rsdp == 0)
		return 0;
	rsdt = (const uint8_t *)(uintptr_t)rd32(rsdp + 16);
	for (uint32_t off = 36; off + 4 <= rd32(rsdt + 4); off += 4) {
		const uint8_t *t = (const uint8_t *)(uintptr_t)rd32(rsdt + off);

		if (__builtin_memcmp(t, "FACP", 4) == 0)
			return t;
	}
	return 0;
}

/* _S3's first element, as an OS reads the package: Zero, One or a ByteConst; -1 if none. */
static int s3_sleep_type(const uint8_t *dsdt)
{
	uint32_t len = rd32(dsdt + 4);

	for (uint32_t i = 36; i + 9 < len; i++) {
		const uint8_t *p = dsdt + i;

		if (p[0] != 0x08 || __builtin_memcmp(p + 1, "_S3_", 4) != 0 || p[5] != 0x12)
			continue;
		switch (p[8]) {
		case 0x00:
			return 0;
		case 0x01:
			return 1;
		case 0x0a:
			return p[9];
		default:
			return -1;
		}
	}
	return -1;
}

static uint8_t rtc_in(uint8_t reg)
{
	outb(RTC_INDEX, reg);
	return inb(RTC_DATA);
}

static void rtc_out(uint8_t reg, uint8_t v)
{
	outb(RTC_INDEX, reg);
	outb(RTC_DATA, v);
}

/* The s3 test's alarm: just after an update, every field "don't care", AIE. */
static bool arm_alarm(void)
{
	bool seen = false;

	/* UIP lasts 244 us of each second: a few seconds of looking must see it. */
	for (unsigned long n = 0; n < 100000UL && !seen; n++)
		seen = rtc_in(RTC_REG_A) & RTC_UIP;
	if (!seen)
		return false;
	while (rtc_in(RTC_REG_A) & RTC_UIP)
		;
	rtc_in(RTC_REG_C);
	rtc_out(0x01, RTC_ALARM_ANY);
	rtc_out(0x03, RTC_ALARM_ANY);
	rtc_out(0x05, RTC_ALARM_ANY);
	rtc_out(RTC_REG_B, rtc_in(RTC_REG_B) | RTC_AIE);
	return true;
}

int guest_main(void)
{
	unsigned long rtc = cmdline_value("rtc", 0);
	const uint8_t *fadt = find_fadt(), *dsdt, *facs;
	volatile uint8_t *wake = (volatile uint8_t *)WAKE_ADDR;
	uint16_t pm1a_evt, pm1a_cnt;
	int slp_typ;

	if (fadt == 0) {
		serial_puts("s3: FAIL: no FADT\n");
		return 1;
	}
	facs = (const uint8_t *)(uintptr_t)rd32(fadt + 36);
	dsdt = (const uint8_t *)(uintptr_t)rd32(fadt + 40);
	pm1a_evt = (uint16_t)rd32(fadt + 56);
	pm1a_cnt = (uint16_t)rd32(fadt + 64);
	slp_typ = s3_sleep_type(dsdt);
	if (__builtin_memcmp(facs, "FACS", 4) != 0 || slp_typ < 0) {
		serial_printf("s3: FAIL: no FACS or no _S3 (type %d)\n", slp_typ);
		return 1;
	}
	*(volatile uint32_t *)wake = MARKER;
	wake[4] = rtc != 0;
	for (long i = 0; i < wake_end - wake_start; i++)
		wake[8 + i] = (uint8_t)wake_start[i];
	*(volatile uint32_t *)(uintptr_t)(rd32(fadt + 36) + 12) = (uint32_t)(WAKE_ADDR + 8);
	if (rtc >= 2)
		outw(pm1a_evt + 2, rtc == 2 ? PM1_EN_RTC : 0);
	if (rtc && !arm_alarm()) {
		serial_puts("s3: FAIL: the RTC never showed an update in progress\n");
		return 1;
	}
	serial_printf("s3: suspending to RAM (_S3 sleep type %d) with the waking vector at 0x%lx%s\n",
		      slp_typ, WAKE_ADDR + 8,
		      rtc == 1 ? ", the RTC alarm armed" :
		      rtc == 2 ? ", the RTC alarm armed with RTC_EN" :
		      rtc == 3 ? ", the RTC alarm armed without RTC_EN" : "");
	outw(pm1a_cnt, (uint16_t)(slp_typ << 10 | SLP_EN));
	/* A machine that sleeps never gets here. */
	for (volatile unsigned long i = 0; i < 10000000UL; i++)
		;
	serial_puts("s3: FAIL: still running after SLP_EN\n");
	return 1;
}
