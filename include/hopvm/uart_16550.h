/* A 16550A UART (the PC's COM1), modelled as pure logic.
 *
 * The model knows nothing of KVM or file descriptors: transmitted bytes go to a tx callback,
 * interrupt line changes to an irq callback, and received bytes come in through
 * uart_16550_receive().  That keeps it drivable from a unit test.  Transmission is instant, so
 * the transmitter is always empty; received bytes wait in a 16-byte FIFO as on the real chip.
 * A mutex inside makes it safe to use from vCPU threads and an input thread at once. */
#ifndef HOPVM_UART_16550_H
#define HOPVM_UART_16550_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hopvm/device.h"

#define UART_16550_NR_PORTS 8
#define UART_16550_FIFO_SIZE 16

struct uart_16550 {
	pthread_mutex_t lock;

	uint8_t ier, lcr, mcr, scr, fcr;
	uint8_t dll, dlm;
	bool thr_empty_pending;	/* the THR-empty interrupt, until IIR is read or THR written */

	uint8_t rx_fifo[UART_16550_FIFO_SIZE];
	unsigned rx_head, rx_count;

	int irq_level;		/* the level last passed to irq(), to report only changes */

	void (*tx)(void *ctx, uint8_t byte);
	void (*irq)(void *ctx, int level);
	void *ctx;
};

/* irq may be NULL (no interrupt line).  The UART starts in its power-on state. */
void uart_16550_init(struct uart_16550 *uart, void (*tx)(void *ctx, uint8_t byte),
		     void (*irq)(void *ctx, int level), void *ctx);
void uart_16550_destroy(struct uart_16550 *uart);

/* Offers received bytes to the FIFO; returns how many it took (0 when full). */
size_t uart_16550_receive(struct uart_16550 *uart, const uint8_t *bytes, size_t len);

int uart_16550_read(void *dev, uint64_t offset, uint8_t *data, unsigned size);
int uart_16550_write(void *dev, uint64_t offset, const uint8_t *data, unsigned size);
void uart_16550_reset(void *dev);
int uart_16550_save(void *dev, uint8_t *buf, size_t len);
int uart_16550_load(void *dev, const uint8_t *buf, size_t len);

extern const struct device_ops uart_16550_ops;

#endif
