/* The ACPI PM1 register block (ACPI 6.5, 4.8.3): the fixed hardware an OS powers the machine
 * off with and hears the power button through.  Registered with ACPI_PM_NR_PORTS ports:
 * PM1a_STS at offset 0, PM1a_EN at 2 (together the FADT's PM1a event block) and PM1a_CNT at 4
 * (its control block), each 16 bits wide, any byte of them accessible alone, and the PM
 * timer at offset 8: a free-running 24-bit count at 3.579545 MHz (the FADT says 24 bits, as
 * QEMU's does), from a monotonic host clock.  Its overflow status and interrupt (TMR_STS, the
 * timer's SCI) are not there: no OS hopvm knows of waits for them.
 *
 * The machine is always in ACPI mode (the FADT has no SMI command port), so SCI_EN reads 1.
 * The power button sets PWRBTN_STS; the SCI line is high while a status bit is set whose
 * enable bit is too, and the guest lowers it by writing 1 to the status bit.  Writing SLP_EN
 * asks for the sleep state in SLP_TYP: the owner's on_sleep callback decides what that means
 * (the DSDT names ACPI_PM_SLP_TYP_S3, suspend to RAM, in _S3 and ACPI_PM_SLP_TYP_S5, power
 * off, in _S5; S3 is type 1 as in QEMU, whose value the KVM project's s3 test writes as is).
 * On a wake from S3, acpi_pm_wake() sets WAK_STS and the waking event's own status bit.
 * A mutex inside makes the model safe from several vCPU threads and the control thread. */
#ifndef HOPVM_ACPI_PM_H
#define HOPVM_ACPI_PM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hopvm/device.h"

#define ACPI_PM_NR_PORTS 12
#define ACPI_PM_EVT_LEN 4	/* PM1a_STS and PM1a_EN */
#define ACPI_PM_CNT_OFFSET 4
#define ACPI_PM_CNT_LEN 2
#define ACPI_PM_TMR_OFFSET 8
#define ACPI_PM_TMR_LEN 4
#define ACPI_PM_TIMER_HZ 3579545ULL
#define ACPI_PM_TIMER_MASK 0xffffffULL

#define ACPI_PM1_STS_PWRBTN 0x0100
#define ACPI_PM1_STS_RTC 0x0400
#define ACPI_PM1_STS_WAK 0x8000
#define ACPI_PM1_EN_PWRBTN 0x0100
#define ACPI_PM1_EN_RTC 0x0400
#define ACPI_PM1_CNT_SCI_EN 0x0001
#define ACPI_PM1_CNT_SLP_TYP_SHIFT 10
#define ACPI_PM1_CNT_SLP_EN 0x2000

#define ACPI_PM_SLP_TYP_S3 1
#define ACPI_PM_SLP_TYP_S5 5

struct acpi_pm {
	pthread_mutex_t lock;
	uint16_t sts, en, cnt;
	/* The guest wrote PM1_EN since the machine powered on: until then every wake event is
	 * enabled, as in QEMU (the KVM project's s3 test arms the RTC alarm without RTC_EN). */
	bool en_written;
	bool sci_level;		/* what set_sci was last told */
	/* The timer counts clock ticks plus this (a migrated guest's timer goes on from where
	 * it was); clock_ns is CLOCK_MONOTONIC unless a test sets its own. */
	uint64_t timer_offset;
	uint64_t (*clock_ns)(void);

	void (*set_sci)(void *ctx, int level);
	void (*on_sleep)(void *ctx, unsigned slp_typ);
	void *ctx;
};

void acpi_pm_init(struct acpi_pm *pm, void (*set_sci)(void *ctx, int level),
		  void (*on_sleep)(void *ctx, unsigned slp_typ), void *ctx);
void acpi_pm_destroy(struct acpi_pm *pm);

/* The timer's full count (the guest sees its low 24 bits). */
uint64_t acpi_pm_timer_ticks(struct acpi_pm *pm);

/* A press of the power button.  Returns whether the guest had enabled the button's event,
 * that is, whether it will hear the press. */
bool acpi_pm_press_power_button(struct acpi_pm *pm);

/* The machine wakes from S3: WAK_STS and the event's status bits (ACPI_PM1_STS_RTC for the
 * RTC alarm, ACPI_PM1_STS_PWRBTN for any other wake, as QEMU reports one) are set, with the
 * SCI if their enable bits are. */
void acpi_pm_wake(struct acpi_pm *pm, uint16_t event_sts);

/* Whether the RTC alarm may wake the machine: RTC_EN, or no PM1_EN write yet. */
bool acpi_pm_rtc_wake_enabled(struct acpi_pm *pm);

int acpi_pm_read(void *dev, uint64_t offset, uint8_t *data, unsigned size);
int acpi_pm_write(void *dev, uint64_t offset, const uint8_t *data, unsigned size);
void acpi_pm_reset(void *dev);
int acpi_pm_save(void *dev, uint8_t *buf, size_t len);
int acpi_pm_load(void *dev, const uint8_t *buf, size_t len);

extern const struct device_ops acpi_pm_ops;

#endif
