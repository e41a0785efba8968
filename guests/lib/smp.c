/* Waking APs with INIT-SIPI-SIPI (Intel SDM vol. 3, 8.4.4.1; MP spec B.4). */
#include "guest.h"
#include "x86.h"

#define AP_TRAMPOLINE 0x8000
#define AP_STACK_SIZE 8192
#define MAX_APS 64

extern const char ap_trampoline_start[], ap_trampoline_end[];

/* Handed to the AP being started; one AP at a time. */
uint64_t ap_boot_stack;
void (*ap_boot_entry)(unsigned);
uint32_t ap_boot_apic_id;
volatile uint32_t ap_boot_taken;

static uint8_t ap_stacks[MAX_APS][AP_STACK_SIZE] __attribute__((aligned(16)));
static unsigned aps_started;

static void lapic_send_ipi(unsigned apic_id, uint32_t icr_low)
{
	lapic_write(LAPIC_ICR_HIGH, apic_id << 24);
	lapic_write(LAPIC_ICR_LOW, icr_low);
	while (lapic_read(LAPIC_ICR_LOW) & (1u << 12))	/* delivery pending */
		cpu_relax();
}

void ap_start(unsigned apic_id, void (*entry)(unsigned apic_id))
{
	const char *src = ap_trampoline_start;
	char *dst = (char *)AP_TRAMPOLINE;

	if (aps_started == MAX_APS) {
		serial_printf("smp: no stack left for APIC ID %u\n", apic_id);
		return;
	}
	while (src < ap_trampoline_end)
		*dst++ = *src++;
	ap_boot_stack = (uint64_t)(uintptr_t)&ap_stacks[aps_started++][AP_STACK_SIZE];
	ap_boot_entry = entry;
	ap_boot_apic_id = apic_id;
	__atomic_store_n(&ap_boot_taken, 0, __ATOMIC_SEQ_CST);

	lapic_send_ipi(apic_id, 0x4500);	/* INIT, level assert */
	for (int i = 0; i < 2; i++)
		lapic_send_ipi(apic_id, 0x4600 | (AP_TRAMPOLINE >> 12));	/* SIPI */
	while (!__atomic_load_n(&ap_boot_taken, __ATOMIC_ACQUIRE))
		cpu_relax();
}
