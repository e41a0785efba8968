#include <errno.h>

#include "hopvm/uart_16550.h"
#include "unit.h"

enum { DATA, IER, IIR, LCR, MCR, LSR, MSR, SCR };

struct host {
	char out[64];
	size_t nout;
	int irq_level;
	int irq_changes;
};

static void host_tx(void *ctx, uint8_t byte)
{
	struct host *h = ctx;

	if (h->nout < sizeof(h->out))
		h->out[h->nout++] = (char)byte;
}

static void host_irq(void *ctx, int level)
{
	struct host *h = ctx;

	h->irq_level = level;
	h->irq_changes++;
}

static uint8_t rd(struct uart_16550 *u, unsigned reg)
{
	uint8_t v = 0;

	assert_int_equal(uart_16550_read(u, reg, &v, 1), 0);
	return v;
}

static void wr(struct uart_16550 *u, unsigned reg, uint8_t v)
{
	assert_int_equal(uart_16550_write(u, reg, &v, 1), 0);
}

static int setup(void **state)
{
	static struct uart_16550 uart;
	static struct host host;

	memset(&host, 0, sizeof(host));
	uart_16550_init(&uart, host_tx, host_irq, &host);
	state[0] = &uart;
	return 0;
}

static int teardown(void **state)
{
	uart_16550_destroy(state[0]);
	return 0;
}

static struct host *host_of(struct uart_16550 *u)
{
	return u->ctx;
}

static void test_transmit_and_line_status(void **state)
{
	struct uart_16550 *u = state[0];

	assert_int_equal(rd(u, LSR) & 0x61, 0x60);	/* THR and transmitter empty, no data */
	wr(u, DATA, 'h');
	wr(u, DATA, 'i');
	assert_int_equal(host_of(u)->nout, 2);
	assert_memory_equal(host_of(u)->out, "hi", 2);
	assert_int_equal(rd(u, IIR) & 0x0f, 0x01);	/* no interrupt enabled, none pending */
}

static void test_divisor_latch_and_scratch(void **state)
{
	struct uart_16550 *u = state[0];

	wr(u, LCR, 0x83);
	wr(u, DATA, 0x01);	/* 115200 baud */
	wr(u, IER, 0x00);
	assert_int_equal(rd(u, DATA), 0x01);
	assert_int_equal(rd(u, IER), 0x00);
	wr(u, LCR, 0x03);
	assert_int_equal(host_of(u)->nout, 0);	/* divisor writes are not data */
	assert_int_equal(rd(u, LCR), 0x03);
	wr(u, SCR, 0xa5);
	assert_int_equal(rd(u, SCR), 0xa5);
}

static void test_loopback_as_linux_probes_it(void **state)
{
	struct uart_16550 *u = state[0];

	wr(u, MCR, 0x1a);	/* loop, OUT2, RTS */
	assert_int_equal(rd(u, MSR) & 0xf0, 0x90);	/* DCD and CTS */
	wr(u, MCR, 0x1f);
	assert_int_equal(rd(u, MSR) & 0xf0, 0xf0);
	wr(u, DATA, 'x');
	assert_int_equal(host_of(u)->nout, 0);	/* looped back, not sent */
	assert_int_equal(rd(u, LSR) & 0x01, 0x01);
	assert_int_equal(rd(u, DATA), 'x');
	wr(u, MCR, 0x0b);
	assert_int_equal(rd(u, MSR) & 0xb0, 0xb0);	/* cable present again */
}

static void test_receive_fifo(void **state)
{
	struct uart_16550 *u = state[0];
	uint8_t many[20];

	for (unsigned i = 0; i < sizeof(many); i++)
		many[i] = (uint8_t)('a' + i);
	assert_int_equal(uart_16550_receive(u, many, sizeof(many)), UART_16550_FIFO_SIZE);
	assert_int_equal(uart_16550_receive(u, many, 1), 0);
	for (unsigned i = 0; i < UART_16550_FIFO_SIZE; i++) {
		assert_int_equal(rd(u, LSR) & 0x01, 0x01);
		assert_int_equal(rd(u, DATA), 'a' + i);
	}
	assert_int_equal(rd(u, LSR) & 0x01, 0x00);
	uart_16550_receive(u, many, 3);
	wr(u, IIR, 0x03);	/* FIFO on, clear receive FIFO */
	assert_int_equal(rd(u, LSR) & 0x01, 0x00);
}

static void test_interrupts(void **state)
{
	struct uart_16550 *u = state[0];
	struct host *h = host_of(u);
	const uint8_t byte = 'z';

	wr(u, IER, 0x03);	/* receive and THR-empty interrupts */
	assert_int_equal(h->irq_level, 0);	/* OUT2 gates the line on a PC */
	wr(u, MCR, 0x08);
	assert_int_equal(h->irq_level, 1);
	assert_int_equal(rd(u, IIR), 0x02);	/* THR empty; reading acknowledges it */
	assert_int_equal(h->irq_level, 0);
	assert_int_equal(rd(u, IIR), 0x01);
	h->irq_changes = 0;
	wr(u, DATA, 'q');	/* the line drops and rises again: a fresh edge */
	assert_int_equal(h->irq_changes, 1);
	assert_int_equal(h->irq_level, 1);
	uart_16550_receive(u, &byte, 1);
	assert_int_equal(rd(u, IIR), 0x04);	/* received data outranks THR empty */
	assert_int_equal(rd(u, DATA), 'z');
	assert_int_equal(rd(u, IIR), 0x02);
	wr(u, IIR, 0x01);
	assert_int_equal(rd(u, IIR), 0xc1);	/* FIFO-enabled bits */
	wr(u, IER, 0);
	assert_int_equal(h->irq_level, 0);
}

static void test_refused_accesses_and_reset(void **state)
{
	struct uart_16550 *u = state[0];
	uint8_t wide[2] = { 0 };

	assert_int_equal(uart_16550_read(u, 0, wide, 2), -EINVAL);
	assert_int_equal(uart_16550_write(u, 0, wide, 2), -EINVAL);
	assert_int_equal(uart_16550_read(u, 8, wide, 1), -EINVAL);
	wr(u, SCR, 0x11);
	wr(u, LCR, 0x1b);
	uart_16550_reset(u);
	assert_int_equal(rd(u, SCR), 0);
	assert_int_equal(rd(u, LCR), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_transmit_and_line_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_divisor_latch_and_scratch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loopback_as_linux_probes_it, setup, teardown),
		cmocka_unit_test_setup_teardown(test_receive_fifo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_accesses_and_reset, setup, teardown),
	};
	return cmocka_run_group_tests_name("uart_16550", tests, NULL, NULL);
}
