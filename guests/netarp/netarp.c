/* A polled virtio-net driver, as small as one can be: finds the NIC on PCI bus 0 (1af4:1041),
 * brings it up through the modern transport's capabilities (MRG_RXBUF if offered), posts
 * receive buffers, sends ARP requests for 10.0.2.2 from 10.0.2.15 and waits for the host's
 * reply in its receive queue.  The host end is the TAP the boot test set up with 10.0.2.2.
 * Exit status 0 with the reply, 1 without it, 2 without a NIC. */
#include <stdbool.h>

#include "guest.h"
#include "virtio.h"
#include "x86.h"

#define NET_ID 0x10411af4	/* device << 16 | vendor */
#define RX_BUFS 8
#define BUF_SIZE 2048
#define HDR 12
#define TRIES 8
#define WAIT_TICKS (1ULL << 30)	/* about a second of TSC */
#define F_MAC 5
#define F_MRG_RXBUF 15

static struct vq rxq, txq;
static struct virtio_dev nic;
static uint8_t rx_bufs[RX_BUFS][BUF_SIZE], tx_buf[BUF_SIZE];
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

/* Features: what the driver needs (VERSION_1, MAC) and MRG_RXBUF when offered. */
static bool bring_up(uint64_t *features)
{
	if (!virtio_negotiate(&nic, 1ULL << F_MAC | 1ULL << F_MRG_RXBUF, features) ||
	    !(*features & 1ULL << F_MAC) || nic.device_cfg == 0)
		return false;
	virtio_queue_setup(&nic, &rxq, 0);
	virtio_queue_setup(&nic, &txq, 1);
	virtio_driver_ok(&nic);
	for (unsigned i = 0; i < 6; i++)
		mac[i] = *(volatile uint8_t *)(nic.device_cfg + i);
	for (uint16_t i = 0; i < RX_BUFS; i++) {
		rxq.desc[i] = (struct vq_desc){ (uintptr_t)rx_bufs[i], BUF_SIZE, VQ_DESC_WRITE, 0 };
		vq_make_available(&rxq, i);
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
	txq.desc[0] = (struct vq_desc){ (uintptr_t)tx_buf, HDR + 42, 0, 0 };
	vq_make_available(&txq, 0);
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
		id = rxq.used.ring[rxq.last_used % VQ_SIZE].id;
		len = rxq.used.ring[rxq.last_used % VQ_SIZE].len;
		rxq.last_used++;
		if (id < RX_BUFS && is_reply(rx_bufs[id], len, mergeable)) {
			print_mac("netarp: ARP reply from 10.0.2.2 at ", rx_bufs[id] + HDR + 22);
			return true;
		}
		if (id < RX_BUFS)
			vq_make_available(&rxq, (uint16_t)id);	/* something else: the buffer again */
	}
	return false;
}

int guest_main(void)
{
	uint64_t features;

	if (pci_find(NET_ID) < 0) {
		serial_printf("netarp: no virtio-net device on the PCI bus\n");
		return 2;
	}
	if (!virtio_find(&nic, NET_ID) || !bring_up(&features)) {
		serial_printf("netarp: the device in slot %u does not come up\n", nic.slot);
		return 1;
	}
	serial_printf("netarp: virtio-net in slot %u, %s\n", nic.slot,
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
