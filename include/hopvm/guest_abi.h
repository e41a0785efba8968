/* The few facts hopvm and the guests in guests/ both rely on.
 * Guests include this file too, so it holds plain #defines only. */
#ifndef HOPVM_GUEST_ABI_H
#define HOPVM_GUEST_ABI_H

/* COM1, a 16550 UART: the guest's console. */
#define GUEST_ABI_COM1_PORT 0x3f8
#define GUEST_ABI_COM1_IRQ 4

/* The PC's keyboard controller (data 0x60, command and status 0x64; its reset line ends the
 * VM) and CMOS clock (index 0x70, data 0x71). */
#define GUEST_ABI_I8042_PORT 0x60
#define GUEST_ABI_KEYBOARD_IRQ 1
#define GUEST_ABI_RTC_PORT 0x70

/* The port of QEMU's isa-debug-exit device: a write of V ends the VM with status V, so test
 * kernels written for QEMU run unchanged. */
#define GUEST_ABI_DEBUG_EXIT_PORT 0xf4

/* ELF guests are linked here (1 MiB): everything below is hopvm's boot area. */
#define GUEST_ABI_ELF_LOAD_ADDR 0x100000

#endif
