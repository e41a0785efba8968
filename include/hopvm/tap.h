/* A Linux TAP device as a virtio-net backend (Documentation/networking/tuntap.rst).
 *
 * tap_open() attaches to the TAP NAME if it exists; if not, the same TUNSETIFF creates it, and
 * because hopvm does not make it persistent the kernel removes it when hopvm exits (closes the
 * fd).  Every frame crosses the fd with the 12-byte virtio 1.x net header in front
 * (IFF_VNET_HDR, TUNSETVNETHDRSZ 12), so checksum and segmentation offloads pass between guest
 * and host untouched.  The fd is non-blocking and close-on-exec.  hopvm configures nothing
 * else on the host: addresses, link state and bridges are the user's (or the test's). */
#ifndef HOPVM_TAP_H
#define HOPVM_TAP_H

/* The virtio 1.x header (with num_buffers) that the TAP prepends and expects. */
#define TAP_VNET_HDR_LEN 12

/* Opens or creates the TAP NAME; returns its fd, or a negative errno with a message that names
 * the TAP and what to do (name too long, no /dev/net/tun, not allowed, busy, not a TAP, no
 * IFF_VNET_HDR support). */
int tap_open(const char *name) __attribute__((warn_unused_result));

/* Tells the TAP which offloads the guest can receive (TUN_F_* bits of linux/if_tun.h): frames
 * the host sends may then be partly checksummed or larger than the MTU. */
int tap_set_offload(int fd, const char *name, unsigned tun_offloads)
	__attribute__((warn_unused_result));

#endif
