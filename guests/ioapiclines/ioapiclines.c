/* kvm-unit-tests' x86/ioapic.c cases, driven through pc-testdev's interrupt lines (ports
 * 0x2000 + n, hopvm run --test-devices) on 4 CPUs, each with its own ok/FAIL line:
 *
 *   on the boot CPU (destination APIC ID 0): an edge and a level interrupt arrive before the
 *   instruction after the OUT that raises the line; two edges raised with IF=0 come one after
 *   the other at the same RIP, the higher vector first; a level raised again inside its
 *   handler is coalesced; a level raised twice comes twice; a level left high comes again
 *   after the EOI; masked edge and level entries (a level arrives at the unmasking MMIO write);
 *   a handler that masks its level entry; the TMR bit for edge and level vectors;
 *   to APIC ID 1 (physical), and to APIC IDs 0, 2 and 3 (flat logical destination 0xd); the
 *   same TMR checks with the line driven by APIC ID 1 with IF=0 after a delay; a handler that
 *   moves its own level entry to another CPU, leaving no remote IRR.
 *
 * The APs halt with interrupts on; the boot CPU hands one of them work through a mailbox and
 * a wake-up IPI.  Waits are bounded by the boot CPU's APIC timer, read as a clock (no timer
 * interrupt).  Lines 14 and 15 only, as ioapic.c.  Exit status 0 when every check passes, 1
 * when one fails, 2 without pc-testdev. */
#include <stdbool.h>
#include <stddef.h>

#include "guest.h"
#include "interrupts.h"
#include "x86.h"

#define SCRATCH_PORT 0xe0
#define IRQ_PORT 0x2000
#define LINE 14
#define LINE2 15
#define WAKE_VECTOR 0xf1
#define SPURIOUS_VECTOR 0xff
#define LAPIC_TICKS_PER_MS (1000000000u / 16 / 1000)	/* KVM's 1 GHz APIC bus, by 16 */
#define WAIT_MS 2000		/* the longest a case waits for what it expects */
#define SETTLE_MS 20		/* how long it then waits for anything more */

#define IOAPIC_BASE 0xfec00000UL
#define REDIR_LOW(pin) (0x10 + 2 * (pin))
#define REDIR_LEVEL (1u << 15)
#define REDIR_REMOTE_IRR (1u << 14)
#define REDIR_LOGICAL (1u << 11)
#define REDIR_MASKED (1u << 16)
#define LAPIC_TMR 0x180
#define LAPIC_LDR 0xd0
#define LAPIC_DFR 0xe0
#define FW_CFG_PORT 0x510
#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_NB_CPUS 0x05

#define MAX_CPUS 16

#define MSR_APIC_BASE 0x1b
#define APIC_BASE_X2APIC (1u << 10)
#define MSR_X2APIC_FIRST 0x800	/* + xAPIC offset / 16 */
#define CPUID_1_ECX_X2APIC (1u << 21)

static unsigned failures, nr_cpus;
static const char *pass = "";	/* "x2APIC: " in the second pass */
static uint8_t apic_ids[MAX_CPUS];
static volatile unsigned cpus_online;

/* What the handlers saw, cleared before each case. */
static volatile unsigned hits[256], on_cpu[256];
static volatile uint64_t hit_rip[256];
static volatile int tmr_in_handler;
static volatile uint8_t order[8];
static volatile unsigned nr_order, stray;	/* stray: over the whole run */
static unsigned reads[4], nr_reads;	/* what each *_then_read() saw, for a FAIL's report */
static struct spinlock note_lock;

/* An AP's work, set by the boot CPU, run by the AP with IF=0. */
static void (*volatile ap_work[256])(void);

static uint32_t ioapic_read(unsigned reg);

/* A failed check also says what the case saw. */
static void check(bool ok, const char *what)
{
	serial_printf("ioapiclines: %s%s: %s\n", pass, what, ok ? "ok" : "FAIL");
	failures += !ok;
	if (ok)
		return;
	serial_puts("ioapiclines:   counts read right after the writes:");
	for (unsigned i = 0; i < nr_reads && i < 4; i++)
		serial_printf(" %u", reads[i]);
	serial_puts("; interrupts in order:");
	for (unsigned i = 0; i < nr_order && i < sizeof(order); i++)
		serial_printf(" 0x%x", order[i]);
	serial_printf(" (%u in all); line 14's entry now 0x%x\n", nr_order,
		      ioapic_read(REDIR_LOW(LINE)));
	for (unsigned v = 0; v < 256; v++)
		if (hits[v] != 0)
			serial_printf("ioapiclines:   vector 0x%x: %u, on CPUs 0x%x, last at 0x%lx\n",
				      v, hits[v], on_cpu[v], (unsigned long)hit_rip[v]);
}

static void note_read(unsigned seen)
{
	if (nr_reads < 4)
		reads[nr_reads] = seen;
	nr_reads++;
}

static void set_line(unsigned line, uint8_t level)
{
	outb((uint16_t)(IRQ_PORT + line), level);
}

static void toggle_line(unsigned line)
{
	set_line(line, 1);
	set_line(line, 0);
}

/* The OUT, then the count read by the very next instruction: an interrupt the OUT raises for
 * this CPU must have been taken in between. */
static unsigned set_line_then_read(unsigned line, uint8_t level, volatile unsigned *count)
{
	unsigned seen;

	__asm__ volatile("outb %b1, %w2\n\tmovl %3, %0"
			 : "=r"(seen) : "a"(level), "Nd"((uint16_t)(IRQ_PORT + line)), "m"(*count)
			 : "memory");
	note_read(seen);
	return seen;
}

static uint32_t ioapic_read(unsigned reg)
{
	*(volatile uint32_t *)IOAPIC_BASE = reg;
	return *(volatile uint32_t *)(IOAPIC_BASE + 0x10);
}

static void ioapic_write(unsigned reg, uint32_t value)
{
	*(volatile uint32_t *)IOAPIC_BASE = reg;
	*(volatile uint32_t *)(IOAPIC_BASE + 0x10) = value;
}

/* The data write, then the count read by the next instruction (the index already set). */
static unsigned ioapic_write_then_read(unsigned reg, uint32_t value, volatile unsigned *count)
{
	unsigned seen;

	*(volatile uint32_t *)IOAPIC_BASE = reg;
	__asm__ volatile("movl %1, (%2)\n\tmovl %3, %0"
			 : "=&r"(seen) : "r"(value), "r"(IOAPIC_BASE + 0x10), "m"(*count)
			 : "memory");
	note_read(seen);
	return seen;
}

static void redirect(unsigned pin, uint32_t low, uint8_t dest)
{
	ioapic_write(REDIR_LOW(pin), REDIR_MASKED);
	ioapic_write(REDIR_LOW(pin) + 1, (uint32_t)dest << 24);
	ioapic_write(REDIR_LOW(pin), low);
}

static void set_mask(unsigned pin, bool masked)
{
	uint32_t low = ioapic_read(REDIR_LOW(pin));

	ioapic_write(REDIR_LOW(pin), masked ? low | REDIR_MASKED : low & ~REDIR_MASKED);
}

/* --- the local APIC, in xAPIC or (the boot CPU's, in the second pass) x2APIC mode ------ */

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return (uint64_t)hi << 32 | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t value)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)value), "d"((uint32_t)(value >> 32))
			 : "memory");
}

static bool x2apic_mode(void)
{
	return rdmsr(MSR_APIC_BASE) & APIC_BASE_X2APIC;
}

static uint32_t apic_read(uint32_t reg)
{
	return x2apic_mode() ? (uint32_t)rdmsr(MSR_X2APIC_FIRST + reg / 16) : lapic_read(reg);
}

static void apic_write(uint32_t reg, uint32_t value)
{
	if (x2apic_mode())
		wrmsr(MSR_X2APIC_FIRST + reg / 16, value);
	else
		lapic_write(reg, value);
}

static unsigned apic_id(void)
{
	return x2apic_mode() ? (uint32_t)rdmsr(MSR_X2APIC_FIRST + LAPIC_ID / 16)
			     : lapic_read(LAPIC_ID) >> 24;
}

static void send_ipi(unsigned dest, uint32_t low)
{
	if (x2apic_mode()) {
		wrmsr(MSR_X2APIC_FIRST + LAPIC_ICR_LOW / 16, (uint64_t)dest << 32 | low);
	} else {
		lapic_write(LAPIC_ICR_HIGH, dest << 24);
		lapic_write(LAPIC_ICR_LOW, low);
	}
}

static bool tmr_bit(unsigned vector)
{
	return apic_read(LAPIC_TMR + 0x10 * (vector / 32)) >> (vector % 32) & 1;
}

/* --- the clock: the boot CPU's APIC timer counting down, its interrupt masked ----------- */

static void clock_start(void)
{
	apic_write(LAPIC_TIMER_DIVIDE, 0x3);	/* by 16 */
	apic_write(LAPIC_LVT_TIMER, 1u << 16);	/* masked, one-shot */
	apic_write(LAPIC_TIMER_INITIAL, 0xffffffff);
}

static uint32_t clock_ms(void)
{
	return (0xffffffff - apic_read(LAPIC_TIMER_CURRENT)) / LAPIC_TICKS_PER_MS;
}

/* Waits, interrupts on, until *count reaches want or WAIT_MS pass, then SETTLE_MS more for
 * anything more, which should not come.  The count at the end. */
static unsigned wait_for(volatile unsigned *count, unsigned want)
{
	uint32_t start = clock_ms();

	interrupts_enable();
	while (*count < want && clock_ms() - start < WAIT_MS)
		cpu_relax();
	start = clock_ms();
	while (clock_ms() - start < SETTLE_MS)
		cpu_relax();
	interrupts_disable();
	return *count;
}

static void clear_notes(void)
{
	for (unsigned i = 0; i < 256; i++)
		hits[i] = on_cpu[i] = 0, hit_rip[i] = 0;
	nr_order = nr_reads = 0;
	tmr_in_handler = -1;
	interrupts_disable();
}

/* --- handlers ---------------------------------------------------------------------------- */

static void note(struct int_frame *frame)
{
	unsigned v = frame->vector & 0xff;

	spin_lock(&note_lock);
	hits[v]++;
	on_cpu[v] |= 1u << apic_id();
	hit_rip[v] = frame->rip;
	if (nr_order < sizeof(order))
		order[nr_order] = (uint8_t)v;
	nr_order++;
	spin_unlock(&note_lock);
}

static void eoi(void)
{
	apic_write(LAPIC_EOI, 0);
}

static void plain(struct int_frame *frame)	/* an edge: count, EOI */
{
	note(frame);
	eoi();
}

static void lowers(struct int_frame *frame)	/* a level: lower the line, EOI */
{
	note(frame);
	set_line(LINE, 0);
	eoi();
}

static void coalesces(struct int_frame *frame)	/* the first time, raised again inside */
{
	note(frame);
	if (hits[frame->vector & 0xff] == 1) {
		set_line(LINE, 0);
		set_line(LINE, 1);
	}
	set_line(LINE, 0);
	eoi();
}

static void lowers_second(struct int_frame *frame)	/* high through the first EOI */
{
	note(frame);
	if (hits[frame->vector & 0xff] == 2)
		set_line(LINE, 0);
	eoi();
}

static void masks(struct int_frame *frame)	/* masks its entry, line left high */
{
	note(frame);
	set_mask(LINE, true);
	eoi();
}

static void reads_tmr(struct int_frame *frame)
{
	tmr_in_handler = tmr_bit(frame->vector & 0xff);
	note(frame);
	set_line(LINE, 0);
	eoi();
}

static void moves_itself(struct int_frame *frame)	/* sends its entry to APIC ID 1 */
{
	note(frame);
	set_line(LINE, 0);
	ioapic_write(REDIR_LOW(LINE) + 1, 1u << 24);	/* only the upper half: the destination */
	eoi();
}

static void wake(struct int_frame *frame)
{
	(void)frame;
	eoi();
}

static void stray_interrupt(struct int_frame *frame)
{
	(void)frame;
	stray++;
}

/* --- the APs ----------------------------------------------------------------------------- */

static void lapic_flat_logical(unsigned id)
{
	lapic_write(LAPIC_DFR, 0xffffffff);	/* the flat model */
	lapic_write(LAPIC_LDR, (1u << id) << 24);
}

static void ap_main(unsigned apic_id)
{
	idt_load();
	lapic_write(LAPIC_SVR, 0x100 | SPURIOUS_VECTOR);
	lapic_flat_logical(apic_id);
	__atomic_fetch_add(&cpus_online, 1, __ATOMIC_RELEASE);
	for (;;) {
		void (*work)(void) = ap_work[apic_id & 0xff];

		if (work != NULL) {
			work();
			ap_work[apic_id & 0xff] = NULL;
		}
		wait_for_interrupt();
	}
}

static void run_on(unsigned apic_id, void (*work)(void))
{
	ap_work[apic_id] = work;
	send_ipi(apic_id, WAKE_VECTOR);
}

static void delay(void)
{
	uint64_t end = rdtsc() + 20000000;

	while (rdtsc() < end)
		cpu_relax();
}

static void ap_toggles(void)	/* IF=0 here: the AP's loop runs work with interrupts off */
{
	delay();
	toggle_line(LINE);
}

static void ap_raises(void)
{
	delay();
	set_line(LINE, 1);
}

/* --- the cases --------------------------------------------------------------------------- */

/* Where a case reads its count at two moments, seen holds both as decimal digits: 12 is 1
 * then 2. */
static void boot_cpu_cases(void)
{
	unsigned seen;

	clear_notes();
	idt_set_handler(0x76, plain);
	redirect(LINE, 0x76, 0);
	interrupts_enable();
	seen = set_line_then_read(LINE, 1, &hits[0x76]);
	set_line(LINE, 0);
	check(seen == 1 && wait_for(&hits[0x76], 1) == 1 && on_cpu[0x76] == 1,
	      "edge on the boot CPU, before the next instruction");

	clear_notes();
	idt_set_handler(0x77, lowers);
	redirect(LINE, REDIR_LEVEL | 0x77, 0);
	interrupts_enable();
	seen = set_line_then_read(LINE, 1, &hits[0x77]);
	check(seen == 1 && wait_for(&hits[0x77], 1) == 1,
	      "level on the boot CPU, before the next instruction");

	clear_notes();
	idt_set_handler(0x78, plain);
	idt_set_handler(0x66, plain);
	redirect(LINE, 0x78, 0);
	redirect(LINE2, 0x66, 0);
	interrupts_disable();
	toggle_line(LINE2);
	toggle_line(LINE);
	__asm__ volatile("sti; nop" ::: "memory");
	seen = hits[0x66] + hits[0x78];
	check(seen == 2 && order[0] == 0x78 && order[1] == 0x66 && hit_rip[0x66] == hit_rip[0x78],
	      "two edges raised with IF=0: both after sti; nop, the higher first, same RIP");
	ioapic_write(REDIR_LOW(LINE2), REDIR_MASKED);

	clear_notes();
	idt_set_handler(0x98, coalesces);
	redirect(LINE, REDIR_LEVEL | 0x98, 0);
	interrupts_enable();
	seen = set_line_then_read(LINE, 1, &hits[0x98]);
	check(seen == 1 && wait_for(&hits[0x98], 1) == 1,
	      "level raised again inside its handler is coalesced: once");

	clear_notes();
	idt_set_handler(0x99, lowers);
	redirect(LINE, REDIR_LEVEL | 0x99, 0);
	interrupts_enable();
	set_line(LINE, 1);
	seen = set_line_then_read(LINE, 1, &hits[0x99]);
	check(seen == 2 && wait_for(&hits[0x99], 2) == 2, "level raised twice: twice");

	clear_notes();
	idt_set_handler(0x9a, lowers_second);
	redirect(LINE, REDIR_LEVEL | 0x9a, 0);
	interrupts_disable();
	set_line(LINE, 1);
	for (unsigned i = 0; i < 10 && hits[0x9a] < 2; i++)
		wait_for_interrupt();
	check(wait_for(&hits[0x9a], 2) == 2, "level left high through the EOI comes again: twice");

	clear_notes();
	idt_set_handler(0x81, lowers);
	redirect(LINE, 0x81, 0);
	set_mask(LINE, true);
	interrupts_enable();
	toggle_line(LINE);
	seen = hits[0x81];
	set_mask(LINE, false);
	seen = seen * 10 + set_line_then_read(LINE, 1, &hits[0x81]);
	check(seen == 1 && wait_for(&hits[0x81], 1) == 1,
	      "edge while masked: nothing; unmasked: before the next instruction");

	clear_notes();
	idt_set_handler(0x82, lowers);
	redirect(LINE, REDIR_LEVEL | REDIR_MASKED | 0x82, 0);
	interrupts_enable();
	set_line(LINE, 1);
	seen = hits[0x82];
	seen = seen * 10 + ioapic_write_then_read(REDIR_LOW(LINE), REDIR_LEVEL | 0x82, &hits[0x82]);
	check(seen == 1 && wait_for(&hits[0x82], 1) == 1,
	      "level while masked: nothing; at the unmasking write: before the next instruction");

	clear_notes();
	idt_set_handler(0x83, masks);
	redirect(LINE, REDIR_LEVEL | 0x83, 0);
	interrupts_enable();
	seen = set_line_then_read(LINE, 1, &hits[0x83]);
	seen = seen * 10 + ioapic_write_then_read(REDIR_LOW(LINE), REDIR_LEVEL | 0x83, &hits[0x83]);
	check(seen == 12 && wait_for(&hits[0x83], 2) == 2,
	      "level whose handler masks it: again at the unmasking write, twice");
	set_line(LINE, 0);
	set_mask(LINE, false);
}

/* ioapic.c's TMR order: edge, level, level, edge, so the bit before is 0, 0, 1, 1. */
static void tmr_case(bool level, bool expect_before, unsigned driver)
{
	unsigned seen;
	bool before;

	clear_notes();
	idt_set_handler(0x79, reads_tmr);
	redirect(LINE, (level ? REDIR_LEVEL : 0) | 0x79, 0);
	before = tmr_bit(0x79);
	interrupts_enable();
	if (driver == 0) {
		seen = set_line_then_read(LINE, 1, &hits[0x79]);
		set_line(LINE, 0);
	} else {
		run_on(driver, level ? ap_raises : ap_toggles);
		seen = 1;
	}
	seen = seen == 1 ? wait_for(&hits[0x79], 1) : 0;
	serial_printf("ioapiclines: %sTMR %s, line driven by APIC ID %u: bit before %u, in the "
		      "handler %d\n", pass, level ? "level" : "edge", driver, before,
		      tmr_in_handler);
	if (driver == 0)
		check(seen == 1 && before == expect_before && tmr_in_handler == level,
		      level ? "TMR set for a level interrupt, before the next instruction"
			    : "TMR clear for an edge interrupt, before the next instruction");
	else
		check(seen == 1 && before == expect_before && tmr_in_handler == level &&
		      on_cpu[0x79] == 1,
		      level ? "TMR set for a level interrupt raised by APIC ID 1 with IF=0"
			    : "TMR clear for an edge interrupt pulsed by APIC ID 1 with IF=0");
	set_line(LINE, 0);
}

static void destination_cases(void)
{
	unsigned seen;

	clear_notes();
	idt_set_handler(0x85, lowers);
	redirect(LINE, REDIR_LEVEL | 0x85, 1);
	set_line(LINE, 1);
	check(wait_for(&hits[0x85], 1) == 1 && on_cpu[0x85] == 1u << 1,
	      "level to APIC ID 1 (physical destination)");

	if (nr_cpus >= 4) {
		clear_notes();
		idt_set_handler(0x86, lowers);
		redirect(LINE, REDIR_LEVEL | REDIR_LOGICAL | 0x86, 0xd);
		set_line(LINE, 1);
		seen = wait_for(&hits[0x86], 3);
		serial_printf("ioapiclines: %slogical destination 0xd: %u interrupts, CPUs 0x%x\n",
			      pass, seen, on_cpu[0x86]);
		check(seen == 3 && on_cpu[0x86] == 0xd,
		      "level to flat logical destination 0xd: once each on APIC IDs 0, 2 and 3");
	}

	for (unsigned i = 0; i < 4; i++)
		tmr_case(i == 1 || i == 2, i >= 2, 1);

	clear_notes();
	idt_set_handler(0x84, moves_itself);
	redirect(LINE, REDIR_LEVEL | 0x84, 0);
	interrupts_enable();
	seen = set_line_then_read(LINE, 1, &hits[0x84]);
	check(seen == 1 && wait_for(&hits[0x84], 1) == 1 && on_cpu[0x84] == 1 &&
	      !(ioapic_read(REDIR_LOW(LINE)) & REDIR_REMOTE_IRR),
	      "level whose handler moves it to APIC ID 1: once, no remote IRR left");
	ioapic_write(REDIR_LOW(LINE), REDIR_MASKED);
}

/* fw_cfg's CPU count (QEMU and hopvm both have it; SeaBIOS's MP table may list only the
 * boot CPU), APIC IDs 0..n-1 as both give them; else the MP table. */
static void find_cpus(void)
{
	char sig[4];

	outw(FW_CFG_PORT, FW_CFG_SIGNATURE);
	for (unsigned i = 0; i < 4; i++)
		sig[i] = (char)inb(FW_CFG_PORT + 1);
	if (sig[0] == 'Q' && sig[1] == 'E' && sig[2] == 'M' && sig[3] == 'U') {
		outw(FW_CFG_PORT, FW_CFG_NB_CPUS);
		nr_cpus = inb(FW_CFG_PORT + 1);
		nr_cpus |= (unsigned)inb(FW_CFG_PORT + 1) << 8;
		if (nr_cpus > MAX_CPUS)
			nr_cpus = MAX_CPUS;
		for (unsigned i = 0; i < nr_cpus; i++)
			apic_ids[i] = (uint8_t)i;
	} else {
		nr_cpus = mptable_find_cpus(apic_ids, MAX_CPUS);
	}
	if (nr_cpus == 0)
		nr_cpus = 1, apic_ids[0] = 0;
}

static void all_cases(void)
{
	boot_cpu_cases();
	for (unsigned i = 0; i < 4; i++)
		tmr_case(i == 1 || i == 2, i >= 2, 0);
	if (nr_cpus >= 2)
		destination_cases();
	else
		serial_puts("ioapiclines: one CPU: the destination cases need 2 (4 for logical)\n");
	check(stray == 0, "no interrupt at any other vector");
}

int guest_main(void)
{
	uint32_t regs[4];

	if (inl(SCRATCH_PORT) == 0xffffffff) {
		serial_puts("ioapiclines: no pc-testdev (hopvm run --test-devices adds it)\n");
		return 2;
	}
	find_cpus();
	if (apic_ids[0] != 0 || apic_id() != 0) {
		serial_puts("ioapiclines: the boot CPU is not APIC ID 0, as ioapic.c assumes\n");
		return 1;
	}
	idt_init();
	for (unsigned v = 0x20; v < 0x100; v++)
		idt_set_handler((uint8_t)v, stray_interrupt);
	idt_set_handler(WAKE_VECTOR, wake);
	outb(0x21, 0xff);	/* the PICs masked, as ioapic.c's mask_pic_interrupts() */
	outb(0xa1, 0xff);
	lapic_write(LAPIC_SVR, 0x100 | SPURIOUS_VECTOR);
	lapic_flat_logical(0);
	clock_start();
	set_line(LINE, 0);
	set_line(LINE2, 0);

	cpus_online = 1;
	for (unsigned i = 1; i < nr_cpus; i++)
		ap_start(apic_ids[i], ap_main);
	while (__atomic_load_n(&cpus_online, __ATOMIC_ACQUIRE) < nr_cpus)
		cpu_relax();
	serial_printf("ioapiclines: %u CPUs\n", nr_cpus);

	all_cases();
	/* ioapic.c turns x2APIC mode on, on the boot CPU alone, where the CPU has it: the APs
	 * stay in xAPIC mode, so KVM delivers to a mix of the two. */
	cpuid(1, 0, regs);
	if (regs[2] & CPUID_1_ECX_X2APIC) {
		wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | APIC_BASE_X2APIC);
		pass = "x2APIC: ";
		all_cases();
	} else {
		serial_puts("ioapiclines: no x2APIC: one pass, in xAPIC mode\n");
	}
	if (failures != 0) {
		serial_printf("ioapiclines: FAIL: %u checks failed\n", failures);
		return 1;
	}
	serial_puts("ioapiclines: PASS\n");
	return 0;
}
