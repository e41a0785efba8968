/* The tiny runtime every guest in guests/ links against: port I/O, the serial console and
 * the exit port.  Freestanding: no libc, no SSE, no red zone. */
#ifndef GUEST_H
#define GUEST_H

#include <stdarg.h>
#include <stdint.h>

#include "hopvm/guest_abi.h"

/* Port I/O.  The memory clobber keeps the compiler's stores before an access that makes a
 * device read guest memory (fw_cfg's DMA, a virtqueue kick). */
static inline void outb(uint16_t port, uint8_t value)
{
	__asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port) : "memory");
}

static inline void outw(uint16_t port, uint16_t value)
{
	__asm__ volatile("outw %0, %1" : : "a"(value), "Nd"(port) : "memory");
}

static inline void outl(uint16_t port, uint32_t value)
{
	__asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port) : "memory");
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t value;

	__asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port) : "memory");
	return value;
}

static inline uint16_t inw(uint16_t port)
{
	uint16_t value;

	__asm__ volatile("inw %1, %0" : "=a"(value) : "Nd"(port) : "memory");
	return value;
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t value;

	__asm__ volatile("inl %1, %0" : "=a"(value) : "Nd"(port) : "memory");
	return value;
}

void serial_putc(char c);
void serial_puts(const char *s);
/* A small printf: %s %c %d %u %x %lu %lx %llu %llx %p and %%. */
void serial_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Ends the VM through the debug-exit port with the given status; never returns. */
__attribute__((noreturn)) void guest_exit(uint8_t status);

/* For guests built as Multiboot kernels: the end of the usable RAM that starts at 1 MiB,
 * below 4 GiB, from the loader's memory map (0 if there is no Multiboot information). */
uint64_t multiboot_ram_top(void);

/* For Multiboot guests: the end of the highest thing the loader left for the kernel (the
 * information, command line, modules, memory map, loader name), 0 without Multiboot.  Some
 * loaders (QEMU's -kernel) put them just above the image. */
uint64_t multiboot_loader_end(void);

/* For Multiboot guests: the number after "KEY=" on the command line, or fallback. */
unsigned long cmdline_value(const char *key, unsigned long fallback);
/* The same in a command line of "WORD KEY=N ..." words. */
unsigned long cmdline_find_value(const char *cmdline, const char *key, unsigned long fallback);

/* PCI configuration space of bus 0 (guests/lib/pci.c): a 32-bit register of a slot's
 * function 0, and the slot holding a device (ID register: device << 16 | vendor), or -1. */
uint32_t pci_config_read(unsigned slot, unsigned reg);
void pci_config_write(unsigned slot, unsigned reg, uint32_t value);
int pci_find(uint32_t vendor_device);

/* Each guest defines this; its return value becomes the exit status. */
int guest_main(void);

#endif
