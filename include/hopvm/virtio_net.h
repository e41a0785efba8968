/* virtio-net (virtio 1.x, 5.1) over a file descriptor that carries whole Ethernet frames, each
 * with the 12-byte virtio-net header in front: a TAP (tap.h) in a VM, one end of a
 * SOCK_SEQPACKET socketpair in a unit test.
 *
 * Queues: receive (0), transmit (1) and control (2), one pair (no MQ).  Transmit runs in the
 * transmit queue's handler on the device's I/O thread: each chain's readable part, header
 * and frame, leaves as one write.  Receive runs when the fd is readable (input_fd and
 * input_ready): a frame is read into the device's own buffer and copied into the guest's
 * receive chains, several of them with MRG_RXBUF (num_buffers says how many), else one chain
 * that must hold it all.  While the guest has posted no receive buffer the fd is not watched,
 * so the TAP keeps (and, when full, drops) what arrives; a receive kick resumes reading.
 * Nothing ever blocks the I/O thread for long: a full TAP on transmit gets a short wait, then
 * the frame is dropped and counted.
 *
 * Offered: CSUM, GUEST_CSUM, MAC, GUEST_TSO4/6, GUEST_ECN, HOST_TSO4/6, HOST_ECN, MRG_RXBUF,
 * STATUS, CTRL_VQ, CTRL_RX, CTRL_MAC_ADDR, GUEST_ANNOUNCE.  Left out: MQ (one queue pair),
 * GUEST_UFO/HOST_UFO and GUEST/HOST_USO (Linux dropped UFO; USO needs newer TAPs), MTU,
 * CTRL_VLAN, CTRL_GUEST_OFFLOADS, RSS and the hash report. */
#ifndef HOPVM_VIRTIO_NET_H
#define HOPVM_VIRTIO_NET_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hopvm/virtio.h"

#define VIRTIO_NET_RX 0
#define VIRTIO_NET_TX 1
#define VIRTIO_NET_CTRL 2

/* Features (5.1.3). */
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_HOST_ECN 13
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_F_CTRL_VQ 17
#define VIRTIO_NET_F_CTRL_RX 18
#define VIRTIO_NET_F_GUEST_ANNOUNCE 21
#define VIRTIO_NET_F_CTRL_MAC_ADDR 23

/* Configuration (5.1.4): mac, status, max_virtqueue_pairs. */
#define VIRTIO_NET_CFG_MAC 0
#define VIRTIO_NET_CFG_STATUS 6
#define VIRTIO_NET_CFG_MAX_PAIRS 8
#define VIRTIO_NET_CFG_LEN 10
#define VIRTIO_NET_S_LINK_UP 1
#define VIRTIO_NET_S_ANNOUNCE 2

/* The header before every frame (5.1.6): flags, gso_type, hdr_len, gso_size, csum_start,
 * csum_offset, num_buffers. */
#define VIRTIO_NET_HDR_LEN 12
#define VIRTIO_NET_HDR_NUM_BUFFERS 10
/* The largest frame after the header: an IP datagram of 64 KiB - 1 (a TSO frame's limit)
 * behind an Ethernet header with a VLAN tag. */
#define VIRTIO_NET_MAX_FRAME (65535 + 18)

/* The control queue (5.1.6.5): a class and a command, their data, then one ack byte. */
#define VIRTIO_NET_OK 0
#define VIRTIO_NET_ERR 1
#define VIRTIO_NET_CTRL_RX 0
#define VIRTIO_NET_CTRL_RX_PROMISC 0
#define VIRTIO_NET_CTRL_RX_ALLMULTI 1
#define VIRTIO_NET_CTRL_MAC 1
#define VIRTIO_NET_CTRL_MAC_TABLE_SET 0
#define VIRTIO_NET_CTRL_MAC_ADDR_SET 1
#define VIRTIO_NET_CTRL_ANNOUNCE 3
#define VIRTIO_NET_CTRL_ANNOUNCE_ACK 0

/* RARP announcements for guests without GUEST_ANNOUNCE, timed as QEMU's defaults: one at
 * once, then after 50, 150, 250 and 350 ms. */
#define VIRTIO_NET_RARP_ROUNDS 5
#define VIRTIO_NET_RARP_FIRST_MS 50
#define VIRTIO_NET_RARP_STEP_MS 100
#define VIRTIO_NET_RARP_LEN 60
#define ETH_P_RARP_VALUE 0x8035

#define VIRTIO_NET_TAP_NAME_MAX 16	/* IFNAMSIZ, the terminating NUL included */

/* --net tap=NAME[,mac=MAC], parsed. */
struct virtio_net_option {
	char tap[VIRTIO_NET_TAP_NAME_MAX];
	uint8_t mac[6];
};

/* What was dropped, and why; read by tests and messages, written under the device's lock. */
struct virtio_net_stats {
	uint64_t tx_frames, rx_frames;
	uint64_t tx_bad;	/* transmit chains that are not a frame (in-buffers, sizes) */
	uint64_t tx_dropped;	/* frames the fd would not take (full, or refused) */
	uint64_t rx_dropped;	/* frames read that no receive buffer could hold */
	uint64_t ctrl_bad;	/* control requests with no room for an answer */
};

struct virtio_net {
	struct virtio_device vdev;
	int fd;
	bool owns_fd;		/* a TAP this device opened (closed with it) */
	bool is_tap;		/* offloads go to the fd by TUNSETOFFLOAD */
	char name[VIRTIO_NET_TAP_NAME_MAX];
	uint8_t mac[6];		/* the one configured: the config's again after a reset */
	uint64_t offloads_for;	/* the guest features the TAP's offloads were set for */
	unsigned tun_offloads;	/* the TUN_F_* bits set then */
	bool rx_wanted;		/* receive buffers may be there: watch the fd */
	uint8_t *frame;		/* a frame read, waiting for buffers (frame_len > 0) */
	size_t frame_len;
	struct virtio_net_stats stats;
	unsigned logged;	/* which kinds of drop were said once (bits) */
	bool tx_waited;		/* this transmit pass already waited for a full TAP */

	/* RARP rounds, on a thread of their own so no vCPU or I/O thread waits for them; it
	 * touches only the fd and these fields, never the transport. */
	pthread_t announcer;
	bool announcing;
	pthread_mutex_t announce_lock;
	pthread_cond_t announce_cond;
	bool announce_stop;
	unsigned rarp_first_ms, rarp_step_ms;	/* tests shorten them */
	unsigned rarp_sent;
	uint8_t rarp_mac[6];	/* the guest's MAC when the announcement began */
};

/* Opens (or creates) the TAP opt names; the device's MAC is opt's. */
int virtio_net_open(struct virtio_net *net, struct guest_mem *mem,
		    const struct virtio_net_option *opt) __attribute__((warn_unused_result));

/* The same over a caller's fd that keeps frame boundaries (a socketpair end, not a TAP: no
 * offloads are set on it); the fd stays the caller's. */
int virtio_net_init_fd(struct virtio_net *net, struct guest_mem *mem, int fd,
		       const uint8_t mac[6], const char *name) __attribute__((warn_unused_result));

void virtio_net_close(struct virtio_net *net);

/* After the guest moved here: with GUEST_ANNOUNCE the ANNOUNCE status bit and a configuration
 * interrupt (the guest sends its own gratuitous ARPs and acknowledges); without it, RARP
 * frames for the guest's MAC written to the fd, VIRTIO_NET_RARP_ROUNDS of them, from a thread
 * of the device's.  Call it without the device's lock. */
int virtio_net_announce(struct virtio_net *net) __attribute__((warn_unused_result));

/* Waits until the RARP rounds of an announcement have all been sent (or stopped). */
void virtio_net_announce_wait(struct virtio_net *net);

/* Parses --net's value for the device numbered index (0 first): tap=NAME, then optional
 * mac=MAC; the default MAC is 52:54:00:12:34:56 plus index, as QEMU numbers its NICs.
 * -EINVAL with a message for a missing or long name, a bad or multicast MAC, an unknown key. */
int virtio_net_parse_option(const char *text, unsigned index, struct virtio_net_option *opt)
	__attribute__((warn_unused_result));

extern const struct virtio_device_ops virtio_net_ops;

#endif
