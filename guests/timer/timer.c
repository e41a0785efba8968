/* Takes interrupts from both timers KVM emulates in the kernel, the PIT (IRQ 0 through the
 * PIC) and the local APIC timer, each set to 1 ms, and counts them against the TSC: the two
 * must agree on how long a millisecond is. */
#include "guest.h"
#include "interrupts.h"
#include "x86.h"

#define TICKS 50
#define PIT_HZ 1193182
#define PIT_DIVISOR 1193	/* ~1 kHz */
#define LAPIC_TIMER_VECTOR 0xf0
#define LAPIC_SPURIOUS_VECTOR 0xff
#define LAPIC_BUS_HZ 1000000000ULL	/* KVM's APIC bus: 1 ns per tick */
#define LAPIC_DIVIDE_16 0x3
#define LAPIC_PERIODIC (1u << 17)
#define LAPIC_MASKED (1u << 16)

static volatile unsigned ticks;
static volatile uint64_t first_tsc, last_tsc;

static void count_tick(void)
{
	uint64_t now = rdtsc();

	/* A tick can land between the last counted one and the timer being masked. */
	if (ticks >= TICKS)
		return;
	if (ticks == 0)
		first_tsc = now;
	last_tsc = now;
	ticks++;
}

static void pit_interrupt(struct int_frame *frame)
{
	(void)frame;
	count_tick();
	pic_eoi(0);
}

static void lapic_timer_interrupt(struct int_frame *frame)
{
	(void)frame;
	count_tick();
	lapic_write(LAPIC_EOI, 0);
}

static void spurious_interrupt(struct int_frame *frame)
{
	(void)frame;
}

/* Waits for TICKS interrupts and returns the TSC ticks per timer tick. */
static uint64_t measure(void)
{
	ticks = 0;
	while (ticks < TICKS)
		wait_for_interrupt();
	return (last_tsc - first_tsc) / (TICKS - 1);
}

int guest_main(void)
{
	uint64_t pit_tsc, lapic_tsc;

	idt_init();
	pic_init();
	idt_set_handler(PIC_VECTOR_BASE + 0, pit_interrupt);
	idt_set_handler(LAPIC_TIMER_VECTOR, lapic_timer_interrupt);
	idt_set_handler(LAPIC_SPURIOUS_VECTOR, spurious_interrupt);

	outb(0x43, 0x34);	/* channel 0, low then high byte, mode 2 (rate generator) */
	outb(0x40, PIT_DIVISOR & 0xff);
	outb(0x40, PIT_DIVISOR >> 8);
	pic_unmask(0);
	pit_tsc = measure();
	outb(0x21, 0xff);	/* PIC quiet again */
	serial_printf("timer: PIT: %u interrupts, %lu TSC ticks each\n", ticks,
		      (unsigned long)pit_tsc);

	lapic_write(LAPIC_SVR, 0x100 | LAPIC_SPURIOUS_VECTOR);	/* software-enable the LAPIC */
	lapic_write(LAPIC_TIMER_DIVIDE, LAPIC_DIVIDE_16);
	lapic_write(LAPIC_LVT_TIMER, LAPIC_PERIODIC | LAPIC_TIMER_VECTOR);
	lapic_write(LAPIC_TIMER_INITIAL, (uint32_t)(LAPIC_BUS_HZ / 16 / 1000));
	lapic_tsc = measure();
	lapic_write(LAPIC_LVT_TIMER, LAPIC_MASKED);
	serial_printf("timer: LAPIC timer: %u interrupts, %lu TSC ticks each\n", ticks,
		      (unsigned long)lapic_tsc);

	/* Both are 1 ms (the PIT's is 0.99985 ms); a nested, emulated host adds jitter, so
	 * only a factor of two apart counts as disagreement. */
	serial_printf("timer: the TSC runs at about %lu MHz\n", (unsigned long)(pit_tsc / 1000));
	if (pit_tsc == 0 || lapic_tsc == 0 || pit_tsc > 2 * lapic_tsc || lapic_tsc > 2 * pit_tsc) {
		serial_puts("timer: FAIL: the timers disagree\n");
		return 1;
	}
	serial_puts("timer: PASS\n");
	return 0;
}
