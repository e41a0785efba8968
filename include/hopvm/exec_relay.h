/* hopvm exec's relay: on one side the guest's hvc0 (a socket the virtio console reads and
 * writes), on the other hopvm's own stdin, stdout and stderr.  It takes the guest's frames
 * (exec_abi.h) apart, sends stdin as frames once the guest is READY, and ends at STATUS or
 * ERROR, asking the VM to stop; the VM's stop ends it too.
 *
 * Neither direction waits on the other: input for the guest is read only when the frame
 * before it has gone, and the channel is never written blocking, so a command that reads no
 * input still gets all its output out. */
#ifndef HOPVM_EXEC_RELAY_H
#define HOPVM_EXEC_RELAY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hopvm/exec_abi.h"

struct vm;

enum exec_relay_outcome {
	EXEC_RELAY_RUNNING,	/* no STATUS or ERROR came (yet) */
	EXEC_RELAY_STATUS,	/* the command ended: status */
	EXEC_RELAY_ERROR,	/* the init could not run it: message */
	EXEC_RELAY_BROKEN,	/* the guest sent a frame that makes no sense: message */
};

struct exec_relay {
	int chan_fd;		/* the socket's end that is ours (non-blocking) */
	int in_fd, out_fd, err_fd;	/* hopvm's stdin (or -1), stdout, stderr */
	int wake_fd;		/* an eventfd: the VM stopped, finish */
	struct vm *vm;		/* asked to stop at the end; NULL in the unit tests */

	/* What the guest sent, not yet a whole frame. */
	uint8_t rx[EXEC_FRAME_HEADER + EXEC_FRAME_MAX];
	size_t rx_len;
	/* A frame for the guest, not yet all written. */
	uint8_t tx[EXEC_FRAME_HEADER + EXEC_FRAME_MAX];
	size_t tx_len, tx_off;
	bool ready, in_done;

	enum exec_relay_outcome outcome;
	int status;
	char message[512];

	pthread_t thread;
	bool started;
};

/* Takes the channel (made non-blocking) and the three descriptors; nothing starts yet. */
int exec_relay_init(struct exec_relay *r, int chan_fd, int in_fd, int out_fd, int err_fd,
		    struct vm *vm) __attribute__((warn_unused_result));
int exec_relay_start(struct exec_relay *r) __attribute__((warn_unused_result));

/* After the VM stopped: takes in what the guest had already sent (a STATUS written just
 * before the guest powered off), then ends the thread.  r->outcome says what came. */
void exec_relay_finish(struct exec_relay *r);
void exec_relay_free(struct exec_relay *r);

/* The relay's steps, for the unit tests: takes in n bytes the guest sent (returns true once
 * STATUS, ERROR or a broken frame ended it), and reads one block of input into a frame. */
bool exec_relay_take(struct exec_relay *r, const uint8_t *data, size_t n);
void exec_relay_read_input(struct exec_relay *r);

#endif
