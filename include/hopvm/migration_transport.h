/* Where a migration goes and how its bytes travel: target addresses (file:PATH,
 * tcp:HOST:PORT, exec:COMMAND, fd:N), TCP connections with timeouts, a command's stdin and
 * stdout or an inherited socket (channel.c), a buffered and optionally rate-limited socket
 * for the stream, and the destination's short replies to the source.
 *
 * The conversation on a TCP connection (the README's "Live migration" section shows it too):
 *   source -> destination   the stream's header (the machine the guest needs)
 *   destination -> source   REPLY_ACCEPT, or REPLY_REFUSE with the reason; nothing more
 *   source -> destination   the rest of the stream: RAM, state, END; after each pass over
 *                           RAM a SYNC section, which the destination answers with
 *                           REPLY_SYNCED once it has read it (so the source's bandwidth
 *                           counts the destination's pace, and nothing waits in buffers
 *                           when the guest stops)
 *   destination -> source   REPLY_READY once all is loaded into its VM, or REPLY_FAILED with
 *                           the reason (the source runs the guest on)
 *   source -> destination   REPLY_GO: from here on the source never runs the guest
 *   destination -> source   REPLY_RUNNING: the guest runs there
 * The destination runs the guest only after GO, so until the source sends GO any failure
 * (the destination dead, the connection cut) leaves the guest safely the source's; only a
 * silence after GO leaves it in doubt, and then the source keeps it paused.
 * A reply is "HVMR", u32 kind, u32 message length (at most MIG_REPLY_MAX), the message. */
#ifndef HOPVM_MIGRATION_TRANSPORT_H
#define HOPVM_MIGRATION_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MIG_TARGET_HOST_MAX 255
#define MIG_TARGET_PATH_MAX 4095
#define MIG_REPLY_MAX 1024

enum mig_target_kind {
	MIG_TARGET_FILE,
	MIG_TARGET_TCP,
	MIG_TARGET_EXEC,
	MIG_TARGET_FD,
};

struct mig_target {
	enum mig_target_kind kind;
	char path[MIG_TARGET_PATH_MAX + 1];	/* file: the path; exec: the command */
	char host[MIG_TARGET_HOST_MAX + 1];	/* tcp: a name, IPv4 or IPv6 address ([] removed) */
	char port[6];				/* tcp: 1..65535 */
	int fd;					/* fd: an open socket of this process */
};

/* file:PATH, tcp:HOST:PORT (an IPv6 HOST in brackets, tcp:[::1]:4444), exec:COMMAND or fd:N;
 * -EINVAL with a message saying what is wrong. */
int mig_target_parse(const char *text, struct mig_target *t) __attribute__((warn_unused_result));

/* For hopvm ctl: a tcp: target with a host name, as tcp:ADDRESS:PORT in out (1), or 0 for
 * any other target (out untouched), or -EHOSTUNREACH with a message. */
int mig_target_resolve(const char *text, char *out, size_t len)
	__attribute__((warn_unused_result));

/* The target as the user wrote it, for messages and migrate-status. */
void mig_target_text(const struct mig_target *t, char *buf, size_t len);

/* The channels besides TCP, each one socket that carries the stream one way and the replies
 * the other (channel.c).  exec: runs COMMAND with /bin/sh -c, its stdin and stdout both one
 * end of a socket pair (as QEMU's exec: does, but both ways: `ssh HOST CMD` carries the
 * conversation); *child is its pid, for mig_child_end.  fd: takes over socket N, which must
 * be a stream socket.  Both get the I/O timeout. */
int mig_exec_spawn(const char *command, unsigned io_timeout_ms, pid_t *child)
	__attribute__((warn_unused_result));
int mig_fd_socket(int fd, unsigned io_timeout_ms) __attribute__((warn_unused_result));
/* After its socket is closed: gives the command a moment to end, then ends it (SIGTERM, then
 * SIGKILL), and reaps it.  Returns its wait status, or -1 if it had to be killed. */
int mig_child_end(pid_t child);
/* The same after waiting up to ms for it to end by itself (a snapshot's reader finishing). */
int mig_child_wait(pid_t child, unsigned ms);
/* Adds to err_msg() what became of the command (mig_child_end's status), unless it ended
 * well: its exit status often says why a migration failed. */
void mig_child_explain(int status);

/* Connects within timeout_ms; the socket then times out sends and receives after
 * io_timeout_ms, so a dead peer or a cut link cannot hang a migration. */
int mig_tcp_connect(const struct mig_target *t, unsigned timeout_ms, unsigned io_timeout_ms)
	__attribute__((warn_unused_result));

/* Send and receive timeouts on a socket (and TCP_NODELAY where it is TCP). */
void mig_set_timeouts(int fd, unsigned io_timeout_ms);

/* Listens on the target's address; returns the listening socket. */
int mig_tcp_listen(const struct mig_target *t) __attribute__((warn_unused_result));

/* Accepts one connection (waiting as long as it takes) and sets its I/O timeout. */
int mig_tcp_accept(int listen_fd, unsigned io_timeout_ms) __attribute__((warn_unused_result));

/* A socket with a send buffer (so the stream's small pieces go out in large writes), a receive
 * buffer, and an optional send rate limit. */
struct mig_sock {
	int fd;
	uint8_t *out;
	size_t out_used;
	uint8_t *in;
	size_t in_pos, in_len;
	uint64_t max_bandwidth;	/* bytes per second, 0 for no limit */
	uint64_t sent;		/* bytes handed to the kernel */
	uint64_t received;	/* bytes taken from it */
	int send_error;		/* the first failed send's -errno (-ETIMEDOUT: io timeout) */
	int recv_error;		/* the first failed receive's */
	bool eof;		/* the peer closed its end */
	double pace_start;	/* seconds (CLOCK_MONOTONIC) when the limit was last set */
	uint64_t pace_sent;	/* sent at pace_start */
};

int mig_sock_init(struct mig_sock *s, int fd) __attribute__((warn_unused_result));
void mig_sock_set_bandwidth(struct mig_sock *s, uint64_t bytes_per_second);
/* mig_write_fn and mig_read_fn over a struct mig_sock (ctx). */
int mig_sock_write(void *ctx, const void *buf, size_t len);
ssize_t mig_sock_read(void *ctx, void *buf, size_t len);
int mig_sock_flush(struct mig_sock *s) __attribute__((warn_unused_result));
/* Frees the buffers and closes the socket. */
void mig_sock_close(struct mig_sock *s);
/* If the connection itself failed (a send or receive error, or the peer's end), sets a plain
 * message saying what the peer (who: "source", "destination") did and how far into the stream,
 * and returns ret: the failure in words instead of the read or write that met it.  A stream
 * cut short keeps the reader's detail (where it was cut) after a colon.  timeout names the I/O
 * timeout, such as "2000 ms (io_timeout_ms)".  Otherwise returns ret, the message untouched. */
int mig_sock_explain(const struct mig_sock *s, int ret, const char *who, const char *timeout);

enum mig_reply_kind {
	MIG_REPLY_ACCEPT = 1,
	MIG_REPLY_REFUSE = 2,
	MIG_REPLY_RUNNING = 3,
	MIG_REPLY_FAILED = 4,
	MIG_REPLY_SYNCED = 5,
	MIG_REPLY_READY = 6,
	MIG_REPLY_GO = 7,	/* the only one the source sends */
};

/* Sends a reply and flushes; the destination often cannot do anything about a failure. */
int mig_reply_send(struct mig_sock *s, enum mig_reply_kind kind, const char *message);
/* Reads one reply: its kind and message (NUL-terminated, unprintable bytes replaced).  A
 * malformed reply is -EBADMSG, a connection the peer closed -ECONNABORTED, one it reset
 * -ECONNRESET (it closed with bytes unread), a timeout -ETIMEDOUT. */
int mig_reply_recv(struct mig_sock *s, enum mig_reply_kind *kind, char *message, size_t len)
	__attribute__((warn_unused_result));

double mig_now(void);

#endif
