/* Touches ports and memory where nothing is: reads must return all-ones and writes must
 * vanish, as on a PC with an empty bus; the guest keeps running. */
#include "guest.h"

#define EMPTY_PORT 0x2f8	/* COM2: not fitted */
#define EMPTY_PORT_WIDE 0x3e8	/* COM3: not fitted either, read 32 bits wide */
#define EMPTY_MMIO 0xd0000000UL	/* in the 32-bit hole, no device */


int guest_main(void)
{
	volatile uint32_t *mmio = (volatile uint32_t *)EMPTY_MMIO;
	unsigned bad = 0;

	for (int i = 0; i < 3; i++) {
		outb(EMPTY_PORT, 0x55);
		bad += inb(EMPTY_PORT) != 0xff;
		bad += inl(EMPTY_PORT_WIDE) != 0xffffffffu;
		mmio[0] = 0x12345678;
		bad += mmio[0] != 0xffffffffu;
	}
	serial_printf("unmapped: %u unexpected values\n", bad);
	return bad == 0 ? 0 : 1;
}
