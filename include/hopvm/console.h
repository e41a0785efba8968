/* The guest console: host input (hopvm's stdin) into COM1's receive FIFO.  Output goes the
 * other way through the UART's tx callback, in vm.c.
 *
 * When stdin is a terminal that hopvm owns (its foreground process group), the terminal goes
 * into raw mode so every key reaches the guest, and is restored on every way out: the VM
 * ending, exit(), and a fatal signal.  There, as in QEMU, Ctrl-A x ends the VM, Ctrl-A h
 * lists the keys and Ctrl-A Ctrl-A sends one Ctrl-A.  Pipes and files pass through
 * untouched.  A terminal owned by someone else (hopvm started in the background) is not
 * read at all: reading it would stop hopvm with SIGTTIN. */
#ifndef HOPVM_CONSOLE_H
#define HOPVM_CONSOLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;

#define CONSOLE_ESCAPE_KEY 0x01	/* Ctrl-A */

enum console_action {
	CONSOLE_NONE,
	CONSOLE_QUIT,	/* Ctrl-A x */
	CONSOLE_HELP,	/* Ctrl-A h */
};

/* The escape-key state of a terminal console. */
struct console_escape {
	bool pending;	/* Ctrl-A seen, its command key not yet */
};

/* Copies the bytes of in that go to the guest into out (at least len bytes) and sets
 * *out_len; stops at the first command key and says which (the bytes after it are left). */
enum console_action console_escape_filter(struct console_escape *esc, const uint8_t *in,
					  size_t len, uint8_t *out, size_t *out_len,
					  size_t *consumed);

struct console_input {
	struct vm *vm;
	int fd;
	bool terminal;	/* fd is a terminal in raw mode, with escape keys */
	struct console_escape esc;
	pthread_t thread;
	bool running;
};

/* Starts a thread that feeds what fd delivers into COM1, waiting while the FIFO is full,
 * until end of file or until the VM stops.  fd < 0: no input. */
int console_input_start(struct console_input *in, struct vm *vm, int fd)
	__attribute__((warn_unused_result));
/* Joins the thread and gives the terminal back its settings. */
void console_input_stop(struct console_input *in);

#endif
