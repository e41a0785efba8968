/* What the exec init's two halves share: init.c reads the records, sets the guest up and owns
 * the channel (hvc0) and the ways out; relay.c runs the command and relays its streams. */
#ifndef HOPVM_EXEC_INIT_H
#define HOPVM_EXEC_INIT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "hopvm/exec_abi.h"

#ifdef EXEC_INIT_TEST
extern bool test_mode;	/* running on a host for the unit test: no guest setup, exit for off */
#else
static const bool test_mode = false;
#endif

extern int channel;	/* hvc0 once open: where frames go, and the host's input */

/* The records of /hopvm/exec (include/hopvm/exec_abi.h), as read_config() found them. */
struct exec_config {
	char *records;		/* the file: NUL-terminated "key=value" records */
	size_t size;
	const char *root_tag;
	const char *cwd;
	bool has_uid, has_gid, has_groups;
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	size_t group_count;
	char **argv;		/* NULL-terminated, as execvpe takes them */
	char **envp;
};

/* The value of record ("key=value") if its key is key, else NULL. */
const char *record_value(const char *record, const char *key);

/* One frame to the host, whole; after a failed write, nothing more (the host is gone). */
void send_frame(enum exec_frame_type type, const void *payload, size_t len);

/* The init cannot run the command: says why on the console and, as an ERROR frame, to the
 * host, then powers off.  err is an errno value for the message's end, or 0. */
_Noreturn __attribute__((format(printf, 2, 3))) void fail(int err, const char *fmt, ...);

/* Runs the command cfg names, relays its input and output until it has ended and drained what
 * it wrote, and returns its status as a shell gives it (128 + N for signal N). */
int run_command(const struct exec_config *cfg);

#endif
