/* ACPI S3, suspend to RAM: the guest writes _S3's sleep type with SLP_EN to PM1a_CNT, its
 * vCPUs stop and its RAM stays as it was; a wake event (hopvm ctl wakeup, or the CMOS RTC's
 * alarm with AIE, RTC_EN permitting) starts it again as firmware would after S3, which for
 * hopvm means as SeaBIOS does under QEMU:
 *   - the machine's devices are reset (every device on the port and MMIO buses, the PCI
 *     functions' configuration included, the in-kernel PIC, IOAPIC and PIT), the RTC's time
 *     and CMOS RAM kept; PM1_STS then holds WAK_STS and the event's status bit (RTC_STS for
 *     the alarm, PWRBTN_STS for any other wake, as QEMU reports one);
 *   - every vCPU is reset: the boot vCPU starts in real mode at the FACS's firmware waking
 *     vector (CS = vector >> 4, IP = vector & 0xf), the others wait for INIT-SIPI-SIPI;
 *   - a waking vector of 0 (none set) resets the machine, as SeaBIOS does.
 * The waker only flips the state; each vCPU resets itself on its own thread, the boot vCPU
 * the devices too, before any guest instruction runs.  A sleeping guest cannot be migrated
 * or snapshotted (its vCPUs hold no state the stream knows how to resume): both refuse. */
#ifndef HOPVM_VM_SLEEP_H
#define HOPVM_VM_SLEEP_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct vcpu;

/* The guest asked for S3 (from the vCPU thread that wrote PM1a_CNT). */
void vm_suspend(struct vm *vm);

/* Wakes a suspended guest; event_sts is the PM1_STS bit of the wake event.  -EAGAIN (with a
 * message) if it is not suspended. */
int vm_wakeup(struct vm *vm, uint16_t event_sts) __attribute__((warn_unused_result));

bool vm_suspended(struct vm *vm);

/* -EBUSY with a message if the guest is suspended: for migration and snapshots. */
int vm_check_awake(struct vm *vm) __attribute__((warn_unused_result));

/* While suspended: wakes the guest if its RTC alarm went off; vm_wait() calls this often. */
void vm_sleep_poll(struct vm *vm);

/* On a vCPU's thread, after a wake and before it runs: resets the vCPU (and, on the boot
 * vCPU, the machine's devices) as described above. */
int vcpu_wake(struct vcpu *vcpu) __attribute__((warn_unused_result));

#endif
