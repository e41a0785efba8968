#include <errno.h>
#include <string.h>

#include "hopvm/boot.h"
#include "hopvm/error.h"
#include "hopvm/x86.h"

#define CR0_PE (1ULL << 0)
#define CR0_MP (1ULL << 1)
#define CR0_ET (1ULL << 4)
#define CR0_NE (1ULL << 5)
#define CR0_WP (1ULL << 16)
#define CR0_PG (1ULL << 31)
#define CR4_PAE (1ULL << 5)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)

#define PTE_PRESENT (1ULL << 0)
#define PTE_WRITE (1ULL << 1)
#define PTE_LARGE (1ULL << 7)

/* Flat descriptors: base 0, limit 4 GiB, granularity 4 KiB. */
#define GDT_CODE64 0x00af9b000000ffffULL	/* present, DPL 0, execute/read, L=1 */
#define GDT_DATA 0x00cf93000000ffffULL	/* present, DPL 0, read/write, D/B=1 */
#define GDT_CODE32 0x00cf9b000000ffffULL	/* present, DPL 0, execute/read, D=1 */
#define TSS_LIMIT 0x67
#define TSS_TYPE_BUSY64 11

_Static_assert(X86_BOOT_PD_ADDR + X86_BOOT_IDENTITY_GIB * 4096 <= BOOT_AREA_END,
	       "page tables must fit in the boot area");

int x86_write_boot_gdt(struct guest_mem *mem, uint64_t gdt_addr)
{
	/* A 64-bit TSS descriptor takes two GDT slots; its base is 0 and nothing uses it, but
	 * VMX refuses to enter a guest whose TR is not a busy TSS. */
	const uint64_t gdt[X86_BOOT_GDT_SIZE / 8] = {
		0, GDT_CODE32, GDT_CODE64, GDT_DATA,
		TSS_LIMIT | ((uint64_t)(0x80 | TSS_TYPE_BUSY64) << 40), 0,
	};

	if (guest_mem_write(mem, gdt_addr, gdt, sizeof(gdt)) < 0)
		return err_set(-EFAULT, "guest RAM has no room for the boot GDT at 0x%llx",
			       (unsigned long long)gdt_addr);
	return 0;
}

int x86_write_boot_tables(struct guest_mem *mem)
{
	uint64_t pml4e = X86_BOOT_PDPT_ADDR | PTE_PRESENT | PTE_WRITE;
	uint64_t pdpt[X86_BOOT_IDENTITY_GIB];
	uint64_t pd[512];
	int ret = 0;

	ret |= guest_mem_zero(mem, 0, BOOT_AREA_END);
	ret |= x86_write_boot_gdt(mem, X86_BOOT_GDT_ADDR);
	ret |= guest_mem_write(mem, X86_BOOT_PML4_ADDR, &pml4e, sizeof(pml4e));
	for (unsigned g = 0; g < X86_BOOT_IDENTITY_GIB; g++) {
		uint64_t pd_addr = X86_BOOT_PD_ADDR + g * 4096ULL;

		pdpt[g] = pd_addr | PTE_PRESENT | PTE_WRITE;
		for (unsigned i = 0; i < 512; i++)
			pd[i] = (((uint64_t)g << 30) + ((uint64_t)i << 21)) | PTE_PRESENT |
				PTE_WRITE | PTE_LARGE;
		ret |= guest_mem_write(mem, pd_addr, pd, sizeof(pd));
	}
	ret |= guest_mem_write(mem, X86_BOOT_PDPT_ADDR, pdpt, sizeof(pdpt));
	if (ret != 0)
		return err_set(-EFAULT, "guest RAM is too small for the boot page tables");
	return 0;
}

static struct kvm_segment flat_segment(uint16_t selector, uint8_t type, uint8_t l, uint8_t db)
{
	return (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = selector, .type = type,
		.present = 1, .dpl = 0, .db = db, .s = 1, .l = l, .g = 1,
	};
}

/* Flat segments from the boot GDT with the given code segment, and its TSS and GDTR. */
static void boot_gdt_segments(struct kvm_sregs *sregs, struct kvm_segment code,
			      uint64_t gdt_addr)
{
	struct kvm_segment data = flat_segment(X86_SEL_DATA, 3, 0, 1);

	sregs->cs = code;
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;
	sregs->tr = (struct kvm_segment){
		.base = 0, .limit = TSS_LIMIT, .selector = X86_SEL_TSS,
		.type = TSS_TYPE_BUSY64, .present = 1,
	};
	sregs->ldt = (struct kvm_segment){ .unusable = 1, .type = 2, .present = 1 };
	sregs->gdt.base = gdt_addr;
	sregs->gdt.limit = X86_BOOT_GDT_SIZE - 1;
	sregs->idt.base = 0;
	sregs->idt.limit = 0;	/* no IDT yet: any exception before the guest loads one is fatal */
}

void x86_long_mode_sregs(struct kvm_sregs *sregs)
{
	boot_gdt_segments(sregs, flat_segment(X86_SEL_CODE64, 11, 1, 0), X86_BOOT_GDT_ADDR);
	sregs->cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	sregs->cr3 = X86_BOOT_PML4_ADDR;
	sregs->cr4 = CR4_PAE;
	sregs->efer = EFER_LME | EFER_LMA;
}

void x86_protected_mode_sregs(struct kvm_sregs *sregs, uint64_t gdt_addr)
{
	boot_gdt_segments(sregs, flat_segment(X86_SEL_CODE32, 11, 0, 1), gdt_addr);
	sregs->cr0 = CR0_PE | CR0_ET;
	sregs->cr3 = 0;
	sregs->cr4 = 0;
	sregs->efer = 0;
}

void x86_real_mode_sregs(struct kvm_sregs *sregs, uint16_t cs)
{
	sregs->cs.selector = cs;
	sregs->cs.base = (uint64_t)cs << 4;
	sregs->cs.limit = 0xffff;
}

#define CR0_CD (1ULL << 30)
#define CR0_NW (1ULL << 29)
#define APIC_DEFAULT_BASE 0xfee00000ULL
#define APIC_BASE_ENABLE (1ULL << 11)
#define APIC_BASE_BSP (1ULL << 8)

static struct kvm_segment real_segment(uint16_t selector, uint8_t type)
{
	return (struct kvm_segment){
		.base = (uint64_t)selector << 4, .limit = 0xffff, .selector = selector,
		.type = type, .present = 1, .s = 1,
	};
}

void x86_reset_sregs(struct kvm_sregs *sregs, uint16_t cs, bool bsp)
{
	memset(sregs, 0, sizeof(*sregs));
	sregs->cs = real_segment(cs, 11);	/* execute/read, accessed */
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = real_segment(0, 3);
	sregs->ldt = (struct kvm_segment){ .limit = 0xffff, .type = 2, .present = 1 };
	sregs->tr = (struct kvm_segment){ .limit = 0xffff, .type = 11, .present = 1 };
	sregs->gdt.limit = 0xffff;
	sregs->idt.limit = 0xffff;
	sregs->cr0 = CR0_CD | CR0_NW | CR0_ET;
	sregs->apic_base = APIC_DEFAULT_BASE | APIC_BASE_ENABLE | (bsp ? APIC_BASE_BSP : 0);
}

#define APIC_ID 0x20
#define APIC_VERSION 0x30
#define APIC_DFR 0xe0
#define APIC_SVR 0xf0
#define APIC_LVT_CMCI 0x2f0
#define APIC_LVT_FIRST 0x320	/* timer, thermal, performance, LINT0, LINT1, error */
#define APIC_LVT_LAST 0x370

static void lapic_put(struct kvm_lapic_state *lapic, unsigned reg, uint32_t v)
{
	memcpy(lapic->regs + reg, &v, sizeof(v));
}

void x86_lapic_reset(struct kvm_lapic_state *lapic, uint32_t apic_id)
{
	uint32_t version;

	memcpy(&version, lapic->regs + APIC_VERSION, sizeof(version));
	memset(lapic->regs, 0, sizeof(lapic->regs));
	lapic_put(lapic, APIC_ID, apic_id << 24);
	lapic_put(lapic, APIC_VERSION, version);
	lapic_put(lapic, APIC_DFR, 0xffffffffu);
	lapic_put(lapic, APIC_SVR, 0xff);
	lapic_put(lapic, APIC_LVT_CMCI, 1u << 16);
	for (unsigned reg = APIC_LVT_FIRST; reg <= APIC_LVT_LAST; reg += 0x10)
		lapic_put(lapic, reg, 1u << 16);
}

const struct x86_msr x86_boot_msrs[X86_BOOT_MSRS] = {
	{ 0x1a0, 1, "IA32_MISC_ENABLE" },	/* fast string operations */
	{ 0x174, 0, "IA32_SYSENTER_CS" },
	{ 0x175, 0, "IA32_SYSENTER_ESP" },
	{ 0x176, 0, "IA32_SYSENTER_EIP" },
	{ 0xc0000081, 0, "STAR" },
	{ 0xc0000082, 0, "LSTAR" },
	{ 0xc0000084, 0, "SYSCALL_MASK" },
	{ 0xc0000102, 0, "KERNEL_GS_BASE" },
};

#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_LVT_MASKED (1U << 16)
#define APIC_DM_NMI 0x400
#define APIC_DM_EXTINT 0x700

static void lapic_set_lvt(struct kvm_lapic_state *lapic, unsigned reg, uint32_t mode)
{
	uint32_t v;

	memcpy(&v, lapic->regs + reg, sizeof(v));
	v = (v & ~(APIC_LVT_MASKED | 0x700U)) | mode;
	memcpy(lapic->regs + reg, &v, sizeof(v));
}

void x86_lapic_virtual_wire(struct kvm_lapic_state *lapic)
{
	lapic_set_lvt(lapic, APIC_LVT_LINT0, APIC_DM_EXTINT);
	lapic_set_lvt(lapic, APIC_LVT_LINT1, APIC_DM_NMI);
}

void x86_pic_bios_state(struct kvm_pic_state *pic, bool slave)
{
	pic->irq_base = slave ? X86_BIOS_PIC_SLAVE_BASE : X86_BIOS_PIC_MASTER_BASE;
	pic->init_state = 0;		/* ICW1 to ICW4 given */
	pic->init4 = 1;			/* ICW4: 8086 mode, normal EOI, fully nested */
	pic->auto_eoi = 0;
	pic->rotate_on_auto_eoi = 0;
	pic->special_fully_nested_mode = 0;
	pic->special_mask = 0;
	pic->poll = 0;
	pic->read_reg_select = 0;	/* OCW3 reads give the IRR */
	pic->priority_add = 0;
	pic->imr = 0;
	pic->elcr = 0;			/* every line edge-triggered */
}

void x86_boot_regs(struct kvm_regs *regs, uint64_t entry)
{
	memset(regs, 0, sizeof(*regs));
	regs->rip = entry;
	regs->rflags = 0x2;	/* bit 1 is reserved and always set; IF clear */
}

bool x86_double_fault_undeliverable(const struct kvm_sregs *sregs)
{
	/* Real mode's vectors are 4 bytes, protected mode's gates 8, long mode's 16. */
	unsigned gate = !(sregs->cr0 & CR0_PE) ? 4 : (sregs->efer & EFER_LMA) ? 16 : 8;

	return sregs->idt.limit < (X86_VECTOR_DOUBLE_FAULT + 1) * gate - 1;
}
