/* What virtio-net's data path (net.c) and its control side (net_ctrl.c: the control queue,
 * announcements, migration, the option) share. */
#ifndef HOPVM_VIRTIO_NET_INTERNAL_H
#define HOPVM_VIRTIO_NET_INTERNAL_H

#include "hopvm/virtio_net.h"

/* Kinds of trouble said once per device (bits of net->logged). */
enum { NET_LOG_TX_BAD = 1, NET_LOG_TX_DROP = 2, NET_LOG_RX_DROP = 4, NET_LOG_CTRL = 8,
       NET_LOG_OFFLOAD = 16, NET_LOG_ANNOUNCE = 32 };

void net_log_once(struct virtio_net *net, unsigned kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The TUN_F_* offloads a guest with these features can receive. */
unsigned net_tun_offloads(uint64_t guest_features);

/* Serves one control request; returns the bytes written into the chain (the ack). */
int net_ctrl_serve(struct virtio_device *vd, struct virtq_chain *c);

int net_save(struct virtio_device *vd, struct state_buf *s);
int net_load(struct virtio_device *vd, struct state_buf *s);

#endif
