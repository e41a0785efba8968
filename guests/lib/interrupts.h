/* Interrupts for guests: an IDT with a handler per vector, the 8259 PICs and the IOAPIC. */
#ifndef GUEST_INTERRUPTS_H
#define GUEST_INTERRUPTS_H

#include <stdint.h>

#define PIC_VECTOR_BASE 0x20	/* IRQ n arrives as vector 0x20 + n */

struct int_frame {
	uint64_t r11, r10, r9, r8, rdi, rsi, rdx, rcx, rax;
	uint64_t vector, error_code;
	uint64_t rip, cs, rflags, rsp, ss;
};

typedef void (*int_handler)(struct int_frame *frame);

/* Loads an IDT whose vectors all go to interrupt_dispatch(); an exception without a handler
 * prints what happened and ends the VM with status 3. */
void idt_init(void);
/* Loads the IDT idt_init() filled, on another CPU.  Its gates name the code segment of the
 * CPU that filled it, which an AP started through guests/lib/smp.c need not share (hopvm's
 * boot GDT is not ap_boot.S's): such an AP first takes that CPU's GDT and segments. */
void idt_load(void);
void idt_set_handler(uint8_t vector, int_handler handler);

/* Remaps both PICs to PIC_VECTOR_BASE with every IRQ masked. */
void pic_init(void);
void pic_unmask(unsigned irq);
void pic_eoi(unsigned irq);

static inline void interrupts_enable(void)
{
	__asm__ volatile("sti" ::: "memory");
}

static inline void interrupts_disable(void)
{
	__asm__ volatile("cli" ::: "memory");
}

/* Waits for the next interrupt: enables interrupts and halts in one step, so an interrupt
 * between the two cannot be missed. */
static inline void wait_for_interrupt(void)
{
	__asm__ volatile("sti; hlt; cli" ::: "memory");
}

#endif
