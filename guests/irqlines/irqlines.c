/* pc-testdev's interrupt lines (ports 0x2000 + n, hopvm run --test-devices) driven as test
 * kernels written for QEMU drive them, each case with its own ok/FAIL line:
 *
 *   - through the PICs with interrupts off: a pulse (1 then 0) while IF=0, then "sti; hlt",
 *     must be latched and arrive after the STI, written byte by byte and, as kvm-unit-tests'
 *     realmode.c writes it, with a 4-byte OUT to port 0x200b; and on the boot CPU only;
 *   - a PIC line left high by an earlier step: the next pulse is no edge, so nothing arrives
 *     until the line has been low;
 *   - through the IOAPIC, aimed at the boot CPU and at APs: an edge arrives once, on that CPU
 *     alone; a level-triggered entry arrives again after the EOI while the line stays high,
 *     and stops when the handler lowers it; an edge on a line left high is no edge.
 *
 * Every CPU the MP table lists is started; the APs idle with interrupts on.  Lines 0-15 only,
 * so the same kernel runs under QEMU's own pc-testdev (it aborts on a higher line).  Exit
 * status 0 when every check passes, 1 when one fails, 2 without pc-testdev. */
#include <stdbool.h>

#include "guest.h"
#include "interrupts.h"
#include "x86.h"

#define SCRATCH_PORT 0xe0
#define IRQ_PORT 0x2000
#define PIC_IRQ 11		/* kvm-unit-tests' realmode.c pulses this one */
#define PIC_VECTOR (PIC_VECTOR_BASE + PIC_IRQ)
#define IOAPIC_IRQ 14		/* and ioapic.c these two */
#define IOAPIC_IRQ2 15
#define EDGE_VECTOR 0x40
#define LEVEL_VECTOR 0x41
#define WATCHDOG_VECTOR 0xf0
#define SPURIOUS_VECTOR 0xff
#define LAPIC_TICKS_PER_MS (1000000000u / 16 / 1000)	/* KVM's 1 GHz APIC bus, divided by 16 */
#define WATCHDOG_MS 1000	/* the longest a case waits for what it expects */
#define SETTLE_MS 30		/* how long it then waits for anything more */

#define IOAPIC_BASE 0xfec00000UL
#define IOAPIC_REDTBL(pin) (0x10 + 2 * (pin))
#define IOAPIC_LEVEL (1u << 15)
#define IOAPIC_MASKED (1u << 16)
#define LAPIC_LVT0 0x350
#define ELCR_SLAVE 0x4d1	/* the PIIX's edge/level control for IRQs 8-15 */
#define FW_CFG_PORT 0x510
#define FW_CFG_NB_CPUS 0x05

#define MAX_CPUS 16

static unsigned failures, nr_cpus;
static uint8_t apic_ids[MAX_CPUS];
static volatile unsigned cpus_online;
static volatile unsigned pic_hits[256], edge_hits[256], level_hits[256];
static volatile unsigned level_high_for;	/* level interrupts to take before lowering */
static volatile unsigned watchdog_fired, stray;
static volatile uint32_t ap_lvt0[256];

static void check(bool ok, const char *what)
{
	serial_printf("irqlines: %s: %s\n", what, ok ? "ok" : "FAIL");
	failures += !ok;
}

/* A check about the CPU with APIC ID id. */
static void check_for(bool ok, unsigned id, const char *what)
{
	serial_printf("irqlines: IOAPIC to APIC ID %u: %s: %s\n", id, what, ok ? "ok" : "FAIL");
	failures += !ok;
}

static void set_line(unsigned line, uint8_t level)
{
	outb((uint16_t)(IRQ_PORT + line), level);
}

static void ioapic_write(unsigned reg, uint32_t value)
{
	*(volatile uint32_t *)IOAPIC_BASE = reg;
	*(volatile uint32_t *)(IOAPIC_BASE + 0x10) = value;
}

static void ioapic_route(unsigned pin, uint32_t low, unsigned apic_id)
{
	ioapic_write(IOAPIC_REDTBL(pin), IOAPIC_MASKED);
	ioapic_write(IOAPIC_REDTBL(pin) + 1, apic_id << 24);
	ioapic_write(IOAPIC_REDTBL(pin), low);
}

static unsigned sum(volatile unsigned *hits)
{
	unsigned n = 0;

	for (unsigned i = 0; i < nr_cpus; i++)
		n += hits[apic_ids[i]];
	return n;
}

static void clear_counts(void)
{
	for (unsigned i = 0; i < 256; i++)
		pic_hits[i] = edge_hits[i] = level_hits[i] = 0;
	stray = 0;
}

static void pic_interrupt(struct int_frame *frame)
{
	(void)frame;
	pic_hits[this_apic_id()]++;
	pic_eoi(PIC_IRQ);
}

static void edge_interrupt(struct int_frame *frame)
{
	(void)frame;
	edge_hits[this_apic_id()]++;
	lapic_write(LAPIC_EOI, 0);
}

/* Leaves the line high for the first level_high_for interrupts: each EOI then finds the line
 * still high, and the IOAPIC sends the vector again. */
static void level_interrupt(struct int_frame *frame)
{
	unsigned id = this_apic_id();

	(void)frame;
	if (++level_hits[id] >= level_high_for)
		set_line(IOAPIC_IRQ, 0);
	lapic_write(LAPIC_EOI, 0);
}

static void watchdog_interrupt(struct int_frame *frame)
{
	(void)frame;
	watchdog_fired = 1;
	lapic_write(LAPIC_EOI, 0);
}

/* The PICs' spurious IRQ 7 and 15, and the LAPIC's: counted, never acknowledged. */
static void stray_interrupt(struct int_frame *frame)
{
	(void)frame;
	stray++;
}

static void arm_watchdog(unsigned ms)
{
	watchdog_fired = 0;
	lapic_write(LAPIC_TIMER_INITIAL, ms * LAPIC_TICKS_PER_MS);
}

/* Waits, interrupts on, until the counters reach want or the watchdog fires; then a while
 * longer for anything that should not come.  True if they reached want. */
static bool wait_for(volatile unsigned *hits, unsigned want)
{
	bool reached;

	arm_watchdog(WATCHDOG_MS);
	interrupts_enable();
	while (sum(hits) < want && !watchdog_fired)
		cpu_relax();
	reached = sum(hits) >= want;
	arm_watchdog(SETTLE_MS);
	while (!watchdog_fired)
		cpu_relax();
	interrupts_disable();
	return reached;
}

static void ap_main(unsigned apic_id)
{
	(void)apic_id;
	idt_load();
	lapic_write(LAPIC_SVR, 0x100 | SPURIOUS_VECTOR);
	ap_lvt0[apic_id & 0xff] = lapic_read(LAPIC_LVT0);
	__atomic_fetch_add(&cpus_online, 1, __ATOMIC_RELEASE);
	for (;;)
		wait_for_interrupt();
}

/* --- through the PICs ------------------------------------------------------------------ */

/* realmode.c's sequence: the pulse while IF=0, then STI and HLT.  The watchdog ends the HLT
 * if the PIC kept nothing. */
static void pulse_then_sti_hlt(bool four_byte_out)
{
	uint16_t port = IRQ_PORT + PIC_IRQ;
	uint32_t level = 1;

	arm_watchdog(WATCHDOG_MS);
	if (four_byte_out)
		__asm__ volatile("cli; outl %%eax, %%dx; xorl %%eax, %%eax; outl %%eax, %%dx; "
				 "sti; hlt; cli" : "+a"(level) : "d"(port) : "memory");
	else
		__asm__ volatile("cli; outb %%al, %%dx; xorl %%eax, %%eax; outb %%al, %%dx; "
				 "sti; hlt; cli" : "+a"(level) : "d"(port) : "memory");
}

static void check_pic(void)
{
	unsigned bsp = apic_ids[0];

	pic_init();
	/* Edge-triggered, as hopvm's KVM PIC starts; SeaBIOS makes IRQ 11 (a PCI line) level. */
	outb(ELCR_SLAVE, inb(ELCR_SLAVE) & (uint8_t)~(1u << (PIC_IRQ - 8)));
	pic_unmask(PIC_IRQ);

	clear_counts();
	pulse_then_sti_hlt(false);
	check(pic_hits[bsp] == 1 && !watchdog_fired,
	      "PIC: IRQ 11 pulsed by bytes with interrupts off arrives at sti; hlt");
	wait_for(pic_hits, 2);
	serial_printf("irqlines: PIC IRQ 11 by bytes: %u on the boot CPU, %u in all\n",
		      pic_hits[bsp], sum(pic_hits));
	check(sum(pic_hits) == 1 && stray == 0, "PIC: that pulse arrives once, nothing else");

	clear_counts();
	pulse_then_sti_hlt(true);
	check(pic_hits[bsp] == 1 && !watchdog_fired,
	      "PIC: IRQ 11 pulsed by a 4-byte OUT to port 0x200b arrives at sti; hlt");
	wait_for(pic_hits, 2);
	check(sum(pic_hits) == 1 && stray == 0, "PIC: that pulse arrives once, nothing else");

	/* An edge needs the line low first: a line left high makes the next pulse no edge. */
	clear_counts();
	set_line(PIC_IRQ, 1);
	check(wait_for(pic_hits, 1) && sum(pic_hits) == 1, "PIC: IRQ 11 raised and left high "
	      "arrives once");
	set_line(PIC_IRQ, 1);
	set_line(PIC_IRQ, 0);
	check(!wait_for(pic_hits, 2) && sum(pic_hits) == 1,
	      "PIC: a pulse on the line left high is no edge: nothing more");
	set_line(PIC_IRQ, 1);
	set_line(PIC_IRQ, 0);
	check(wait_for(pic_hits, 2) && sum(pic_hits) == 2, "PIC: once low, the next pulse arrives");

	check(pic_hits[bsp] == 2 && stray == 0,
	      nr_cpus > 1 ? "PIC: all on the boot CPU, none on an AP" : "PIC: all on the boot CPU");
	outb(0xa1, 0xff);	/* masked again: the IOAPIC cases below share lines with the PICs */
}

/* --- through the IOAPIC ---------------------------------------------------------------- */

static void check_ioapic_cpu(unsigned id)
{
	/* Edge: once, on that CPU alone. */
	clear_counts();
	set_line(IOAPIC_IRQ, 0);
	ioapic_route(IOAPIC_IRQ, EDGE_VECTOR, id);
	set_line(IOAPIC_IRQ, 1);
	set_line(IOAPIC_IRQ, 0);
	wait_for(edge_hits, 1);
	check_for(edge_hits[id] == 1 && sum(edge_hits) == 1 && stray == 0, id,
		  "edge on line 14 arrives once, there");

	/* Level: taken 3 times while the line stays high, re-sent after each EOI, then lowered by
	 * the handler: 3, no more. */
	clear_counts();
	level_high_for = 3;
	ioapic_route(IOAPIC_IRQ, IOAPIC_LEVEL | LEVEL_VECTOR, id);
	set_line(IOAPIC_IRQ, 1);
	wait_for(level_hits, 3);
	check_for(level_hits[id] == 3 && sum(level_hits) == 3 && stray == 0, id,
		  "level on line 14 sent again after each EOI while high: 3 times, there");

	/* The other line, raised with interrupts off on this CPU: it waits for the STI. */
	clear_counts();
	set_line(IOAPIC_IRQ2, 0);
	ioapic_route(IOAPIC_IRQ2, EDGE_VECTOR, id);
	interrupts_disable();
	set_line(IOAPIC_IRQ2, 1);
	set_line(IOAPIC_IRQ2, 0);
	wait_for(edge_hits, 1);
	check_for(edge_hits[id] == 1 && sum(edge_hits) == 1 && stray == 0, id,
		  "edge on line 15 pulsed with interrupts off arrives once, there");
	ioapic_write(IOAPIC_REDTBL(IOAPIC_IRQ), IOAPIC_MASKED);
	ioapic_write(IOAPIC_REDTBL(IOAPIC_IRQ2), IOAPIC_MASKED);
}

static void check_ioapic(void)
{
	unsigned bsp = apic_ids[0];

	check_ioapic_cpu(bsp);
	for (unsigned i = 1; i < nr_cpus; i++)
		check_ioapic_cpu(apic_ids[i]);

	/* An edge entry on a line an earlier step left high: raised while masked, the line stays
	 * high, so a pulse then is no edge; once it was low, the next pulse is. */
	clear_counts();
	ioapic_route(IOAPIC_IRQ, IOAPIC_MASKED | EDGE_VECTOR, bsp);
	set_line(IOAPIC_IRQ, 1);
	ioapic_route(IOAPIC_IRQ, EDGE_VECTOR, bsp);
	set_line(IOAPIC_IRQ, 1);
	set_line(IOAPIC_IRQ, 0);
	check(!wait_for(edge_hits, 1), "IOAPIC: a pulse on a line left high is no edge: nothing");
	set_line(IOAPIC_IRQ, 1);
	set_line(IOAPIC_IRQ, 0);
	check(wait_for(edge_hits, 1) && sum(edge_hits) == 1,
	      "IOAPIC: once low, the next pulse arrives once");
	ioapic_write(IOAPIC_REDTBL(IOAPIC_IRQ), IOAPIC_MASKED);
}

int guest_main(void)
{
	uint32_t scratch = inl(SCRATCH_PORT);

	if (scratch == 0xffffffff) {
		serial_puts("irqlines: no pc-testdev (hopvm run --test-devices adds it)\n");
		return 2;
	}
	/* What the firmware left: the PICs' masks and the slave's edge/level control. */
	serial_printf("irqlines: at entry, PIC masks 0x%x 0x%x, ELCR for IRQs 8-15 0x%x\n",
		      inb(0x21), inb(0xa1), inb(ELCR_SLAVE));
	nr_cpus = mptable_find_cpus(apic_ids, MAX_CPUS);
	if (nr_cpus == 0) {
		/* No MP table (QEMU's SeaBIOS writes none): fw_cfg's count, APIC IDs 0..n-1. */
		outw(FW_CFG_PORT, FW_CFG_NB_CPUS);
		nr_cpus = inb(FW_CFG_PORT + 1);
		nr_cpus |= (unsigned)inb(FW_CFG_PORT + 1) << 8;
		if (nr_cpus == 0 || nr_cpus > MAX_CPUS)
			nr_cpus = 1;
		for (unsigned i = 0; i < nr_cpus; i++)
			apic_ids[i] = (uint8_t)i;
		apic_ids[0] = (uint8_t)this_apic_id();
	}
	idt_init();
	idt_set_handler(PIC_VECTOR, pic_interrupt);
	idt_set_handler(PIC_VECTOR_BASE + 7, stray_interrupt);
	idt_set_handler(PIC_VECTOR_BASE + 15, stray_interrupt);
	idt_set_handler(EDGE_VECTOR, edge_interrupt);
	idt_set_handler(LEVEL_VECTOR, level_interrupt);
	idt_set_handler(WATCHDOG_VECTOR, watchdog_interrupt);
	idt_set_handler(SPURIOUS_VECTOR, stray_interrupt);
	lapic_write(LAPIC_SVR, 0x100 | SPURIOUS_VECTOR);
	lapic_write(LAPIC_TIMER_DIVIDE, 0x3);	/* by 16 */
	lapic_write(LAPIC_LVT_TIMER, WATCHDOG_VECTOR);	/* one-shot */
	/* Every line used here starts low, whatever a loader left. */
	set_line(PIC_IRQ, 0);
	set_line(IOAPIC_IRQ, 0);
	set_line(IOAPIC_IRQ2, 0);

	cpus_online = 1;
	for (unsigned i = 1; i < nr_cpus; i++)
		ap_start(apic_ids[i], ap_main);
	while (__atomic_load_n(&cpus_online, __ATOMIC_ACQUIRE) < nr_cpus)
		cpu_relax();
	serial_printf("irqlines: %u CPUs, boot CPU APIC ID %u, its LVT0 0x%x\n", nr_cpus,
		      apic_ids[0], lapic_read(LAPIC_LVT0));
	for (unsigned i = 1; i < nr_cpus; i++)
		serial_printf("irqlines: AP with APIC ID %u: LVT0 0x%x\n", apic_ids[i],
			      ap_lvt0[apic_ids[i]]);

	check_pic();
	check_ioapic();
	if (failures != 0) {
		serial_printf("irqlines: FAIL: %u checks failed\n", failures);
		return 1;
	}
	serial_puts("irqlines: PASS\n");
	return 0;
}
