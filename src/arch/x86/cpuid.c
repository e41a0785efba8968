#include "hopvm/x86.h"

#define CPUID_1_EBX_APIC_ID_SHIFT 24

/* Leaves 0xb and 0x1f give the x2APIC ID in EDX of every sub-leaf. */
static bool x86_cpuid_has_x2apic_id(const struct kvm_cpuid_entry2 *e)
{
	return e->function == 0xb || e->function == 0x1f;
}

void x86_cpu_model_from_supported(struct kvm_cpuid2 *cpuid)
{
	for (unsigned i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		if (e->function == 1) {
			e->ebx &= ~(0xffU << CPUID_1_EBX_APIC_ID_SHIFT);
			e->ecx |= X86_CPUID_1_ECX_HYPERVISOR;
		}
		if (x86_cpuid_has_x2apic_id(e))
			e->edx = 0;
	}
}

void x86_cpuid_set_apic_id(struct kvm_cpuid2 *cpuid, uint32_t apic_id)
{
	for (unsigned i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		if (e->function == 1)
			e->ebx = (e->ebx & ~(0xffU << CPUID_1_EBX_APIC_ID_SHIFT)) |
				 ((apic_id & 0xff) << CPUID_1_EBX_APIC_ID_SHIFT);
		if (x86_cpuid_has_x2apic_id(e))
			e->edx = apic_id;
	}
}
