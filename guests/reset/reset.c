/* Resets the machine the way Linux does by default: command 0xfe to the keyboard controller
 * pulses the CPU's reset line. */
#include "guest.h"

#define I8042_COMMAND_PORT 0x64
#define I8042_PULSE_RESET 0xfe

int guest_main(void)
{
	serial_puts("reset: booted, resetting the machine\n");
	outb(I8042_COMMAND_PORT, I8042_PULSE_RESET);
	serial_puts("reset: UNEXPECTED: still running after the reset\n");
	return 1;
}
