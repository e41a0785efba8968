/* A guest that behaves as a compromised kernel would, to show that nothing it does takes
 * hopvm down: fw_cfg DMA outside RAM, broken virtqueues on virtio-rng and virtio-blk (buffers
 * past the end of RAM, looped and endless chains, queues reconfigured after DRIVER_OK),
 * string I/O with huge counts and at the end of RAM, a UART flood, MMIO of every size over
 * the hole below 4 GiB and every register of the PCI devices, and then every port with every
 * size, read and written.  After each attack it checks what it can: that nothing answers
 * where nothing is (all-ones), that a broken device says DEVICE_NEEDS_RESET and works again
 * after a reset.  Interrupts stay off throughout: what it does to the in-kernel PIC, PIT and
 * RTC can raise nothing.  With more than one CPU in the MP table it runs instead the virtio
 * attacks on all of them at once (smp.c).  Prints "hostile: PASS" and exits 0, or lists what
 * failed. */
#include <stdbool.h>

#include "guest.h"
#include "hostile.h"
#include "virtio.h"
#include "x86.h"

#define RNG_ID HOSTILE_RNG_ID
#define BLK_ID HOSTILE_BLK_ID
#define PCI_TESTDEV_ID 0x00051b36

#define FW_CFG_SELECTOR 0x510
#define FW_CFG_DATA 0x511
#define FW_CFG_DMA_HIGH 0x514
#define FW_CFG_DMA_LOW 0x518
#define FW_CFG_RAM_SIZE 0x0003
#define DMA_ERROR 1
#define DMA_READ 2
#define DMA_SELECT 8
#define DMA_WRITE 0x10

#define COM1 GUEST_ABI_COM1_PORT
#define COM2 0x2f8	/* not fitted: reads all-ones, writes vanish */
#define UART_LSR 5
#define UART_MCR 4
#define UART_LCR 3
#define UART_MCR_LOOP 0x10

#define HOLE_START 0xc0000000ULL	/* the 32-bit MMIO hole: up to 4 GiB */
#define PCI_WINDOW 0xe0000000ULL
#define PCI_WINDOW_END 0xf0000000ULL
#define IOAPIC_PAGE 0xfec00000ULL	/* KVM's in-kernel interrupt controllers: */
#define LAPIC_PAGE 0xfee00000ULL	/* not hopvm's, and the guest's own to break */
#define TESTDEV_IOMEM 0xff000000ULL
#define SCRATCH 0x1000000ULL		/* 16 MiB: RAM nothing else uses, for string I/O */
#define SCRATCH_LEN 0x100000ULL
#define PAST_END 2048		/* bytes string I/O runs past the end of RAM */
#define OUTS_LEN 16384		/* bytes of a rep outs, each an exit */

/* Values written everywhere: neither has bus 0 with the enable bit in 0xcf8, a DMA address
 * fw_cfg finds in RAM, a reset command for the i8042, or _S5 with SLP_EN in PM1a_CNT.  The
 * first does have _S3's type 1 with SLP_EN there, which would suspend the machine with no
 * one to wake it: sets_slp_en() leaves those writes out. */
static const uint64_t patterns[] = { 0xa5a5a5a5a5a5a5a5ULL, 0x5a5a5a5a5a5a5a5aULL };

static unsigned failures;
static uint64_t ram_end;	/* RAM is [0, ram_end): the test runs with under 3 GiB */

static void expect(bool ok, const char *what, uint64_t detail)
{
	if (ok)
		return;
	failures++;
	serial_printf("hostile: FAIL: %s (0x%llx)\n", what, (unsigned long long)detail);
}

static uint64_t mmio_read(uint64_t addr, unsigned size)
{
	switch (size) {
	case 1:
		return *(volatile uint8_t *)addr;
	case 2:
		return *(volatile uint16_t *)addr;
	case 4:
		return *(volatile uint32_t *)addr;
	default:
		return *(volatile uint64_t *)addr;
	}
}

static void mmio_write(uint64_t addr, unsigned size, uint64_t v)
{
	switch (size) {
	case 1:
		*(volatile uint8_t *)addr = (uint8_t)v;
		break;
	case 2:
		*(volatile uint16_t *)addr = (uint16_t)v;
		break;
	case 4:
		*(volatile uint32_t *)addr = (uint32_t)v;
		break;
	default:
		*(volatile uint64_t *)addr = v;
	}
}

static uint64_t ones(unsigned size)
{
	return size == 8 ? ~0ULL : (1ULL << (8 * size)) - 1;
}

static uint32_t port_read(uint16_t port, unsigned size)
{
	return size == 1 ? inb(port) : size == 2 ? inw(port) : inl(port);
}

static void port_write(uint16_t port, unsigned size, uint32_t v)
{
	if (size == 1)
		outb(port, (uint8_t)v);
	else if (size == 2)
		outw(port, (uint16_t)v);
	else
		outl(port, v);
}

static bool timed_out(uint64_t start)
{
	return rdtsc() - start > (1ULL << 31);	/* a second or two of TSC */
}

/* --- fw_cfg's DMA interface ------------------------------------------------------------- */

struct fw_cfg_dma {
	uint32_t control, length;
	uint64_t address;
} __attribute__((packed));

static void dma_start(uint64_t gpa)
{
	outl(FW_CFG_DMA_HIGH, __builtin_bswap32((uint32_t)(gpa >> 32)));
	outl(FW_CFG_DMA_LOW, __builtin_bswap32((uint32_t)gpa));
}

static uint32_t dma(uint32_t control, uint32_t length, uint64_t address)
{
	static volatile struct fw_cfg_dma d __attribute__((aligned(16)));

	d.control = __builtin_bswap32(control);
	d.length = __builtin_bswap32(length);
	d.address = __builtin_bswap64(address);
	dma_start((uintptr_t)&d);
	return __builtin_bswap32(d.control);
}

static void fw_cfg_attacks(void)
{
	static volatile uint8_t buf[8];
	volatile uint32_t *last = (volatile uint32_t *)(ram_end - 8);

	expect(dma(DMA_SELECT | DMA_READ, 4, ram_end - 2) == DMA_ERROR,
	       "fw_cfg: a DMA read into the end of RAM is refused", ram_end - 2);
	expect(dma(DMA_SELECT | DMA_READ, 0xffffffffu, (uintptr_t)buf) == DMA_ERROR,
	       "fw_cfg: a 4 GiB DMA read is refused", 0);
	expect(dma(DMA_SELECT | DMA_WRITE, 4, (uintptr_t)buf) == DMA_ERROR,
	       "fw_cfg: a DMA write is refused", 0);
	/* A request that straddles the end of RAM: its control word is the only part there. */
	*last = 0x12345678;
	dma_start(ram_end - 8);
	expect(*last == __builtin_bswap32(DMA_ERROR),
	       "fw_cfg: a request cut by the end of RAM gets ERROR", *last);
	dma_start(0xd0000000);	/* nowhere at all: nothing to answer */
	dma_start(~0ULL);
	for (unsigned i = 0; i < 4; i++)
		buf[i] = 0;
	expect(dma(DMA_SELECT | DMA_READ, 4, (uintptr_t)buf) == 0 && buf[0] == 'Q' &&
	       buf[3] == 'U', "fw_cfg: DMA works after the attacks", buf[0]);
	serial_printf("hostile: fw_cfg DMA refused outside RAM\n");
}

/* --- virtio ------------------------------------------------------------------------------ */

static struct virtio_dev rng, blk;
static struct vq rq, bq;
static struct vq_desc indirect[32] __attribute__((aligned(16)));
static uint8_t rng_buf[64];

static bool device_up(struct virtio_dev *d, struct vq *q)
{
	uint64_t features;

	if (!virtio_negotiate(d, 1ULL << VIRTIO_F_INDIRECT_DESC, &features) ||
	    !(features & 1ULL << VIRTIO_F_INDIRECT_DESC))
		return false;
	virtio_queue_setup(d, q, 0);
	virtio_driver_ok(d);
	return (*virtio_c8(d, VIRTIO_STATUS) & VIRTIO_S_NEEDS_RESET) == 0;
}

/* One honest request for random bytes: how many came.  Patient: hopvm's getrandom() waits
 * until the host's entropy pool is ready, which takes a while on a freshly booted host. */
static long rng_request(void)
{
	long len = -1;

	for (unsigned i = 0; i < sizeof(rng_buf); i++)
		rng_buf[i] = 0;
	rq.desc[0] = (struct vq_desc){ (uintptr_t)rng_buf, sizeof(rng_buf), VQ_DESC_WRITE, 0 };
	vq_make_available(&rq, 0);
	for (unsigned tries = 0; tries < 30 && len < 0; tries++)
		len = vq_wait_used(&rq);
	return len;
}

static bool rng_works(void)
{
	bool nonzero = false;

	if (rng_request() != (long)sizeof(rng_buf))
		return false;
	for (unsigned i = 0; i < sizeof(rng_buf); i++)
		nonzero |= rng_buf[i] != 0;
	return nonzero;
}

static bool wait_needs_reset(const struct virtio_dev *d)
{
	uint64_t start = rdtsc();

	while (!(*virtio_c8(d, VIRTIO_STATUS) & VIRTIO_S_NEEDS_RESET))
		if (timed_out(start))
			return false;
	return true;
}

/* Each attack lays out a bad chain at descriptor 0 (or breaks the ring some other way). */
static void bad_outside_ram(void)
{
	rq.desc[0] = (struct vq_desc){ ram_end - 8, 4096, VQ_DESC_WRITE, 0 };
}

static void bad_wrapping(void)
{
	rq.desc[0] = (struct vq_desc){ ~0ULL - 4095, 8192, VQ_DESC_WRITE, 0 };
}

static void bad_loop(void)
{
	rq.desc[0] = (struct vq_desc){ (uintptr_t)rng_buf, 8, VQ_DESC_WRITE | VQ_DESC_NEXT, 1 };
	rq.desc[1] = (struct vq_desc){ (uintptr_t)rng_buf, 8, VQ_DESC_WRITE | VQ_DESC_NEXT, 0 };
}

static void bad_next(void)
{
	rq.desc[0] = (struct vq_desc){ (uintptr_t)rng_buf, 8, VQ_DESC_WRITE | VQ_DESC_NEXT, 200 };
}

static void bad_order(void)
{
	rq.desc[0] = (struct vq_desc){ (uintptr_t)rng_buf, 8, VQ_DESC_WRITE | VQ_DESC_NEXT, 1 };
	rq.desc[1] = (struct vq_desc){ (uintptr_t)rng_buf, 8, 0, 0 };
}

/* An indirect table whose last entry links back to its first: endless. */
static void bad_indirect_loop(void)
{
	for (uint16_t i = 0; i < 4; i++)
		indirect[i] = (struct vq_desc){ (uintptr_t)rng_buf, 4, VQ_DESC_WRITE | VQ_DESC_NEXT,
						(uint16_t)((i + 1) % 4) };
	rq.desc[0] = (struct vq_desc){ (uintptr_t)indirect, 4 * 16, VQ_DESC_INDIRECT, 0 };
}

static void bad_indirect_outside(void)
{
	rq.desc[0] = (struct vq_desc){ ram_end - 16, 64, VQ_DESC_INDIRECT, 0 };
}

static void bad_indirect_size(void)
{
	rq.desc[0] = (struct vq_desc){ (uintptr_t)indirect, 17, VQ_DESC_INDIRECT, 0 };
}

static void bad_indirect_nested(void)
{
	indirect[0] = (struct vq_desc){ (uintptr_t)indirect, 16, VQ_DESC_INDIRECT, 0 };
	rq.desc[0] = (struct vq_desc){ (uintptr_t)indirect, 16, VQ_DESC_INDIRECT, 0 };
}

/* Ring attacks that need no descriptor: a head past the queue, an index far ahead. */
static void bad_head(void)
{
	rq.avail.ring[rq.avail.idx % VQ_SIZE] = 40;
	rq.avail.idx++;
	*rq.notify = 0;
}

static void bad_index(void)
{
	rq.avail.idx = (uint16_t)(rq.avail.idx + 100);
	*rq.notify = 0;
}

static const struct {
	const char *name;
	void (*lay_out)(void);
	bool ring_only;		/* the attack kicks by itself */
} rng_attacks[] = {
	{ "a buffer across the end of RAM", bad_outside_ram, false },
	{ "a buffer that wraps the address space", bad_wrapping, false },
	{ "a looped chain", bad_loop, false },
	{ "a link past the table", bad_next, false },
	{ "a readable buffer after a writable one", bad_order, false },
	{ "an endless indirect chain", bad_indirect_loop, false },
	{ "an indirect table outside RAM", bad_indirect_outside, false },
	{ "an indirect table of 17 bytes", bad_indirect_size, false },
	{ "an indirect table inside one", bad_indirect_nested, false },
	{ "a chain head past the queue", bad_head, true },
	{ "an available index 100 ahead", bad_index, true },
};

static void rng_reset_and_check(const char *after)
{
	*virtio_c8(&rng, VIRTIO_STATUS) = 0;
	expect(*virtio_c8(&rng, VIRTIO_STATUS) == 0, after, 0);
	expect(device_up(&rng, &rq) && rng_works(), after, 1);
}

/* A queue the driver sets up wrongly breaks the device at enable time. */
static void bad_enable(uint16_t size, uint64_t desc, const char *what)
{
	uint64_t features;

	*virtio_c8(&rng, VIRTIO_STATUS) = 0;
	(void)virtio_negotiate(&rng, 0, &features);
	*virtio_c16(&rng, VIRTIO_Q_SELECT) = 0;
	*virtio_c16(&rng, VIRTIO_Q_SIZE) = size;
	virtio_c64(&rng, VIRTIO_Q_DESC, desc);
	virtio_c64(&rng, VIRTIO_Q_AVAIL, (uintptr_t)&rq.avail);
	virtio_c64(&rng, VIRTIO_Q_USED, (uintptr_t)&rq.used);
	*virtio_c16(&rng, VIRTIO_Q_ENABLE) = 1;
	expect(wait_needs_reset(&rng), what, size);
	rng_reset_and_check(what);
}

static void rng_attacks_run(void)
{
	if (!virtio_find(&rng, RNG_ID) || !device_up(&rng, &rq) || !rng_works()) {
		expect(false, "virtio-rng: comes up", 0);
		return;
	}
	for (unsigned i = 0; i < sizeof(rng_attacks) / sizeof(rng_attacks[0]); i++) {
		rng_attacks[i].lay_out();
		if (!rng_attacks[i].ring_only)
			vq_make_available(&rq, 0);
		expect(wait_needs_reset(&rng), rng_attacks[i].name, i);
		for (unsigned k = 0; k < 100; k++)	/* a broken device ignores kicks */
			*rq.notify = 0;
		expect(*virtio_c8(&rng, VIRTIO_STATUS) & VIRTIO_S_NEEDS_RESET, rng_attacks[i].name, i);
		rng_reset_and_check(rng_attacks[i].name);
	}
	bad_enable(3, (uintptr_t)rq.desc, "a queue of 3 entries");
	bad_enable(VQ_SIZE, ram_end - 64, "a descriptor table across the end of RAM");

	/* After DRIVER_OK the queue's layout is fixed: the driver's changes are refused, as
	 * often as it tries, and the queue goes on as it was. */
	for (unsigned k = 0; k < 50; k++) {
		*virtio_c16(&rng, VIRTIO_Q_SIZE) = 4;
		virtio_c64(&rng, VIRTIO_Q_DESC, ram_end - 16);
	}
	expect(*virtio_c16(&rng, VIRTIO_Q_SIZE) == VQ_SIZE, "virtio-rng: the queue size stays",
	       *virtio_c16(&rng, VIRTIO_Q_SIZE));
	expect(rng_works(), "virtio-rng: works after the refused changes", 0);
	serial_printf("hostile: virtio-rng broken %u ways, reset and working\n",
		      (unsigned)(sizeof(rng_attacks) / sizeof(rng_attacks[0])) + 2);
}

struct blk_req {
	uint32_t type, reserved;
	uint64_t sector;
};

static struct blk_req blk_hdr;
static uint8_t blk_data[512], blk_status;

/* A read of one sector: the status byte the device wrote, 0xee if it wrote none. */
static unsigned blk_read(uint64_t sector)
{
	blk_hdr = (struct blk_req){ 0, 0, sector };
	blk_status = 0xee;
	bq.desc[0] = (struct vq_desc){ (uintptr_t)&blk_hdr, sizeof(blk_hdr), VQ_DESC_NEXT, 1 };
	bq.desc[1] = (struct vq_desc){ (uintptr_t)blk_data, 512, VQ_DESC_WRITE | VQ_DESC_NEXT, 2 };
	bq.desc[2] = (struct vq_desc){ (uintptr_t)&blk_status, 1, VQ_DESC_WRITE, 0 };
	vq_make_available(&bq, 0);
	return vq_wait_used(&bq) < 0 ? 0xef : blk_status;
}

static void blk_attacks_run(void)
{
	static const char want[] = "hopvm hostile disk";
	bool same = true;

	if (!virtio_find(&blk, BLK_ID)) {
		serial_printf("hostile: no virtio-blk (run with --disk for its part)\n");
		return;
	}
	expect(device_up(&blk, &bq) && blk_read(0) == 0, "virtio-blk: reads sector 0", 0);
	expect(blk_read(~0ULL >> 1) == 1, "virtio-blk: a sector past the end is IOERR", 0);
	/* Data that runs past the end of RAM: the device breaks, not hopvm. */
	blk_hdr = (struct blk_req){ 0, 0, 0 };
	bq.desc[0] = (struct vq_desc){ (uintptr_t)&blk_hdr, sizeof(blk_hdr), VQ_DESC_NEXT, 1 };
	bq.desc[1] = (struct vq_desc){ ram_end - 256, 512, VQ_DESC_WRITE | VQ_DESC_NEXT, 2 };
	bq.desc[2] = (struct vq_desc){ (uintptr_t)&blk_status, 1, VQ_DESC_WRITE, 0 };
	vq_make_available(&bq, 0);
	expect(wait_needs_reset(&blk), "virtio-blk: data across the end of RAM", 0);
	*virtio_c8(&blk, VIRTIO_STATUS) = 0;
	expect(device_up(&blk, &bq) && blk_read(0) == 0, "virtio-blk: reads after a reset", 0);
	for (unsigned i = 0; i < sizeof(want) - 1; i++)
		same &= blk_data[i] == (uint8_t)want[i];
	expect(same, "virtio-blk: sector 0 holds what the test wrote", blk_data[0]);
	serial_printf("hostile: virtio-blk refused a bad sector, broke on a bad buffer, "
		      "works after reset\n");
}

/* --- string I/O -------------------------------------------------------------------------- */

static void rep_insb(uint16_t port, uint64_t dst, uint64_t count)
{
	__asm__ volatile("rep insb" : "+D"(dst), "+c"(count) : "d"(port) : "memory");
}

static void rep_insl(uint16_t port, uint64_t dst, uint64_t count)
{
	__asm__ volatile("rep insl" : "+D"(dst), "+c"(count) : "d"(port) : "memory");
}

static void rep_outsb(uint16_t port, uint64_t src, uint64_t count)
{
	__asm__ volatile("rep outsb" : "+S"(src), "+c"(count) : "d"(port) : "memory");
}

static void rep_outsw(uint16_t port, uint64_t src, uint64_t count)
{
	__asm__ volatile("rep outsw" : "+S"(src), "+c"(count) : "d"(port) : "memory");
}

/* Backwards (DF=1) from above the end of RAM down into it. */
static void rep_insb_down(uint16_t port, uint64_t dst, uint64_t count)
{
	__asm__ volatile("std; rep insb; cld" : "+D"(dst), "+c"(count) : "d"(port) : "memory");
}

static bool all_bytes(uint64_t addr, uint64_t len, uint8_t v)
{
	for (uint64_t i = 0; i < len; i++)
		if (*(volatile uint8_t *)(addr + i) != v)
			return false;
	return true;
}

static void fill_bytes(uint64_t addr, uint64_t len, uint8_t v)
{
	for (uint64_t i = 0; i < len; i++)
		*(volatile uint8_t *)(addr + i) = v;
}

static void string_io(void)
{
	uint64_t tail = ram_end - 4096;

	/* A megabyte at a time, in RAM: the port reads all-ones into every byte.  (KVM exits
	 * for each element of a rep outs, so those stay shorter.) */
	fill_bytes(SCRATCH, SCRATCH_LEN, 0);
	rep_insb(COM2, SCRATCH, SCRATCH_LEN);
	expect(all_bytes(SCRATCH, SCRATCH_LEN, 0xff), "rep insb of 1 MiB from an empty port", 0);
	rep_insl(COM2, SCRATCH, SCRATCH_LEN / 4);
	rep_outsb(COM2, SCRATCH, OUTS_LEN);
	rep_outsw(0x80, SCRATCH, OUTS_LEN / 2);

	/* Across the end of RAM: what lies in RAM is written, the rest goes to nothing. */
	fill_bytes(tail, 4096, 0);
	rep_insb(COM2, tail, 4096 + PAST_END);
	expect(all_bytes(tail, 4096, 0xff), "rep insb across the end of RAM", 0);
	fill_bytes(tail, 4096, 0);
	rep_insl(COM2, tail, (4096 + PAST_END) / 4);
	expect(all_bytes(tail, 4096, 0xff), "rep insl across the end of RAM", 0);
	fill_bytes(tail, 4096, 0);
	rep_insb_down(COM2, ram_end + PAST_END - 1, 4096 + PAST_END);
	expect(all_bytes(tail, 4096, 0xff), "rep insb backwards into the end of RAM", 0);
	rep_outsb(COM2, tail, 4096 + PAST_END);
	serial_printf("hostile: string I/O across the end of RAM\n");
}

/* --- the UART ---------------------------------------------------------------------------- */

static void uart_restore(void)
{
	outb(COM1 + UART_LCR, 0x03);	/* 8N1, DLAB off */
	outb(COM1 + 1, 0);		/* no interrupts */
	outb(COM1 + 2, 0x07);		/* FIFOs on and cleared */
	outb(COM1 + UART_MCR, 0x03);	/* DTR, RTS, no loopback */
}

static void uart_flood(void)
{
	static const char line[] = "0123456789abcde\n";
	unsigned held = 0, other = 0;

	/* In loopback every byte lands in the 16-byte receive FIFO, which keeps the first
	 * 16 and loses the rest (stdin cannot reach it meanwhile: emptied first). */
	outb(COM1 + UART_MCR, UART_MCR_LOOP);
	while (inb(COM1 + UART_LSR) & 1)
		(void)inb(COM1);
	fill_bytes(SCRATCH, OUTS_LEN, 'x');
	rep_outsb(COM1, SCRATCH, OUTS_LEN);
	for (unsigned i = 0; i < 64 && (inb(COM1 + UART_LSR) & 1); i++, held++)
		other += inb(COM1) != 'x';
	expect(held == 16 && other == 0, "the UART's FIFO holds 16 of a 16 KiB flood", held);
	uart_restore();
	/* Then 16 KiB out of COM1 in one go: the test counts the lines. */
	for (unsigned i = 0; i < OUTS_LEN; i++)
		*(volatile uint8_t *)(SCRATCH + i) = (uint8_t)line[i % 16];
	rep_outsb(COM1, SCRATCH, OUTS_LEN);
	serial_printf("hostile: UART flood done\n");
}

/* --- MMIO -------------------------------------------------------------------------------- */

static bool is_interrupt_controller(uint64_t page)
{
	return page == IOAPIC_PAGE || page == LAPIC_PAGE;
}

static void mmio_spread(bool test_devices)
{
	static const unsigned sizes[] = { 1, 2, 4, 8 };
	unsigned odd = 0, ram_like = 0;

	/* Where nothing is, from the end of RAM to 4 GiB, a read per MiB of each size gives
	 * all-ones and a write vanishes; the PCI window and the test window are checked apart. */
	for (uint64_t a = (ram_end + 0xfffff) & ~0xfffffULL; a < 0x100000000ULL; a += 0x100000) {
		bool empty = (a < PCI_WINDOW || a >= PCI_WINDOW_END) && a != TESTDEV_IOMEM;

		if (is_interrupt_controller(a))
			continue;
		for (unsigned s = 0; s < 4; s++) {
			uint64_t before = mmio_read(a + 0x40, sizes[s]);

			odd += empty && before != ones(sizes[s]);
			mmio_write(a + 0x40, sizes[s], patterns[s & 1]);
			odd += empty && mmio_read(a + 0x40, sizes[s]) != ones(sizes[s]);
		}
	}
	expect(odd == 0, "MMIO where nothing is reads all-ones", odd);
	/* An 8-byte read half in RAM, half past it; one that crosses a page where nothing is. */
	*(volatile uint32_t *)(ram_end - 4) = 0x01020304;
	expect(*(volatile uint64_t *)(ram_end - 4) == 0xffffffff01020304ULL,
	       "an 8-byte read across the end of RAM", *(volatile uint64_t *)(ram_end - 4));
	expect(*(volatile uint64_t *)(HOLE_START + 0xffc) == ~0ULL,
	       "an 8-byte read across a page of the hole", 0);
	if (test_devices) {
		/* pc-testdev's window is plain memory. */
		for (unsigned s = 0; s < 4; s++) {
			mmio_write(TESTDEV_IOMEM + 8 * s, sizes[s], patterns[0]);
			ram_like += mmio_read(TESTDEV_IOMEM + 8 * s, sizes[s]) ==
				    (patterns[0] & ones(sizes[s]));
		}
		expect(ram_like == 4, "pc-testdev's window keeps what is written", ram_like);
	}
	serial_printf("hostile: MMIO over the hole\n");
}

/* Every register of a PCI device's memory BAR 0, each size, read and then written with
 * garbage: status, features, queue fields, notifications, MSI-X table and PBA alike. */
static void bar_sweep(int slot)
{
	static const unsigned sizes[] = { 1, 2, 4, 8 };
	uint32_t reg, size, cmd;
	uint64_t bar;

	if (slot < 0)
		return;
	reg = pci_config_read((unsigned)slot, 0x10);
	if (reg & 1)
		return;	/* an I/O BAR: the port sweep takes it */
	cmd = pci_config_read((unsigned)slot, 0x04);
	pci_config_write((unsigned)slot, 0x04, cmd & ~3u);	/* no decoding while sized */
	pci_config_write((unsigned)slot, 0x10, 0xffffffff);
	size = ~(pci_config_read((unsigned)slot, 0x10) & ~0xfu) + 1;
	pci_config_write((unsigned)slot, 0x10, reg);
	pci_config_write((unsigned)slot, 0x04, cmd | 2);
	bar = reg & ~0xfu;
	if (size > 0x10000)
		size = 0x10000;
	for (unsigned s = 0; s < 4; s++)
		for (uint64_t off = 0; off < size; off += 4)
			(void)mmio_read(bar + off, sizes[s]);
	for (unsigned s = 0; s < 4; s++)
		for (uint64_t off = 0; off < size; off += 4)
			mmio_write(bar + off, sizes[s], patterns[s & 1]);
}

/* --- ports ------------------------------------------------------------------------------- */

/* The ports where something answers: hopvm's devices and KVM's in-kernel ones. */
static const struct {
	uint16_t first, last;
} mapped_ports[] = {
	{ 0x20, 0x21 }, { 0x40, 0x43 }, { 0x60, 0x64 }, { 0x70, 0x71 }, { 0xa0, 0xa1 },
	{ 0xe0, 0xeb }, { GUEST_ABI_DEBUG_EXIT_PORT, GUEST_ABI_DEBUG_EXIT_PORT + 3 },
	{ COM1, COM1 + 7 }, { 0x4d0, 0x4d1 }, { 0x510, 0x51b }, { 0x600, 0x60b },
	{ 0xcf8, 0xcff }, { 0x2000, 0x2017 }, { 0xc000, 0xffff },
};

static bool port_mapped(uint32_t port)
{
	for (unsigned i = 0; i < sizeof(mapped_ports) / sizeof(mapped_ports[0]); i++)
		if (port >= mapped_ports[i].first && port <= mapped_ports[i].last)
			return true;
	return false;
}

/* The debug-exit port ends the VM on any write: the one port left out, and used last. */
static bool is_exit_port(uint32_t port)
{
	return port >= GUEST_ABI_DEBUG_EXIT_PORT && port <= GUEST_ABI_DEBUG_EXIT_PORT + 3;
}

/* PM1a_CNT's high byte, holding SLP_EN (bit 5 there) and SLP_TYP. */
#define PM1A_CNT_HIGH 0x605
#define PM1A_CNT 0x604
#define SLP_EN_HIGH 0x20

static bool sets_slp_en(uint32_t port, unsigned size, uint32_t v)
{
	return port <= PM1A_CNT_HIGH && port + size > PM1A_CNT_HIGH &&
	       ((v >> ((PM1A_CNT_HIGH - port) * 8)) & SLP_EN_HIGH);
}

static void port_sweep(void)
{
	static const unsigned sizes[] = { 1, 2, 4 };
	unsigned odd = 0;

	for (unsigned s = 0; s < 3; s++)
		for (uint32_t p = 0; p <= 0xffff; p++) {
			uint32_t v = port_read((uint16_t)p, sizes[s]);

			odd += !port_mapped(p) && v != ones(sizes[s]);
		}
	expect(odd == 0, "ports where nothing is read all-ones", odd);
	/* One pattern everywhere, the other where something answers. */
	for (unsigned s = 0; s < 3; s++)
		for (unsigned k = 0; k < 2; k++)
			for (uint32_t p = 0; p <= 0xffff; p++)
				if (!is_exit_port(p) && (k == 0 || port_mapped(p)) &&
				    !sets_slp_en(p, sizes[s], (uint32_t)patterns[k]))
					port_write((uint16_t)p, sizes[s], (uint32_t)patterns[k]);
	/* A sleep type the DSDT does not offer (6) with SLP_EN: hopvm says so and runs on. */
	outw(PM1A_CNT, 6 << 10 | SLP_EN_HIGH << 8);
	uart_restore();
	odd = 0;
	for (uint32_t p = 0x1000; p < 0x2000; p++)
		odd += inl((uint16_t)p) != 0xffffffffu;
	expect(odd == 0, "a write to nothing leaves nothing behind", odd);
	serial_printf("hostile: every port read and written at every size\n");
}

/* What must still work once everything has been written with garbage. */
static void after_sweep(void)
{
	char sig[4];

	outw(FW_CFG_SELECTOR, 0);
	for (unsigned i = 0; i < 4; i++)
		sig[i] = (char)inb(FW_CFG_DATA);
	expect(sig[0] == 'Q' && sig[1] == 'E' && sig[2] == 'M' && sig[3] == 'U',
	       "fw_cfg's signature after the sweep", (uint8_t)sig[0]);
	outb(0x70, 0x0a);	/* RTC status A: its divider bits were written, it still answers */
	expect(inb(0x71) != 0xff, "the RTC answers after the sweep", 0);
}

static uint64_t fw_cfg_ram_size(void)
{
	uint64_t v = 0;

	outw(FW_CFG_SELECTOR, FW_CFG_RAM_SIZE);
	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)inb(FW_CFG_DATA) << (8 * i);
	return v;
}

/* Everything, one attack after another, on the boot CPU. */
static void single_cpu_attacks(bool test_devices)
{
	fw_cfg_attacks();
	rng_attacks_run();
	blk_attacks_run();
	string_io();
	uart_flood();
	mmio_spread(test_devices);
	bar_sweep(pci_find(RNG_ID));
	bar_sweep(pci_find(BLK_ID));
	bar_sweep(pci_find(PCI_TESTDEV_ID));
	/* The devices took garbage in every register: a reset brings virtio-rng back. */
	rng_reset_and_check("virtio-rng after its registers were written with garbage");
	serial_printf("hostile: BARs written with garbage, virtio-rng back after a reset\n");
	port_sweep();
	after_sweep();
}

int guest_main(void)
{
	bool test_devices = pci_find(PCI_TESTDEV_ID) >= 0;
	uint8_t apic_ids[16];
	unsigned cpus = mptable_find_cpus(apic_ids, sizeof(apic_ids));

	ram_end = fw_cfg_ram_size();
	if (ram_end < 64ULL << 20 || ram_end > HOLE_START) {
		serial_printf("hostile: run with 64 MiB to 3 GiB of RAM, not 0x%llx bytes\n",
			      (unsigned long long)ram_end);
		return 2;
	}
	serial_printf("hostile: %llu MiB of RAM%s\n", (unsigned long long)(ram_end >> 20),
		      test_devices ? ", test devices" : "");
	if (cpus > 1)
		failures = hostile_smp(ram_end, apic_ids, cpus);
	else
		single_cpu_attacks(test_devices);
	if (failures != 0) {
		serial_printf("hostile: %u checks failed\n", failures);
		return 1;
	}
	serial_printf("hostile: PASS\n");
	return 0;
}
