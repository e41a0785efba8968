#include <errno.h>
#include <string.h>

#include "hopvm/device_state.h"
#include "hopvm/error.h"
#include "hopvm/uart_16550.h"

/* Register offsets (DLAB is bit 7 of LCR and swaps in the divisor latch at 0 and 1). */
enum { REG_DATA, REG_IER, REG_IIR_FCR, REG_LCR, REG_MCR, REG_LSR, REG_MSR, REG_SCR };

#define IER_RX_DATA 0x01
#define IER_THR_EMPTY 0x02
#define IER_MASK 0x0f
#define IIR_NONE 0x01
#define IIR_THR_EMPTY 0x02
#define IIR_RX_DATA 0x04
#define IIR_FIFO_ON 0xc0
#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define LCR_DLAB 0x80
#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08	/* on a PC, gates the interrupt line */
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f
#define LSR_DATA_READY 0x01
#define LSR_THR_EMPTY 0x20
#define LSR_TX_EMPTY 0x40
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

static uint8_t uart_iir(const struct uart_16550 *uart)
{
	uint8_t fifo = (uart->fcr & FCR_ENABLE) ? IIR_FIFO_ON : 0;

	if ((uart->ier & IER_RX_DATA) && uart->rx_count > 0)
		return fifo | IIR_RX_DATA;
	if ((uart->ier & IER_THR_EMPTY) && uart->thr_empty_pending)
		return fifo | IIR_THR_EMPTY;
	return fifo | IIR_NONE;
}

/* Recomputes the interrupt line and reports a change.  Called with the lock held. */
static void uart_update_irq(struct uart_16550 *uart)
{
	int level = !(uart_iir(uart) & IIR_NONE) && (uart->mcr & MCR_OUT2);

	if (level != uart->irq_level) {
		uart->irq_level = level;
		if (uart->irq)
			uart->irq(uart->ctx, level);
	}
}

static void rx_push(struct uart_16550 *uart, uint8_t byte)
{
	if (uart->rx_count == UART_16550_FIFO_SIZE)
		return;	/* overrun: the byte is lost, as on the chip */
	uart->rx_fifo[(uart->rx_head + uart->rx_count) % UART_16550_FIFO_SIZE] = byte;
	uart->rx_count++;
}

static uint8_t rx_pop(struct uart_16550 *uart)
{
	uint8_t byte;

	if (uart->rx_count == 0)
		return 0;
	byte = uart->rx_fifo[uart->rx_head];
	uart->rx_head = (uart->rx_head + 1) % UART_16550_FIFO_SIZE;
	uart->rx_count--;
	return byte;
}

static uint8_t uart_msr(const struct uart_16550 *uart)
{
	uint8_t msr = 0;

	if (!(uart->mcr & MCR_LOOP))
		return MSR_DCD | MSR_DSR | MSR_CTS;	/* a cable with a listener attached */
	/* Loopback wires the modem outputs to the inputs; Linux's probe checks exactly this. */
	if (uart->mcr & MCR_RTS)
		msr |= MSR_CTS;
	if (uart->mcr & MCR_DTR)
		msr |= MSR_DSR;
	if (uart->mcr & MCR_OUT1)
		msr |= MSR_RI;
	if (uart->mcr & MCR_OUT2)
		msr |= MSR_DCD;
	return msr;
}

static void uart_power_on(struct uart_16550 *uart)
{
	uart->ier = uart->lcr = uart->mcr = uart->scr = uart->fcr = 0;
	uart->dll = 12;	/* 9600 baud */
	uart->dlm = 0;
	uart->thr_empty_pending = false;
	uart->rx_head = uart->rx_count = 0;
	uart->irq_level = 0;
}

void uart_16550_init(struct uart_16550 *uart, void (*tx)(void *ctx, uint8_t byte),
		     void (*irq)(void *ctx, int level), void *ctx)
{
	memset(uart, 0, sizeof(*uart));
	pthread_mutex_init(&uart->lock, NULL);
	uart->tx = tx;
	uart->irq = irq;
	uart->ctx = ctx;
	uart_power_on(uart);
}

void uart_16550_destroy(struct uart_16550 *uart)
{
	pthread_mutex_destroy(&uart->lock);
}

void uart_16550_reset(void *dev)
{
	struct uart_16550 *uart = dev;

	pthread_mutex_lock(&uart->lock);
	uart_power_on(uart);
	if (uart->irq)
		uart->irq(uart->ctx, 0);
	pthread_mutex_unlock(&uart->lock);
}

size_t uart_16550_receive(struct uart_16550 *uart, const uint8_t *bytes, size_t len)
{
	size_t taken = 0;

	pthread_mutex_lock(&uart->lock);
	/* In loopback the receiver listens to the transmitter only. */
	if (!(uart->mcr & MCR_LOOP)) {
		while (taken < len && uart->rx_count < UART_16550_FIFO_SIZE)
			rx_push(uart, bytes[taken++]);
		uart_update_irq(uart);
	}
	pthread_mutex_unlock(&uart->lock);
	return taken;
}

static uint8_t uart_read_reg(struct uart_16550 *uart, unsigned reg)
{
	uint8_t iir;

	switch (reg) {
	case REG_DATA:
		return (uart->lcr & LCR_DLAB) ? uart->dll : rx_pop(uart);
	case REG_IER:
		return (uart->lcr & LCR_DLAB) ? uart->dlm : uart->ier;
	case REG_IIR_FCR:
		iir = uart_iir(uart);
		/* Reading IIR while it reports THR empty acknowledges that interrupt. */
		if ((iir & 0x0f) == IIR_THR_EMPTY)
			uart->thr_empty_pending = false;
		return iir;
	case REG_LCR:
		return uart->lcr;
	case REG_MCR:
		return uart->mcr;
	case REG_LSR:
		return LSR_THR_EMPTY | LSR_TX_EMPTY | (uart->rx_count ? LSR_DATA_READY : 0);
	case REG_MSR:
		return uart_msr(uart);
	default:
		return uart->scr;
	}
}

static void uart_write_reg(struct uart_16550 *uart, unsigned reg, uint8_t value)
{
	switch (reg) {
	case REG_DATA:
		if (uart->lcr & LCR_DLAB) {
			uart->dll = value;
			break;
		}
		/* Writing THR acknowledges the THR-empty interrupt; the byte leaves at once and
		 * THR is empty again.  Dropping the line in between gives an edge-triggered PIC
		 * the fresh edge it needs to interrupt again. */
		uart->thr_empty_pending = false;
		uart_update_irq(uart);
		if (uart->mcr & MCR_LOOP)
			rx_push(uart, value);
		else if (uart->tx)
			uart->tx(uart->ctx, value);
		uart->thr_empty_pending = true;
		break;
	case REG_IER:
		if (uart->lcr & LCR_DLAB) {
			uart->dlm = value;
			break;
		}
		/* Enabling the THR-empty interrupt while THR is empty raises it (drivers rely on
		 * this to start transmitting). */
		if (!(uart->ier & IER_THR_EMPTY) && (value & IER_THR_EMPTY))
			uart->thr_empty_pending = true;
		uart->ier = value & IER_MASK;
		break;
	case REG_IIR_FCR:
		if (value & FCR_CLEAR_RX)
			uart->rx_head = uart->rx_count = 0;
		uart->fcr = value & (FCR_ENABLE | 0xc0);
		break;
	case REG_LCR:
		uart->lcr = value;
		break;
	case REG_MCR:
		uart->mcr = value & MCR_MASK;
		break;
	case REG_LSR:
	case REG_MSR:
		break;	/* read-only on the 16550A */
	default:
		uart->scr = value;
		break;
	}
}

/* The UART's registers are bytes; wider accesses are refused, as the chip has no such cycle. */
int uart_16550_read(void *dev, uint64_t offset, uint8_t *data, unsigned size)
{
	struct uart_16550 *uart = dev;

	if (size != 1 || offset >= UART_16550_NR_PORTS)
		return -EINVAL;
	pthread_mutex_lock(&uart->lock);
	*data = uart_read_reg(uart, (unsigned)offset);
	uart_update_irq(uart);
	pthread_mutex_unlock(&uart->lock);
	return 0;
}

int uart_16550_write(void *dev, uint64_t offset, const uint8_t *data, unsigned size)
{
	struct uart_16550 *uart = dev;

	if (size != 1 || offset >= UART_16550_NR_PORTS)
		return -EINVAL;
	pthread_mutex_lock(&uart->lock);
	uart_write_reg(uart, (unsigned)offset, *data);
	uart_update_irq(uart);
	pthread_mutex_unlock(&uart->lock);
	return 0;
}

/* State format 1: ier lcr mcr scr fcr dll dlm, THR-empty pending, the receive FIFO (16 bytes),
 * its head and count, the interrupt line's level; one byte each. */
int uart_16550_save(void *dev, uint8_t *buf, size_t len)
{
	struct uart_16550 *uart = dev;
	struct state_buf s;
	const uint8_t regs[] = { uart->ier, uart->lcr, uart->mcr, uart->scr, uart->fcr,
				 uart->dll, uart->dlm };

	state_writer(&s, buf, len);
	pthread_mutex_lock(&uart->lock);
	state_put_bytes(&s, regs, sizeof(regs));
	state_put_u8(&s, uart->thr_empty_pending);
	state_put_bytes(&s, uart->rx_fifo, sizeof(uart->rx_fifo));
	state_put_u8(&s, (uint8_t)uart->rx_head);
	state_put_u8(&s, (uint8_t)uart->rx_count);
	state_put_u8(&s, (uint8_t)uart->irq_level);
	pthread_mutex_unlock(&uart->lock);
	return state_saved(&s);
}

int uart_16550_load(void *dev, const uint8_t *buf, size_t len)
{
	struct uart_16550 *uart = dev;
	struct state_buf s;
	uint8_t regs[7], fifo[UART_16550_FIFO_SIZE], thr_pending, head, count, level;
	int ret;

	state_reader(&s, buf, len);
	state_get_bytes(&s, regs, sizeof(regs));
	thr_pending = state_get_u8(&s);
	state_get_bytes(&s, fifo, sizeof(fifo));
	head = state_get_u8(&s);
	count = state_get_u8(&s);
	level = state_get_u8(&s);
	ret = state_loaded(&s, "uart-16550");
	if (ret < 0)
		return ret;
	if ((regs[0] & ~IER_MASK) || (regs[2] & ~MCR_MASK) || (regs[4] & ~(FCR_ENABLE | 0xc0)) ||
	    thr_pending > 1 || head >= UART_16550_FIFO_SIZE || count > UART_16550_FIFO_SIZE ||
	    level > 1)
		return err_set(-EINVAL, "uart-16550 state: a register or the FIFO holds a value "
			       "the chip cannot (ier 0x%x, mcr 0x%x, fcr 0x%x, fifo %u at %u)",
			       regs[0], regs[2], regs[4], count, head);
	pthread_mutex_lock(&uart->lock);
	uart->ier = regs[0];
	uart->lcr = regs[1];
	uart->mcr = regs[2];
	uart->scr = regs[3];
	uart->fcr = regs[4];
	uart->dll = regs[5];
	uart->dlm = regs[6];
	uart->thr_empty_pending = thr_pending;
	memcpy(uart->rx_fifo, fifo, sizeof(fifo));
	uart->rx_head = head;
	uart->rx_count = count;
	/* The line's level travels with the interrupt controller's state; only remember it. */
	uart->irq_level = level;
	pthread_mutex_unlock(&uart->lock);
	return 0;
}

const struct device_ops uart_16550_ops = {
	.name = "uart-16550",
	.read = uart_16550_read,
	.write = uart_16550_write,
	.reset = uart_16550_reset,
	.state_version = 1,
	.save = uart_16550_save,
	.load = uart_16550_load,
};
