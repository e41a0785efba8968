/* The PC's CMOS real-time clock, a Motorola MC146818, as pure logic.
 *
 * Registered at port 0x70 with RTC_CMOS_NR_PORTS ports: offset 0 (write-only) selects one of
 * the 128 CMOS bytes, its bit 7 being the PC's NMI mask, remembered and otherwise ignored;
 * offset 1 reads or writes the selected byte.
 *
 * The clock does not tick inside the model.  The time registers are computed when read, in
 * UTC as Linux expects of a PC, from the now callback (the host's seconds since the epoch,
 * which a test can fix) plus an offset that the guest moves by setting the time, with SET in
 * register B held while it writes or by writing a single field.  The day of the week follows
 * the date.  No interrupt is ever generated: periodic, alarm and update-ended interrupts are
 * not modelled and register C always reads 0.  UIP in register A is never set, as no read
 * sees a half-done update; a second may still tick between two reads, which Linux catches by
 * reading the seconds again.  Register D reports valid RAM and time.
 *
 * The reset op is the chip's RESET pin, which a PC drives at reboot: it clears the interrupt
 * enables of register B, while the time and the RAM, battery-backed, survive it.  A mutex
 * inside makes the model safe to use from several vCPU threads. */
#ifndef HOPVM_RTC_CMOS_H
#define HOPVM_RTC_CMOS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "hopvm/device.h"

#define RTC_CMOS_NR_PORTS 2
#define RTC_CMOS_SIZE 128

struct rtc_cmos {
	pthread_mutex_t lock;

	uint8_t index;		/* the selected byte */
	bool nmi_masked;	/* index bit 7; no NMI is ever masked by it */
	uint8_t cmos[RTC_CMOS_SIZE];	/* registers, alarms and RAM; the time registers only
					 * hold values while SET stops the clock */
	int64_t offset;		/* guest time minus host time, in seconds */

	time_t (*now)(void *ctx);
	void *ctx;
};

/* now may be NULL for the host's time().  The clock starts in its power-on state: host time,
 * BCD, 24-hour, RAM zeroed. */
void rtc_cmos_init(struct rtc_cmos *rtc, time_t (*now)(void *ctx), void *ctx);
void rtc_cmos_destroy(struct rtc_cmos *rtc);

int rtc_cmos_read(void *dev, uint64_t offset, uint8_t *data, unsigned size);
int rtc_cmos_write(void *dev, uint64_t offset, const uint8_t *data, unsigned size);
void rtc_cmos_reset(void *dev);
int rtc_cmos_save(void *dev, uint8_t *buf, size_t len);
int rtc_cmos_load(void *dev, const uint8_t *buf, size_t len);

extern const struct device_ops rtc_cmos_ops;

#endif
