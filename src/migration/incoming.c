/* The destination's side of a migration, and the statistics' JSON form. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hopvm/error.h"
#include "hopvm/json.h"
#include "hopvm/migration.h"
#include "hopvm/vm.h"
#include "hopvm/vm_state.h"

/* For the failure tests only, HOPVM_MIGRATION_FAULT makes the destination fail on purpose:
 *   die-in-stop-and-copy  vanish when the first vCPU's state arrives
 *   die-after-end         vanish with everything loaded, before saying READY
 *   fail-after-end        report a failure to the source instead of READY
 *   die-after-go          vanish after the source's GO, before saying RUNNING */
static const char *fault(void)
{
	const char *f = getenv("HOPVM_MIGRATION_FAULT");

	return f != NULL ? f : "";
}

static int incoming_file(struct vm *vm, const char *path)
{
	struct mig_reader r;
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return err_set(-errno, "cannot open %s: %s", path, strerror(errno));
	mig_reader_init(&r, mig_fd_read, &fd);
	ret = vm_state_read(vm, &r, MIG_READ_REQUIRE_EOF | MIG_READ_FRESH_RAM);
	close(fd);
	return ret;
}

struct incoming {
	struct mig_sock *sock;
	bool one_way;		/* a snapshot (ONE_WAY): nobody reads answers */
	int accept_error;	/* sending ACCEPT failed: fatal unless the stream is one way */
};

static int on_section(void *ctx, uint32_t type)
{
	struct incoming *in = ctx;
	int ret;

	if (type == MIG_SECTION_VCPU && strcmp(fault(), "die-in-stop-and-copy") == 0)
		_exit(HOPVM_EXIT_ERROR);
	if (type == MIG_SECTION_ONE_WAY)
		in->one_way = true;
	else if (in->accept_error < 0 && !in->one_way)
		return err_set(in->accept_error, "the source hung up after the header: %s",
			       strerror(-in->accept_error));
	if (type != MIG_SECTION_SYNC)
		return 0;
	ret = mig_reply_send(in->sock, MIG_REPLY_SYNCED, NULL);
	if (ret < 0)
		return err_set(ret, "cannot answer the source: %s", strerror(-ret));
	return 0;
}

/* A stream broken off said in words: what the source did (mig_sock_explain). */
static int source_failed(const struct mig_sock *sock, int ret)
{
	char timeout[48];

	if (ret >= 0)
		return ret;
	snprintf(timeout, sizeof(timeout), "%d ms (the destination's I/O timeout)",
		 MIGRATION_DEFAULT_IO_TIMEOUT_MS);
	return mig_sock_explain(sock, ret, "source", timeout);
}

/* The conversation of migration_transport.h, destination side.  A snapshot read from a
 * command (its first section ONE_WAY: `--incoming "exec:gzip -dc vm.gz"`) is the same
 * stream with nobody to answer: what is sent to it is left unread, and the guest runs once it
 * is all in and checked. */
static int incoming_stream(struct vm *vm, struct mig_sock *sock)
{
	struct mig_reader r;
	struct incoming in = { .sock = sock };
	enum mig_reply_kind kind = MIG_REPLY_FAILED;
	char message[MIG_REPLY_MAX + 1];
	double start = mig_now();
	int ret;

	mig_reader_init(&r, mig_sock_read, sock);
	r.on_section = on_section;
	r.section_ctx = &in;
	ret = source_failed(sock, vm_state_read_header(vm, &r));
	if (ret < 0) {
		/* The source learns why; a stream too broken to read gets the same answer. */
		(void)mig_reply_send(sock, MIG_REPLY_REFUSE, err_msg());
		return ret;
	}
	/* Its failure matters only if the stream turns out to be a live source's. */
	in.accept_error = mig_reply_send(sock, MIG_REPLY_ACCEPT, NULL);
	ret = source_failed(sock, vm_state_read_rest(vm, &r, MIG_READ_FRESH_RAM));
	if (ret == 0 && in.one_way) {
		if (vm->cfg.verbose)
			fprintf(stderr, "hopvm: read a snapshot: %.1f MB in %.0f ms\n",
				(double)r.offset / 1e6, (mig_now() - start) * 1e3);
		return 0;
	}
	if (ret == 0 && strcmp(fault(), "die-after-end") == 0)
		_exit(HOPVM_EXIT_ERROR);
	if (ret == 0 && strcmp(fault(), "fail-after-end") == 0)
		ret = err_set(-EIO, "failing on purpose (HOPVM_MIGRATION_FAULT=fail-after-end)");
	if (ret < 0) {
		(void)mig_reply_send(sock, MIG_REPLY_FAILED, err_msg());
		return ret;
	}
	ret = mig_reply_send(sock, MIG_REPLY_READY, NULL);
	if (ret == 0)
		ret = mig_reply_recv(sock, &kind, message, sizeof(message));
	if (ret < 0 || kind != MIG_REPLY_GO)
		return err_set(ret < 0 ? ret : -EBADMSG, "the source never said go (%s): it keeps "
			       "the guest", ret < 0 ? strerror(-ret) : "another answer");
	if (strcmp(fault(), "die-after-go") == 0)
		_exit(HOPVM_EXIT_ERROR);
	/* Said, not waited for: if the source is gone it keeps its copy paused. */
	(void)mig_reply_send(sock, MIG_REPLY_RUNNING, NULL);
	if (vm->cfg.verbose)
		fprintf(stderr, "hopvm: received the guest: %.1f MB in %.0f ms\n",
			(double)r.offset / 1e6, (mig_now() - start) * 1e3);
	return 0;
}

/* The conversation over fd (taken over and closed here). */
static int incoming_over(struct vm *vm, int fd)
{
	struct mig_sock sock;
	int ret = mig_sock_init(&sock, fd);

	if (ret < 0) {
		close(fd);
		return ret;
	}
	ret = incoming_stream(vm, &sock);
	mig_sock_close(&sock);
	return ret;
}

static int incoming_tcp(struct vm *vm, const struct mig_target *t)
{
	int listen_fd = mig_tcp_listen(t), fd;

	if (listen_fd < 0)
		return listen_fd;
	fprintf(stderr, "hopvm: waiting for a migration on tcp:%s:%s\n", t->host, t->port);
	fd = mig_tcp_accept(listen_fd, MIGRATION_DEFAULT_IO_TIMEOUT_MS);
	close(listen_fd);
	return fd < 0 ? fd : incoming_over(vm, fd);
}

/* The stream from a command's stdout, the replies to its stdin. */
static int incoming_exec(struct vm *vm, const char *command)
{
	pid_t child;
	int fd = mig_exec_spawn(command, MIGRATION_DEFAULT_IO_TIMEOUT_MS, &child), ret, status;

	if (fd < 0)
		return fd;
	/* As long as it takes for the stream to begin (as accept() waits for a source); the
	 * I/O timeout holds from there on. */
	fprintf(stderr, "hopvm: waiting for a migration from exec:%s\n", command);
	while (poll(&(struct pollfd){ .fd = fd, .events = POLLIN }, 1, -1) < 0 && errno == EINTR)
		;
	ret = incoming_over(vm, fd);
	status = mig_child_end(child);
	if (ret < 0)
		mig_child_explain(status);
	return ret;
}

int migration_incoming(struct vm *vm, const char *spec)
{
	struct mig_target t;
	int ret = mig_target_parse(spec, &t), fd;

	if (ret < 0)
		return ret;
	switch (t.kind) {
	case MIG_TARGET_FILE:
		return incoming_file(vm, t.path);
	case MIG_TARGET_EXEC:
		return incoming_exec(vm, t.path);
	case MIG_TARGET_FD:
		fd = mig_fd_socket(t.fd, MIGRATION_DEFAULT_IO_TIMEOUT_MS);
		return fd < 0 ? fd : incoming_over(vm, fd);
	default:
		return incoming_tcp(vm, &t);
	}
}

void migration_stats_json(const struct migration_stats *s, char *buf, size_t len)
{
	size_t n;

	snprintf(buf, len, "\"phase\": \"%s\", \"target\": ", migration_phase_name(s->phase));
	if (!json_append_string(buf, len, s->target))
		return;
	n = strlen(buf);
	n += (size_t)snprintf(buf + n, len - n,
			      ", \"round\": %u, \"pages_sent\": %llu, \"zero_pages\": %llu, "
			      "\"bytes\": %llu, \"dirty_pages\": %llu, \"dirty_rate\": %llu, "
			      "\"bandwidth\": %llu, \"expected_downtime_ms\": %.1f, "
			      "\"throttle_pct\": %u, \"elapsed_ms\": %.1f",
			      s->round, (unsigned long long)s->pages_sent,
			      (unsigned long long)s->zero_pages, (unsigned long long)s->bytes,
			      (unsigned long long)s->dirty_pages, (unsigned long long)s->dirty_rate,
			      (unsigned long long)s->bandwidth, s->expected_downtime_ms,
			      s->throttle_pct, s->elapsed_ms);
	if (n < len && (s->phase == MIGRATION_COMPLETED || s->phase == MIGRATION_UNCONFIRMED))
		n += (size_t)snprintf(buf + n, len - n, ", \"total_ms\": %.1f, \"downtime_ms\": %.1f",
				      s->elapsed_ms, s->downtime_ms);
	if (n + 16 < len && s->reason[0] != '\0') {
		strcat(buf, ", \"reason\": ");
		if (!json_append_string(buf, len, s->reason))
			buf[n] = '\0';
	}
}
