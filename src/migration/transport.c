/* Migration targets, TCP connections and the destination's replies. */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hopvm/error.h"
#include "hopvm/le.h"
#include "hopvm/migration_transport.h"

#define SOCK_BUF_SIZE (256 * 1024)
#define REPLY_MAGIC "HVMR"
#define REPLY_HEADER_SIZE 12

double mig_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_port(const char *text, struct mig_target *t)
{
	char *end;
	long port;

	errno = 0;
	port = strtol(text, &end, 10);
	if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 || port < 1 ||
	    port > 65535)
		return err_set(-EINVAL, "'%s' is not a port from 1 to 65535", text);
	snprintf(t->port, sizeof(t->port), "%ld", port);
	return 0;
}

static int parse_tcp(const char *spec, struct mig_target *t)
{
	const char *text = spec, *colon;
	bool bracketed = spec[0] == '[';
	size_t host_len;

	if (bracketed) {
		const char *close = strchr(spec, ']');

		if (close == NULL || close[1] != ':')
			return err_set(-EINVAL, "'tcp:%s' is not tcp:[IPV6]:PORT", spec);
		host_len = (size_t)(close - spec - 1);
		colon = close + 1;
		spec++;
	} else {
		colon = strrchr(spec, ':');
		if (colon == NULL)
			return err_set(-EINVAL, "'tcp:%s' has no port: tcp:HOST:PORT", spec);
		host_len = (size_t)(colon - spec);
	}
	if (host_len == 0 || host_len > MIG_TARGET_HOST_MAX)
		return err_set(-EINVAL, "'tcp:%s' needs a host of 1 to %d characters", spec,
			       MIG_TARGET_HOST_MAX);
	memcpy(t->host, spec, host_len);
	t->host[host_len] = '\0';
	/* Colons only inside brackets, brackets only around the host: what migrate-status
	 * prints back must read as the same target. */
	if (strpbrk(t->host, bracketed ? "[]" : "[]:") != NULL)
		return err_set(-EINVAL, "'tcp:%s': a host has no brackets or colons, an IPv6 "
			       "address goes in brackets: tcp:[IPV6]:PORT", text);
	t->kind = MIG_TARGET_TCP;
	return parse_port(colon + 1, t);
}

int mig_target_parse(const char *text, struct mig_target *t)
{
	memset(t, 0, sizeof(*t));
	if (strncmp(text, "tcp:", 4) == 0)
		return parse_tcp(text + 4, t);
	if (strncmp(text, "file:", 5) == 0 && text[5] != '\0') {
		if (strlen(text + 5) > MIG_TARGET_PATH_MAX)
			return err_set(-ENAMETOOLONG, "the path in '%.40s...' is too long", text);
		t->kind = MIG_TARGET_FILE;
		strcpy(t->path, text + 5);
		return 0;
	}
	if (strncmp(text, "exec:", 5) == 0) {
		if (text[5 + strspn(text + 5, " \t")] == '\0')
			return err_set(-EINVAL, "'%s' names no command: exec:COMMAND", text);
		if (strlen(text + 5) > MIG_TARGET_PATH_MAX)
			return err_set(-ENAMETOOLONG, "the command in '%.40s...' is too long", text);
		t->kind = MIG_TARGET_EXEC;
		strcpy(t->path, text + 5);
		return 0;
	}
	if (strncmp(text, "fd:", 3) == 0) {
		char *end;
		long fd;

		errno = 0;
		fd = strtol(text + 3, &end, 10);
		if (text[3] < '0' || text[3] > '9' || *end != '\0' || errno != 0 || fd > 65535)
			return err_set(-EINVAL, "'%s' is not fd:N with N an open socket's number", text);
		t->kind = MIG_TARGET_FD;
		t->fd = (int)fd;
		return 0;
	}
	return err_set(-EINVAL, "'%s' is none of tcp:HOST:PORT, exec:COMMAND, fd:N, file:PATH",
		       text);
}

void mig_target_text(const struct mig_target *t, char *buf, size_t len)
{
	switch (t->kind) {
	case MIG_TARGET_TCP:
		snprintf(buf, len, strchr(t->host, ':') ? "tcp:[%s]:%s" : "tcp:%s:%s", t->host,
			 t->port);
		break;
	case MIG_TARGET_EXEC:
		snprintf(buf, len, "exec:%s", t->path);
		break;
	case MIG_TARGET_FD:
		snprintf(buf, len, "fd:%d", t->fd);
		break;
	default:
		snprintf(buf, len, "file:%s", t->path);
		break;
	}
}

void mig_set_timeouts(int fd, unsigned io_timeout_ms)
{
	struct timeval tv = { .tv_sec = io_timeout_ms / 1000,
			      .tv_usec = (io_timeout_ms % 1000) * 1000 };
	int one = 1;

	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	/* The stream is written in large buffers: no need to hold small pieces back. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* The source connects from a filtered thread, where glibc could not load its name service
 * modules (no file may be mapped executable): it takes addresses only, and hopvm ctl looks
 * names up before it asks (mig_target_resolve).  The destination listens before any filter. */
static int resolve(const struct mig_target *t, bool passive, struct addrinfo **res)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = passive ? AI_PASSIVE : AI_NUMERICHOST };
	int ret = getaddrinfo(t->host, t->port, &hints, res);

	if (ret == EAI_NONAME && !passive)
		return err_set(-EHOSTUNREACH, "%s is not an address: a running hopvm looks up no "
			       "names (hopvm ctl does, before it asks)", t->host);
	if (ret != 0)
		return err_set(-EHOSTUNREACH, "cannot resolve %s: %s", t->host, gai_strerror(ret));
	return 0;
}

int mig_target_resolve(const char *text, char *out, size_t len)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	char address[INET6_ADDRSTRLEN];
	struct addrinfo *res;
	struct mig_target t;
	int ret;

	if (mig_target_parse(text, &t) < 0 || t.kind != MIG_TARGET_TCP)
		return 0;
	ret = getaddrinfo(t.host, t.port, &hints, &res);
	if (ret != 0)
		return err_set(-EHOSTUNREACH, "cannot resolve %s: %s", t.host, gai_strerror(ret));
	ret = getnameinfo(res->ai_addr, res->ai_addrlen, address, sizeof(address), NULL, 0,
			  NI_NUMERICHOST);
	freeaddrinfo(res);
	if (ret != 0)
		return err_set(-EHOSTUNREACH, "cannot resolve %s: %s", t.host, gai_strerror(ret));
	snprintf(out, len, strchr(address, ':') ? "tcp:[%s]:%s" : "tcp:%s:%s", address, t.port);
	return 1;
}

/* A non-blocking connect bounded by timeout_ms. */
static int connect_one(const struct addrinfo *ai, unsigned timeout_ms)
{
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), err = 0;
	socklen_t len = sizeof(err);
	struct pollfd p;

	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			err = errno;
			close(fd);
			return -err;
		}
		p = (struct pollfd){ .fd = fd, .events = POLLOUT };
		if (poll(&p, 1, (int)timeout_ms) <= 0) {
			close(fd);
			return -ETIMEDOUT;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
			close(fd);
			return err ? -err : -EIO;
		}
	}
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

int mig_tcp_connect(const struct mig_target *t, unsigned timeout_ms, unsigned io_timeout_ms)
{
	struct addrinfo *res;
	int ret = resolve(t, false, &res), fd = -ECONNREFUSED;

	if (ret < 0)
		return ret;
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		fd = connect_one(ai, timeout_ms);
		if (fd >= 0)
			break;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return err_set(fd, "cannot connect to tcp:%s:%s: %s", t->host, t->port,
			       strerror(-fd));
	mig_set_timeouts(fd, io_timeout_ms);
	return fd;
}

int mig_tcp_listen(const struct mig_target *t)
{
	struct addrinfo *res;
	int ret = resolve(t, true, &res), fd = -1, one = 1;

	if (ret < 0)
		return ret;
	ret = -EADDRNOTAVAIL;
	for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			ret = -errno;
			continue;
		}
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1) < 0) {
			ret = -errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		return err_set(ret, "cannot listen on tcp:%s:%s: %s", t->host, t->port,
			       strerror(-ret));
	return fd;
}

int mig_tcp_accept(int listen_fd, unsigned io_timeout_ms)
{
	int fd;

	do
		fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return err_set(-errno, "no source connected: accept: %s", strerror(errno));
	mig_set_timeouts(fd, io_timeout_ms);
	return fd;
}

int mig_sock_init(struct mig_sock *s, int fd)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->out = malloc(SOCK_BUF_SIZE);
	s->in = malloc(SOCK_BUF_SIZE);
	if (s->out == NULL || s->in == NULL) {
		free(s->out);
		free(s->in);
		s->out = s->in = NULL;
		return err_set(-ENOMEM, "out of memory for socket buffers");
	}
	s->pace_start = mig_now();
	return 0;
}

void mig_sock_set_bandwidth(struct mig_sock *s, uint64_t bytes_per_second)
{
	s->max_bandwidth = bytes_per_second;
	s->pace_start = mig_now();
	s->pace_sent = s->sent;
}

/* Sleeps as long as sending len more bytes now would exceed the limit. */
static void pace(struct mig_sock *s, size_t len)
{
	double due, wait;

	if (s->max_bandwidth == 0)
		return;
	due = s->pace_start + (double)(s->sent + len - s->pace_sent) / (double)s->max_bandwidth;
	wait = due - mig_now();
	if (wait > 0) {
		struct timespec ts = { .tv_sec = (time_t)wait,
				       .tv_nsec = (long)((wait - (double)(time_t)wait) * 1e9) };

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
}

static int send_all(struct mig_sock *s, const uint8_t *buf, size_t len)
{
	pace(s, len);
	while (len > 0) {
		ssize_t n = send(s->fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;

			if (s->send_error == 0)
				s->send_error = err;
			return err;
		}
		buf += n;
		len -= (size_t)n;
		s->sent += (uint64_t)n;
	}
	return 0;
}

int mig_sock_flush(struct mig_sock *s)
{
	int ret = send_all(s, s->out, s->out_used);

	s->out_used = 0;
	return ret;
}

int mig_sock_write(void *ctx, const void *buf, size_t len)
{
	struct mig_sock *s = ctx;

	if (s->out_used + len > SOCK_BUF_SIZE) {
		int ret = mig_sock_flush(s);

		if (ret < 0)
			return ret;
	}
	if (len > SOCK_BUF_SIZE)
		return send_all(s, buf, len);
	memcpy(s->out + s->out_used, buf, len);
	s->out_used += len;
	return 0;
}

ssize_t mig_sock_read(void *ctx, void *buf, size_t len)
{
	struct mig_sock *s = ctx;
	size_t n;

	if (s->in_pos == s->in_len) {
		ssize_t got;

		do
			got = recv(s->fd, s->in, SOCK_BUF_SIZE, 0);
		while (got < 0 && errno == EINTR);
		if (got < 0) {
			int err = errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;

			if (s->recv_error == 0)
				s->recv_error = err;
			return err;
		}
		s->in_pos = 0;
		s->in_len = (size_t)got;
		s->received += (uint64_t)got;
		if (got == 0) {
			s->eof = true;
			return 0;
		}
	}
	n = s->in_len - s->in_pos < len ? s->in_len - s->in_pos : len;
	memcpy(buf, s->in + s->in_pos, n);
	s->in_pos += n;
	return (ssize_t)n;
}

void mig_sock_close(struct mig_sock *s)
{
	free(s->out);
	free(s->in);
	if (s->fd >= 0)
		close(s->fd);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}

int mig_sock_explain(const struct mig_sock *s, int ret, const char *who, const char *timeout)
{
	char detail[512];	/* err_msg()'s size */
	unsigned long long at = s->sent > s->received ? s->sent : s->received;
	int err = s->send_error ? s->send_error : s->recv_error;

	if (err == 0 && !s->eof)
		return ret;
	snprintf(detail, sizeof(detail), "%s", strncmp(err_msg(), "migration stream: ", 18) == 0 ?
		 err_msg() + 18 : err_msg());
	if (err == -ETIMEDOUT)
		return err_set(ret, "the %s %s for %s, %llu bytes into the stream: it is stopped "
			       "or overloaded, or the link is down", who, s->send_error ?
			       "took nothing" : "sent nothing", timeout, at);
	if (err == -ECONNRESET || err == -EPIPE)
		return err_set(ret, "the %s hung up (the connection was reset), %llu bytes into "
			       "the stream", who, at);
	if (err != 0)
		return err_set(ret, "the connection to the %s failed, %llu bytes into the stream: "
			       "%s", who, at, strerror(-err));
	return err_set(ret, "the %s hung up %llu bytes into the stream, before its end: %s", who,
		       at, detail);
}

int mig_reply_send(struct mig_sock *s, enum mig_reply_kind kind, const char *message)
{
	uint8_t hdr[REPLY_HEADER_SIZE];
	size_t len = message ? strnlen(message, MIG_REPLY_MAX) : 0;
	int ret;

	memcpy(hdr, REPLY_MAGIC, 4);
	le32_put(hdr + 4, kind);
	le32_put(hdr + 8, (uint32_t)len);
	ret = mig_sock_write(s, hdr, sizeof(hdr));
	if (ret == 0 && len > 0)
		ret = mig_sock_write(s, message, len);
	if (ret == 0)
		ret = mig_sock_flush(s);
	return ret;
}

static int read_exact(struct mig_sock *s, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = mig_sock_read(s, p, len);

		if (n < 0)
			return (int)n;
		if (n == 0)
			return -ECONNABORTED;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int mig_reply_recv(struct mig_sock *s, enum mig_reply_kind *kind, char *message, size_t len)
{
	uint8_t hdr[REPLY_HEADER_SIZE];
	char text[MIG_REPLY_MAX + 1];
	uint32_t k, n;
	int ret = read_exact(s, hdr, sizeof(hdr));

	if (ret < 0)
		return ret;
	k = le32_get(hdr + 4);
	n = le32_get(hdr + 8);
	if (memcmp(hdr, REPLY_MAGIC, 4) != 0 || k < MIG_REPLY_ACCEPT || k > MIG_REPLY_GO ||
	    n > MIG_REPLY_MAX)
		return -EBADMSG;
	ret = read_exact(s, text, n);
	if (ret < 0)
		return ret;
	for (uint32_t i = 0; i < n; i++)
		if ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] > 0x7e)
			text[i] = '?';
	text[n] = '\0';
	snprintf(message, len, "%s", text);
	*kind = (enum mig_reply_kind)k;
	return 0;
}
