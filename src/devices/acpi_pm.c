#include <errno.h>
#include <string.h>
#include <time.h>

#include "hopvm/acpi_pm.h"
#include "hopvm/device_state.h"
#include "hopvm/error.h"

enum { REG_STS, REG_EN, REG_CNT, NR_REGS };

/* Of the events ACPI defines, those this machine has: the power button, the RTC alarm (only
 * as a wake event) and the wake status itself. */
#define STS_BITS (ACPI_PM1_STS_PWRBTN | ACPI_PM1_STS_RTC | ACPI_PM1_STS_WAK)
/* Every enable bit ACPI defines holds what the OS writes (it reads them back to check that
 * the event is there), though only the power button's ever fires: timer, global lock, power
 * and sleep buttons, RTC alarm. */
#define EN_BITS (0x0001 | 0x0020 | ACPI_PM1_EN_PWRBTN | 0x0200 | 0x0400)
#define SLP_TYP_MASK (7u << ACPI_PM1_CNT_SLP_TYP_SHIFT)
#define CNT_BM_RLD 0x0002
#define CNT_STORED (ACPI_PM1_CNT_SCI_EN | CNT_BM_RLD | SLP_TYP_MASK)

static void update_sci(struct acpi_pm *pm)
{
	bool level = (pm->sts & pm->en) != 0;

	if (level != pm->sci_level) {
		pm->sci_level = level;
		if (pm->set_sci != NULL)
			pm->set_sci(pm->ctx, level);
	}
}

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t acpi_pm_timer_ticks(struct acpi_pm *pm)
{
	uint64_t ns = pm->clock_ns(), s = ns / 1000000000ULL, rem = ns % 1000000000ULL;

	/* In two parts, so that nanoseconds times the rate cannot overflow. */
	return s * ACPI_PM_TIMER_HZ + rem * ACPI_PM_TIMER_HZ / 1000000000ULL + pm->timer_offset;
}

void acpi_pm_init(struct acpi_pm *pm, void (*set_sci)(void *ctx, int level),
		  void (*on_sleep)(void *ctx, unsigned slp_typ), void *ctx)
{
	memset(pm, 0, sizeof(*pm));
	pthread_mutex_init(&pm->lock, NULL);
	pm->set_sci = set_sci;
	pm->on_sleep = on_sleep;
	pm->ctx = ctx;
	pm->cnt = ACPI_PM1_CNT_SCI_EN;
	pm->clock_ns = monotonic_ns;
}

void acpi_pm_destroy(struct acpi_pm *pm)
{
	pthread_mutex_destroy(&pm->lock);
}

bool acpi_pm_press_power_button(struct acpi_pm *pm)
{
	bool heard;

	pthread_mutex_lock(&pm->lock);
	pm->sts |= ACPI_PM1_STS_PWRBTN;
	heard = (pm->en & ACPI_PM1_EN_PWRBTN) != 0;
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	return heard;
}

/* Within the PM1 registers, or within the timer; the two ports between are not there. */
static bool access_fits(uint64_t offset, unsigned size)
{
	if (offset >= ACPI_PM_TMR_OFFSET)
		return size <= ACPI_PM_TMR_LEN && offset - ACPI_PM_TMR_OFFSET <= ACPI_PM_TMR_LEN - size;
	return size <= 4 && offset < ACPI_PM_CNT_OFFSET + ACPI_PM_CNT_LEN &&
	       size <= ACPI_PM_CNT_OFFSET + ACPI_PM_CNT_LEN - offset;
}

int acpi_pm_read(void *dev, uint64_t offset, uint8_t *data, unsigned size)
{
	struct acpi_pm *pm = dev;
	uint16_t regs[NR_REGS];

	if (!access_fits(offset, size))
		return -EINVAL;
	if (offset >= ACPI_PM_TMR_OFFSET) {
		uint32_t count = (uint32_t)(acpi_pm_timer_ticks(pm) & ACPI_PM_TIMER_MASK);

		for (unsigned i = 0; i < size; i++)
			data[i] = (uint8_t)(count >> ((offset - ACPI_PM_TMR_OFFSET + i) * 8));
		return 0;
	}
	pthread_mutex_lock(&pm->lock);
	regs[REG_STS] = pm->sts;
	regs[REG_EN] = pm->en;
	regs[REG_CNT] = pm->cnt;
	pthread_mutex_unlock(&pm->lock);
	for (unsigned i = 0; i < size; i++) {
		uint64_t off = offset + i;

		data[i] = (uint8_t)(regs[off / 2] >> (off % 2 * 8));
	}
	return 0;
}

int acpi_pm_write(void *dev, uint64_t offset, const uint8_t *data, unsigned size)
{
	struct acpi_pm *pm = dev;
	uint16_t value[NR_REGS] = { 0 }, mask[NR_REGS] = { 0 };
	unsigned slp_typ = 0;
	bool sleep = false;

	if (!access_fits(offset, size))
		return -EINVAL;
	if (offset >= ACPI_PM_TMR_OFFSET)
		return 0;	/* the timer is read-only; writes are ignored, as on hardware */
	/* A write may cover bytes of several registers: gather each register's part first. */
	for (unsigned i = 0; i < size; i++) {
		uint64_t off = offset + i;

		value[off / 2] |= (uint16_t)(data[i] << (off % 2 * 8));
		mask[off / 2] |= (uint16_t)(0xff << (off % 2 * 8));
	}
	pthread_mutex_lock(&pm->lock);
	pm->sts &= (uint16_t)~(value[REG_STS] & mask[REG_STS]);	/* write 1 to clear */
	pm->en = (uint16_t)((pm->en & ~mask[REG_EN]) | (value[REG_EN] & mask[REG_EN] & EN_BITS));
	pm->en_written |= mask[REG_EN] != 0;
	if (mask[REG_CNT] != 0) {
		uint16_t m = mask[REG_CNT] & (CNT_STORED & ~ACPI_PM1_CNT_SCI_EN);

		pm->cnt = (uint16_t)((pm->cnt & ~m) | (value[REG_CNT] & m));
		sleep = (value[REG_CNT] & mask[REG_CNT] & ACPI_PM1_CNT_SLP_EN) != 0;
		slp_typ = (pm->cnt & SLP_TYP_MASK) >> ACPI_PM1_CNT_SLP_TYP_SHIFT;
	}
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	/* Outside the lock: powering off stops the vCPUs, which may be in here. */
	if (sleep && pm->on_sleep != NULL)
		pm->on_sleep(pm->ctx, slp_typ);
	return 0;
}

void acpi_pm_wake(struct acpi_pm *pm, uint16_t event_sts)
{
	pthread_mutex_lock(&pm->lock);
	pm->sts |= (uint16_t)(ACPI_PM1_STS_WAK | (event_sts & STS_BITS));
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

bool acpi_pm_rtc_wake_enabled(struct acpi_pm *pm)
{
	bool enabled;

	pthread_mutex_lock(&pm->lock);
	enabled = !pm->en_written || (pm->en & ACPI_PM1_EN_RTC);
	pthread_mutex_unlock(&pm->lock);
	return enabled;
}

void acpi_pm_reset(void *dev)
{
	struct acpi_pm *pm = dev;

	pthread_mutex_lock(&pm->lock);
	pm->sts = pm->en = 0;
	pm->en_written = false;
	pm->cnt = ACPI_PM1_CNT_SCI_EN;
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

int acpi_pm_save(void *dev, uint8_t *buf, size_t len)
{
	struct acpi_pm *pm = dev;
	struct state_buf s;

	state_writer(&s, buf, len);
	pthread_mutex_lock(&pm->lock);
	state_put_u64(&s, pm->sts);
	state_put_u64(&s, pm->en);
	state_put_u64(&s, pm->cnt);
	state_put_u64(&s, acpi_pm_timer_ticks(pm));
	pthread_mutex_unlock(&pm->lock);
	return state_saved(&s);
}

int acpi_pm_load(void *dev, const uint8_t *buf, size_t len)
{
	struct acpi_pm *pm = dev;
	struct state_buf s;
	uint64_t sts, en, cnt, ticks;
	int ret;

	state_reader(&s, buf, len);
	sts = state_get_u64(&s);
	en = state_get_u64(&s);
	cnt = state_get_u64(&s);
	ticks = state_get_u64(&s);
	ret = state_loaded(&s, "acpi-pm");
	if (ret < 0)
		return ret;
	if ((sts & ~(uint64_t)STS_BITS) != 0 || (en & ~(uint64_t)EN_BITS) != 0 ||
	    (cnt & ~(uint64_t)CNT_STORED) != 0 || !(cnt & ACPI_PM1_CNT_SCI_EN))
		return err_set(-EINVAL, "acpi-pm: saved registers STS 0x%llx EN 0x%llx CNT 0x%llx "
			       "hold bits this device never sets", (unsigned long long)sts,
			       (unsigned long long)en, (unsigned long long)cnt);
	pthread_mutex_lock(&pm->lock);
	pm->sts = (uint16_t)sts;
	pm->en = (uint16_t)en;
	pm->cnt = (uint16_t)cnt;
	/* Not in the stream: a guest that enabled events has written the register. */
	pm->en_written = pm->en != 0;
	/* Any count is one the timer reaches; it goes on from there. */
	pm->timer_offset = 0;
	pm->timer_offset = ticks - acpi_pm_timer_ticks(pm);
	/* The line follows the loaded registers, whatever it was before. */
	pm->sci_level = (pm->sts & pm->en) == 0;
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	return 0;
}

const struct device_ops acpi_pm_ops = {
	.name = "acpi-pm",
	.read = acpi_pm_read,
	.write = acpi_pm_write,
	.reset = acpi_pm_reset,
	.state_version = 2,	/* 2: the timer's count */
	.save = acpi_pm_save,
	.load = acpi_pm_load,
};
