/* The source's side of live migration: iterative pre-copy over TCP (see migration.h for the
 * phases).  One thread per migration; the control socket reads its statistics meanwhile. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hopvm/error.h"
#include "hopvm/migration.h"
#include "hopvm/migration_stream.h"
#include "hopvm/vm.h"
#include "hopvm/vm_pci.h"
#include "hopvm/vm_state.h"
#include "hopvm/threads.h"
#include "throttle.h"

/* A data page on the wire: its entry and its bytes. */
#define PAGE_WIRE_BYTES (9 + MEM_PAGE_SIZE)
/* Auto-converge: rounds that shrink the dirty set by less than a tenth, twice in a row, start
 * the throttle (throttle.c); each such round after that raises it. */
#define STALLED_ROUNDS 2

static const char *const phase_names[] = {
	[MIGRATION_NONE] = "none",
	[MIGRATION_CONNECTING] = "connecting",
	[MIGRATION_HANDSHAKE] = "handshake",
	[MIGRATION_FIRST_PASS] = "first-pass",
	[MIGRATION_ROUNDS] = "rounds",
	[MIGRATION_STOP_AND_COPY] = "stop-and-copy",
	[MIGRATION_CONFIRMING] = "confirming",
	[MIGRATION_COMPLETED] = "completed",
	[MIGRATION_FAILED] = "failed",
	[MIGRATION_UNCONFIRMED] = "unconfirmed",
};

const char *migration_phase_name(enum migration_phase phase)
{
	return phase <= MIGRATION_UNCONFIRMED ? phase_names[phase] : "?";
}

void migration_params_default(struct migration_params *p)
{
	*p = (struct migration_params){
		.max_downtime_ms = MIGRATION_DEFAULT_MAX_DOWNTIME_MS,
		.max_bandwidth = 0,
		.max_rounds = MIGRATION_DEFAULT_MAX_ROUNDS,
		.auto_converge = true,
		.io_timeout_ms = MIGRATION_DEFAULT_IO_TIMEOUT_MS,
	};
}

void migration_init(struct migration *m, struct vm *vm)
{
	memset(m, 0, sizeof(*m));
	m->vm = vm;
	pthread_mutex_init(&m->lock, NULL);
}

/* One migration's working state, private to its thread. */
struct sender {
	struct migration *m;
	struct vm *vm;
	struct mig_sock sock;
	struct mig_writer w;
	struct mig_ram_hashes sent;
	uint64_t *dirty[MEM_MAX_REGIONS];	/* pages still to send, per region */
	bool dirty_logging, paused;
	bool gone;				/* GO was sent: the guest may run there */
	double send_seconds;			/* spent sending pages, for the bandwidth */
	double last_look;			/* when the dirty log was last read */
	uint64_t send_bytes;
};

static uint64_t wire_bytes(const struct sender *s)
{
	return s->sock.sent + s->sock.out_used;
}

static void update_stats(struct sender *s)
{
	struct migration *m = s->m;

	pthread_mutex_lock(&m->lock);
	m->stats.pages_sent = s->w.pages_data;
	m->stats.zero_pages = s->w.pages_zero;
	m->stats.bytes = wire_bytes(s);
	m->stats.elapsed_ms = (mig_now() - m->start) * 1e3;
	pthread_mutex_unlock(&m->lock);
}

static void set_phase(struct migration *m, enum migration_phase phase)
{
	pthread_mutex_lock(&m->lock);
	m->stats.phase = phase;
	pthread_mutex_unlock(&m->lock);
}

/* Between batches: has anyone asked the migration to stop? */
static int check_abort(struct sender *s)
{
	if (__atomic_load_n(&s->m->cancel, __ATOMIC_ACQUIRE))
		return err_set(-ECANCELED, "cancelled by migrate-cancel");
	if (vm_stop_requested(s->vm))
		return err_set(-ECANCELED, "the guest stopped while it was being migrated");
	return 0;
}

/* Waits for one reply of the wanted kind; REFUSE and FAILED carry the destination's reason.
 * waiting_for names it after "its": "answer to the header". */
static int expect_reply(struct sender *s, enum mig_reply_kind wanted, const char *waiting_for)
{
	enum mig_reply_kind kind;
	char message[MIG_REPLY_MAX + 1];
	int ret = mig_reply_recv(&s->sock, &kind, message, sizeof(message));

	if (ret == -ECONNABORTED || ret == -ECONNRESET || ret == -EPIPE)
		return err_set(ret, "the destination hung up before its %s", waiting_for);
	if (ret == -EAGAIN || ret == -ETIMEDOUT)
		return err_set(-ETIMEDOUT, "the destination sent no %s within %u ms "
			       "(io_timeout_ms)%s", waiting_for, s->m->params.io_timeout_ms,
			       wanted == MIG_REPLY_ACCEPT && s->m->target.kind == MIG_TARGET_EXEC ?
			       "; a command that only takes the stream, such as 'gzip -c > FILE', "
			       "wants snapshot=true" : "");
	if (ret == -EBADMSG)
		return err_set(ret, "the destination's %s is not a hopvm migration reply",
			       waiting_for);
	if (ret < 0)
		return err_set(ret, "the destination's %s did not arrive: %s", waiting_for,
			       strerror(-ret));
	if (kind == MIG_REPLY_REFUSE)
		return err_set(-EPROTO, "the destination refused the guest: %s", message);
	if (kind == MIG_REPLY_FAILED)
		return err_set(-EREMOTEIO, "the destination could not run the guest: %s", message);
	if (kind != wanted)
		return err_set(-EBADMSG, "the destination sent reply %d instead of its %s", kind,
			       waiting_for);
	return 0;
}

/* A failure to send said in words: what the destination did (mig_sock_explain). */
static int sending_failed(struct sender *s, int ret)
{
	char timeout[48];

	if (ret >= 0 || s->sock.send_error == 0)
		return ret;
	snprintf(timeout, sizeof(timeout), "%u ms (io_timeout_ms)", s->m->params.io_timeout_ms);
	return mig_sock_explain(&s->sock, ret, "destination", timeout);
}

/* Waits until the destination has read everything sent so far. */
static int sync_with_destination(struct sender *s)
{
	int ret = mig_write_sync(&s->w);

	if (ret == 0)
		ret = mig_sock_flush(&s->sock);
	if (ret < 0)
		return ret;
	return expect_reply(s, MIG_REPLY_SYNCED, "answer to SYNC");
}

/* Sends every page marked in s->dirty, clearing the marks, in batches, then (unless the
 * guest is stopped, when END follows at once) waits for the destination to catch up. */
static int send_marked_pages(struct sender *s)
{
	uint64_t gpns[MIG_RAM_BATCH_MAX];
	uint64_t bytes = wire_bytes(s);
	double start = mig_now();
	uint32_t n = 0;
	int ret = 0;

	for (unsigned r = 0; r < s->vm->mem.nr_regions && ret == 0; r++) {
		const struct guest_region *reg = &s->vm->mem.regions[r];
		uint64_t first = reg->gpa / MEM_PAGE_SIZE;

		for (uint64_t w = 0; w < guest_region_bitmap_words(reg) && ret == 0; w++) {
			uint64_t bits = s->dirty[r][w];

			s->dirty[r][w] = 0;
			for (; bits != 0 && ret == 0; bits &= bits - 1) {
				gpns[n++] = first + w * 64 + (uint64_t)__builtin_ctzll(bits);
				if (n < MIG_RAM_BATCH_MAX)
					continue;
				ret = mig_write_ram(&s->w, &s->vm->mem, gpns, n);
				n = 0;
				update_stats(s);
				if (ret == 0)
					ret = check_abort(s);
			}
		}
	}
	if (ret == 0 && n > 0)
		ret = mig_write_ram(&s->w, &s->vm->mem, gpns, n);
	if (ret == 0 && !s->paused)
		ret = sync_with_destination(s);
	ret = sending_failed(s, ret);
	update_stats(s);
	s->send_seconds += mig_now() - start;
	s->send_bytes += wire_bytes(s) - bytes;
	return ret;
}

/* Bytes per second while sending pages, over the whole migration. */
static uint64_t bandwidth(const struct sender *s)
{
	return s->send_seconds > 0 ? (uint64_t)((double)s->send_bytes / s->send_seconds) : 0;
}

static uint64_t count_marked(const struct sender *s)
{
	uint64_t n = 0;

	for (unsigned r = 0; r < s->vm->mem.nr_regions; r++)
		for (uint64_t w = 0; w < guest_region_bitmap_words(&s->vm->mem.regions[r]); w++)
			n += (uint64_t)__builtin_popcountll(s->dirty[r][w]);
	return n;
}

/* Adds the pages dirtied since the last look to s->dirty; returns how many are marked. */
static int collect_dirty(struct sender *s, uint64_t *marked)
{
	for (unsigned r = 0; r < s->vm->mem.nr_regions; r++) {
		int ret = vm_dirty_log_collect(s->vm, r, s->dirty[r]);

		if (ret < 0)
			return ret;
	}
	*marked = count_marked(s);
	return 0;
}

static void mark_all_pages(struct sender *s)
{
	for (unsigned r = 0; r < s->vm->mem.nr_regions; r++) {
		uint64_t pages = guest_region_pages(&s->vm->mem.regions[r]);

		for (uint64_t p = 0; p < pages; p++)
			s->dirty[r][p / 64] |= 1ULL << (p % 64);
	}
}

/* --- the phases ------------------------------------------------------------------------- */

/* The socket to the destination: a TCP connection, one to the exec: command hopvm ctl
 * runs, or fd:N. */
static int open_channel(struct sender *s)
{
	const struct mig_target *t = &s->m->target;
	unsigned io_timeout_ms = s->m->params.io_timeout_ms;
	int fd;

	switch (t->kind) {
	case MIG_TARGET_EXEC:
		/* The socket hopvm ctl passed, to the command it runs: ours to close. */
		fd = mig_fd_socket(t->fd, io_timeout_ms);
		if (fd < 0)
			close(t->fd);
		return fd;
	case MIG_TARGET_FD:
		return mig_fd_socket(t->fd, io_timeout_ms);
	default:
		return mig_tcp_connect(t, MIGRATION_CONNECT_TIMEOUT_MS, io_timeout_ms);
	}
}

static int connect_and_handshake(struct sender *s)
{
	struct migration *m = s->m;
	struct mig_machine machine;
	int fd, ret;

	set_phase(m, MIGRATION_CONNECTING);
	fd = open_channel(s);
	if (fd < 0)
		return fd;
	ret = mig_sock_init(&s->sock, fd);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	mig_writer_init(&s->w, mig_sock_write, &s->sock);
	s->w.sent = &s->sent;

	set_phase(m, MIGRATION_HANDSHAKE);
	vm_state_describe(s->vm, &machine);
	ret = mig_write_header(&s->w, &machine);
	if (ret == 0)
		ret = mig_sock_flush(&s->sock);
	if (ret < 0)
		return sending_failed(s, ret);
	return expect_reply(s, MIG_REPLY_ACCEPT, "answer to the header");
}

static int first_pass(struct sender *s)
{
	int ret;

	for (unsigned r = 0; r < s->vm->mem.nr_regions; r++) {
		s->dirty[r] = calloc(guest_region_bitmap_words(&s->vm->mem.regions[r]),
				     sizeof(uint64_t));
		if (s->dirty[r] == NULL)
			return err_set(-ENOMEM, "out of memory for the dirty bitmap");
	}
	/* Logging starts before the pass, so a page written while it goes is sent again. */
	ret = vm_dirty_log_start(s->vm);
	if (ret < 0)
		return ret;
	s->dirty_logging = true;
	mig_sock_set_bandwidth(&s->sock, s->m->params.max_bandwidth);
	set_phase(s->m, MIGRATION_FIRST_PASS);
	s->last_look = mig_now();
	mark_all_pages(s);
	return send_marked_pages(s);
}

/* Rounds until the pages still dirty can be sent within the downtime target. */
static int rounds(struct sender *s)
{
	struct migration *m = s->m;
	uint64_t previous = UINT64_MAX;
	unsigned stalled = 0;

	set_phase(m, MIGRATION_ROUNDS);
	for (unsigned round = 1;; round++) {
		uint64_t marked, bw;
		double now, expected_ms;
		int ret = collect_dirty(s, &marked);

		if (ret < 0)
			return ret;
		now = mig_now();
		bw = bandwidth(s);
		expected_ms = bw > 0 ? (double)marked * PAGE_WIRE_BYTES / (double)bw * 1e3 : 0;
		pthread_mutex_lock(&m->lock);
		m->stats.dirty_pages = marked;
		m->stats.dirty_rate = now > s->last_look ?
			(uint64_t)((double)marked / (now - s->last_look)) : 0;
		m->stats.bandwidth = bw;
		m->stats.expected_downtime_ms = expected_ms;
		pthread_mutex_unlock(&m->lock);
		s->last_look = now;
		if (expected_ms <= m->params.max_downtime_ms)
			return 0;
		if (round > m->params.max_rounds)
			return err_set(-ETIMEDOUT, "no convergence after %u rounds: %llu pages still "
				       "dirty would take %.0f ms at %.1f MB/s, over the %u ms allowed",
				       m->params.max_rounds, (unsigned long long)marked, expected_ms,
				       (double)bw / 1e6, m->params.max_downtime_ms);
		stalled = marked * 10 >= previous * 9 ? stalled + 1 : 0;
		previous = marked;
		/* Once throttling, every round that does not shrink raises it again. */
		if (m->params.auto_converge &&
		    stalled >= (s->vm->throttle_pct ? 1 : STALLED_ROUNDS)) {
			ret = migration_throttle_raise(s->m);
			if (ret < 0)
				return ret;
			stalled = 0;
		}
		pthread_mutex_lock(&m->lock);
		m->stats.round = round;
		pthread_mutex_unlock(&m->lock);
		ret = send_marked_pages(s);
		if (ret < 0)
			return ret;
	}
}

/* Pauses the guest and sends the rest of the stream. */
static int stop_and_copy(struct sender *s)
{
	uint64_t marked;
	int ret;

	set_phase(s->m, MIGRATION_STOP_AND_COPY);
	migration_throttle_stop(s->m);
	vm_pause(s->vm);
	s->paused = true;
	ret = check_abort(s);
	/* The disks are shared storage: what the guest wrote is there before it runs there. */
	if (ret == 0)
		ret = vm_pci_flush(s->vm);
	if (ret == 0)
		ret = collect_dirty(s, &marked);
	if (ret == 0)
		ret = send_marked_pages(s);
	if (ret == 0)
		ret = vm_state_write_cpus_and_devices(s->vm, &s->w);
	if (ret == 0)
		ret = mig_write_end(&s->w, s->sent.sum);
	if (ret == 0)
		ret = mig_sock_flush(&s->sock);
	update_stats(s);
	return sending_failed(s, ret);
}

/* READY, GO, RUNNING: see migration_transport.h.  Only once GO is out is the guest in doubt. */
static int confirm(struct sender *s, double paused_at)
{
	struct migration *m = s->m;
	int ret;

	set_phase(m, MIGRATION_CONFIRMING);
	ret = expect_reply(s, MIG_REPLY_READY, "READY");
	if (ret == 0) {
		ret = mig_reply_send(&s->sock, MIG_REPLY_GO, NULL);
		if (ret < 0)
			ret = err_set(ret, "cannot tell the destination to run the guest (GO): %s", strerror(-ret));
	}
	if (ret == 0) {
		s->gone = true;
		ret = expect_reply(s, MIG_REPLY_RUNNING, "word that the guest runs there");
		if (ret == -EREMOTEIO)
			s->gone = false;	/* it said it does not run the guest */
	}
	pthread_mutex_lock(&m->lock);
	m->stats.downtime_ms = (mig_now() - paused_at) * 1e3;
	m->stats.elapsed_ms = (mig_now() - m->start) * 1e3;
	pthread_mutex_unlock(&m->lock);
	return ret;
}

static void finish(struct sender *s, int ret)
{
	struct migration *m = s->m;
	struct migration_stats st;

	migration_throttle_stop(s->m);
	/* After a move nothing here runs the guest again: KVM is spared the walk over every
	 * page that ending the dirty log takes, which would compete with the destination's
	 * first steps where both share a host. */
	if (s->dirty_logging && ret != 0)
		vm_dirty_log_stop(s->vm);
	for (unsigned r = 0; r < MEM_MAX_REGIONS; r++)
		free(s->dirty[r]);
	mig_ram_hashes_free(&s->sent);
	update_stats(s);
	if (s->sock.out != NULL)
		mig_sock_close(&s->sock);
	pthread_mutex_lock(&m->lock);
	if (ret == 0) {
		m->stats.phase = MIGRATION_COMPLETED;
	} else if (s->gone) {
		/* Two running copies would be worse than a paused one. */
		m->stats.phase = MIGRATION_UNCONFIRMED;
		snprintf(m->stats.reason, sizeof(m->stats.reason), "%s: the guest stays paused "
			 "here, as it may be running there ('resume force=true' runs it here)",
			 err_msg());
		m->holds_pause = true;
	} else {
		m->stats.phase = MIGRATION_FAILED;
		snprintf(m->stats.reason, sizeof(m->stats.reason), "%s; the guest runs on here",
			 err_msg());
	}
	st = m->stats;
	pthread_mutex_unlock(&m->lock);
	if (ret != 0 && !s->gone && s->paused)
		vm_resume(s->vm);
	if (ret == 0) {
		s->vm->moved_away = true;
		vm_request_stop(s->vm, 0, "migrated to %s: %.0f ms in all, downtime %.1f ms, "
				"%u rounds, %.1f MB sent", st.target, st.elapsed_ms, st.downtime_ms,
				st.round, (double)st.bytes / 1e6);
	}
}

static void *migration_thread(void *arg)
{
	struct migration *m = arg;
	struct sender s = { .m = m, .vm = m->vm };
	double paused_at = 0;
	int ret;

	s.sock.fd = -1;
	ret = thread_enter(THREAD_MIGRATION, 0);
	if (ret == 0)
		ret = mig_ram_hashes_init(&s.sent, &m->vm->mem);
	if (ret == 0)
		ret = connect_and_handshake(&s);
	if (ret == 0)
		ret = first_pass(&s);
	if (ret == 0)
		ret = rounds(&s);
	if (ret == 0) {
		paused_at = mig_now();
		ret = stop_and_copy(&s);
	}
	if (ret == 0)
		ret = confirm(&s, paused_at);
	finish(&s, ret);
	return NULL;
}

int migration_start(struct migration *m, const struct mig_target *target,
		    const struct migration_params *params)
{
	int ret;

	if (migration_active(m))
		return err_set(-EBUSY, "a migration is already running (see migrate-status)");
	if (m->holds_pause)
		return err_set(-EBUSY, "the last migration was never confirmed; 'resume "
			       "force=true' first if the guest does not run at the destination");
	if (m->thread_started)
		pthread_join(m->thread, NULL);
	m->thread_started = false;
	m->target = *target;
	m->params = *params;
	m->cancel = false;
	m->start = mig_now();
	pthread_mutex_lock(&m->lock);
	memset(&m->stats, 0, sizeof(m->stats));
	m->stats.phase = MIGRATION_CONNECTING;
	mig_target_text(target, m->stats.target, sizeof(m->stats.target));
	pthread_mutex_unlock(&m->lock);
	ret = pthread_create(&m->thread, NULL, migration_thread, m);
	if (ret != 0) {
		pthread_mutex_lock(&m->lock);
		m->stats.phase = MIGRATION_FAILED;
		pthread_mutex_unlock(&m->lock);
		return err_set(-ret, "cannot start the migration thread: %s", strerror(ret));
	}
	m->thread_started = true;
	return 0;
}

bool migration_active(struct migration *m)
{
	enum migration_phase phase;

	pthread_mutex_lock(&m->lock);
	phase = m->stats.phase;
	pthread_mutex_unlock(&m->lock);
	return phase >= MIGRATION_CONNECTING && phase <= MIGRATION_CONFIRMING;
}

int migration_cancel(struct migration *m)
{
	if (!migration_active(m))
		return err_set(-ENOENT, "no migration is running");
	__atomic_store_n(&m->cancel, true, __ATOMIC_RELEASE);
	return 0;
}

int migration_release_pause(struct migration *m)
{
	if (!m->holds_pause)
		return err_set(-ENOENT, "no unconfirmed migration holds the guest");
	m->holds_pause = false;
	pthread_mutex_lock(&m->lock);
	m->stats.phase = MIGRATION_FAILED;
	pthread_mutex_unlock(&m->lock);
	vm_resume(m->vm);
	return 0;
}

void migration_get_stats(struct migration *m, struct migration_stats *out)
{
	pthread_mutex_lock(&m->lock);
	*out = m->stats;
	if (out->phase >= MIGRATION_CONNECTING && out->phase <= MIGRATION_CONFIRMING)
		out->elapsed_ms = (mig_now() - m->start) * 1e3;
	pthread_mutex_unlock(&m->lock);
}

void migration_join(struct migration *m)
{
	if (m->thread_started)
		pthread_join(m->thread, NULL);
	m->thread_started = false;
	if (m->holds_pause) {
		m->holds_pause = false;
		vm_resume(m->vm);
	}
}
