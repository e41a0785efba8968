/* The virtqueue walk, virtio-blk's requests and the virtio PCI transport, driven as a guest
 * driver would over a heap buffer used as guest RAM (no KVM, no threads: virtio_pci_poll()
 * does the I/O thread's work). */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hopvm/error.h"
#include "hopvm/le.h"
#include "hopvm/virtio_blk.h"
#include "hopvm/virtio_console.h"
#include "hopvm/virtio_fs.h"
#include "hopvm/virtio_pci.h"
#include "hopvm/virtio_rng.h"
#include "unit.h"

#define RAM_SIZE (1U << 20)
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define DATA 0x10000
#define QSIZE 16

static uint8_t *ram;
static struct guest_mem mem;
static struct virtq q;
static uint16_t avail_idx;

static int setup(void **state)
{
	(void)state;
	if (ram == NULL)
		ram = calloc(1, RAM_SIZE);
	memset(ram, 0, RAM_SIZE);
	guest_mem_init_buffer(&mem, ram, RAM_SIZE);
	virtq_init(&q, &mem);
	q.size = QSIZE;
	q.desc_gpa = DESC;
	q.avail_gpa = AVAIL;
	q.used_gpa = USED;
	avail_idx = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(ram);
	ram = NULL;
	return 0;
}

static void put_desc(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	uint8_t *d = ram + table + 16 * i;

	le64_put(d, addr);
	le32_put(d + 8, len);
	le16_put(d + 12, flags);
	le16_put(d + 14, next);
}

static void make_available(uint16_t head)
{
	le16_put(ram + AVAIL + 4 + 2 * (avail_idx % QSIZE), head);
	le16_put(ram + AVAIL + 2, ++avail_idx);
}

static void test_chain_in_order(void **state)
{
	struct virtq_chain c;

	(void)state;
	assert_int_equal(virtq_enable(&q), 0);
	put_desc(DESC, 0, DATA, 16, VIRTQ_DESC_F_NEXT, 1);
	put_desc(DESC, 1, DATA + 0x100, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	put_desc(DESC, 2, DATA + 0x400, 1, VIRTQ_DESC_F_WRITE, 0);
	assert_int_equal(virtq_pop(&q, &c), 0);	/* nothing available yet */
	make_available(0);
	assert_int_equal(virtq_pop(&q, &c), 1);
	assert_int_equal(c.head, 0);
	assert_int_equal(c.nr_out, 1);
	assert_int_equal(c.nr_in, 2);
	assert_int_equal(c.out_len, 16);
	assert_int_equal(c.in_len, 513);
	assert_ptr_equal(c.bufs[1].host, ram + DATA + 0x100);
	virtq_push(&q, &c, 513);
	assert_int_equal(le16_get(ram + USED + 2), 1);
	assert_int_equal(le32_get(ram + USED + 4), 0);
	assert_int_equal(le32_get(ram + USED + 8), 513);
	assert_true(virtq_should_interrupt(&q));
	assert_false(virtq_should_interrupt(&q));	/* nothing new since */
}

static void test_broken_rings(void **state)
{
	struct virtq_chain c;

	(void)state;
	/* A loop: descriptor 0 links to 1, 1 back to 0. */
	assert_int_equal(virtq_enable(&q), 0);
	put_desc(DESC, 0, DATA, 16, VIRTQ_DESC_F_NEXT, 1);
	put_desc(DESC, 1, DATA, 16, VIRTQ_DESC_F_NEXT, 0);
	make_available(0);
	assert_int_equal(virtq_pop(&q, &c), -EIO);
	assert_err_mentions("a loop");
	assert_false(q.enabled);

	/* A buffer past the end of RAM, and one that wraps. */
	setup(NULL);
	assert_int_equal(virtq_enable(&q), 0);
	put_desc(DESC, 0, RAM_SIZE - 8, 16, 0, 0);
	make_available(0);
	assert_int_equal(virtq_pop(&q, &c), -EIO);
	assert_err_mentions("outside guest RAM");
	setup(NULL);
	assert_int_equal(virtq_enable(&q), 0);
	put_desc(DESC, 0, UINT64_MAX - 4, 16, 0, 0);
	make_available(0);
	assert_int_equal(virtq_pop(&q, &c), -EIO);

	/* A next index past the table; a head past the queue; the index racing ahead. */
	setup(NULL);
	assert_int_equal(virtq_enable(&q), 0);
	put_desc(DESC, 0, DATA, 16, VIRTQ_DESC_F_NEXT, QSIZE);
	make_available(0);
	assert_int_equal(virtq_pop(&q, &c), -EIO);
	setup(NULL);
	assert_int_equal(virtq_enable(&q), 0);
	make_available(QSIZE + 3);
	assert_int_equal(virtq_pop(&q, &c), -EIO);
	setup(NULL);
	assert_int_equal(virtq_enable(&q), 0);
	le16_put(ram + AVAIL + 2, QSIZE + 1);
	assert_int_equal(virtq_pop(&q, &c), -EIO);
	assert_err_mentions("past the queue size");

	/* Readable after writable. */
	setup(NULL);
	assert_int_equal(virtq_enable(&q), 0);
	put_desc(DESC, 0, DATA, 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	put_desc(DESC, 1, DATA, 16, 0, 0);
	make_available(0);
	assert_int_equal(virtq_pop(&q, &c), -EIO);
}

static void test_bad_layouts(void **state)
{
	(void)state;
	q.size = 12;
	assert_int_equal(virtq_enable(&q), -EINVAL);
	q.size = QSIZE;
	q.used_gpa = USED + 2;
	assert_int_equal(virtq_enable(&q), -EINVAL);
	q.used_gpa = RAM_SIZE - 8;
	assert_int_equal(virtq_enable(&q), -EINVAL);
	assert_err_mentions("not all in guest RAM");
}

static void test_indirect(void **state)
{
	struct virtq_chain c;
	uint64_t table = 0x5000;

	(void)state;
	q.indirect = true;
	assert_int_equal(virtq_enable(&q), 0);
	put_desc(table, 0, DATA, 16, VIRTQ_DESC_F_NEXT, 1);
	put_desc(table, 1, DATA + 0x200, 64, VIRTQ_DESC_F_WRITE, 0);
	put_desc(DESC, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
	make_available(0);
	assert_int_equal(virtq_pop(&q, &c), 1);
	assert_int_equal(c.nr_out + c.nr_in, 2);
	assert_int_equal(c.in_len, 64);

	/* An indirect descriptor inside an indirect table is refused, as is one not offered. */
	put_desc(table, 1, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
	make_available(0);
	assert_int_equal(virtq_pop(&q, &c), -EIO);
	setup(NULL);
	assert_int_equal(virtq_enable(&q), 0);
	put_desc(DESC, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
	make_available(0);
	assert_int_equal(virtq_pop(&q, &c), -EIO);
	/* A table of a length that is not whole descriptors. */
	setup(NULL);
	q.indirect = true;
	assert_int_equal(virtq_enable(&q), 0);
	put_desc(DESC, 0, table, 20, VIRTQ_DESC_F_INDIRECT, 0);
	make_available(0);
	assert_int_equal(virtq_pop(&q, &c), -EIO);
}

static void test_event_idx(void **state)
{
	struct virtq_chain c;

	(void)state;
	q.event_idx = true;
	assert_int_equal(virtq_enable(&q), 0);
	for (unsigned i = 0; i < 3; i++) {
		put_desc(DESC, i, DATA, 1, VIRTQ_DESC_F_WRITE, 0);
		make_available((uint16_t)i);
	}
	/* The driver wants an interrupt only once used->idx passes 2 (used_event). */
	le16_put(ram + AVAIL + 4 + 2 * QSIZE, 2);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(virtq_pop(&q, &c), 1);
		virtq_push(&q, &c, 1);
		assert_false(virtq_should_interrupt(&q));
	}
	assert_int_equal(virtq_pop(&q, &c), 1);
	virtq_push(&q, &c, 1);
	assert_true(virtq_should_interrupt(&q));
	/* avail_event tells the driver where the device is. */
	assert_false(virtq_more_after_enable(&q));
	assert_int_equal(le16_get(ram + USED + 4 + 8 * QSIZE), 3);
}

/* --- virtio-blk ------------------------------------------------------------------------- */

static char image_path[] = "/tmp/hopvm-test-blk-XXXXXX";
static struct virtio_blk blk;

static void open_image(bool read_only)
{
	int fd = mkstemp(image_path);
	uint8_t sector[512];

	assert_true(fd >= 0);
	for (unsigned i = 0; i < 8; i++) {
		memset(sector, 'a' + i, sizeof(sector));
		assert_int_equal(write(fd, sector, sizeof(sector)), sizeof(sector));
	}
	close(fd);
	assert_int_equal(virtio_blk_open(&blk, image_path, read_only, 0, &mem), 0);
}

static void close_image(void)
{
	virtio_blk_close(&blk);
	unlink(image_path);
	strcpy(image_path + strlen(image_path) - 6, "XXXXXX");
}

/* Builds and pops a request: header, data (out or in), status. */
static uint8_t request(uint32_t type, uint64_t sector, uint32_t data_len, bool data_in,
		       int *ret)
{
	struct virtq_chain c;

	le32_put(ram + DATA, type);
	le32_put(ram + DATA + 4, 0);
	le64_put(ram + DATA + 8, sector);
	ram[DATA + 0x8000] = 0xee;
	put_desc(DESC, 0, DATA, 16, VIRTQ_DESC_F_NEXT, data_len ? 1 : 2);
	put_desc(DESC, 1, DATA + 0x1000, data_len,
		 VIRTQ_DESC_F_NEXT | (data_in ? VIRTQ_DESC_F_WRITE : 0), 2);
	put_desc(DESC, 2, DATA + 0x8000, 1, VIRTQ_DESC_F_WRITE, 0);
	make_available(0);
	assert_int_equal(virtq_pop(&q, &c), 1);
	*ret = virtio_blk_request(&blk, &c);
	return ram[DATA + 0x8000];
}

static void test_blk_requests(void **state)
{
	uint8_t back[512];
	int ret, fd;

	(void)state;
	open_image(false);
	assert_int_equal(blk.sectors, 8);
	assert_int_equal(le64_get(blk.vdev.config + VIRTIO_BLK_CFG_CAPACITY), 8);
	assert_int_equal(virtq_enable(&q), 0);

	assert_int_equal(request(VIRTIO_BLK_T_IN, 2, 1024, true, &ret), VIRTIO_BLK_S_OK);
	assert_int_equal(ret, 1025);
	assert_int_equal(ram[DATA + 0x1000], 'c');
	assert_int_equal(ram[DATA + 0x1000 + 1023], 'd');

	memset(ram + DATA + 0x1000, 'Z', 512);
	assert_int_equal(request(VIRTIO_BLK_T_OUT, 7, 512, false, &ret), VIRTIO_BLK_S_OK);
	assert_int_equal(request(VIRTIO_BLK_T_FLUSH, 0, 0, false, &ret), VIRTIO_BLK_S_OK);
	fd = open(image_path, O_RDONLY);
	assert_int_equal(pread(fd, back, 512, 7 * 512), 512);
	close(fd);
	assert_int_equal(back[0], 'Z');
	assert_int_equal(back[511], 'Z');

	assert_int_equal(request(VIRTIO_BLK_T_GET_ID, 0, 20, true, &ret), VIRTIO_BLK_S_OK);
	assert_memory_equal(ram + DATA + 0x1000, "hopvm-disk0", 12);

	/* Past the end, straddling the end, not whole sectors, an unknown type. */
	assert_int_equal(request(VIRTIO_BLK_T_IN, 8, 512, true, &ret), VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(VIRTIO_BLK_T_IN, 7, 1024, true, &ret), VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(VIRTIO_BLK_T_IN, UINT64_MAX, 512, true, &ret),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(VIRTIO_BLK_T_OUT, 0, 100, false, &ret), VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(77, 0, 0, false, &ret), VIRTIO_BLK_S_UNSUPP);

	/* Discard: one segment of two sectors reads back as zeroes. */
	le64_put(ram + DATA + 0x1000, 4);
	le32_put(ram + DATA + 0x1008, 2);
	le32_put(ram + DATA + 0x100c, 0);
	assert_int_equal(request(VIRTIO_BLK_T_DISCARD, 0, 16, false, &ret), VIRTIO_BLK_S_OK);
	assert_int_equal(request(VIRTIO_BLK_T_IN, 4, 1024, true, &ret), VIRTIO_BLK_S_OK);
	assert_int_equal(ram[DATA + 0x1000], 0);
	assert_int_equal(ram[DATA + 0x1000 + 1023], 0);
	close_image();
}

static void test_blk_read_only_and_malformed(void **state)
{
	struct virtq_chain c;
	int ret;

	(void)state;
	open_image(true);
	assert_true(blk.vdev.host_features & VIRTIO_F(VIRTIO_BLK_F_RO));
	assert_int_equal(virtq_enable(&q), 0);
	assert_int_equal(request(VIRTIO_BLK_T_OUT, 0, 512, false, &ret), VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(VIRTIO_BLK_T_IN, 0, 512, true, &ret), VIRTIO_BLK_S_OK);

	/* No status byte: nothing to answer with. */
	put_desc(DESC, 0, DATA, 16, 0, 0);
	make_available(0);
	assert_int_equal(virtq_pop(&q, &c), 1);
	assert_int_equal(virtio_blk_request(&blk, &c), -EIO);
	assert_err_mentions("no status byte");
	close_image();
}

static void test_blk_bad_images(void **state)
{
	char path[256];
	bool ro;
	int fd;

	(void)state;
	assert_int_equal(virtio_blk_open(&blk, "/nonexistent/disk.img", false, 0, &mem), -ENOENT);
	assert_err_mentions("/nonexistent/disk.img");
	fd = mkstemp(image_path);
	assert_int_equal(write(fd, "tiny", 4), 4);
	close(fd);
	assert_int_equal(virtio_blk_open(&blk, image_path, false, 0, &mem), -EINVAL);
	assert_err_mentions("less than one sector");
	close_image();
	assert_int_equal(virtio_blk_open(&blk, "/tmp", false, 0, &mem), -EISDIR);

	assert_int_equal(virtio_blk_parse_option("a.img", path, sizeof(path), &ro), 0);
	assert_string_equal(path, "a.img");
	assert_false(ro);
	assert_int_equal(virtio_blk_parse_option("b.img,ro", path, sizeof(path), &ro), 0);
	assert_string_equal(path, "b.img");
	assert_true(ro);
	assert_int_equal(virtio_blk_parse_option("c.img,rw", path, sizeof(path), &ro), -EINVAL);
	assert_int_equal(virtio_blk_parse_option(",ro", path, sizeof(path), &ro), -EINVAL);
}

/* --- the PCI transport ------------------------------------------------------------------ */

static struct virtio_pci vp;
static struct virtio_rng rng;
static int intx_level, msi_count;
static uint32_t msi_data;

static void fake_intx(void *ctx, unsigned irq, int level)
{
	(void)ctx;
	assert_int_equal(irq, 17);
	intx_level = level;
}

static void fake_msi(void *ctx, unsigned route, uint64_t addr, uint32_t data)
{
	(void)ctx;
	(void)route;
	assert_int_equal(addr, 0xfee00000);
	msi_data = data;
	msi_count++;
}

static void bar_w(unsigned off, uint64_t v, unsigned size)
{
	uint8_t b[8];

	le64_put(b, v);
	assert_int_equal(vp.pci.ops->bar_write(&vp.pci, 0, off, b, size), 0);
}

static uint64_t bar_r(unsigned off, unsigned size)
{
	uint8_t b[8] = { 0 };

	assert_int_equal(vp.pci.ops->bar_read(&vp.pci, 0, off, b, size), 0);
	return le64_get(b);
}

static void driver_setup(uint64_t features)
{
	struct virtio_pci_platform plat = { .intx = fake_intx, .msi = fake_msi, .intx_irq = 17 };

	intx_level = msi_count = 0;
	virtio_rng_init(&rng, &mem);
	assert_int_equal(virtio_pci_init(&vp, &rng.vdev, &plat), 0);
	bar_w(VIRTIO_PCI_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	bar_w(VIRTIO_PCI_DFSELECT, 1, 4);
	assert_int_equal(bar_r(VIRTIO_PCI_DF, 4) & 1, 1);	/* VERSION_1 */
	bar_w(VIRTIO_PCI_GFSELECT, 0, 4);
	bar_w(VIRTIO_PCI_GF, (uint32_t)features, 4);
	bar_w(VIRTIO_PCI_GFSELECT, 1, 4);
	bar_w(VIRTIO_PCI_GF, (uint32_t)(features >> 32), 4);
	bar_w(VIRTIO_PCI_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	      VIRTIO_STATUS_FEATURES_OK, 1);
}

/* A VERSION_1 driver that sets up one queue alone (at DESC, AVAIL, USED) and says DRIVER_OK. */
static void driver_start_queue(unsigned queue)
{
	bar_w(VIRTIO_PCI_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	bar_w(VIRTIO_PCI_GFSELECT, 1, 4);
	bar_w(VIRTIO_PCI_GF, 1, 4);	/* VERSION_1 */
	bar_w(VIRTIO_PCI_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	      VIRTIO_STATUS_FEATURES_OK, 1);
	bar_w(VIRTIO_PCI_Q_SELECT, queue, 2);
	bar_w(VIRTIO_PCI_Q_SIZE, QSIZE, 2);
	bar_w(VIRTIO_PCI_Q_DESC, DESC, 8);
	bar_w(VIRTIO_PCI_Q_AVAIL, AVAIL, 8);
	bar_w(VIRTIO_PCI_Q_USED, USED, 8);
	bar_w(VIRTIO_PCI_Q_ENABLE, 1, 2);
	bar_w(VIRTIO_PCI_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	      VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK, 1);
}

static void driver_queue(void)
{
	bar_w(VIRTIO_PCI_Q_SELECT, 0, 2);
	assert_int_equal(bar_r(VIRTIO_PCI_Q_SIZE, 2), VIRTQ_MAX_SIZE);
	bar_w(VIRTIO_PCI_Q_SIZE, QSIZE, 2);
	bar_w(VIRTIO_PCI_Q_DESC, DESC, 4);	/* two halves, as drivers may write it */
	bar_w(VIRTIO_PCI_Q_DESC + 4, 0, 4);
	bar_w(VIRTIO_PCI_Q_AVAIL, AVAIL, 8);
	bar_w(VIRTIO_PCI_Q_USED, USED, 8);
	bar_w(VIRTIO_PCI_Q_ENABLE, 1, 2);
	assert_int_equal(bar_r(VIRTIO_PCI_Q_ENABLE, 2), 1);
	bar_w(VIRTIO_PCI_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	      VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK, 1);
}

static void test_transport_rng_intx(void **state)
{
	bool any = false;

	(void)state;
	driver_setup(VIRTIO_F(VIRTIO_F_VERSION_1));
	assert_int_equal(bar_r(VIRTIO_PCI_STATUS, 1) & VIRTIO_STATUS_FEATURES_OK,
			 VIRTIO_STATUS_FEATURES_OK);
	driver_queue();
	virtio_pci_poll(&vp);	/* DRIVER_OK looks at the queue once: empty */

	memset(ram + DATA, 0, 64);
	put_desc(DESC, 0, DATA, 64, VIRTQ_DESC_F_WRITE, 0);
	make_available(0);
	bar_w(VIRTIO_PCI_NOTIFY, 0, 2);
	virtio_pci_poll(&vp);
	assert_int_equal(le16_get(ram + USED + 2), 1);
	assert_int_equal(le32_get(ram + USED + 8), 64);
	for (unsigned i = 0; i < 64; i++)
		any |= ram[DATA + i] != 0;
	assert_true(any);
	/* INTx up until the driver reads the ISR. */
	assert_int_equal(intx_level, 1);
	assert_int_equal(bar_r(VIRTIO_PCI_ISR, 1), VIRTIO_PCI_ISR_QUEUE);
	assert_int_equal(intx_level, 0);
	assert_int_equal(bar_r(VIRTIO_PCI_ISR, 1), 0);

	/* A queue reconfigured after DRIVER_OK is refused. */
	bar_w(VIRTIO_PCI_Q_DESC, 0x8000, 8);
	assert_int_equal(bar_r(VIRTIO_PCI_Q_DESC, 8), DESC);
	virtio_pci_free(&vp);
}

static void test_transport_features_refused(void **state)
{
	(void)state;
	/* Without VERSION_1, or with a feature never offered, FEATURES_OK does not stick. */
	driver_setup(0);
	assert_int_equal(bar_r(VIRTIO_PCI_STATUS, 1) & VIRTIO_STATUS_FEATURES_OK, 0);
	virtio_pci_free(&vp);
	driver_setup(VIRTIO_F(VIRTIO_F_VERSION_1) | VIRTIO_F(40));
	assert_int_equal(bar_r(VIRTIO_PCI_STATUS, 1) & VIRTIO_STATUS_FEATURES_OK, 0);
	virtio_pci_free(&vp);
}

static void test_transport_broken_ring_msix(void **state)
{
	(void)state;
	driver_setup(VIRTIO_F(VIRTIO_F_VERSION_1));
	/* MSI-X on: vector 0 for the config, 1 for the queue, both unmasked. */
	le16_put(vp.pci.config + vp.msix.cap + PCI_MSIX_CONTROL,
		 (uint16_t)(le16_get(vp.pci.config + vp.msix.cap + PCI_MSIX_CONTROL) |
			    PCI_MSIX_CONTROL_ENABLE));
	for (unsigned v = 0; v < 2; v++) {
		bar_w(VIRTIO_PCI_MSIX_TABLE + 16 * v, 0xfee00000, 4);
		bar_w(VIRTIO_PCI_MSIX_TABLE + 16 * v + 8, 0x40 + v, 4);
		bar_w(VIRTIO_PCI_MSIX_TABLE + 16 * v + 12, 0, 4);
	}
	bar_w(VIRTIO_PCI_MSIX_CONFIG, 0, 2);
	bar_w(VIRTIO_PCI_Q_MSIX, 1, 2);
	assert_int_equal(bar_r(VIRTIO_PCI_Q_MSIX, 2), 1);
	bar_w(VIRTIO_PCI_Q_MSIX, 9, 2);	/* past the table: refused */
	assert_int_equal(bar_r(VIRTIO_PCI_Q_MSIX, 2), PCI_MSIX_NO_VECTOR);
	bar_w(VIRTIO_PCI_Q_MSIX, 1, 2);
	driver_queue();

	put_desc(DESC, 0, DATA, 16, VIRTQ_DESC_F_WRITE, 0);
	make_available(0);
	bar_w(VIRTIO_PCI_NOTIFY, 0, 2);
	virtio_pci_poll(&vp);
	assert_int_equal(msi_count, 1);
	assert_int_equal(msi_data, 0x41);

	/* A loop: the device needs a reset, says so by a config interrupt, and stays quiet. */
	put_desc(DESC, 0, DATA, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
	make_available(0);
	bar_w(VIRTIO_PCI_NOTIFY, 0, 2);
	virtio_pci_poll(&vp);
	assert_true(bar_r(VIRTIO_PCI_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(msi_count, 2);
	assert_int_equal(msi_data, 0x40);
	make_available(0);
	bar_w(VIRTIO_PCI_NOTIFY, 0, 2);
	virtio_pci_poll(&vp);
	assert_int_equal(msi_count, 2);

	/* A reset brings it back. */
	bar_w(VIRTIO_PCI_STATUS, 0, 1);
	assert_int_equal(bar_r(VIRTIO_PCI_STATUS, 1), 0);
	assert_int_equal(bar_r(VIRTIO_PCI_Q_ENABLE, 2), 0);
	virtio_pci_free(&vp);
}

/* A driver that breaks its ring and resets the device, again and again: 32 messages on
 * stderr, then one saying the rest go unreported, then nothing. */
static void test_transport_reports_bounded(void **state)
{
	FILE *log = tmpfile();
	int saved = dup(STDERR_FILENO);
	unsigned lines = 0, quiet = 0;
	char line[512];

	(void)state;
	assert_non_null(log);
	assert_true(saved >= 0);
	fflush(stderr);
	assert_true(dup2(fileno(log), STDERR_FILENO) >= 0);
	driver_setup(VIRTIO_F(VIRTIO_F_VERSION_1));
	for (unsigned i = 0; i < 40; i++) {
		driver_start_queue(0);
		memset(ram + AVAIL, 0, 4);
		avail_idx = 0;
		put_desc(DESC, 0, DATA, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
		make_available(0);
		bar_w(VIRTIO_PCI_NOTIFY, 0, 2);
		virtio_pci_poll(&vp);
		assert_true(bar_r(VIRTIO_PCI_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
		bar_w(VIRTIO_PCI_STATUS, 0, 1);
	}
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(log);
	while (fgets(line, sizeof(line), log) != NULL) {
		lines++;
		quiet += strstr(line, "32 broken rings and refused accesses reported; "
				"further ones are not") != NULL;
	}
	fclose(log);
	assert_int_equal(lines, 33);
	assert_int_equal(quiet, 1);
	virtio_pci_free(&vp);
}

static void test_transport_save_load(void **state)
{
	uint8_t buf[4096];
	struct state_buf s;
	struct virtio_pci_platform plat = { .intx = fake_intx, .msi = fake_msi, .intx_irq = 17 };
	static struct virtio_pci other;
	static struct virtio_rng other_rng;

	(void)state;
	driver_setup(VIRTIO_F(VIRTIO_F_VERSION_1) | VIRTIO_F(VIRTIO_F_EVENT_IDX));
	driver_queue();
	put_desc(DESC, 0, DATA, 16, VIRTQ_DESC_F_WRITE, 0);
	make_available(0);
	bar_w(VIRTIO_PCI_NOTIFY, 0, 2);
	virtio_pci_poll(&vp);

	state_writer(&s, buf, sizeof(buf));
	assert_int_equal(virtio_pci_save(&vp, &s), 0);
	assert_false(s.short_buf);

	virtio_rng_init(&other_rng, &mem);
	assert_int_equal(virtio_pci_init(&other, &other_rng.vdev, &plat), 0);
	state_reader(&s, buf, s.off);
	assert_int_equal(virtio_pci_load(&other, &s), 0);
	assert_int_equal(state_loaded(&s, "virtio-rng"), 0);
	assert_int_equal(other_rng.vdev.status, rng.vdev.status);
	assert_int_equal(other_rng.vdev.guest_features, rng.vdev.guest_features);
	assert_true(other_rng.vdev.vq[0].enabled);
	assert_int_equal(other_rng.vdev.vq[0].last_avail_idx, 1);
	assert_int_equal(other_rng.vdev.vq[0].used_idx, 1);
	assert_true(other_rng.vdev.vq[0].event_idx);

	/* A stream that says the queue lies outside RAM, or cut short, is refused. */
	virtio_pci_free(&other);
	virtio_rng_init(&other_rng, &mem);
	assert_int_equal(virtio_pci_init(&other, &other_rng.vdev, &plat), 0);
	le64_put(buf + 1 + 8 + 8 + 8 + 3 + 8, RAM_SIZE);	/* queue 0's descriptor table */
	state_reader(&s, buf, sizeof(buf));
	assert_int_equal(virtio_pci_load(&other, &s), -EINVAL);
	state_reader(&s, buf, 20);
	assert_int_equal(virtio_pci_load(&other, &s), -EINVAL);
	virtio_pci_free(&other);
	virtio_pci_free(&vp);
}

/* Found by the device state fuzzer: a saved queue whose used ring had run ahead of the chains
 * taken from the available ring.  With the three rings at one address each used index the
 * device wrote was a new available index, and the I/O thread served its own writes for ever
 * (holding the lock a pause waits for).  No device pushes a chain it did not pop: refused. */
static void test_transport_load_used_ahead(void **state)
{
	uint8_t buf[4096];
	struct state_buf s;
	struct virtio_pci_platform plat = { .intx = fake_intx, .msi = fake_msi, .intx_irq = 17 };
	static struct virtio_pci other;
	static struct virtio_rng other_rng;
	struct virtq *vq = &rng.vdev.vq[0];

	(void)state;
	driver_setup(VIRTIO_F(VIRTIO_F_VERSION_1) | VIRTIO_F(VIRTIO_F_EVENT_IDX));
	bar_w(VIRTIO_PCI_Q_SELECT, 0, 2);
	bar_w(VIRTIO_PCI_Q_SIZE, QSIZE, 2);
	bar_w(VIRTIO_PCI_Q_DESC, DESC, 8);
	bar_w(VIRTIO_PCI_Q_AVAIL, DESC, 8);
	bar_w(VIRTIO_PCI_Q_USED, DESC, 8);
	bar_w(VIRTIO_PCI_Q_ENABLE, 1, 2);
	bar_w(VIRTIO_PCI_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	      VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK, 1);
	assert_true(vq->enabled);

	for (unsigned ahead = 1; ahead <= 7; ahead += 6) {
		vq->last_avail_idx = 0x792f;
		vq->used_idx = vq->signalled_used = (uint16_t)(0x792f + ahead);
		state_writer(&s, buf, sizeof(buf));
		assert_int_equal(virtio_pci_save(&vp, &s), 0);
		virtio_rng_init(&other_rng, &mem);
		assert_int_equal(virtio_pci_init(&other, &other_rng.vdev, &plat), 0);
		state_reader(&s, buf, s.off);
		assert_int_equal(virtio_pci_load(&other, &s), -EINVAL);
		assert_err_mentions("queue 0's saved state is malformed");
		virtio_pci_free(&other);
	}
	/* A chain popped and never pushed (the ring broke under it) is a state a device is in. */
	vq->last_avail_idx = 0x7930;
	vq->used_idx = vq->signalled_used = 0x792f;
	state_writer(&s, buf, sizeof(buf));
	assert_int_equal(virtio_pci_save(&vp, &s), 0);
	virtio_rng_init(&other_rng, &mem);
	assert_int_equal(virtio_pci_init(&other, &other_rng.vdev, &plat), 0);
	state_reader(&s, buf, s.off);
	assert_int_equal(virtio_pci_load(&other, &s), 0);
	virtio_pci_poll(&other);	/* ends: the ring looks broken, or empty */
	virtio_pci_free(&other);
	virtio_pci_free(&vp);
}

static void test_console_transmit(void **state)
{
	struct virtio_pci_platform plat = { .intx = fake_intx, .msi = fake_msi, .intx_irq = 17 };
	static struct virtio_console con;
	char got[32] = { 0 };
	int pipe_fds[2];

	(void)state;
	assert_int_equal(pipe(pipe_fds), 0);
	assert_int_equal(virtio_console_open(&con, &mem, NULL, pipe_fds[1], -1), 0);
	assert_int_equal(virtio_pci_init(&vp, &con.vdev, &plat), 0);
	assert_int_equal(bar_r(VIRTIO_PCI_NUM_QUEUES, 2), 2);
	driver_start_queue(VIRTIO_CONSOLE_TX);

	/* Two buffers of one chain leave as one line; the chain comes back with nothing written. */
	memcpy(ram + DATA, "hello ", 6);
	memcpy(ram + DATA + 0x100, "hvc0\n", 5);
	put_desc(DESC, 0, DATA, 6, VIRTQ_DESC_F_NEXT, 1);
	put_desc(DESC, 1, DATA + 0x100, 5, 0, 0);
	make_available(0);
	bar_w(VIRTIO_PCI_NOTIFY + VIRTIO_PCI_NOTIFY_MULTIPLIER * VIRTIO_CONSOLE_TX,
	      VIRTIO_CONSOLE_TX, 2);
	virtio_pci_poll(&vp);
	assert_int_equal(read(pipe_fds[0], got, sizeof(got)), 11);
	assert_string_equal(got, "hello hvc0\n");
	assert_int_equal(le16_get(ram + USED + 2), 1);
	assert_int_equal(le32_get(ram + USED + 8), 0);
	virtio_pci_free(&vp);
	close(pipe_fds[0]);
	close(pipe_fds[1]);
}

/* hopvm exec's channel: what arrives on in_fd fills the guest's receive buffers, one chain at
 * a time, only while the guest has posted some; at the end of the input the device stops
 * reading and the guest keeps its buffer. */
static void test_console_receive(void **state)
{
	struct virtio_pci_platform plat = { .intx = fake_intx, .msi = fake_msi, .intx_irq = 17 };
	static struct virtio_console con;
	int pipe_fds[2], out_fds[2];

	(void)state;
	assert_int_equal(pipe(pipe_fds), 0);
	assert_int_equal(pipe(out_fds), 0);
	assert_int_equal(virtio_console_open(&con, &mem, NULL, out_fds[1], pipe_fds[0]), 0);
	assert_int_equal(virtio_pci_init(&vp, &con.vdev, &plat), 0);
	driver_start_queue(VIRTIO_CONSOLE_RX);

	/* No buffer posted: the device does not even look at its input. */
	assert_int_equal(virtio_console_ops.input_fd(&con.vdev), -1);
	put_desc(DESC, 0, DATA, 16, VIRTQ_DESC_F_WRITE, 0);
	make_available(0);
	assert_int_equal(virtio_console_ops.input_fd(&con.vdev), pipe_fds[0]);
	assert_int_equal(write(pipe_fds[1], "hi\n", 3), 3);
	assert_int_equal(virtio_console_ops.input_ready(&con.vdev), 0);
	assert_memory_equal(ram + DATA, "hi\n", 3);
	assert_int_equal(le16_get(ram + USED + 2), 1);
	assert_int_equal(le32_get(ram + USED + 8), 3);
	assert_int_equal(virtio_console_ops.input_fd(&con.vdev), -1);	/* nothing posted */

	put_desc(DESC, 1, DATA + 0x100, 16, VIRTQ_DESC_F_WRITE, 0);
	make_available(1);
	close(pipe_fds[1]);
	assert_int_equal(virtio_console_ops.input_ready(&con.vdev), 0);
	assert_int_equal(le16_get(ram + USED + 2), 1);	/* the buffer stays the guest's */
	assert_int_equal(virtio_console_ops.input_fd(&con.vdev), -1);	/* the input ended */
	virtio_pci_free(&vp);
	close(pipe_fds[0]);
	close(out_fds[0]);
	close(out_fds[1]);
}

static void test_fs_option(void **state)
{
	struct virtio_fs_option o;

	(void)state;
	assert_int_equal(virtio_fs_parse_option("/srv/data,tag=data", &o), 0);
	assert_string_equal(o.path, "/srv/data");
	assert_string_equal(o.tag, "data");
	assert_true(o.read_only);
	assert_int_equal(virtio_fs_parse_option("/srv,tag=t,rw", &o), 0);
	assert_false(o.read_only);
	assert_int_equal(virtio_fs_parse_option("/srv", &o), -EINVAL);
	assert_err_mentions("give its tag");
	assert_int_equal(virtio_fs_parse_option("tag=t", &o), -EINVAL);
	assert_err_mentions("give a directory first");
	assert_int_equal(virtio_fs_parse_option("/srv,tag=0123456789012345678901234567890123456", &o),
			 -EINVAL);
	assert_err_mentions("must be 1 to 36 bytes");
	assert_int_equal(virtio_fs_parse_option("/srv,tag=", &o), -EINVAL);
	assert_int_equal(virtio_fs_parse_option("/srv,tag=t,cache=always", &o), -EINVAL);
	assert_err_mentions("unknown 'cache=always'");
}

/* One FUSE request on the request queue: the device hands it to the file server and the reply
 * comes back in the chain's writable buffer.  A request too short to answer goes back empty,
 * and the device serves on. */
static void fs_request(unsigned head, const void *req, uint32_t len)
{
	memcpy(ram + DATA + 0x2000 * head, req, len);
	put_desc(DESC, 2 * head, DATA + 0x2000 * head, len, VIRTQ_DESC_F_NEXT, 2 * head + 1);
	put_desc(DESC, 2 * head + 1, DATA + 0x2000 * head + 0x1000, 0x1000, VIRTQ_DESC_F_WRITE, 0);
	make_available((uint16_t)(2 * head));
	bar_w(VIRTIO_PCI_NOTIFY + VIRTIO_PCI_NOTIFY_MULTIPLIER * VIRTIO_FS_REQUEST_QUEUE,
	      VIRTIO_FS_REQUEST_QUEUE, 2);
	virtio_pci_poll(&vp);
}

static void test_fs_device(void **state)
{
	struct virtio_pci_platform plat = { .intx = fake_intx, .msi = fake_msi, .intx_irq = 17 };
	static struct virtio_fs fs;
	struct virtio_fs_option opt;
	char dir[] = "/tmp/hopvm-test-fs-XXXXXX";
	struct {
		struct fuse_in_header h;
		struct fuse_init_in init;
	} req = { .h = { .len = sizeof(req), .opcode = FUSE_INIT, .unique = 7 },
		  .init = { .major = 7, .minor = 38, .max_readahead = 65536 } };
	struct fuse_out_header out;
	struct fuse_init_out init_out;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(virtio_fs_open(&fs, &mem, &(struct virtio_fs_option){ .tag = "x" }), -ENOENT);
	snprintf(opt.path, sizeof(opt.path), "%s", dir);
	strcpy(opt.tag, "shared");
	opt.read_only = true;
	assert_int_equal(virtio_fs_open(&fs, &mem, &opt), 0);
	assert_int_equal(virtio_pci_init(&vp, &fs.vdev, &plat), 0);
	assert_int_equal(bar_r(VIRTIO_PCI_NUM_QUEUES, 2), 2);	/* high priority, requests */
	assert_int_equal(bar_r(VIRTIO_PCI_DEVICE_CFG, 4), 0x72616873);	/* "shar" */
	assert_int_equal(bar_r(VIRTIO_PCI_DEVICE_CFG + 4, 2), 0x6465);	/* "ed" */
	assert_int_equal(bar_r(VIRTIO_PCI_DEVICE_CFG + 6, 1), 0);
	assert_int_equal(bar_r(VIRTIO_PCI_DEVICE_CFG + 36, 4), 1);	/* one request queue */
	driver_start_queue(VIRTIO_FS_REQUEST_QUEUE);

	fs_request(0, &req, sizeof(req));
	assert_int_equal(le16_get(ram + USED + 2), 1);
	assert_int_equal(le32_get(ram + USED + 8), sizeof(out) + sizeof(init_out));
	memcpy(&out, ram + DATA + 0x1000, sizeof(out));
	memcpy(&init_out, ram + DATA + 0x1000 + sizeof(out), sizeof(init_out));
	assert_int_equal(out.error, 0);
	assert_int_equal(out.unique, 7);
	assert_int_equal(init_out.major, 7);

	/* Eight bytes are no FUSE header: nothing to answer, but the device is not broken. */
	fs_request(1, &req, 8);
	assert_int_equal(le16_get(ram + USED + 2), 2);
	assert_int_equal(le32_get(ram + USED + 8 + 8), 0);
	assert_int_equal(bar_r(VIRTIO_PCI_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET, 0);
	req.h.unique = 8;
	fs_request(2, &req, sizeof(req));
	assert_int_equal(le16_get(ram + USED + 2), 3);
	memcpy(&out, ram + DATA + 0x4000 + 0x1000, sizeof(out));
	assert_int_equal(out.unique, 8);

	virtio_pci_free(&vp);
	virtio_fs_close(&fs);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_chain_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_console_receive, setup, teardown),
		cmocka_unit_test(test_fs_option),
		cmocka_unit_test_setup_teardown(test_fs_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broken_rings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_layouts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_indirect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_idx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blk_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blk_read_only_and_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blk_bad_images, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transport_rng_intx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transport_features_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transport_broken_ring_msix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transport_reports_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transport_save_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transport_load_used_ahead, setup, teardown),
		cmocka_unit_test_setup_teardown(test_console_transmit, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
