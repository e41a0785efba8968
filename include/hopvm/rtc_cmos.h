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
 * not modelled.  The alarm is looked at only while the machine sleeps in ACPI S3, where it is
 * a wake event: rtc_cmos_alarm_fired() then sets AF and IRQF in register C, which a read
 * clears; otherwise register C reads 0.  UIP in register A is set for the last 244 us of
 * each second, as on the chip (and in QEMU): the KVM project's s3 test waits for it to rise
 * and fall before it sets its alarm.  Register D reports valid RAM and time.
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

	int64_t alarm_checked;	/* the guest's last second the alarm was compared with */

	time_t (*now)(void *ctx);
	long (*now_subsec_ns)(void *ctx);	/* where in the second now() is, for UIP */
	void *ctx;
};

/* now may be NULL for the host's clock (CLOCK_REALTIME, with its nanoseconds for UIP; with a
 * now of its own, a test sets now_subsec_ns for UIP).  The clock starts in its power-on state: host time,
 * BCD, 24-hour, RAM zeroed. */
void rtc_cmos_init(struct rtc_cmos *rtc, time_t (*now)(void *ctx), void *ctx);
void rtc_cmos_destroy(struct rtc_cmos *rtc);

/* The alarm is compared from the current second on, each second that passes once, by
 * rtc_cmos_alarm_fired(): true if AIE is set and one matched (seconds, minutes and hours, a
 * value of 0xc0 or above matching any). */
void rtc_cmos_alarm_start(struct rtc_cmos *rtc);
bool rtc_cmos_alarm_fired(struct rtc_cmos *rtc);

int rtc_cmos_read(void *dev, uint64_t offset, uint8_t *data, unsigned size);
int rtc_cmos_write(void *dev, uint64_t offset, const uint8_t *data, unsigned size);
void rtc_cmos_reset(void *dev);
int rtc_cmos_save(void *dev, uint8_t *buf, size_t len);
int rtc_cmos_load(void *dev, const uint8_t *buf, size_t len);

extern const struct device_ops rtc_cmos_ops;

#endif
