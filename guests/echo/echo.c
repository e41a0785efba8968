/* Interrupt-driven serial I/O: waits (halted) for COM1's receive interrupts until a line
 * arrives from hopvm's stdin, then sends the reply one byte per transmit-empty interrupt.
 * Both interrupts travel as IRQ 4 through KVM_IRQ_LINE and the in-kernel PIC. */
#include "guest.h"
#include "interrupts.h"

#define IER 1
#define IIR 2
#define MCR 4
#define LSR 5
#define IER_RX 0x01
#define IER_THR 0x02
#define MCR_OUT2 0x08

static char line[128], reply[192];
static volatile unsigned line_len, reply_pos, reply_len;
static volatile unsigned rx_interrupts, tx_interrupts;
static volatile int line_done;

static void com1_interrupt(struct int_frame *frame)
{
	uint8_t iir;

	(void)frame;
	while (!((iir = inb(GUEST_ABI_COM1_PORT + IIR)) & 1)) {
		if ((iir & 0x0e) == 0x04) {
			rx_interrupts++;
			while (inb(GUEST_ABI_COM1_PORT + LSR) & 1) {
				char c = (char)inb(GUEST_ABI_COM1_PORT);

				if (c == '\n')
					line_done = 1;
				else if (line_len < sizeof(line) - 1)
					line[line_len++] = c;
			}
		} else if ((iir & 0x0e) == 0x02) {
			/* One byte per interrupt: the next one must come as a fresh interrupt. */
			tx_interrupts++;
			if (reply_pos < reply_len)
				outb(GUEST_ABI_COM1_PORT, (uint8_t)reply[reply_pos++]);
			else
				outb(GUEST_ABI_COM1_PORT + IER, IER_RX);	/* all sent */
			break;
		}
	}
	pic_eoi(GUEST_ABI_COM1_IRQ);
}

static void append(const char *s)
{
	while (*s && reply_len < sizeof(reply) - 1)
		reply[reply_len++] = *s++;
}

int guest_main(void)
{
	idt_init();
	pic_init();
	idt_set_handler(PIC_VECTOR_BASE + GUEST_ABI_COM1_IRQ, com1_interrupt);
	pic_unmask(GUEST_ABI_COM1_IRQ);
	outb(GUEST_ABI_COM1_PORT + MCR, MCR_OUT2);
	outb(GUEST_ABI_COM1_PORT + IER, IER_RX);
	serial_puts("echo: waiting for a line\n");
	while (!line_done)
		wait_for_interrupt();

	line[line_len] = '\0';
	append("echo: ");
	append(line);
	append("\r\n");
	/* Enabling the THR-empty interrupt while THR is empty raises it at once. */
	outb(GUEST_ABI_COM1_PORT + IER, IER_RX | IER_THR);
	while (reply_pos < reply_len)
		wait_for_interrupt();
	while (!(inb(GUEST_ABI_COM1_PORT + LSR) & 0x40))
		;
	serial_printf("echo: %u receive and %u transmit interrupts\n", rx_interrupts,
		      tx_interrupts);
	return rx_interrupts > 0 && tx_interrupts >= reply_len ? 0 : 1;
}
