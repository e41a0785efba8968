#include <stdbool.h>

#include "guest.h"

#define LSR_OFFSET 5
#define LSR_THR_EMPTY 0x20

void serial_putc(char c)
{
	if (c == '\n')
		serial_putc('\r');
	while (!(inb(GUEST_ABI_COM1_PORT + LSR_OFFSET) & LSR_THR_EMPTY))
		;
	outb(GUEST_ABI_COM1_PORT, (uint8_t)c);
}

void serial_puts(const char *s)
{
	while (*s)
		serial_putc(*s++);
}

static void put_unsigned(unsigned long long value, unsigned base)
{
	char digits[24];
	int n = 0;

	do {
		digits[n++] = "0123456789abcdef"[value % base];
		value /= base;
	} while (value != 0);
	while (n > 0)
		serial_putc(digits[--n]);
}

void serial_printf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	for (; *fmt; fmt++) {
		int longs = 0;

		if (*fmt != '%') {
			serial_putc(*fmt);
			continue;
		}
		while (*++fmt == 'l')
			longs++;
		switch (*fmt) {
		case 's':
			serial_puts(va_arg(ap, const char *));
			break;
		case 'c':
			serial_putc((char)va_arg(ap, int));
			break;
		case 'd': {
			long long v = longs ? va_arg(ap, long long) : va_arg(ap, int);

			if (v < 0) {
				serial_putc('-');
				put_unsigned(0ULL - (unsigned long long)v, 10);
			} else {
				put_unsigned((unsigned long long)v, 10);
			}
			break;
		}
		case 'u':
		case 'x': {
			unsigned long long v = longs ? va_arg(ap, unsigned long long)
						     : va_arg(ap, unsigned int);

			put_unsigned(v, *fmt == 'u' ? 10 : 16);
			break;
		}
		case 'p':
			serial_puts("0x");
			put_unsigned((unsigned long long)(uintptr_t)va_arg(ap, void *), 16);
			break;
		case '%':
			serial_putc('%');
			break;
		default:
			return;	/* an unknown conversion: stop rather than misread the arguments */
		}
	}
	va_end(ap);
}
