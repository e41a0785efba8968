#include "guest.h"
#include "interrupts.h"

#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xa0
#define PIC2_DATA 0xa1

struct idt_entry {
	uint16_t offset_low;
	uint16_t selector;
	uint8_t ist;
	uint8_t type;
	uint16_t offset_mid;
	uint32_t offset_high;
	uint32_t reserved;
} __attribute__((packed));

extern const char isr_stubs[];
static struct idt_entry idt[256] __attribute__((aligned(16)));
static int_handler handlers[256];

void interrupt_dispatch(struct int_frame *frame);

void interrupt_dispatch(struct int_frame *frame)
{
	int_handler h = handlers[frame->vector & 0xff];

	if (h) {
		h(frame);
		return;
	}
	serial_printf("unexpected interrupt %lu (error code 0x%lx) at RIP 0x%lx\n",
		      (unsigned long)frame->vector, (unsigned long)frame->error_code,
		      (unsigned long)frame->rip);
	guest_exit(3);
}

/* The GDT and segments of the CPU that filled the IDT: its gates name that code selector. */
static struct __attribute__((packed)) {
	uint16_t limit;
	uint64_t base;
} filler_gdtr;
static uint16_t filler_cs, filler_ss;

void idt_load(void)
{
	struct __attribute__((packed)) {
		uint16_t limit;
		uint64_t base;
	} idtr = { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };
	uint16_t cs;

	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	if (cs != filler_cs)	/* another GDT (an AP's from ap_boot.S): take the filler's */
		__asm__ volatile("lgdt %0\n\t"
				 "pushq %q1\n\t"
				 "leaq 1f(%%rip), %%rax\n\t"
				 "pushq %%rax\n\t"
				 "lretq\n"
				 "1:\n\t"
				 "mov %w2, %%ss\n\t"
				 "mov %w2, %%ds\n\t"
				 "mov %w2, %%es"
				 : : "m"(filler_gdtr), "r"((uint64_t)filler_cs), "r"(filler_ss)
				 : "rax", "memory");
	__asm__ volatile("lidt %0" : : "m"(idtr));
}

void idt_init(void)
{
	uint16_t cs;

	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	__asm__ volatile("sgdt %0; mov %%ss, %1" : "=m"(filler_gdtr), "=r"(filler_ss));
	filler_cs = cs;
	for (unsigned v = 0; v < 256; v++) {
		uint64_t addr = (uint64_t)(uintptr_t)(isr_stubs + 16 * v);

		idt[v] = (struct idt_entry){
			.offset_low = (uint16_t)addr, .selector = cs, .type = 0x8e,
			.offset_mid = (uint16_t)(addr >> 16), .offset_high = (uint32_t)(addr >> 32),
		};
	}
	idt_load();
}

void idt_set_handler(uint8_t vector, int_handler handler)
{
	handlers[vector] = handler;
}

void pic_init(void)
{
	outb(PIC1_CMD, 0x11);	/* ICW1: edge, cascade, ICW4 follows */
	outb(PIC2_CMD, 0x11);
	outb(PIC1_DATA, PIC_VECTOR_BASE);
	outb(PIC2_DATA, PIC_VECTOR_BASE + 8);
	outb(PIC1_DATA, 0x04);	/* the slave hangs off IRQ 2 */
	outb(PIC2_DATA, 0x02);
	outb(PIC1_DATA, 0x01);	/* 8086 mode */
	outb(PIC2_DATA, 0x01);
	outb(PIC1_DATA, 0xfb);	/* all masked but the cascade */
	outb(PIC2_DATA, 0xff);
}

void pic_unmask(unsigned irq)
{
	uint16_t port = irq < 8 ? PIC1_DATA : PIC2_DATA;

	outb(port, inb(port) & (uint8_t)~(1u << (irq & 7)));
}

void pic_eoi(unsigned irq)
{
	if (irq >= 8)
		outb(PIC2_CMD, 0x20);
	outb(PIC1_CMD, 0x20);
}
