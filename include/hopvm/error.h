/* Error reporting: library code records what went wrong, the caller decides whether to print.
 *
 * A failing function returns a negative errno and, through err_set(), leaves a message that
 * names the failing step ("KVM_CREATE_VM: Permission denied").  Only main() prints it.  The
 * message is per thread, so a vCPU thread's failure never overwrites the main thread's. */
#ifndef HOPVM_ERROR_H
#define HOPVM_ERROR_H

/* Records the message and returns neg_errno, so callers can write
 * `return err_set(-EINVAL, "bad thing %d", x);`. */
int err_set(int neg_errno, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The last message recorded on this thread, or "" if none. */
const char *err_msg(void);

/* Forgets the last message (tests use it to check that a message was set). */
void err_clear(void);

#endif
