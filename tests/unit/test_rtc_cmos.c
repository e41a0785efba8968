#include <errno.h>
#include <time.h>

#include "hopvm/rtc_cmos.h"
#include "unit.h"

enum { INDEX = 0, DATA = 1 };
enum { SEC = 0x00, MIN = 0x02, HOUR = 0x04, WDAY = 0x06, MDAY = 0x07, MON = 0x08, YEAR = 0x09 };
enum { REG_A = 0x0a, REG_B = 0x0b, REG_C = 0x0c, REG_D = 0x0d, CENTURY = 0x32 };

#define SATURDAY_13_45_07 ((time_t)1795873507)	/* 2026-11-28 13:45:07 UTC */

static time_t fake_now(void *ctx)
{
	return *(const time_t *)ctx;
}

static uint8_t rd(struct rtc_cmos *r, uint8_t reg)
{
	uint8_t v = 0;

	assert_int_equal(rtc_cmos_write(r, INDEX, &reg, 1), 0);
	assert_int_equal(rtc_cmos_read(r, DATA, &v, 1), 0);
	return v;
}

static void wr(struct rtc_cmos *r, uint8_t reg, uint8_t v)
{
	assert_int_equal(rtc_cmos_write(r, INDEX, &reg, 1), 0);
	assert_int_equal(rtc_cmos_write(r, DATA, &v, 1), 0);
}

static int setup(void **state)
{
	static struct rtc_cmos rtc;
	static time_t now;

	now = SATURDAY_13_45_07;
	rtc_cmos_init(&rtc, fake_now, &now);
	state[0] = &rtc;
	return 0;
}

static int teardown(void **state)
{
	rtc_cmos_destroy(state[0]);
	return 0;
}

static time_t *clock_of(struct rtc_cmos *r)
{
	return r->ctx;
}

static void assert_time(struct rtc_cmos *r, const uint8_t expected[7])
{
	const uint8_t regs[7] = { SEC, MIN, HOUR, WDAY, MDAY, MON, YEAR };

	for (int i = 0; i < 7; i++)
		assert_int_equal(rd(r, regs[i]), expected[i]);
}

static void test_bcd_power_on(void **state)
{
	struct rtc_cmos *r = state[0];

	assert_int_equal(rd(r, REG_A), 0x26);
	assert_int_equal(rd(r, REG_B), 0x02);
	assert_int_equal(rd(r, REG_C), 0x00);
	assert_int_equal(rd(r, REG_D), 0x80);
	assert_time(r, (const uint8_t[]){ 0x07, 0x45, 0x13, 0x07, 0x28, 0x11, 0x26 });
	assert_int_equal(rd(r, CENTURY), 0x20);
}

static void test_binary_and_12_hour(void **state)
{
	struct rtc_cmos *r = state[0];

	wr(r, REG_B, 0x06);
	assert_time(r, (const uint8_t[]){ 7, 45, 13, 7, 28, 11, 26 });
	assert_int_equal(rd(r, CENTURY), 20);
	wr(r, REG_B, 0x04);
	assert_int_equal(rd(r, HOUR), 0x81);	/* 1 PM */
	wr(r, REG_B, 0x00);
	assert_int_equal(rd(r, HOUR), 0x81);
	*clock_of(r) = SATURDAY_13_45_07 - 13 * 3600;	/* 00:45:07 */
	assert_int_equal(rd(r, HOUR), 0x12);
	*clock_of(r) = SATURDAY_13_45_07 - 3600;	/* 12:45:07 */
	assert_int_equal(rd(r, HOUR), 0x92);
}

/* mc146818_set_time of Linux 6.1: SET, divider held in reset, fields, then both restored. */
static void test_set_time_as_linux_does(void **state)
{
	struct rtc_cmos *r = state[0];
	uint8_t control = rd(r, REG_B);
	uint8_t freq_select = rd(r, REG_A);

	wr(r, REG_B, control | 0x80);
	wr(r, REG_A, freq_select | 0x70);
	wr(r, YEAR, 0x27);
	wr(r, MON, 0x01);
	wr(r, MDAY, 0x04);
	wr(r, HOUR, 0x03);
	wr(r, MIN, 0x04);
	wr(r, SEC, 0x05);
	*clock_of(r) += 10;
	assert_int_equal(rd(r, SEC), 0x05);	/* SET stops the clock */
	wr(r, REG_B, control);
	wr(r, REG_A, freq_select);

	assert_time(r, (const uint8_t[]){ 0x05, 0x04, 0x03, 0x02, 0x04, 0x01, 0x27 });
	assert_int_equal(rd(r, CENTURY), 0x20);
	*clock_of(r) += 100;
	assert_time(r, (const uint8_t[]){ 0x45, 0x05, 0x03, 0x02, 0x04, 0x01, 0x27 });
	wr(r, REG_A, 0xff);
	assert_int_equal(rd(r, REG_A), 0x7f);	/* UIP is never set */
}

static void test_set_one_field_while_running(void **state)
{
	struct rtc_cmos *r = state[0];

	wr(r, REG_B, 0x00);
	wr(r, HOUR, 0x91);	/* 11 PM */
	wr(r, REG_B, 0x02);
	assert_time(r, (const uint8_t[]){ 0x07, 0x45, 0x23, 0x07, 0x28, 0x11, 0x26 });
	wr(r, CENTURY, 0x21);
	assert_int_equal(rd(r, YEAR), 0x26);
	assert_int_equal(rd(r, WDAY), 0x05);	/* 2126-11-28 is a Thursday */
}

static void test_cmos_ram_and_index(void **state)
{
	struct rtc_cmos *r = state[0];
	uint8_t v = 0;

	assert_int_equal(rd(r, 0x40), 0);
	wr(r, 0x0e, 0xab);
	wr(r, 0x7f, 0x55);
	wr(r, 0x01, 0x30);
	wr(r, 0x03, 0x15);
	wr(r, 0x05, 0x09);
	assert_int_equal(rd(r, 0x0e), 0xab);
	assert_int_equal(rd(r, 0x7f), 0x55);
	assert_int_equal(rd(r, 0x01), 0x30);
	assert_int_equal(rd(r, 0x03), 0x15);
	assert_int_equal(rd(r, 0x05), 0x09);
	assert_int_equal(rd(r, 0x80 | 0x0e), 0xab);	/* NMI masked: same byte */
	assert_true(r->nmi_masked);
	wr(r, 0x80 | 0x10, 0x42);
	assert_int_equal(rd(r, 0x10), 0x42);
	assert_false(r->nmi_masked);
	wr(r, REG_C, 0xff);
	wr(r, REG_D, 0x00);
	assert_int_equal(rd(r, REG_C), 0x00);
	assert_int_equal(rd(r, REG_D), 0x80);
	assert_int_equal(rtc_cmos_read(r, INDEX, &v, 1), 0);
	assert_int_equal(v, 0xff);
}

static void test_refused_and_reset(void **state)
{
	struct rtc_cmos *r = state[0];
	uint8_t wide[4] = { 0 };

	for (unsigned size = 2; size <= 4; size += 2) {
		assert_int_equal(rtc_cmos_read(r, DATA, wide, size), -EINVAL);
		assert_int_equal(rtc_cmos_write(r, INDEX, wide, size), -EINVAL);
	}
	assert_int_equal(rtc_cmos_read(r, 2, wide, 1), -EINVAL);
	assert_int_equal(rtc_cmos_write(r, 2, wide, 1), -EINVAL);

	wr(r, 0x20, 0x99);
	wr(r, MIN, 0x10);
	wr(r, REG_B, 0x76);
	rtc_cmos_reset(r);
	assert_int_equal(rd(r, REG_B), 0x06);	/* interrupt enables cleared */
	assert_int_equal(rd(r, 0x20), 0x99);	/* battery-backed */
	assert_int_equal(rd(r, MIN), 10);
}

static long fake_subsec;

static long fake_subsec_ns(void *ctx)
{
	(void)ctx;
	return fake_subsec;
}

/* UIP: up in the last 244 us of a second of a running clock, as the s3 test waits for. */
static void test_update_in_progress(void **state)
{
	struct rtc_cmos *r = state[0];

	r->now_subsec_ns = fake_subsec_ns;
	fake_subsec = 999755000;
	assert_int_equal(rd(r, REG_A), 0x26);
	fake_subsec = 999800000;
	assert_int_equal(rd(r, REG_A), 0xa6);
	wr(r, REG_A, 0xa6);	/* UIP is read-only */
	fake_subsec = 0;
	assert_int_equal(rd(r, REG_A), 0x26);
	fake_subsec = 999800000;
	wr(r, REG_B, 0x82);	/* a held clock does not update */
	assert_int_equal(rd(r, REG_A), 0x26);
	wr(r, REG_B, 0x02);
	wr(r, REG_A, 0x76);	/* nor one whose divider is in reset */
	assert_int_equal(rd(r, REG_A), 0x76);
}

/* The alarm as a wake event: the s3 test's "every second", and Linux's exact time. */
static void test_alarm(void **state)
{
	struct rtc_cmos *r = state[0];
	time_t *now = clock_of(r);

	/* Don't-care everywhere, no AIE: AF only, and no wake. */
	wr(r, 0x01, 0xc0);
	wr(r, 0x03, 0xc0);
	wr(r, 0x05, 0xc0);
	rtc_cmos_alarm_start(r);
	assert_false(rtc_cmos_alarm_fired(r));	/* no second has passed */
	++*now;
	assert_false(rtc_cmos_alarm_fired(r));
	assert_int_equal(rd(r, REG_C), 0x20);
	assert_int_equal(rd(r, REG_C), 0x00);	/* the read cleared it */
	/* With AIE: fires at the next second, once for that second. */
	wr(r, REG_B, 0x22);
	assert_false(rtc_cmos_alarm_fired(r));
	++*now;
	assert_true(rtc_cmos_alarm_fired(r));
	assert_false(rtc_cmos_alarm_fired(r));
	assert_int_equal(rd(r, REG_C), 0xa0);
	/* 13:45:30 exactly (BCD), found even when the look comes late. */
	wr(r, 0x01, 0x30);
	wr(r, 0x03, 0x45);
	wr(r, 0x05, 0x13);
	rtc_cmos_alarm_start(r);
	*now += 20;	/* 13:45:29 */
	assert_false(rtc_cmos_alarm_fired(r));
	*now += 5;
	assert_true(rtc_cmos_alarm_fired(r));
	*now += 3600;
	assert_false(rtc_cmos_alarm_fired(r));
	/* A day later the same time comes again; a reset clears AIE and the flags. */
	*now += 24 * 3600;
	assert_true(rtc_cmos_alarm_fired(r));
	rtc_cmos_reset(r);
	assert_int_equal(rd(r, REG_C), 0x00);
	*now += 24 * 3600;
	assert_false(rtc_cmos_alarm_fired(r));
}

static void test_host_clock_by_default(void **state)
{
	struct rtc_cmos rtc;
	struct tm tm;
	time_t t = time(NULL);

	(void)state;
	rtc_cmos_init(&rtc, NULL, NULL);
	gmtime_r(&t, &tm);
	assert_int_equal(rd(&rtc, YEAR), (tm.tm_year % 10) | (tm.tm_year / 10 % 10) << 4);
	rtc_cmos_destroy(&rtc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bcd_power_on, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binary_and_12_hour, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_time_as_linux_does, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_one_field_while_running, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cmos_ram_and_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_and_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_in_progress, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alarm, setup, teardown),
		cmocka_unit_test(test_host_clock_by_default),
	};
	return cmocka_run_group_tests_name("rtc_cmos", tests, NULL, NULL);
}
