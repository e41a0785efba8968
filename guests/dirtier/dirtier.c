/* The live-migration workload: vCPUs keep rewriting their slice of RAM, and before each write
 * check that the page still holds exactly what they wrote to it on the pass before.  A page
 * that lost a write (not sent, or sent before its last change) or arrived torn is caught, as
 * is a TSC that steps backwards.  The PIT ticks at 100 Hz on the BSP, which prints a line a
 * second (the sign of life a test looks for before and after a move) and keeps the longest
 * gap between two ticks (how long the guest stood still).
 *
 * Multiboot command line:
 *   mb=N       MiB to dirty (64), at most what lies between the image (and whatever the
 *              loader put above it) and RAM_MARGIN below the top of RAM; 0 for an idle
 *              guest that only takes its timer ticks (halting in between)
 *   rate=N     pages each vCPU writes per millisecond, 0 for as fast as it can (0)
 *   seconds=N  how long to run, 0 for ever (0)
 *   cpus=N     how many vCPUs dirty, the BSP counted (all the MP table lists)
 *
 * Output:
 *   dirtier: N pages, M vCPUs, rate R
 *   dirtier: second S pass P gen G        P: passes all vCPUs together completed;
 *                                         G: the BSP's last completed pass
 *   dirtier: longest tick gap U us        these two after seconds=N, status 0
 *   dirtier: PASS checked N pages, gen G  G: the BSP's last generation
 *   dirtier: idle / dirtier: PASS idle    the same for mb=0
 *   dirtier: FAIL ...                     status 1 */
#include "guest.h"
#include "interrupts.h"
#include "x86.h"

#define PAGE_SIZE 4096
#define MAX_CPUS 64
#define DEFAULT_MIB 64
/* Left alone below the top of RAM: firmware and loaders like to put things there. */
#define RAM_MARGIN (1024 * 1024)

#define TICK_HZ 100
#define PIT_DIVISOR 11932	/* 1193182 Hz / 100 */
#define CALIBRATION_TICKS 10
#define MAX_PACE_DEBT_MS 10

/* The words of a page that carry its generation; the rest of the page stays zero. */
#define GEN_OFFSET 0
#define GPN_OFFSET 8
#define TAIL_OFFSET (PAGE_SIZE - 8)
#define STRIDE 512	/* and one word every STRIDE bytes in between */

/* One dirtying vCPU and its slice of RAM, on its own cache line. */
struct worker {
	uint64_t first_gpn, pages;
	uint64_t gen;		/* written by the last completed pass; 0 = none yet */
	uint64_t last_tsc;	/* for the monotonicity check */
	uint64_t next_write;	/* TSC at which pacing lets the next page be written */
	unsigned index;		/* 0 is the BSP */
	volatile int done;
} __attribute__((aligned(64)));

extern char __bss_end[];

static struct worker workers[MAX_CPUS];
static unsigned worker_count;
static uint8_t worker_of_apic[256];
static uint64_t rate, run_seconds, tsc_per_ms, pace_step;

static struct __attribute__((packed)) {
	uint16_t limit;
	uint64_t base;
} bsp_idtr;

static volatile uint64_t passes_done;
static volatile int stop;
static struct spinlock print_lock;

/* Kept by the tick handler; read by the BSP outside it. */
static volatile uint64_t ticks, last_tick_tsc, longest_tick_gap;
static volatile uint64_t calibration_start_tsc, calibration_end_tsc;
static volatile uint64_t tick_went_back_from, tick_went_back_to;
static volatile int tick_went_back;

/* BSP only: the last second it printed. */
static uint64_t second_reported;

static __attribute__((noreturn)) void fail_tsc(unsigned vcpu, uint64_t from, uint64_t to)
{
	spin_lock(&print_lock);
	serial_printf("dirtier: FAIL vcpu %u TSC went backwards from 0x%llx to 0x%llx\n", vcpu,
		      (unsigned long long)from, (unsigned long long)to);
	guest_exit(1);
}

/* The TSC, checked never to step back on this vCPU. */
static uint64_t worker_tsc(struct worker *w)
{
	uint64_t now = rdtsc();

	if (now < w->last_tsc)
		fail_tsc(w->index, w->last_tsc, now);
	w->last_tsc = now;
	return now;
}

/* What the word at offset holds in the page gpn after generation gen wrote it. */
static uint64_t page_word(uint64_t gen, uint64_t gpn, unsigned offset)
{
	if (gen == 0)
		return 0;	/* before the first pass: cleared by run_worker() */
	if (offset == GEN_OFFSET || offset == TAIL_OFFSET)
		return gen;
	if (offset == GPN_OFFSET)
		return gpn;
	return (gen * 0x9e3779b97f4a7c15ULL) ^ (gpn << 12) ^ offset;
}

static volatile uint64_t *page_at(uint64_t gpn, unsigned offset)
{
	return (volatile uint64_t *)(uintptr_t)(gpn * PAGE_SIZE + offset);
}

/* The word after the one at offset, in writing order, among those that carry the
 * generation. */
static unsigned next_offset(unsigned offset)
{
	if (offset == GEN_OFFSET)
		return GPN_OFFSET;
	if (offset == GPN_OFFSET)
		return STRIDE;
	return offset + STRIDE < PAGE_SIZE ? offset + STRIDE : TAIL_OFFSET;
}

/* Each pass writes the generation first and last, so a page copied halfway through a write
 * shows two generations. */
static void write_page(uint64_t gpn, uint64_t gen)
{
	for (unsigned off = GEN_OFFSET; off != TAIL_OFFSET; off = next_offset(off))
		*page_at(gpn, off) = page_word(gen, gpn, off);
	*page_at(gpn, TAIL_OFFSET) = page_word(gen, gpn, TAIL_OFFSET);
}

static void check_page(const struct worker *w, uint64_t gpn, uint64_t gen)
{
	unsigned off = GEN_OFFSET;

	for (;; off = next_offset(off)) {
		uint64_t found = *page_at(gpn, off), want = page_word(gen, gpn, off);

		if (found != want) {
			spin_lock(&print_lock);
			serial_printf("dirtier: FAIL page 0x%llx vcpu %u expected gen %llu "
				      "found gen %llu (word at +0x%x is 0x%llx, not 0x%llx)\n",
				      (unsigned long long)gpn, w->index, (unsigned long long)gen,
				      (unsigned long long)*page_at(gpn, GEN_OFFSET), off,
				      (unsigned long long)found, (unsigned long long)want);
			guest_exit(1);
		}
		if (off == TAIL_OFFSET)
			return;
	}
}

/* Holds this vCPU to rate pages a millisecond, busy-waiting: interrupts stay as they are. */
static void pace(struct worker *w)
{
	uint64_t now = worker_tsc(w);

	if (rate == 0)
		return;
	while (now < w->next_write) {
		cpu_relax();
		now = worker_tsc(w);
	}
	/* Short stalls (the host running something else) are made up for, so the rate holds on
	 * a busy host; a long one (paused for a migration) is not, to come back without a burst. */
	if (now - w->next_write > MAX_PACE_DEBT_MS * tsc_per_ms)
		w->next_write = now;
	w->next_write += pace_step;
}

static void tick_interrupt(struct int_frame *frame)
{
	uint64_t now = rdtsc(), n = ticks;

	(void)frame;
	if (n > 0 && now < last_tick_tsc) {
		/* Reported by the BSP's loop: printing here could meet its own print lock. */
		if (!tick_went_back) {
			tick_went_back_from = last_tick_tsc;
			tick_went_back_to = now;
			tick_went_back = 1;
		}
	} else if (n > 0 && now - last_tick_tsc > longest_tick_gap) {
		longest_tick_gap = now - last_tick_tsc;
	}
	if (n == 0)
		calibration_start_tsc = now;
	if (n == CALIBRATION_TICKS - 1)
		calibration_end_tsc = now;
	last_tick_tsc = now;
	ticks = n + 1;
	pic_eoi(0);
}

/* PIT channel 0 at TICK_HZ into IRQ 0, then TSC ticks per millisecond from its first ticks. */
static void start_ticking(void)
{
	const uint64_t calibration_ms = (CALIBRATION_TICKS - 1) * 1000 / TICK_HZ;

	idt_init();
	pic_init();
	idt_set_handler(PIC_VECTOR_BASE + 0, tick_interrupt);
	__asm__ volatile("sidt %0" : "=m"(bsp_idtr));
	outb(0x43, 0x34);	/* channel 0, low then high byte, mode 2 (rate generator) */
	outb(0x40, PIT_DIVISOR & 0xff);
	outb(0x40, PIT_DIVISOR >> 8);
	pic_unmask(0);
	while (ticks < CALIBRATION_TICKS)
		wait_for_interrupt();
	interrupts_enable();
	tsc_per_ms = (calibration_end_tsc - calibration_start_tsc) / calibration_ms;
	if (tsc_per_ms == 0)
		tsc_per_ms = 1;
	pace_step = rate ? tsc_per_ms / rate : 0;
}

/* The BSP's chores between two pages: the line a second, the tick handler's findings, and
 * the end of the run. */
static void bsp_chores(void)
{
	uint64_t second = ticks / TICK_HZ;

	if (tick_went_back)
		fail_tsc(0, tick_went_back_from, tick_went_back_to);
	if (second > second_reported) {
		second_reported = second;
		spin_lock(&print_lock);
		serial_printf("dirtier: second %llu pass %llu gen %llu\n",
			      (unsigned long long)second,
			      (unsigned long long)__atomic_load_n(&passes_done, __ATOMIC_RELAXED),
			      (unsigned long long)workers[0].gen);
		spin_unlock(&print_lock);
	}
	if (run_seconds && second >= run_seconds)
		__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
}

static void dirty_one_pass(struct worker *w)
{
	uint64_t gen = w->gen + 1;

	for (uint64_t gpn = w->first_gpn; gpn < w->first_gpn + w->pages; gpn++) {
		if (w->index == 0)
			bsp_chores();
		pace(w);
		check_page(w, gpn, gen - 1);
		write_page(gpn, gen);
	}
	w->gen = gen;
	__atomic_fetch_add(&passes_done, 1, __ATOMIC_RELAXED);
}

/* Passes until told to stop; the last one is always completed, so every page of the slice
 * ends with the same generation. */
static void run_worker(struct worker *w)
{
	/* Firmware may leave data in RAM it reports free (SeaBIOS its temporary tables near the
	 * top), so the words the first pass expects to be zero are made so. */
	for (uint64_t gpn = w->first_gpn; gpn < w->first_gpn + w->pages; gpn++)
		write_page(gpn, 0);
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE))
		dirty_one_pass(w);
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
}

static void ap_main(unsigned apic_id)
{
	/* The BSP's IDT, so an exception here is reported rather than a triple fault. */
	__asm__ volatile("lidt %0" : : "m"(bsp_idtr));
	run_worker(&workers[worker_of_apic[apic_id & 0xff]]);
	for (;;)
		cpu_relax();
}

/* Fills workers[] with up to `wanted` vCPUs from the MP table and returns their APIC IDs. */
static unsigned choose_cpus(unsigned long wanted, uint8_t *apic_ids)
{
	unsigned n = mptable_find_cpus(apic_ids, MAX_CPUS);

	if (n == 0) {	/* no MP table: the BSP alone */
		apic_ids[0] = (uint8_t)this_apic_id();
		n = 1;
	}
	if (wanted >= 1 && wanted < n)
		n = (unsigned)wanted;
	for (unsigned i = 0; i < n; i++) {
		workers[i].index = i;
		worker_of_apic[apic_ids[i]] = (uint8_t)i;
	}
	return n;
}

/* Splits the RAM above the image into one contiguous slice per worker; returns the pages. */
static uint64_t split_ram(unsigned long mib)
{
	uint64_t image_end = (uint64_t)(uintptr_t)__bss_end, loader_end = multiboot_loader_end();
	uint64_t top = multiboot_ram_top(), first, end;
	uint64_t pages = (uint64_t)mib * (1024 * 1024 / PAGE_SIZE);

	if (loader_end > image_end)	/* the command line may lie just above the image */
		image_end = loader_end;
	first = (image_end + PAGE_SIZE - 1) / PAGE_SIZE;
	end = top > RAM_MARGIN ? (top - RAM_MARGIN) / PAGE_SIZE : 0;
	if (end <= first)
		return 0;
	if (pages > end - first)
		pages = end - first;
	for (unsigned i = 0; i < worker_count; i++) {
		workers[i].first_gpn = first + pages * i / worker_count;
		workers[i].pages = first + pages * (i + 1) / worker_count - workers[i].first_gpn;
	}
	return pages;
}

/* After the run: every page still holds its slice's last generation. */
static uint64_t check_all(void)
{
	uint64_t checked = 0;

	for (unsigned i = 0; i < worker_count; i++) {
		const struct worker *w = &workers[i];

		for (uint64_t gpn = w->first_gpn; gpn < w->first_gpn + w->pages; gpn++)
			check_page(w, gpn, w->gen);
		checked += w->pages;
	}
	return checked;
}

static void wait_for_workers(void)
{
	for (unsigned i = 1; i < worker_count; i++) {
		while (!__atomic_load_n(&workers[i].done, __ATOMIC_ACQUIRE)) {
			bsp_chores();
			cpu_relax();
		}
	}
}

/* mb=0: nothing but the timer, halting between ticks, for seconds (or for ever). */
static int run_idle(void)
{
	serial_puts("dirtier: idle\n");
	start_ticking();
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		wait_for_interrupt();
		interrupts_enable();
		bsp_chores();
	}
	serial_printf("dirtier: longest tick gap %llu us\n",
		      (unsigned long long)(longest_tick_gap * 1000 / tsc_per_ms));
	serial_puts("dirtier: PASS idle\n");
	return 0;
}

int guest_main(void)
{
	uint8_t apic_ids[MAX_CPUS];
	uint64_t pages, checked;

	/* All read before any page is written. */
	rate = cmdline_value("rate", 0);
	run_seconds = cmdline_value("seconds", 0);
	if (cmdline_value("mb", DEFAULT_MIB) == 0)
		return run_idle();
	worker_count = choose_cpus(cmdline_value("cpus", 0), apic_ids);
	pages = split_ram(cmdline_value("mb", DEFAULT_MIB));
	if (pages < worker_count) {
		serial_puts("dirtier: FAIL no RAM to dirty (no Multiboot memory map)\n");
		return 1;
	}
	serial_printf("dirtier: %llu pages, %u vCPUs, rate %llu\n", (unsigned long long)pages,
		      worker_count, (unsigned long long)rate);

	start_ticking();
	for (unsigned i = 1; i < worker_count; i++)
		ap_start(apic_ids[i], ap_main);
	run_worker(&workers[0]);
	wait_for_workers();

	checked = check_all();
	serial_printf("dirtier: longest tick gap %llu us\n",
		      (unsigned long long)(longest_tick_gap * 1000 / tsc_per_ms));
	serial_printf("dirtier: PASS checked %llu pages, gen %llu\n", (unsigned long long)checked,
		      (unsigned long long)workers[0].gen);
	return 0;
}
