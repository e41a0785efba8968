/* virtio-net through its PCI transport, driven as a guest driver would over a heap buffer as
 * guest RAM, with one end of a SOCK_SEQPACKET socketpair in the TAP's place (it keeps frame
 * boundaries as a TAP does); the test holds the other end, the host's side. */
#include <errno.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hopvm/error.h"
#include "hopvm/le.h"
#include "hopvm/tap.h"
#include "hopvm/virtio_net.h"
#include "hopvm/virtio_pci.h"
#include "unit.h"

#define RAM_SIZE (1U << 20)
#define QSIZE 16
#define DATA 0x20000
#define RING(q) (0x1000 + 0x3000 * (q))	/* descriptors; avail +0x1000, used +0x2000 */
#define F(bit) VIRTIO_F(bit)
#define BASE_FEATURES (VIRTIO_F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_MAC) | \
		       F(VIRTIO_NET_F_STATUS) | F(VIRTIO_NET_F_CTRL_VQ))

static const uint8_t mac0[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static uint8_t *ram;
static struct guest_mem mem;
static struct virtio_net net;
static struct virtio_pci vp;
static int host_fd, dev_fd;
static uint16_t avail_idx[3];
static int intx_level;

static void fake_intx(void *ctx, unsigned irq, int level)
{
	(void)ctx;
	(void)irq;
	intx_level = level;
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

static void put_desc(unsigned q, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	uint8_t *d = ram + RING(q) + 16 * i;

	le64_put(d, addr);
	le32_put(d + 8, len);
	le16_put(d + 12, flags);
	le16_put(d + 14, next);
}

static void make_available(unsigned q, uint16_t head)
{
	uint8_t *avail = ram + RING(q) + 0x1000;

	le16_put(avail + 4 + 2 * (avail_idx[q] % QSIZE), head);
	le16_put(avail + 2, ++avail_idx[q]);
}

static uint16_t used_idx(unsigned q)
{
	return le16_get(ram + RING(q) + 0x2000 + 2);
}

static uint32_t used_len(unsigned q, unsigned i)
{
	return le32_get(ram + RING(q) + 0x2000 + 4 + 8 * i + 4);
}

static void kick(unsigned q)
{
	bar_w(VIRTIO_PCI_NOTIFY + VIRTIO_PCI_NOTIFY_MULTIPLIER * q, q, 2);
	virtio_pci_poll(&vp);
}

/* A driver that accepted features, with all three queues and DRIVER_OK. */
static void driver_up(uint64_t features)
{
	bar_w(VIRTIO_PCI_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	bar_w(VIRTIO_PCI_GFSELECT, 0, 4);
	bar_w(VIRTIO_PCI_GF, (uint32_t)features, 4);
	bar_w(VIRTIO_PCI_GFSELECT, 1, 4);
	bar_w(VIRTIO_PCI_GF, (uint32_t)(features >> 32), 4);
	bar_w(VIRTIO_PCI_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	      VIRTIO_STATUS_FEATURES_OK, 1);
	assert_true(bar_r(VIRTIO_PCI_STATUS, 1) & VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(bar_r(VIRTIO_PCI_NUM_QUEUES, 2), 3);
	for (unsigned q = 0; q < 3; q++) {
		bar_w(VIRTIO_PCI_Q_SELECT, q, 2);
		bar_w(VIRTIO_PCI_Q_SIZE, QSIZE, 2);
		bar_w(VIRTIO_PCI_Q_DESC, RING(q), 8);
		bar_w(VIRTIO_PCI_Q_AVAIL, RING(q) + 0x1000, 8);
		bar_w(VIRTIO_PCI_Q_USED, RING(q) + 0x2000, 8);
		bar_w(VIRTIO_PCI_Q_ENABLE, 1, 2);
	}
	bar_w(VIRTIO_PCI_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	      VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK, 1);
	virtio_pci_poll(&vp);
}

static void device_up(uint64_t features)
{
	struct virtio_pci_platform plat = { .intx = fake_intx, .intx_irq = 17 };

	assert_int_equal(virtio_net_init_fd(&net, &mem, dev_fd, mac0, "test0"), 0);
	assert_int_equal(virtio_pci_init(&vp, &net.vdev, &plat), 0);
	driver_up(features);
}

static int setup(void **state)
{
	int sv[2];

	(void)state;
	ram = calloc(1, RAM_SIZE);
	assert_non_null(ram);
	guest_mem_init_buffer(&mem, ram, RAM_SIZE);
	memset(avail_idx, 0, sizeof(avail_idx));
	intx_level = 0;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
	host_fd = sv[0];
	dev_fd = sv[1];
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	virtio_pci_free(&vp);
	virtio_net_close(&net);
	close(host_fd);
	close(dev_fd);
	free(ram);
	return 0;
}

static ssize_t host_recv(uint8_t *buf, size_t len)
{
	return recv(host_fd, buf, len, MSG_DONTWAIT);
}

/* A frame as the TAP hands it over: a header (flags 1: partial checksum) and payload. */
static size_t host_frame(uint8_t *buf, size_t payload, uint8_t fill)
{
	memset(buf, 0, VIRTIO_NET_HDR_LEN);
	buf[0] = 1;
	le16_put(buf + 6, 34);
	for (size_t i = 0; i < payload; i++)
		buf[VIRTIO_NET_HDR_LEN + i] = (uint8_t)(fill + i);
	return VIRTIO_NET_HDR_LEN + payload;
}

static void test_config(void **state)
{
	(void)state;
	device_up(BASE_FEATURES);
	assert_int_equal(bar_r(VIRTIO_PCI_DF, 4) & (1U << VIRTIO_NET_F_MRG_RXBUF),
			 1U << VIRTIO_NET_F_MRG_RXBUF);
	assert_int_equal(vp.pci.config[PCI_DEVICE_ID], 0x41);
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(bar_r(VIRTIO_PCI_DEVICE_CFG + i, 1), mac0[i]);
	assert_int_equal(bar_r(VIRTIO_PCI_DEVICE_CFG + VIRTIO_NET_CFG_STATUS, 2),
			 VIRTIO_NET_S_LINK_UP);
	assert_int_equal(bar_r(VIRTIO_PCI_DEVICE_CFG + VIRTIO_NET_CFG_MAX_PAIRS, 2), 1);
}

static void test_tx_frame(void **state)
{
	uint8_t got[256];

	(void)state;
	device_up(BASE_FEATURES | F(VIRTIO_NET_F_CSUM));
	memset(ram + DATA, 0, VIRTIO_NET_HDR_LEN);
	ram[DATA] = 1;	/* needs checksum */
	for (unsigned i = 0; i < 100; i++)
		ram[DATA + 0x100 + i] = (uint8_t)(0x40 + i);
	put_desc(VIRTIO_NET_TX, 0, DATA, VIRTIO_NET_HDR_LEN, VIRTQ_DESC_F_NEXT, 1);
	put_desc(VIRTIO_NET_TX, 1, DATA + 0x100, 100, 0, 0);
	make_available(VIRTIO_NET_TX, 0);
	kick(VIRTIO_NET_TX);
	assert_int_equal(host_recv(got, sizeof(got)), VIRTIO_NET_HDR_LEN + 100);
	assert_memory_equal(got, ram + DATA, VIRTIO_NET_HDR_LEN);
	assert_memory_equal(got + VIRTIO_NET_HDR_LEN, ram + DATA + 0x100, 100);
	assert_int_equal(used_idx(VIRTIO_NET_TX), 1);
	assert_int_equal(used_len(VIRTIO_NET_TX, 0), 0);
	assert_int_equal(net.stats.tx_frames, 1);
	assert_int_equal(intx_level, 1);
}

static void test_tx_bad_chains(void **state)
{
	uint8_t got[16];

	(void)state;
	device_up(BASE_FEATURES);
	/* A writable buffer in a transmit chain; a header cut short; a frame over the limit. */
	put_desc(VIRTIO_NET_TX, 0, DATA, 64, VIRTQ_DESC_F_NEXT, 1);
	put_desc(VIRTIO_NET_TX, 1, DATA + 0x100, 64, VIRTQ_DESC_F_WRITE, 0);
	put_desc(VIRTIO_NET_TX, 2, DATA, 8, 0, 0);
	put_desc(VIRTIO_NET_TX, 3, DATA, VIRTIO_NET_HDR_LEN + VIRTIO_NET_MAX_FRAME + 1, 0, 0);
	make_available(VIRTIO_NET_TX, 0);
	make_available(VIRTIO_NET_TX, 2);
	make_available(VIRTIO_NET_TX, 3);
	kick(VIRTIO_NET_TX);
	assert_int_equal(net.stats.tx_bad, 3);
	assert_int_equal(net.stats.tx_frames, 0);
	assert_int_equal(host_recv(got, sizeof(got)), -1);
	assert_int_equal(used_idx(VIRTIO_NET_TX), 3);
	assert_false(bar_r(VIRTIO_PCI_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);

	/* A ring that points outside RAM is what breaks the device. */
	put_desc(VIRTIO_NET_TX, 4, RAM_SIZE - 4, 64, 0, 0);
	make_available(VIRTIO_NET_TX, 4);
	kick(VIRTIO_NET_TX);
	assert_true(bar_r(VIRTIO_PCI_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
}

/* A TAP nobody reads: one short wait for the pass, then drops, counted; the ring goes on. */
static void test_tx_full(void **state)
{
	struct timespec start, end;
	uint8_t byte = 0;
	long ms;

	(void)state;
	device_up(BASE_FEATURES);
	while (send(dev_fd, &byte, 1, MSG_DONTWAIT) == 1)
		;
	for (unsigned i = 0; i < 4; i++) {
		put_desc(VIRTIO_NET_TX, i, DATA, VIRTIO_NET_HDR_LEN + 60, 0, 0);
		make_available(VIRTIO_NET_TX, (uint16_t)i);
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	kick(VIRTIO_NET_TX);
	clock_gettime(CLOCK_MONOTONIC, &end);
	ms = (end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1000000;
	assert_true(ms < 500);
	assert_int_equal(net.stats.tx_dropped, 4);
	assert_int_equal(net.stats.tx_frames, 0);
	assert_int_equal(used_idx(VIRTIO_NET_TX), 4);
	assert_false(bar_r(VIRTIO_PCI_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
}

static void post_rx(unsigned first, unsigned count, uint32_t len)
{
	for (unsigned i = first; i < first + count; i++) {
		put_desc(VIRTIO_NET_RX, i, DATA + 0x1000 * i, len, VIRTQ_DESC_F_WRITE, 0);
		make_available(VIRTIO_NET_RX, (uint16_t)i);
	}
}

static void test_rx_one_chain(void **state)
{
	uint8_t frame[512];
	size_t len = host_frame(frame, 200, 7);

	(void)state;
	device_up(BASE_FEATURES | F(VIRTIO_NET_F_GUEST_CSUM));
	post_rx(0, 2, 2048);
	kick(VIRTIO_NET_RX);
	assert_int_equal(net.vdev.ops->input_fd(&net.vdev), dev_fd);
	assert_int_equal(send(host_fd, frame, len, 0), (ssize_t)len);
	assert_int_equal(net.vdev.ops->input_ready(&net.vdev), 0);
	assert_int_equal(used_idx(VIRTIO_NET_RX), 1);
	assert_int_equal(used_len(VIRTIO_NET_RX, 0), len);
	assert_int_equal(le16_get(ram + DATA + VIRTIO_NET_HDR_NUM_BUFFERS), 1);
	assert_memory_equal(ram + DATA, frame, VIRTIO_NET_HDR_NUM_BUFFERS);
	assert_memory_equal(ram + DATA + VIRTIO_NET_HDR_LEN, frame + VIRTIO_NET_HDR_LEN, 200);
	assert_int_equal(net.stats.rx_frames, 1);
	/* A buffer is left: the fd is still watched. */
	assert_int_equal(net.vdev.ops->input_fd(&net.vdev), dev_fd);
}

static void test_rx_mergeable(void **state)
{
	uint8_t frame[512];
	size_t len = host_frame(frame, 250, 3);

	(void)state;
	device_up(BASE_FEATURES | F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_F_EVENT_IDX));
	post_rx(0, 4, 100);
	kick(VIRTIO_NET_RX);
	assert_int_equal(send(host_fd, frame, len, 0), (ssize_t)len);
	assert_int_equal(net.vdev.ops->input_ready(&net.vdev), 0);
	assert_int_equal(used_idx(VIRTIO_NET_RX), 3);
	assert_int_equal(used_len(VIRTIO_NET_RX, 0), 100);
	assert_int_equal(used_len(VIRTIO_NET_RX, 1), 100);
	assert_int_equal(used_len(VIRTIO_NET_RX, 2), len - 200);
	assert_int_equal(le16_get(ram + DATA + VIRTIO_NET_HDR_NUM_BUFFERS), 3);
	assert_memory_equal(ram + DATA + VIRTIO_NET_HDR_LEN, frame + VIRTIO_NET_HDR_LEN, 88);
	assert_memory_equal(ram + DATA + 0x1000, frame + 100, 100);
	assert_memory_equal(ram + DATA + 0x2000, frame + 200, len - 200);
	assert_int_equal(net.vdev.ops->input_fd(&net.vdev), dev_fd);	/* one left */

	/* Bigger than the whole ring together: dropped, and the buffers stay the guest's. */
	len = host_frame(frame, 500, 0);
	assert_int_equal(send(host_fd, frame, len, 0), (ssize_t)len);
	assert_int_equal(net.vdev.ops->input_ready(&net.vdev), 0);
	assert_int_equal(used_idx(VIRTIO_NET_RX), 3);
	assert_int_equal(net.stats.rx_dropped, 0);	/* waiting for more buffers */
	assert_int_equal(net.vdev.ops->input_fd(&net.vdev), -1);
	/* The next buffer the driver adds notifies: avail_event is the available index (4),
	 * past the one it can see but not use. */
	assert_int_equal(le16_get(ram + RING(0) + 0x2000 + 4 + 8 * QSIZE), 4);
	post_rx(4, QSIZE - 4, 16);
	post_rx(0, 3, 16);	/* the whole ring: 100 + 15 * 16 bytes */
	kick(VIRTIO_NET_RX);
	assert_int_equal(net.stats.rx_dropped, 1);
	assert_int_equal(used_idx(VIRTIO_NET_RX), 3);
}

static void test_rx_no_buffers(void **state)
{
	uint8_t frame[128], peek[128];
	size_t len = host_frame(frame, 60, 1);

	(void)state;
	device_up(BASE_FEATURES);
	/* DRIVER_OK looked at the empty receive queue: the fd is not watched. */
	assert_int_equal(net.vdev.ops->input_fd(&net.vdev), -1);
	assert_int_equal(send(host_fd, frame, len, 0), (ssize_t)len);
	assert_int_equal(net.vdev.ops->input_ready(&net.vdev), 0);
	assert_int_equal(recv(dev_fd, peek, sizeof(peek), MSG_PEEK | MSG_DONTWAIT), (ssize_t)len);
	assert_int_equal(net.stats.rx_dropped, 0);
	/* A buffer and a kick: the frame is read into it. */
	post_rx(0, 1, 1526);
	kick(VIRTIO_NET_RX);
	assert_int_equal(used_idx(VIRTIO_NET_RX), 1);
	assert_int_equal(used_len(VIRTIO_NET_RX, 0), len);
	assert_int_equal(recv(dev_fd, peek, sizeof(peek), MSG_PEEK | MSG_DONTWAIT), -1);
	assert_int_equal(net.vdev.ops->input_fd(&net.vdev), -1);
}

static void test_rx_too_big(void **state)
{
	uint8_t frame[512];
	size_t len = host_frame(frame, 200, 9);

	(void)state;
	device_up(BASE_FEATURES);
	post_rx(0, 1, 100);
	kick(VIRTIO_NET_RX);
	assert_int_equal(send(host_fd, frame, len, 0), (ssize_t)len);
	assert_int_equal(net.vdev.ops->input_ready(&net.vdev), 0);
	assert_int_equal(net.stats.rx_dropped, 1);
	assert_int_equal(used_idx(VIRTIO_NET_RX), 0);
	/* The buffer stays for a frame it can hold. */
	len = host_frame(frame, 50, 9);
	assert_int_equal(send(host_fd, frame, len, 0), (ssize_t)len);
	assert_int_equal(net.vdev.ops->input_ready(&net.vdev), 0);
	assert_int_equal(used_idx(VIRTIO_NET_RX), 1);
	assert_int_equal(used_len(VIRTIO_NET_RX, 0), len);
	/* A frame shorter than its header. */
	post_rx(1, 1, 100);
	assert_int_equal(send(host_fd, frame, 5, 0), 5);
	assert_int_equal(net.vdev.ops->input_ready(&net.vdev), 0);
	assert_int_equal(net.stats.rx_dropped, 2);
}

/* Sends a control request: class, command, data; returns the ack (or -1 if none). */
static int ctrl(uint8_t class, uint8_t cmd, const void *data, uint32_t len, bool answer)
{
	static unsigned slot;
	unsigned d = (slot++ % 4) * 2;
	uint16_t before = used_idx(VIRTIO_NET_CTRL);

	ram[DATA] = class;
	ram[DATA + 1] = cmd;
	if (len > 0)
		memcpy(ram + DATA + 2, data, len);
	ram[DATA + 0x800] = 0xee;
	put_desc(VIRTIO_NET_CTRL, d, DATA, 2 + len, answer ? VIRTQ_DESC_F_NEXT : 0,
		 (uint16_t)(d + 1));
	put_desc(VIRTIO_NET_CTRL, d + 1, DATA + 0x800, 1, VIRTQ_DESC_F_WRITE, 0);
	make_available(VIRTIO_NET_CTRL, (uint16_t)d);
	kick(VIRTIO_NET_CTRL);
	assert_int_equal(used_idx(VIRTIO_NET_CTRL), (uint16_t)(before + 1));
	return used_len(VIRTIO_NET_CTRL, before % QSIZE) == 1 ? ram[DATA + 0x800] : -1;
}

static void test_ctrl_queue(void **state)
{
	static const uint8_t new_mac[6] = { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc };
	static const uint8_t multicast[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };
	uint8_t table[4 + 4 + 6] = { 0 }, on = 1;
	uint8_t generation;

	(void)state;
	device_up(BASE_FEATURES | F(VIRTIO_NET_F_GUEST_ANNOUNCE) | F(VIRTIO_NET_F_CTRL_RX) |
		  F(VIRTIO_NET_F_CTRL_MAC_ADDR));
	generation = (uint8_t)bar_r(VIRTIO_PCI_CONFIG_GEN, 1);
	assert_int_equal(virtio_net_announce(&net), 0);
	assert_int_equal(bar_r(VIRTIO_PCI_DEVICE_CFG + VIRTIO_NET_CFG_STATUS, 2),
			 VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE);
	assert_int_equal(bar_r(VIRTIO_PCI_CONFIG_GEN, 1), (uint8_t)(generation + 1));
	assert_int_equal(intx_level, 1);
	assert_int_equal(bar_r(VIRTIO_PCI_ISR, 1), VIRTIO_PCI_ISR_CONFIG);
	assert_false(net.announcing);	/* the guest announces itself: no RARP */

	assert_int_equal(ctrl(VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, NULL, 0,
			      true), VIRTIO_NET_OK);
	assert_int_equal(bar_r(VIRTIO_PCI_DEVICE_CFG + VIRTIO_NET_CFG_STATUS, 2),
			 VIRTIO_NET_S_LINK_UP);
	assert_int_equal(ctrl(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, new_mac, 6, true),
			 VIRTIO_NET_OK);
	assert_memory_equal(net.vdev.config + VIRTIO_NET_CFG_MAC, new_mac, 6);
	assert_int_equal(ctrl(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, multicast, 6,
			      true), VIRTIO_NET_ERR);
	assert_int_equal(ctrl(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, new_mac, 5, true),
			 VIRTIO_NET_ERR);
	assert_memory_equal(net.vdev.config + VIRTIO_NET_CFG_MAC, new_mac, 6);
	/* Tables: no unicast entries, one multicast; then counts that overrun the request. */
	le32_put(table + 4, 1);
	memcpy(table + 8, multicast, 6);
	assert_int_equal(ctrl(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, table,
			      sizeof(table), true), VIRTIO_NET_OK);
	le32_put(table + 4, 0xffffffff);
	assert_int_equal(ctrl(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, table,
			      sizeof(table), true), VIRTIO_NET_ERR);
	assert_int_equal(ctrl(VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, &on, 1, true),
			 VIRTIO_NET_OK);
	assert_int_equal(ctrl(VIRTIO_NET_CTRL_RX, 7, &on, 1, true), VIRTIO_NET_ERR);
	assert_int_equal(ctrl(9, 0, NULL, 0, true), VIRTIO_NET_ERR);
	/* No room for the answer: returned unanswered and counted. */
	assert_int_equal(ctrl(VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, &on, 1, false), -1);
	assert_int_equal(net.stats.ctrl_bad, 1);
	assert_false(bar_r(VIRTIO_PCI_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);

	/* A reset gives back the configured MAC. */
	bar_w(VIRTIO_PCI_STATUS, 0, 1);
	assert_memory_equal(net.vdev.config + VIRTIO_NET_CFG_MAC, mac0, 6);
}

static void test_announce_rarp(void **state)
{
	uint8_t got[128];
	struct timespec start, end;
	long ms;

	(void)state;
	device_up(BASE_FEATURES);	/* no GUEST_ANNOUNCE */
	net.rarp_first_ms = 5;
	net.rarp_step_ms = 10;
	clock_gettime(CLOCK_MONOTONIC, &start);
	assert_int_equal(virtio_net_announce(&net), 0);
	virtio_net_announce_wait(&net);
	clock_gettime(CLOCK_MONOTONIC, &end);
	ms = (end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1000000;
	assert_true(ms >= 5 + 15 + 25 + 35);	/* the rounds' spacing, shortened */
	assert_int_equal(net.rarp_sent, VIRTIO_NET_RARP_ROUNDS);
	for (unsigned i = 0; i < VIRTIO_NET_RARP_ROUNDS; i++) {
		const uint8_t *f = got + VIRTIO_NET_HDR_LEN;
		static const uint8_t head[] = { 0x80, 0x35, 0, 1, 0x08, 0, 6, 4, 0, 3 };

		assert_int_equal(host_recv(got, sizeof(got)),
				 VIRTIO_NET_HDR_LEN + VIRTIO_NET_RARP_LEN);
		for (unsigned b = 0; b < VIRTIO_NET_HDR_LEN; b++)
			assert_int_equal(got[b], 0);
		for (unsigned b = 0; b < 6; b++)
			assert_int_equal(f[b], 0xff);
		assert_memory_equal(f + 6, mac0, 6);
		assert_memory_equal(f + 12, head, sizeof(head));
		assert_memory_equal(f + 22, mac0, 6);
		assert_memory_equal(f + 32, mac0, 6);
	}
	assert_int_equal(host_recv(got, sizeof(got)), -1);
	assert_int_equal(bar_r(VIRTIO_PCI_DEVICE_CFG + VIRTIO_NET_CFG_STATUS, 2),
			 VIRTIO_NET_S_LINK_UP);
}

/* The I/O thread watches the fd while buffers are posted and serves it on its own. */
static void test_rx_through_io_thread(void **state)
{
	uint8_t frame[256];
	size_t len = host_frame(frame, 100, 5);

	(void)state;
	device_up(BASE_FEATURES);
	post_rx(0, 2, 1526);
	kick(VIRTIO_NET_RX);
	assert_int_equal(virtio_pci_start(&vp), 0);
	assert_int_equal(send(host_fd, frame, len, 0), (ssize_t)len);
	for (unsigned i = 0; i < 2000 && __atomic_load_n((uint16_t *)(void *)(ram + RING(0) +
			0x2000 + 2), __ATOMIC_ACQUIRE) == 0; i++)
		poll(NULL, 0, 1);
	assert_int_equal(used_idx(VIRTIO_NET_RX), 1);
	assert_memory_equal(ram + DATA + VIRTIO_NET_HDR_LEN, frame + VIRTIO_NET_HDR_LEN, 100);
	/* Paused, it leaves the fd alone: the next frame waits for the resume. */
	virtio_pci_pause(&vp);
	assert_int_equal(send(host_fd, frame, len, 0), (ssize_t)len);
	poll(NULL, 0, 50);
	assert_int_equal(used_idx(VIRTIO_NET_RX), 1);
	virtio_pci_resume(&vp);
	for (unsigned i = 0; i < 2000 && __atomic_load_n((uint16_t *)(void *)(ram + RING(0) +
			0x2000 + 2), __ATOMIC_ACQUIRE) == 1; i++)
		poll(NULL, 0, 1);
	assert_int_equal(used_idx(VIRTIO_NET_RX), 2);
}

static void test_save_load(void **state)
{
	static struct virtio_net other;
	static struct virtio_pci other_vp;
	struct virtio_pci_platform plat = { .intx = fake_intx, .intx_irq = 17 };
	uint64_t features = BASE_FEATURES | F(VIRTIO_NET_F_GUEST_CSUM) |
			    F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_ANNOUNCE);
	uint8_t buf[4096], copy[4096];
	struct state_buf s;
	size_t len, dev;

	(void)state;
	device_up(features);
	put_desc(VIRTIO_NET_TX, 0, DATA, 8, 0, 0);	/* a bad chain, counted */
	make_available(VIRTIO_NET_TX, 0);
	kick(VIRTIO_NET_TX);
	assert_int_equal(virtio_net_announce(&net), 0);
	net.tun_offloads = TUN_F_CSUM | TUN_F_TSO4;	/* as a TAP would have had them */
	state_writer(&s, buf, sizeof(buf));
	assert_int_equal(virtio_pci_save(&vp, &s), 0);
	assert_false(s.short_buf);
	len = s.off;
	dev = len - (2 + 6 * 8);	/* where the device's own state starts */
	assert_int_equal(buf[dev], 1);

#define LOAD_INTO_OTHER(bytes, n)                                                          \
	({                                                                                 \
		virtio_pci_free(&other_vp);                                                \
		virtio_net_close(&other);                                                  \
		assert_int_equal(virtio_net_init_fd(&other, &mem, dev_fd, mac0, "other"), 0); \
		assert_int_equal(virtio_pci_init(&other_vp, &other.vdev, &plat), 0);        \
		state_reader(&s, (bytes), (n));                                            \
		virtio_pci_load(&other_vp, &s);                                            \
	})
	assert_int_equal(LOAD_INTO_OTHER(buf, len), 0);
	assert_int_equal(state_loaded(&s, "virtio-net"), 0);
	assert_int_equal(other.stats.tx_bad, 1);
	assert_int_equal(other.vdev.guest_features, features);
	assert_int_equal(le16_get(other.vdev.config + VIRTIO_NET_CFG_STATUS),
			 VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE);

	/* A version this hopvm does not know, offloads the features do not give, cut short. */
	memcpy(copy, buf, len);
	copy[dev] = 2;
	assert_int_equal(LOAD_INTO_OTHER(copy, len), -EINVAL);
	assert_err_mentions("version 2");
	memcpy(copy, buf, len);
	copy[dev + 1] = TUN_F_CSUM | TUN_F_TSO6;
	assert_int_equal(LOAD_INTO_OTHER(copy, len), -EINVAL);
	assert_err_mentions("offloads");
	copy[dev + 1] = 0x40;
	assert_int_equal(LOAD_INTO_OTHER(copy, len), -EINVAL);
	assert_int_equal(LOAD_INTO_OTHER(buf, len - 3), -EINVAL);

	/* Config bytes no virtio-net shows: a multicast MAC, the link down. */
	net.vdev.config[VIRTIO_NET_CFG_MAC] = 0x01;
	state_writer(&s, copy, sizeof(copy));
	assert_int_equal(virtio_pci_save(&vp, &s), 0);
	assert_int_equal(LOAD_INTO_OTHER(copy, s.off), -EINVAL);
	assert_err_mentions("not unicast");
	net.vdev.config[VIRTIO_NET_CFG_MAC] = 0x52;
	le16_put(net.vdev.config + VIRTIO_NET_CFG_STATUS, 0);
	state_writer(&s, copy, sizeof(copy));
	assert_int_equal(virtio_pci_save(&vp, &s), 0);
	assert_int_equal(LOAD_INTO_OTHER(copy, s.off), -EINVAL);
	assert_err_mentions("status");
#undef LOAD_INTO_OTHER
	virtio_pci_free(&other_vp);
	virtio_net_close(&other);
}

static void test_parse_option(void **state)
{
	struct virtio_net_option opt;
	static const uint8_t second[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x58 };
	static const uint8_t given[6] = { 0x02, 0xab, 0xcd, 0xef, 0x01, 0x23 };

	(void)state;
	assert_int_equal(virtio_net_parse_option("tap=tap0", 0, &opt), 0);
	assert_string_equal(opt.tap, "tap0");
	assert_memory_equal(opt.mac, mac0, 6);
	assert_int_equal(virtio_net_parse_option("tap=hop1", 2, &opt), 0);
	assert_memory_equal(opt.mac, second, 6);
	assert_int_equal(virtio_net_parse_option("mac=02:AB:cd:ef:01:23,tap=x", 0, &opt), 0);
	assert_memory_equal(opt.mac, given, 6);
	assert_string_equal(opt.tap, "x");

	assert_int_equal(virtio_net_parse_option("tap=t,mac=01:00:5e:00:00:01", 0, &opt),
			 -EINVAL);
	assert_err_mentions("multicast");
	assert_int_equal(virtio_net_parse_option("tap=t,mac=00:00:00:00:00:00", 0, &opt),
			 -EINVAL);
	assert_int_equal(virtio_net_parse_option("tap=t,mac=52:54:00:12:34", 0, &opt), -EINVAL);
	assert_err_mentions("is not a MAC address");
	assert_int_equal(virtio_net_parse_option("tap=t,mac=52-54-00-12-34-56", 0, &opt),
			 -EINVAL);
	assert_int_equal(virtio_net_parse_option("tap=t,mac=5g:54:00:12:34:56", 0, &opt),
			 -EINVAL);
	assert_int_equal(virtio_net_parse_option("tap=t,model=e1000", 0, &opt), -EINVAL);
	assert_err_mentions("unknown key 'model=e1000'");
	assert_int_equal(virtio_net_parse_option("mac=52:54:00:12:34:57", 0, &opt), -EINVAL);
	assert_err_mentions("names no TAP");
	assert_int_equal(virtio_net_parse_option("", 0, &opt), -EINVAL);
	assert_int_equal(virtio_net_parse_option("tap=", 0, &opt), -EINVAL);
	assert_int_equal(virtio_net_parse_option("tap=t,", 0, &opt), -EINVAL);
	assert_int_equal(virtio_net_parse_option("tap=a/b", 0, &opt), -EINVAL);
	assert_int_equal(virtio_net_parse_option("tap=0123456789abcdef", 0, &opt),
			 -ENAMETOOLONG);
	assert_err_mentions("longer than the 15 bytes");
	assert_int_equal(virtio_net_parse_option("tap=0123456789abcde", 0, &opt), 0);
}

static void test_tap_errors(void **state)
{
	int fd;

	(void)state;
	assert_int_equal(tap_open("0123456789abcdef"), -ENAMETOOLONG);
	assert_err_mentions("0123456789abcdef");
	/* "lo" is never a TAP: refused as such where /dev/net/tun may be used at all. */
	fd = tap_open("lo");
	if (fd == -EINVAL)
		assert_err_mentions("is not a TAP device");
	else if (fd == -EPERM)
		assert_err_mentions("CAP_NET_ADMIN");
	else
		assert_true(fd == -ENOENT || fd == -ENODEV || fd == -EACCES);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_config), T(test_tx_frame), T(test_tx_bad_chains), T(test_tx_full),
		T(test_rx_one_chain),
		T(test_rx_mergeable), T(test_rx_no_buffers), T(test_rx_too_big),
		T(test_ctrl_queue), T(test_announce_rarp), T(test_rx_through_io_thread),
		T(test_save_load), T(test_parse_option), T(test_tap_errors),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
