/* Live migration: the source's engine (a thread that moves the running guest to another hopvm
 * over TCP by iterative pre-copy) and the destination's side (waiting for one guest, loading
 * it, confirming).
 *
 * The source's phases, as migrate-status names them:
 *   connecting, handshake   TCP connection; the stream's header, accepted or refused
 *   first-pass              every page of RAM while the guest runs (zero pages as markers)
 *   rounds                  the pages dirtied since the last round (KVM's dirty log OR'd with
 *                           hopvm's own writes), until the rest fits max_downtime_ms at the
 *                           bandwidth measured; when rounds stop shrinking the vCPUs are
 *                           throttled in growing steps (auto-converge)
 *   stop-and-copy           every vCPU paused; the last dirty pages, vCPU, irqchip, PIT,
 *                           clock and device state, END
 *   confirming              the destination says READY (all loaded), the source GO, the
 *                           destination RUNNING (migration_transport.h)
 *   completed               the guest runs there; this VM ends with status 0
 *   failed                  the guest runs here (again); "reason" says why
 *   unconfirmed             GO went out but no RUNNING came back: the guest may run there,
 *                           so it stays paused here until "resume force=true"
 * Nothing is lost on failure: the destination runs the guest only after GO, so until then the
 * guest's copy here is the only one, and any error stops dirty logging and throttling and
 * resumes the guest. */
#ifndef HOPVM_MIGRATION_H
#define HOPVM_MIGRATION_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hopvm/migration_transport.h"

struct vm;

enum migration_phase {
	MIGRATION_NONE,
	MIGRATION_CONNECTING,
	MIGRATION_HANDSHAKE,
	MIGRATION_FIRST_PASS,
	MIGRATION_ROUNDS,
	MIGRATION_STOP_AND_COPY,
	MIGRATION_CONFIRMING,
	MIGRATION_COMPLETED,
	MIGRATION_FAILED,
	MIGRATION_UNCONFIRMED,
};

#define MIGRATION_DEFAULT_MAX_DOWNTIME_MS 50
#define MIGRATION_DEFAULT_MAX_ROUNDS 30
#define MIGRATION_DEFAULT_IO_TIMEOUT_MS 10000
#define MIGRATION_CONNECT_TIMEOUT_MS 10000

struct migration_params {
	unsigned max_downtime_ms;	/* the stop-and-copy target */
	uint64_t max_bandwidth;		/* bytes per second, 0 for no limit */
	unsigned max_rounds;		/* rounds before a guest that will not converge aborts */
	bool auto_converge;		/* throttle the vCPUs when rounds stop shrinking */
	unsigned io_timeout_ms;		/* a peer silent this long has failed */
};

void migration_params_default(struct migration_params *p);

struct migration_stats {
	enum migration_phase phase;
	unsigned round;
	uint64_t pages_sent;		/* with data */
	uint64_t zero_pages;		/* sent as markers only */
	uint64_t bytes;			/* on the wire so far */
	uint64_t dirty_pages;		/* found at the last look at the dirty log */
	uint64_t dirty_rate;		/* pages per second, over the last round */
	uint64_t bandwidth;		/* bytes per second, as measured */
	double expected_downtime_ms;	/* dirty_pages at bandwidth */
	unsigned throttle_pct;		/* of each vCPU's time taken away (auto-converge) */
	double elapsed_ms;		/* since the migrate command */
	double downtime_ms;		/* measured: vCPUs paused until the destination confirmed */
	char target[64 + MIG_TARGET_HOST_MAX];
	char reason[640];		/* why it failed */
};

struct migration {
	struct vm *vm;
	struct migration_params params;
	struct mig_target target;
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;		/* guards stats */
	struct migration_stats stats;
	double start;
	bool cancel;			/* migrate-cancel asked (atomic) */
	bool holds_pause;		/* unconfirmed: the engine's vm_pause() still stands */
	/* auto-converge's helper thread */
	pthread_t throttle_thread;
	bool throttle_running;
};

void migration_init(struct migration *m, struct vm *vm);

/* Starts moving the guest to a tcp: target in the background; -EBUSY while one runs. */
int migration_start(struct migration *m, const struct mig_target *target,
		    const struct migration_params *params) __attribute__((warn_unused_result));

bool migration_active(struct migration *m);

/* Asks a running migration to give up (before END only); -ENOENT if none runs. */
int migration_cancel(struct migration *m) __attribute__((warn_unused_result));

/* An unconfirmed migration's pause, given up by the user's "resume force=true": the guest
 * runs here again.  -ENOENT if the migration holds no pause. */
int migration_release_pause(struct migration *m) __attribute__((warn_unused_result));

void migration_get_stats(struct migration *m, struct migration_stats *out);
const char *migration_phase_name(enum migration_phase phase);

/* The stats as the members of a JSON object ("phase": ..., without braces). */
void migration_stats_json(const struct migration_stats *s, char *buf, size_t len);

/* Waits for the engine's thread; the VM is ending. */
void migration_join(struct migration *m);

/* The destination: loads the guest that arrives at spec (file:PATH or tcp:HOST:PORT) into vm,
 * created by vm_create_kvm() and never run.  For tcp it listens, says so on stderr, takes one
 * connection, refuses another machine at the header, and confirms once all is loaded. */
int migration_incoming(struct vm *vm, const char *spec) __attribute__((warn_unused_result));

#endif
