/* A polled virtio-net driver, as small as one can be: finds the NIC on PCI bus 0 (1af4:1041),
 * brings it up through the modern transport's capabilities (MRG_RXBUF if offered), posts
 * receive buffers, sends ARP requests for 10.0.2.2 from 10.0.2.15 and waits for the host's
 * reply in its receive queue.  The host end is the TAP the boot test set up with 10.0.2.2.
 * Exit status 0 with the reply, 1 without it, 2 without a NIC. */
#include <stdbool.h>

#include "guest.h"
#include "x86.h"

#define NET_ID 0x10411af4	/* device << 16 | vendor */
#define QSIZE 16
#define RX_BUFS 8
#define BUF_SIZE 2048
#define HDR 12
#define TRIES 8
#define WAIT_TICKS (1ULL << 30)	/* about a second of TSC */

/* The common configuration (virtio 1.x, 4.1.4.3). */
#define DFSELECT 0x00
#define DF 0x04
#define GFSELECT 0x08
#define GF 0x0c
#define STATUS 0x14
#define Q_SELECT 0x16
#define Q_SIZE 0x18
#define Q_ENABLE 0x1c
#define Q_NOTIFY_OFF 0x1e
#define Q_DESC 0x20
#define Q_AVAIL 0x28
#define Q_USED 0x30
#define F_MAC 5
#define F_MRG_RXBUF 15
#define F_VERSION_1 32

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct queue {
	struct desc desc[QSIZE];
	struct {
		uint16_t flags, idx, ring[QSIZE], used_event;
	} avail;
	struct {
		uint16_t flags, idx;
		struct {
			uint32_t id, len;
		} ring[QSIZE];
		uint16_t avail_event;
	} used __attribute__((aligned(4)));
	uint16_t last_used;
	volatile uint16_t *notify;
	uint16_t index;
};

static struct queue rxq __attribute__((aligned(16))), txq __attribute__((aligned(16)));
static uint8_t rx_bufs[RX_BUFS][BUF_SIZE], tx_buf[BUF_SIZE];
static uintptr_t common, device_cfg, notify_base;
static uint32_t notify_mult;
static uint8_t mac[6];
static const uint8_t my_ip[4] = { 10, 0, 2, 15 }, host_ip[4] = { 10, 0, 2, 2 };

static void copy(uint8_t *dst, const uint8_t *src, unsigned n)
{
	while (n--)
		*dst++ = *src++;
}

static void fill(uint8_t *dst, uint8_t v, unsigned n)
{
	while (n--)
		*dst++ = v;
}

static bool same(const uint8_t *a, const uint8_t *b, unsigned n)
{
	while (n--)
		if (*a++ != *b++)
			return false;
	return true;
}

static volatile uint8_t *c8(unsigned off)
{
	return (volatile uint8_t *)(common + off);
}

static volatile uint16_t *c16(unsigned off)
{
	return (volatile uint16_t *)(common + off);
}

static volatile uint32_t *c32(unsigned off)
{
	return (volatile uint32_t *)(common + off);
}

static void c64(unsigned off, uint64_t v)
{
	*c32(off) = (uint32_t)v;
	*c32(off + 4) = (uint32_t)(v >> 32);
}

/* The vendor capabilities say where the common configuration, notifications and device
 * configuration are in BAR 0. */
static bool find_regions(unsigned slot)
{
	uintptr_t bar = pci_config_read(slot, 0x10) & ~0xfu;

	pci_config_write(slot, 0x04, pci_config_read(slot, 0x04) | 0x6);	/* memory decode, bus master */
	for (unsigned cap = pci_config_read(slot, 0x34) & 0xfc; cap != 0;) {
		uint32_t head = pci_config_read(slot, cap);
		uintptr_t at = bar + pci_config_read(slot, cap + 8);

		if ((head & 0xff) == 0x09) {
			switch (head >> 24) {
			case 1:
				common = at;
				break;
			case 2:
				notify_base = at;
				notify_mult = pci_config_read(slot, cap + 16);
				break;
			case 4:
				device_cfg = at;
				break;
			}
		}
		cap = (head >> 8) & 0xfc;
	}
	return bar != 0 && common != 0 && notify_base != 0 && device_cfg != 0;
}

static void setup_queue(struct queue *q, uint16_t index)
{
	*c16(Q_SELECT) = index;
	*c16(Q_SIZE) = QSIZE;
	c64(Q_DESC, (uintptr_t)q->desc);
	c64(Q_AVAIL, (uintptr_t)&q->avail);
	c64(Q_USED, (uintptr_t)&q->used);
	q->notify = (volatile uint16_t *)(notify_base + notify_mult * *c16(Q_NOTIFY_OFF));
	q->index = index;
	*c16(Q_ENABLE) = 1;
}

static void make_available(struct queue *q, uint16_t head)
{
	q->avail.ring[q->avail.idx % QSIZE] = head;
	__asm__ volatile("" ::: "memory");	/* the entry before the index (x86 keeps order) */
	q->avail.idx++;
	__asm__ volatile("" ::: "memory");
	*q->notify = q->index;
}

/* Features: what the driver needs (VERSION_1, MAC) and MRG_RXBUF when offered. */
static bool bring_up(uint64_t *features)
{
	uint64_t offered;

	*c8(STATUS) = 0;
	*c8(STATUS) = 1 | 2;	/* ACKNOWLEDGE, DRIVER */
	*c32(DFSELECT) = 0;
	offered = *c32(DF);
	*c32(DFSELECT) = 1;
	offered |= (uint64_t)*c32(DF) << 32;
	*features = offered & (1ULL << F_VERSION_1 | 1ULL << F_MAC | 1ULL << F_MRG_RXBUF);
	if (!(*features & 1ULL << F_VERSION_1) || !(*features & 1ULL << F_MAC))
		return false;
	*c32(GFSELECT) = 0;
	*c32(GF) = (uint32_t)*features;
	*c32(GFSELECT) = 1;
	*c32(GF) = (uint32_t)(*features >> 32);
	*c8(STATUS) = 1 | 2 | 8;	/* FEATURES_OK */
	if (!(*c8(STATUS) & 8))
		return false;
	setup_queue(&rxq, 0);
	setup_queue(&txq, 1);
	*c8(STATUS) = 1 | 2 | 8 | 4;	/* DRIVER_OK */
	for (unsigned i = 0; i < 6; i++)
		mac[i] = *(volatile uint8_t *)(device_cfg + i);
	for (uint16_t i = 0; i < RX_BUFS; i++) {
		rxq.desc[i] = (struct desc){ (uintptr_t)rx_bufs[i], BUF_SIZE, 2 /* WRITE */, 0 };
		make_available(&rxq, i);
	}
	return true;
}

static void send_arp_request(void)
{
	static const uint8_t arp_head[] = { 0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1 };
	uint8_t *f = tx_buf + HDR;

	fill(tx_buf, 0, HDR + 42);
	fill(f, 0xff, 6);
	copy(f + 6, mac, 6);
	copy(f + 12, arp_head, sizeof(arp_head));
	copy(f + 22, mac, 6);
	copy(f + 28, my_ip, 4);
	copy(f + 38, host_ip, 4);
	txq.desc[0] = (struct desc){ (uintptr_t)tx_buf, HDR + 42, 0, 0 };
	make_available(&txq, 0);
}

static void print_mac(const char *what, const uint8_t *m)
{
	static const char hex[] = "0123456789abcdef";

	serial_printf("%s", what);
	for (unsigned i = 0; i < 6; i++)
		serial_printf("%c%c%c", hex[m[i] >> 4], hex[m[i] & 15], i < 5 ? ':' : '\n');
}

/* A frame in a receive buffer: the ARP reply from 10.0.2.2 to us? */
static bool is_reply(const uint8_t *buf, uint32_t len, bool mergeable)
{
	const uint8_t *f = buf + HDR;

	if (mergeable && (buf[10] | buf[11] << 8) != 1) {
		serial_printf("netarp: a frame of %u bytes in %u buffers\n", len,
			      buf[10] | buf[11] << 8);
		return false;
	}
	return len >= HDR + 42 && f[12] == 0x08 && f[13] == 0x06 && f[21] == 2 &&
	       same(f + 28, host_ip, 4) && same(f + 32, mac, 6) && same(f + 38, my_ip, 4);
}

static bool wait_for_reply(bool mergeable)
{
	uint64_t start = rdtsc();

	while (rdtsc() - start < WAIT_TICKS) {
		volatile uint16_t *used_idx = &rxq.used.idx;
		uint32_t id, len;

		if (*used_idx == rxq.last_used) {
			cpu_relax();
			continue;
		}
		id = rxq.used.ring[rxq.last_used % QSIZE].id;
		len = rxq.used.ring[rxq.last_used % QSIZE].len;
		rxq.last_used++;
		if (id < RX_BUFS && is_reply(rx_bufs[id], len, mergeable)) {
			print_mac("netarp: ARP reply from 10.0.2.2 at ", rx_bufs[id] + HDR + 22);
			return true;
		}
		if (id < RX_BUFS)
			make_available(&rxq, (uint16_t)id);	/* something else: the buffer again */
	}
	return false;
}

int guest_main(void)
{
	uint64_t features;
	int slot = pci_find(NET_ID);

	if (slot < 0) {
		serial_printf("netarp: no virtio-net device on the PCI bus\n");
		return 2;
	}
	if (!find_regions((unsigned)slot) || !bring_up(&features)) {
		serial_printf("netarp: the device in slot %d does not come up\n", slot);
		return 1;
	}
	serial_printf("netarp: virtio-net in slot %d, %s\n", slot,
		      features & 1ULL << F_MRG_RXBUF ? "mergeable receive buffers"
						     : "one buffer per frame");
	print_mac("netarp: MAC ", mac);
	for (unsigned i = 0; i < TRIES; i++) {
		send_arp_request();
		if (wait_for_reply(features & 1ULL << F_MRG_RXBUF)) {
			serial_printf("netarp: %u frames transmitted\n", txq.used.idx);
			return 0;
		}
	}
	serial_printf("netarp: no ARP reply after %d requests (%u transmitted)\n", TRIES,
		      txq.used.idx);
	return 1;
}
