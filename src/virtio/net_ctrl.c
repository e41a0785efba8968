/* virtio-net's control side: the control queue, announcements after a move, the device's
 * migration state and the --net option. */
#include <errno.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hopvm/error.h"
#include "hopvm/le.h"
#include "hopvm/tap.h"
#include "hopvm/threads.h"
#include "net_internal.h"

#define TUN_OFFLOADS (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN)
#define NET_STATE_VERSION 1

unsigned net_tun_offloads(uint64_t f)
{
	unsigned tun;

	/* Segmentation comes with checksum offload or not at all (the TAP refuses it alone). */
	if (!(f & VIRTIO_F(VIRTIO_NET_F_GUEST_CSUM)))
		return 0;
	tun = TUN_F_CSUM;
	if (f & VIRTIO_F(VIRTIO_NET_F_GUEST_TSO4))
		tun |= TUN_F_TSO4;
	if (f & VIRTIO_F(VIRTIO_NET_F_GUEST_TSO6))
		tun |= TUN_F_TSO6;
	if ((f & VIRTIO_F(VIRTIO_NET_F_GUEST_ECN)) && (tun & (TUN_F_TSO4 | TUN_F_TSO6)))
		tun |= TUN_F_TSO_ECN;
	return tun;
}

static bool unicast(const uint8_t mac[6])
{
	static const uint8_t zero[6];

	return !(mac[0] & 1) && memcmp(mac, zero, 6) != 0;
}

/* --- the control queue ------------------------------------------------------------------- */

/* Two tables, unicast then multicast: a 32-bit count and that many addresses each. */
static bool mac_tables_fit(const struct virtq_chain *c)
{
	uint64_t off = 2;

	for (unsigned t = 0; t < 2; t++) {
		uint8_t count[4];

		if (virtq_chain_read(c, off, count, 4) != 4)
			return false;
		off += 4 + 6ULL * le32_get(count);
	}
	return off == c->out_len;
}

static uint8_t ctrl_command(struct virtio_device *vd, const struct virtq_chain *c)
{
	uint8_t hdr[2], mac[6];
	uint64_t len;	/* of the command's data */
	uint16_t status;

	if (virtq_chain_read(c, 0, hdr, 2) != 2)
		return VIRTIO_NET_ERR;
	len = c->out_len - 2;
	switch (hdr[0]) {
	case VIRTIO_NET_CTRL_RX:
		/* A TAP passes every frame: promiscuous and all-multicast cost nothing. */
		return (hdr[1] == VIRTIO_NET_CTRL_RX_PROMISC ||
			hdr[1] == VIRTIO_NET_CTRL_RX_ALLMULTI) && len == 1 ? VIRTIO_NET_OK
									  : VIRTIO_NET_ERR;
	case VIRTIO_NET_CTRL_MAC:
		if (hdr[1] == VIRTIO_NET_CTRL_MAC_TABLE_SET)
			return mac_tables_fit(c) ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
		if (hdr[1] != VIRTIO_NET_CTRL_MAC_ADDR_SET || len != 6 ||
		    virtq_chain_read(c, 2, mac, 6) != 6 || !unicast(mac))
			return VIRTIO_NET_ERR;
		memcpy(vd->config + VIRTIO_NET_CFG_MAC, mac, 6);
		return VIRTIO_NET_OK;
	case VIRTIO_NET_CTRL_ANNOUNCE:
		if (hdr[1] != VIRTIO_NET_CTRL_ANNOUNCE_ACK || len != 0)
			return VIRTIO_NET_ERR;
		status = le16_get(vd->config + VIRTIO_NET_CFG_STATUS);
		le16_put(vd->config + VIRTIO_NET_CFG_STATUS,
			 (uint16_t)(status & ~VIRTIO_NET_S_ANNOUNCE));
		return VIRTIO_NET_OK;
	}
	return VIRTIO_NET_ERR;
}

int net_ctrl_serve(struct virtio_device *vd, struct virtq_chain *c)
{
	struct virtio_net *net = vd->priv;
	uint8_t ack;

	if (c->in_len < 1) {
		net->stats.ctrl_bad++;
		net_log_once(net, NET_LOG_CTRL, "a control request has no byte for its answer; "
			     "returned unanswered");
		return 0;
	}
	ack = ctrl_command(vd, c);
	virtq_chain_write(c, 0, &ack, 1);
	return 1;
}

/* --- announcements ----------------------------------------------------------------------- */

static void rarp_frame(uint8_t *buf, const uint8_t mac[6])
{
	uint8_t *f = buf + VIRTIO_NET_HDR_LEN;

	memset(buf, 0, VIRTIO_NET_HDR_LEN + VIRTIO_NET_RARP_LEN);
	memset(f, 0xff, 6);		/* to everyone */
	memcpy(f + 6, mac, 6);
	f[12] = ETH_P_RARP_VALUE >> 8;	/* big-endian on the wire */
	f[13] = ETH_P_RARP_VALUE & 0xff;
	f[15] = 1;			/* hardware: Ethernet */
	f[16] = 0x08;			/* protocol: IPv4 */
	f[18] = 6;
	f[19] = 4;
	f[21] = 3;			/* reverse request */
	memcpy(f + 22, mac, 6);		/* sender, then target; no IP addresses */
	memcpy(f + 32, mac, 6);
}

static void *announcer(void *arg)
{
	struct virtio_net *net = arg;
	uint8_t buf[VIRTIO_NET_HDR_LEN + VIRTIO_NET_RARP_LEN];
	ssize_t sent;

	/* Without its filter this thread would be the one unguarded: it sends nothing then. */
	if (thread_enter(THREAD_NET_ANNOUNCE, 0) < 0) {
		net_log_once(net, NET_LOG_ANNOUNCE, "no announce after the move: %s", err_msg());
		return NULL;
	}
	pthread_mutex_lock(&net->announce_lock);
	for (unsigned round = 0; round < VIRTIO_NET_RARP_ROUNDS && !net->announce_stop; round++) {
		if (round > 0) {
			unsigned ms = net->rarp_first_ms + (round - 1) * net->rarp_step_ms;
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += ms / 1000 + (until.tv_nsec + (ms % 1000) * 1000000L) /
						    1000000000L;
			until.tv_nsec = (until.tv_nsec + (ms % 1000) * 1000000L) % 1000000000L;
			while (!net->announce_stop &&
			       pthread_cond_timedwait(&net->announce_cond, &net->announce_lock,
						      &until) != ETIMEDOUT)
				;
			if (net->announce_stop)
				break;
		}
		pthread_mutex_unlock(&net->announce_lock);
		rarp_frame(buf, net->rarp_mac);
		/* A full TAP loses this round; the next one may pass. */
		sent = write(net->fd, buf, sizeof(buf));
		(void)sent;
		pthread_mutex_lock(&net->announce_lock);
		net->rarp_sent++;
	}
	pthread_mutex_unlock(&net->announce_lock);
	return NULL;
}

void virtio_net_announce_wait(struct virtio_net *net)
{
	if (net->announcing)
		pthread_join(net->announcer, NULL);
	net->announcing = false;
}

int virtio_net_announce(struct virtio_net *net)
{
	struct virtio_device *vd = &net->vdev;
	bool by_guest;
	int ret;

	virtio_device_lock(vd);
	memcpy(net->rarp_mac, vd->config + VIRTIO_NET_CFG_MAC, 6);
	by_guest = (vd->guest_features & VIRTIO_F(VIRTIO_NET_F_GUEST_ANNOUNCE)) &&
		   (vd->status & VIRTIO_STATUS_DRIVER_OK);
	if (by_guest) {
		le16_put(vd->config + VIRTIO_NET_CFG_STATUS,
			 (uint16_t)(le16_get(vd->config + VIRTIO_NET_CFG_STATUS) |
				    VIRTIO_NET_S_ANNOUNCE));
		virtio_config_changed(vd);
	}
	virtio_device_unlock(vd);
	if (by_guest)
		return 0;

	/* A new announcement replaces one still going. */
	pthread_mutex_lock(&net->announce_lock);
	net->announce_stop = true;
	pthread_cond_broadcast(&net->announce_cond);
	pthread_mutex_unlock(&net->announce_lock);
	virtio_net_announce_wait(net);
	net->announce_stop = false;
	net->rarp_sent = 0;
	ret = pthread_create(&net->announcer, NULL, announcer, net);
	if (ret != 0)
		return err_set(-ret, "virtio-net (%s): cannot start announcing: %s", net->name,
			       strerror(ret));
	net->announcing = true;
	return 0;
}

/* --- migration --------------------------------------------------------------------------- */

int net_save(struct virtio_device *vd, struct state_buf *s)
{
	struct virtio_net *net = vd->priv;
	const struct virtio_net_stats *st = &net->stats;

	state_put_u8(s, NET_STATE_VERSION);
	state_put_u8(s, (uint8_t)net->tun_offloads);
	state_put_u64(s, st->tx_frames);
	state_put_u64(s, st->rx_frames);
	state_put_u64(s, st->tx_bad);
	state_put_u64(s, st->tx_dropped);
	state_put_u64(s, st->rx_dropped);
	state_put_u64(s, st->ctrl_bad);
	return 0;
}

/* The config bytes came with the transport's state: only what this device could show. */
static int check_config(const struct virtio_net *net)
{
	const struct virtio_device *vd = &net->vdev;
	uint16_t status = le16_get(vd->config + VIRTIO_NET_CFG_STATUS);

	if (!unicast(vd->config + VIRTIO_NET_CFG_MAC))
		return err_set(-EINVAL, "virtio-net (%s): the saved MAC address is not unicast",
			       net->name);
	if ((status & ~(VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE)) ||
	    !(status & VIRTIO_NET_S_LINK_UP) ||
	    ((status & VIRTIO_NET_S_ANNOUNCE) &&
	     !(vd->guest_features & VIRTIO_F(VIRTIO_NET_F_GUEST_ANNOUNCE))) ||
	    le16_get(vd->config + VIRTIO_NET_CFG_MAX_PAIRS) != 1)
		return err_set(-EINVAL, "virtio-net (%s): saved status 0x%x or queue pairs %u "
			       "this device never shows", net->name, status,
			       le16_get(vd->config + VIRTIO_NET_CFG_MAX_PAIRS));
	return 0;
}

int net_load(struct virtio_device *vd, struct state_buf *s)
{
	struct virtio_net *net = vd->priv;
	struct virtio_net_stats st;
	uint8_t version = state_get_u8(s), offloads = state_get_u8(s);
	unsigned want = net_tun_offloads(vd->guest_features);
	int ret;

	st.tx_frames = state_get_u64(s);
	st.rx_frames = state_get_u64(s);
	st.tx_bad = state_get_u64(s);
	st.tx_dropped = state_get_u64(s);
	st.rx_dropped = state_get_u64(s);
	st.ctrl_bad = state_get_u64(s);
	if (s->short_buf)
		return err_set(-EINVAL, "virtio-net (%s): the saved state is cut short", net->name);
	if (version != NET_STATE_VERSION)
		return err_set(-EINVAL, "virtio-net (%s): saved state version %u, this hopvm reads "
			       "%u", net->name, version, NET_STATE_VERSION);
	/* Either none yet (the driver was not running) or what its features give. */
	if ((offloads & ~TUN_OFFLOADS) || (offloads != 0 && offloads != want))
		return err_set(-EINVAL, "virtio-net (%s): saved offloads 0x%x do not follow from "
			       "the guest's features (0x%x)", net->name, offloads, want);
	ret = check_config(net);
	if (ret < 0)
		return ret;
	/* This TAP is new to the guest: it gets the offloads the guest negotiated there. */
	net->offloads_for = UINT64_MAX;
	net->tun_offloads = 0;
	if (net->is_tap && (vd->status & VIRTIO_STATUS_FEATURES_OK)) {
		ret = tap_set_offload(net->fd, net->name, want);
		if (ret < 0)
			return ret;
		net->offloads_for = vd->guest_features;
		net->tun_offloads = want;
	}
	net->stats = st;
	net->rx_wanted = false;	/* the transport looks at every queue once on resume */
	net->frame_len = 0;
	return 0;
}

/* --- the option -------------------------------------------------------------------------- */

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int parse_mac(const char *text, size_t len, uint8_t mac[6], const char *option)
{
	for (unsigned i = 0; len == 17 && i < 6; i++) {
		int hi = hex_digit(text[3 * i]), lo = hex_digit(text[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && text[3 * i + 2] != ':'))
			break;
		mac[i] = (uint8_t)(hi << 4 | lo);
		if (i < 5)
			continue;
		if (!unicast(mac))
			return err_set(-EINVAL, "--net '%s': MAC %.17s is %s; a NIC needs a unicast "
				       "address (an even first byte), such as 52:54:00:12:34:57",
				       option, text, mac[0] & 1 ? "multicast" : "all zeroes");
		return 0;
	}
	return err_set(-EINVAL, "--net '%s': '%.*s' is not a MAC address (six hex bytes with "
		       "colons, such as 52:54:00:12:34:57)", option, (int)len, text);
}

static int parse_tap(const char *name, size_t len, char *tap, const char *option)
{
	if (len == 0)
		return err_set(-EINVAL, "--net '%s': tap= names no TAP", option);
	if (len >= VIRTIO_NET_TAP_NAME_MAX)
		return err_set(-ENAMETOOLONG, "--net '%s': TAP name '%.*s' is longer than the %d "
			       "bytes an interface name may have", option, (int)len, name,
			       VIRTIO_NET_TAP_NAME_MAX - 1);
	if (memchr(name, '/', len) || memchr(name, ':', len) || memchr(name, ' ', len) ||
	    (len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return err_set(-EINVAL, "--net '%s': '%.*s' is not a valid interface name", option,
			       (int)len, name);
	memcpy(tap, name, len);
	tap[len] = '\0';
	return 0;
}

int virtio_net_parse_option(const char *text, unsigned index, struct virtio_net_option *opt)
{
	uint32_t nic = 0x123456 + index;	/* QEMU's first NIC is 52:54:00:12:34:56 */
	bool have_tap = false;
	int ret;

	memset(opt, 0, sizeof(*opt));
	opt->mac[0] = 0x52;
	opt->mac[1] = 0x54;
	opt->mac[3] = (uint8_t)(nic >> 16);
	opt->mac[4] = (uint8_t)(nic >> 8);
	opt->mac[5] = (uint8_t)nic;
	for (const char *p = text; *p != '\0' || p == text;) {
		const char *end = strchrnul(p, ',');
		size_t n = (size_t)(end - p);

		if (n >= 4 && strncmp(p, "tap=", 4) == 0) {
			ret = parse_tap(p + 4, n - 4, opt->tap, text);
			have_tap = true;
		} else if (n >= 4 && strncmp(p, "mac=", 4) == 0) {
			ret = parse_mac(p + 4, n - 4, opt->mac, text);
		} else {
			ret = err_set(-EINVAL, "--net '%s': unknown key '%.*s' (give "
				      "tap=NAME[,mac=MAC])", text, (int)n, p);
		}
		if (ret < 0)
			return ret;
		p = *end != '\0' ? end + 1 : end;
		if (*end != '\0' && *p == '\0')
			return err_set(-EINVAL, "--net '%s' ends with a comma", text);
	}
	if (!have_tap)
		return err_set(-EINVAL, "--net '%s' names no TAP: give tap=NAME", text);
	return 0;
}
