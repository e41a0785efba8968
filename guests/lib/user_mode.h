/* Guest code at CPL 3.  Where KVM emulates a guest's kernel code (PVM), its user-mode code
 * still runs on the CPU at full speed, so a guest that must keep several vCPUs busy for real
 * does that work in user mode, as a real guest's applications would.
 *
 * There is no way back, and no I/O from there: PVM, for a guest not built for it, delivers
 * no event from CPL 3 to the guest's kernel (a SYSCALL lands at LSTAR still at CPL 3, an INT
 * through a DPL 3 gate shuts the vCPU down) and keeps IOPL at 0 (all three tried).  So
 * user_enter() hands the CPU over for good: the code it runs computes in memory shared with
 * a CPU that stays at CPL 0, and never halts (HLT is privileged).
 *
 * Call it only once every CPU is up: the APs' long-mode entry rewrites the page tables that
 * it opens to CPL 3. */
#ifndef GUEST_USER_MODE_H
#define GUEST_USER_MODE_H

#include <stdint.h>

/* Runs fn(arg) at CPL 3 on the caller's stack, interrupts off; fn must not return. */
__attribute__((noreturn)) void user_enter(void (*fn)(uint64_t), uint64_t arg);

#endif
