/* The local APIC timer in TSC-deadline mode (the mode Linux prefers where CPUID offers it):
 * the interrupt comes once the TSC passes the deadline written to IA32_TSC_DEADLINE, not
 * before, and the MSR reads 0 afterwards; a deadline of 0 disarms the timer. */
#include "guest.h"
#include "interrupts.h"
#include "x86.h"

#define MSR_TSC_DEADLINE 0x6e0
#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)
#define LAPIC_TIMER_VECTOR 0xf0
#define LAPIC_SPURIOUS_VECTOR 0xff
#define LAPIC_TSC_DEADLINE_MODE (2u << 17)
#define DELAY_TICKS 2000000ULL		/* about a millisecond at 2 GHz */
#define GIVE_UP_TICKS 20000000000ULL	/* several seconds, even emulated */
#define ROUNDS 3

static volatile unsigned fired;
static volatile uint64_t fired_tsc;

static uint64_t rdmsr(uint32_t index)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(index));
	return ((uint64_t)hi << 32) | lo;
}

static void wrmsr(uint32_t index, uint64_t value)
{
	__asm__ volatile("wrmsr" ::"c"(index), "a"((uint32_t)value), "d"((uint32_t)(value >> 32)));
}

static void timer_interrupt(struct int_frame *frame)
{
	(void)frame;
	fired_tsc = rdtsc();
	fired++;
	lapic_write(LAPIC_EOI, 0);
}

static void spurious_interrupt(struct int_frame *frame)
{
	(void)frame;
}

/* Waits with interrupts on until the timer fired or the TSC reaches until. */
static bool wait_fired(unsigned count, uint64_t until)
{
	interrupts_enable();
	while (fired < count && rdtsc() < until)
		cpu_relax();
	interrupts_disable();
	return fired >= count;
}

int guest_main(void)
{
	uint32_t r[4];

	cpuid(1, 0, r);
	if (!(r[2] & CPUID_1_ECX_TSC_DEADLINE)) {
		serial_puts("tscdeadline: CPUID.1:ECX[24] is clear: no TSC-deadline timer\n");
		return 2;
	}
	idt_init();
	idt_set_handler(LAPIC_TIMER_VECTOR, timer_interrupt);
	idt_set_handler(LAPIC_SPURIOUS_VECTOR, spurious_interrupt);
	lapic_write(LAPIC_SVR, 0x100 | LAPIC_SPURIOUS_VECTOR);
	lapic_write(LAPIC_LVT_TIMER, LAPIC_TSC_DEADLINE_MODE | LAPIC_TIMER_VECTOR);

	for (unsigned i = 1; i <= ROUNDS; i++) {
		uint64_t deadline = rdtsc() + DELAY_TICKS;

		wrmsr(MSR_TSC_DEADLINE, deadline);
		if (!wait_fired(i, deadline + GIVE_UP_TICKS)) {
			serial_printf("tscdeadline: FAIL: no interrupt in round %u\n", i);
			return 1;
		}
		if (fired_tsc < deadline) {
			serial_printf("tscdeadline: FAIL: round %u fired %lu ticks early\n", i,
				      (unsigned long)(deadline - fired_tsc));
			return 1;
		}
		if (rdmsr(MSR_TSC_DEADLINE) != 0) {
			serial_puts("tscdeadline: FAIL: IA32_TSC_DEADLINE is not 0 after it fired\n");
			return 1;
		}
	}
	serial_printf("tscdeadline: %u interrupts, none early\n", fired);

	/* Armed far ahead, then disarmed: nothing may come, even well past the deadline. */
	wrmsr(MSR_TSC_DEADLINE, rdtsc() + 100 * DELAY_TICKS);
	wrmsr(MSR_TSC_DEADLINE, 0);
	if (wait_fired(ROUNDS + 1, rdtsc() + 200 * DELAY_TICKS)) {
		serial_puts("tscdeadline: FAIL: a disarmed timer fired\n");
		return 1;
	}
	serial_puts("tscdeadline: a deadline of 0 disarms it\n");
	serial_puts("tscdeadline: PASS\n");
	return 0;
}
