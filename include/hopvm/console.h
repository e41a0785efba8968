/* The guest console: host input (hopvm's stdin) into COM1's receive FIFO.  Output goes the
 * other way through the UART's tx callback, in vm.c. */
#ifndef HOPVM_CONSOLE_H
#define HOPVM_CONSOLE_H

#include <pthread.h>
#include <stdbool.h>

struct vm;

struct console_input {
	struct vm *vm;
	int fd;
	pthread_t thread;
	bool running;
};

/* Starts a thread that feeds what fd delivers into COM1, waiting while the FIFO is full,
 * until end of file or until the VM stops.  fd < 0: no input. */
int console_input_start(struct console_input *in, struct vm *vm, int fd)
	__attribute__((warn_unused_result));
void console_input_stop(struct console_input *in);

#endif
