/* hopvm's threads, each of one kind, and the system calls each kind may make (the seccomp
 * tables, src/threads.c).  Every thread calls thread_enter() first thing; the main thread
 * calls it once every other thread of the VM has started. */
#ifndef HOPVM_THREADS_H
#define HOPVM_THREADS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sock_filter;

enum thread_kind {
	THREAD_MAIN,		/* argument parsing, set-up, waiting for the end, teardown */
	THREAD_VCPU,		/* KVM_RUN and the exits it hands to devices */
	THREAD_VIRTIO_IO,	/* one per virtio device: its queues, its disk or TAP */
	THREAD_NET_ANNOUNCE,	/* RARP frames for a moved guest without GUEST_ANNOUNCE */
	THREAD_CONSOLE_IN,	/* stdin to COM1 */
	THREAD_CONTROL,		/* the control socket; starts migrations */
	THREAD_MIGRATION,	/* a live migration's sender */
	THREAD_THROTTLE,	/* auto-converge's vCPU throttle */
	THREAD_VIRTIO_FS,	/* a virtio-fs device's: its queues and the file server */
	THREAD_EXEC_RELAY,	/* hopvm exec: the command's streams to and from hvc0 */
	THREAD_KINDS
};

/* Names the thread ("vcpu 2"), for ps and for the message a refused system call prints,
 * and installs its kind's seccomp filter unless thread_seccomp_off() was called. */
int thread_enter(enum thread_kind kind, unsigned index) __attribute__((warn_unused_result));

/* --no-seccomp: threads entered from now on run unfiltered. */
void thread_seccomp_off(void);

/* --- the tables (exposed for the unit tests) ---------------------------------------------- */

enum seccomp_arg_check {
	SECCOMP_ARG_ANY,	/* any arguments */
	SECCOMP_ARG_ONE_OF,	/* argument arg (its low 32 bits) is one of values */
	SECCOMP_ARG_BITS_CLEAR,	/* argument arg has none of bits set */
};

struct seccomp_rule {
	int nr;			/* the system call; a table ends with -1 */
	enum seccomp_arg_check check;
	unsigned arg;
	const uint32_t *values;
	unsigned nr_values;
	uint32_t bits;
};

#define SECCOMP_MAX_SETS 6

/* A kind's table: up to SECCOMP_MAX_SETS shared sets of rules (NULL after the last). */
struct seccomp_table {
	const struct seccomp_rule *sets[SECCOMP_MAX_SETS];
};

extern const struct seccomp_table seccomp_tables[THREAD_KINDS];

/* Compiles kind's table into prog (max instructions); its length, or -E2BIG. */
int seccomp_build(enum thread_kind kind, struct sock_filter *prog, size_t max)
	__attribute__((warn_unused_result));
const char *thread_kind_name(enum thread_kind kind);
/* What kind's filter allows, as the filter decides it: the calls' names separated by spaces,
 * each with its argument check ("ioctl[24]": 24 values of the argument that matters allowed;
 * "mmap[no-exec]": never PROT_EXEC), in buf (truncated to len); returns how many calls. */
unsigned seccomp_describe(enum thread_kind kind, char *buf, size_t len);
/* x86-64 system call nr's name, or "unknown". */
const char *syscall_name(unsigned nr);

#endif
