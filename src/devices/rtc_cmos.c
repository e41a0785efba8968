#include <errno.h>
#include <string.h>

#include "hopvm/device_state.h"
#include "hopvm/error.h"
#include "hopvm/rtc_cmos.h"

#define OFFSET_INDEX 0
#define OFFSET_DATA 1
#define INDEX_NMI_MASK 0x80

enum {
	REG_SECONDS = 0x00,
	REG_SECONDS_ALARM = 0x01,
	REG_MINUTES = 0x02,
	REG_MINUTES_ALARM = 0x03,
	REG_HOURS = 0x04,
	REG_HOURS_ALARM = 0x05,
	REG_WEEKDAY = 0x06,
	REG_DAY = 0x07,
	REG_MONTH = 0x08,
	REG_YEAR = 0x09,
	REG_A = 0x0a,
	REG_B = 0x0b,
	REG_C = 0x0c,
	REG_D = 0x0d,
	REG_CENTURY = 0x32,
};

#define A_UIP 0x80
#define A_DIVIDER 0x70
#define A_DIVIDER_RUNNING 0x20	/* the 32.768 kHz time base, counting */
#define A_POWER_ON 0x26		/* 32.768 kHz time base, 1024 Hz periodic rate */
#define UIP_NS (1000000000L - 244140L)	/* UIP rises 244 us before the update */
#define B_SET 0x80
#define B_AIE 0x20
#define C_IRQF 0x80
#define C_AF 0x20
#define ALARM_ANY 0xc0
#define B_INTERRUPTS 0x78	/* periodic, alarm and update-ended enables, square wave */
#define B_BINARY 0x04
#define B_24_HOUR 0x02
#define B_POWER_ON B_24_HOUR
#define D_VALID 0x80
#define HOURS_PM 0x80		/* in 12-hour mode */

static const uint8_t time_regs[] = {
	REG_SECONDS, REG_MINUTES, REG_HOURS, REG_WEEKDAY, REG_DAY, REG_MONTH, REG_YEAR, REG_CENTURY,
};

static bool is_time_reg(unsigned reg)
{
	return memchr(time_regs, (int)reg, sizeof(time_regs)) != NULL;
}

/* Unsigned, so that a year before 0 a guest reaches by writing nonsense gives nonsense back,
 * not undefined behaviour. */
static uint8_t to_reg(uint8_t b, int value)
{
	unsigned v = (unsigned)value;

	return (uint8_t)((b & B_BINARY) ? v : ((v / 10 % 10) << 4) | (v % 10));
}

static int from_reg(uint8_t b, uint8_t value)
{
	return (b & B_BINARY) ? value : (value >> 4) * 10 + (value & 0x0f);
}

static uint8_t encode(uint8_t b, const struct tm *tm, unsigned reg)
{
	int year = tm->tm_year + 1900;
	int hour12 = tm->tm_hour % 12 ? tm->tm_hour % 12 : 12;

	switch (reg) {
	case REG_SECONDS:
		return to_reg(b, tm->tm_sec);
	case REG_MINUTES:
		return to_reg(b, tm->tm_min);
	case REG_HOURS:
		if (b & B_24_HOUR)
			return to_reg(b, tm->tm_hour);
		return to_reg(b, hour12) | (tm->tm_hour >= 12 ? HOURS_PM : 0);
	case REG_WEEKDAY:
		return to_reg(b, tm->tm_wday + 1);	/* 1 is Sunday */
	case REG_DAY:
		return to_reg(b, tm->tm_mday);
	case REG_MONTH:
		return to_reg(b, tm->tm_mon + 1);
	case REG_YEAR:
		return to_reg(b, year % 100);
	default:
		return to_reg(b, year / 100);
	}
}

static int64_t guest_time(const struct rtc_cmos *rtc)
{
	return (int64_t)rtc->now(rtc->ctx) + rtc->offset;
}

static void clock_at(int64_t when, struct tm *tm)
{
	time_t t = (time_t)when;

	if (!gmtime_r(&t, tm))
		memset(tm, 0, sizeof(*tm));	/* a host clock beyond any calendar */
}

static void clock_now(const struct rtc_cmos *rtc, struct tm *tm)
{
	clock_at(guest_time(rtc), tm);
}

/* Whether the clock is counting and about to update: the last 244 us of the second. */
static bool update_in_progress(const struct rtc_cmos *rtc)
{
	if ((rtc->cmos[REG_A] & A_DIVIDER) != A_DIVIDER_RUNNING || (rtc->cmos[REG_B] & B_SET))
		return false;
	return rtc->now_subsec_ns != NULL && rtc->now_subsec_ns(rtc->ctx) >= UIP_NS;
}

/* Stops the clock: the time registers take the running time, for the guest to change. */
static void hold_time(struct rtc_cmos *rtc)
{
	struct tm tm;

	clock_now(rtc, &tm);
	for (size_t i = 0; i < sizeof(time_regs); i++)
		rtc->cmos[time_regs[i]] = encode(rtc->cmos[REG_B], &tm, time_regs[i]);
}

/* Lets the clock run again from the held time registers, read in the format of register B
 * they were written in.  timegm() normalises fields out of range. */
static void release_time(struct rtc_cmos *rtc)
{
	const uint8_t *c = rtc->cmos;
	uint8_t b = c[REG_B];
	struct tm tm = { 0 };

	tm.tm_sec = from_reg(b, c[REG_SECONDS]);
	tm.tm_min = from_reg(b, c[REG_MINUTES]);
	tm.tm_hour = from_reg(b, c[REG_HOURS] & (uint8_t)~HOURS_PM);
	if (!(b & B_24_HOUR))
		tm.tm_hour = tm.tm_hour % 12 + ((c[REG_HOURS] & HOURS_PM) ? 12 : 0);
	tm.tm_mday = from_reg(b, c[REG_DAY]);
	tm.tm_mon = from_reg(b, c[REG_MONTH]) - 1;
	tm.tm_year = from_reg(b, c[REG_CENTURY]) * 100 + from_reg(b, c[REG_YEAR]) - 1900;
	rtc->offset = (int64_t)timegm(&tm) - (int64_t)rtc->now(rtc->ctx);
}

static uint8_t rtc_read_reg(struct rtc_cmos *rtc, unsigned reg)
{
	struct tm tm;

	uint8_t value;

	switch (reg) {
	case REG_A:
		return rtc->cmos[REG_A] | (update_in_progress(rtc) ? A_UIP : 0);
	case REG_C:
		value = rtc->cmos[REG_C];	/* reading acknowledges the flags */
		rtc->cmos[REG_C] = 0;
		return value;
	case REG_D:
		return D_VALID;
	default:
		if (!is_time_reg(reg) || (rtc->cmos[REG_B] & B_SET))
			return rtc->cmos[reg];
		clock_now(rtc, &tm);
		return encode(rtc->cmos[REG_B], &tm, reg);
	}
}

static void rtc_write_reg(struct rtc_cmos *rtc, unsigned reg, uint8_t value)
{
	uint8_t old_b = rtc->cmos[REG_B];

	switch (reg) {
	case REG_A:
		rtc->cmos[REG_A] = value & (uint8_t)~A_UIP;
		break;
	case REG_B:
		if ((old_b & B_SET) && !(value & B_SET))
			release_time(rtc);
		rtc->cmos[REG_B] = value;
		if (!(old_b & B_SET) && (value & B_SET))
			hold_time(rtc);
		break;
	case REG_C:
	case REG_D:
		break;	/* read-only */
	default:
		if (is_time_reg(reg) && !(old_b & B_SET)) {
			/* Setting one field of the running clock: stop it just long enough. */
			hold_time(rtc);
			rtc->cmos[reg] = value;
			release_time(rtc);
		} else {
			rtc->cmos[reg] = value;
		}
		break;
	}
}

/* CLOCK_REALTIME, not time(): glibc's time() is the coarse clock, a tick behind the one
 * whose nanoseconds place UIP. */
static time_t host_now(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

static long host_subsec_ns(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_nsec;
}

/* Whether the alarm registers match the guest's time at second when. */
static bool alarm_matches(const struct rtc_cmos *rtc, int64_t when)
{
	static const uint8_t pairs[][2] = {
		{ REG_SECONDS_ALARM, REG_SECONDS },
		{ REG_MINUTES_ALARM, REG_MINUTES },
		{ REG_HOURS_ALARM, REG_HOURS },
	};
	struct tm tm;

	clock_at(when, &tm);
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		uint8_t alarm = rtc->cmos[pairs[i][0]];

		if ((alarm & ALARM_ANY) != ALARM_ANY &&
		    alarm != encode(rtc->cmos[REG_B], &tm, pairs[i][1]))
			return false;
	}
	return true;
}

void rtc_cmos_alarm_start(struct rtc_cmos *rtc)
{
	pthread_mutex_lock(&rtc->lock);
	rtc->alarm_checked = guest_time(rtc);
	pthread_mutex_unlock(&rtc->lock);
}

/* A day holds every combination of the three alarm registers. */
#define ALARM_MAX_SECONDS (24 * 3600)

bool rtc_cmos_alarm_fired(struct rtc_cmos *rtc)
{
	bool fired = false;
	int64_t now, t;

	pthread_mutex_lock(&rtc->lock);
	now = guest_time(rtc);
	t = rtc->alarm_checked;
	if (now - t > ALARM_MAX_SECONDS)
		t = now - ALARM_MAX_SECONDS;
	/* A held clock (SET) does not count, so its seconds never come. */
	while (!(rtc->cmos[REG_B] & B_SET) && !fired && t < now)
		fired = alarm_matches(rtc, ++t);
	rtc->alarm_checked = now > rtc->alarm_checked ? now : rtc->alarm_checked;
	if (fired) {
		rtc->cmos[REG_C] |= C_AF;
		fired = rtc->cmos[REG_B] & B_AIE;
		if (fired)
			rtc->cmos[REG_C] |= C_IRQF;
	}
	pthread_mutex_unlock(&rtc->lock);
	return fired;
}

void rtc_cmos_init(struct rtc_cmos *rtc, time_t (*now)(void *ctx), void *ctx)
{
	memset(rtc, 0, sizeof(*rtc));
	/* glibc's gmtime_r reads the time zone file on its first call: that happens here, not
	 * in a vCPU thread, whose seccomp filter lets it open no file. */
	tzset();
	pthread_mutex_init(&rtc->lock, NULL);
	rtc->now = now ? now : host_now;
	rtc->now_subsec_ns = now ? NULL : host_subsec_ns;
	rtc->ctx = ctx;
	rtc->cmos[REG_A] = A_POWER_ON;
	rtc->cmos[REG_B] = B_POWER_ON;
}

void rtc_cmos_destroy(struct rtc_cmos *rtc)
{
	pthread_mutex_destroy(&rtc->lock);
}

void rtc_cmos_reset(void *dev)
{
	struct rtc_cmos *rtc = dev;

	pthread_mutex_lock(&rtc->lock);
	rtc->cmos[REG_B] &= (uint8_t)~B_INTERRUPTS;
	rtc->cmos[REG_C] = 0;
	rtc->index = 0;
	rtc->nmi_masked = false;
	pthread_mutex_unlock(&rtc->lock);
}

/* Both ports are bytes, as on the chip's bus. */
int rtc_cmos_read(void *dev, uint64_t offset, uint8_t *data, unsigned size)
{
	struct rtc_cmos *rtc = dev;

	if (size != 1 || offset >= RTC_CMOS_NR_PORTS)
		return -EINVAL;
	if (offset == OFFSET_INDEX) {
		*data = 0xff;	/* write-only: nothing drives the bus */
		return 0;
	}
	pthread_mutex_lock(&rtc->lock);
	*data = rtc_read_reg(rtc, rtc->index);
	pthread_mutex_unlock(&rtc->lock);
	return 0;
}

int rtc_cmos_write(void *dev, uint64_t offset, const uint8_t *data, unsigned size)
{
	struct rtc_cmos *rtc = dev;

	if (size != 1 || offset >= RTC_CMOS_NR_PORTS)
		return -EINVAL;
	pthread_mutex_lock(&rtc->lock);
	if (offset == OFFSET_INDEX) {
		rtc->index = *data & (uint8_t)~INDEX_NMI_MASK;
		rtc->nmi_masked = *data & INDEX_NMI_MASK;
	} else {
		rtc_write_reg(rtc, rtc->index, *data);
	}
	pthread_mutex_unlock(&rtc->lock);
	return 0;
}

/* The guest's clock may run a century either side of the host's, not more: gmtime must
 * always be able to turn it into a date. */
#define RTC_MAX_OFFSET (100LL * 366 * 24 * 3600)

/* State format 1: the index, the NMI mask bit, the 128 CMOS bytes, the guest's offset from the
 * host clock in seconds (u64, two's complement).  The clock itself is the destination host's:
 * an offset keeps the guest's own setting across the move. */
int rtc_cmos_save(void *dev, uint8_t *buf, size_t len)
{
	struct rtc_cmos *rtc = dev;
	struct state_buf s;

	state_writer(&s, buf, len);
	pthread_mutex_lock(&rtc->lock);
	state_put_u8(&s, rtc->index);
	state_put_u8(&s, rtc->nmi_masked);
	state_put_bytes(&s, rtc->cmos, sizeof(rtc->cmos));
	state_put_u64(&s, (uint64_t)rtc->offset);
	pthread_mutex_unlock(&rtc->lock);
	return state_saved(&s);
}

int rtc_cmos_load(void *dev, const uint8_t *buf, size_t len)
{
	struct rtc_cmos *rtc = dev;
	struct state_buf s;
	uint8_t index, nmi, cmos[RTC_CMOS_SIZE];
	int64_t offset;
	int ret;

	state_reader(&s, buf, len);
	index = state_get_u8(&s);
	nmi = state_get_u8(&s);
	state_get_bytes(&s, cmos, sizeof(cmos));
	offset = (int64_t)state_get_u64(&s);
	ret = state_loaded(&s, "rtc-cmos");
	if (ret < 0)
		return ret;
	if (index >= RTC_CMOS_SIZE || nmi > 1 || offset > RTC_MAX_OFFSET ||
	    offset < -RTC_MAX_OFFSET)
		return err_set(-EINVAL, "rtc-cmos state: index %u, NMI mask %u or clock offset "
			       "%lld s out of range", index, nmi, (long long)offset);
	pthread_mutex_lock(&rtc->lock);
	rtc->index = index;
	rtc->nmi_masked = nmi;
	memcpy(rtc->cmos, cmos, sizeof(cmos));
	rtc->offset = offset;
	pthread_mutex_unlock(&rtc->lock);
	return 0;
}

const struct device_ops rtc_cmos_ops = {
	.name = "rtc-cmos",
	.read = rtc_cmos_read,
	.write = rtc_cmos_write,
	.reset = rtc_cmos_reset,
	.state_version = 1,
	.save = rtc_cmos_save,
	.load = rtc_cmos_load,
};
