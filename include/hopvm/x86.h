/* x86 machine set-up that firmware or a boot loader would do: the boot area's GDT and page
 * tables, and the vCPU registers for entering a guest in 64-bit long mode.
 *
 * Boot area layout (guest-physical, all below BOOT_AREA_END):
 *   0x0500  GDT: null, 32-bit code (0x08), 64-bit code (0x10), data (0x18), TSS (0x20): the
 *           code and data selectors Linux's 64-bit boot protocol asks for (__BOOT_CS, __BOOT_DS)
 *   0x1000  PML4, 0x2000 PDPT, 0x3000-0x6fff four page directories: 0-4 GiB identity-mapped
 *           with 2 MiB pages, so the MMIO hole (LAPIC, IOAPIC) is reachable too. */
#ifndef HOPVM_X86_H
#define HOPVM_X86_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "hopvm/memory.h"

#define X86_BOOT_GDT_ADDR 0x500ULL
#define X86_BOOT_PML4_ADDR 0x1000ULL
#define X86_BOOT_PDPT_ADDR 0x2000ULL
#define X86_BOOT_PD_ADDR 0x3000ULL
#define X86_BOOT_IDENTITY_GIB 4

#define X86_SEL_CODE32 0x08
#define X86_SEL_CODE64 0x10
#define X86_SEL_DATA 0x18
#define X86_SEL_TSS 0x20

/* KVM needs three pages for the TSS on Intel (real-mode emulation) and one for the EPT
 * identity map; both go just below the BIOS area at the top of 4 GiB, as in QEMU. */
#define X86_KVM_TSS_ADDR 0xfffbd000ULL
#define X86_KVM_IDENTITY_MAP_ADDR 0xfffbc000ULL

/* Writes the GDT and identity page tables into the boot area. */
int x86_write_boot_tables(struct guest_mem *mem) __attribute__((warn_unused_result));

/* The boot GDT alone, X86_BOOT_GDT_SIZE bytes at gdt_addr (a Multiboot loader puts it beside
 * the kernel's information, leaving low memory to the kernel). */
#define X86_BOOT_GDT_SIZE 48
int x86_write_boot_gdt(struct guest_mem *mem, uint64_t gdt_addr)
	__attribute__((warn_unused_result));

/* Fills the segment, control and table registers for long mode with paging on, using the
 * tables x86_write_boot_tables() wrote.  Leaves the other fields of *sregs alone. */
void x86_long_mode_sregs(struct kvm_sregs *sregs);

/* 32-bit protected mode with flat segments and paging off, as Multiboot specifies, with the
 * GDT x86_write_boot_gdt() wrote at gdt_addr. */
void x86_protected_mode_sregs(struct kvm_sregs *sregs, uint64_t gdt_addr);

/* Real mode from the reset state: only CS changes. */
void x86_real_mode_sregs(struct kvm_sregs *sregs, uint16_t cs);

/* The state of a CPU after RESET or INIT (Intel SDM vol. 3, table 10-1), in real mode with
 * CS = cs (base cs << 4): paging, protection, long mode and the FPU's enables off, the
 * descriptor tables at 0 with 64 KiB limits, the local APIC enabled in xAPIC mode at its
 * default base (with the BSP flag for the boot CPU). */
void x86_reset_sregs(struct kvm_sregs *sregs, uint16_t cs, bool bsp);

/* A local APIC as RESET leaves it (SDM vol. 3, 11.4.7.1): every LVT masked, the spurious
 * vector register 0xff (software-disabled), flat destination format, no timer, no pending
 * interrupt; its version register kept, its ID apic_id (xAPIC format). */
void x86_lapic_reset(struct kvm_lapic_state *lapic, uint32_t apic_id);

/* Programs LINT0 as ExtINT and LINT1 as NMI, the "virtual wire" mode firmware leaves the
 * local APIC in, so the PIC's interrupts reach the CPU. */
void x86_lapic_virtual_wire(struct kvm_lapic_state *lapic);

/* The 8259 PICs as a PC BIOS leaves them (SeaBIOS's pic_reset, under QEMU): initialised,
 * IRQs 0-7 at vectors 0x08-0x0f and IRQs 8-15 at 0x70-0x77, the real-mode IVT's slots that
 * test kernels written for QEMU hook (kvm-unit-tests' realmode.c takes IRQ 11 at 0x73).  KVM
 * creates them never initialised, both at vector base 0, where IRQ 11 would come as vector 3.
 * Every line stays edge-triggered and unmasked, as hopvm always left them: a BIOS masks the
 * lines it does not serve, but its timer tick, which ends a HLT waiting on a masked line
 * under QEMU, does not run here.  Applied to a state read back with KVM_GET_IRQCHIP. */
#define X86_BIOS_PIC_MASTER_BASE 0x08
#define X86_BIOS_PIC_SLAVE_BASE 0x70
void x86_pic_bios_state(struct kvm_pic_state *pic, bool slave);

/* The MSRs firmware sets before handing over: fast strings on, system-call MSRs zeroed.
 * The TSC is left as KVM started it, in step on every vCPU (a restore from a migration stream
 * sets it, with the other MSRs, in vm_state.c). */
#define X86_BOOT_MSRS 8
struct x86_msr {
	uint32_t index;
	uint64_t value;
	const char *name;
};
extern const struct x86_msr x86_boot_msrs[X86_BOOT_MSRS];

/* The guest's CPU model, made in place from KVM_GET_SUPPORTED_CPUID: that list carries the
 * APIC ID of whichever host CPU the calling thread ran on (leaf 1 EBX[31:24], leaves 0xb and
 * 0x1f EDX), so those fields are cleared, and the hypervisor bit (leaf 1 ECX[31]), which KVM
 * leaves to userspace, is set: without it Linux never looks at KVM's paravirtual leaves
 * (kvmclock).  The result is the same on every host CPU, so two hopvm processes compare
 * their models for migration without regard to where they ran. */
#define X86_CPUID_1_ECX_HYPERVISOR (1U << 31)
void x86_cpu_model_from_supported(struct kvm_cpuid2 *cpuid);

/* Puts one vCPU's APIC ID into a copy of the model. */
void x86_cpuid_set_apic_id(struct kvm_cpuid2 *cpuid, uint32_t apic_id);

/* True when the IDT in sregs is too short to hold the double-fault vector: any exception
 * then ends in a triple fault. */
#define X86_VECTOR_DOUBLE_FAULT 8
bool x86_double_fault_undeliverable(const struct kvm_sregs *sregs);

/* Sets the general registers to start at entry with interrupts off. */
void x86_boot_regs(struct kvm_regs *regs, uint64_t entry);

#endif
