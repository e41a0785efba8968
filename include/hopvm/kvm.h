/* Thin wrappers over the KVM ioctls, one function per ioctl.
 *
 * Each returns the ioctl's non-negative result or a negative errno, and on failure leaves a
 * message naming the ioctl in err_msg() ("KVM_CREATE_VM: Cannot allocate memory").  Nothing
 * else in hopvm calls ioctl() on a KVM file descriptor. */
#ifndef HOPVM_KVM_H
#define HOPVM_KVM_H

#include <linux/kvm.h>
#include <stdint.h>

#define KVM_DEVICE_PATH "/dev/kvm"
#define KVM_EXPECTED_API_VERSION 12

/* Opens /dev/kvm; on failure the message says how to get KVM (or the sandbox). */
int kvm_open(void) __attribute__((warn_unused_result));

/* System ioctls, on the /dev/kvm descriptor. */
int kvm_get_api_version(int kvm_fd);
int kvm_check_extension(int fd, long cap);
int kvm_get_vcpu_mmap_size(int kvm_fd);
int kvm_create_vm(int kvm_fd);
/* Allocates *cpuid (free() it), growing the buffer until the kernel's list fits. */
int kvm_get_supported_cpuid(int kvm_fd, struct kvm_cpuid2 **cpuid);

/* VM ioctls. */
int kvm_set_user_memory_region(int vm_fd, const struct kvm_userspace_memory_region *region);
int kvm_set_tss_addr(int vm_fd, uint64_t addr);
int kvm_set_identity_map_addr(int vm_fd, uint64_t addr);
int kvm_create_vcpu(int vm_fd, unsigned id);
int kvm_create_irqchip(int vm_fd);
int kvm_create_pit2(int vm_fd, const struct kvm_pit_config *config);
int kvm_irq_line(int vm_fd, unsigned irq, int level);
/* Replaces the whole GSI routing table (the irqchip's pins included). */
int kvm_set_gsi_routing(int vm_fd, const struct kvm_irq_routing *routing);
int kvm_irqfd(int vm_fd, const struct kvm_irqfd *irqfd);
int kvm_ioeventfd(int vm_fd, const struct kvm_ioeventfd *ioeventfd);
/* Copies the slot's dirty bitmap and clears it (and write-protects the pages again). */
int kvm_get_dirty_log(int vm_fd, struct kvm_dirty_log *log);

/* vCPU ioctls.  kvm_run() returns -EINTR quietly (a signal asked the vCPU to look up), and
 * -EAGAIN (an AP left its wait-for-SIPI state: run it again). */
int kvm_run(int vcpu_fd);
int kvm_get_regs(int vcpu_fd, struct kvm_regs *regs);
int kvm_set_regs(int vcpu_fd, const struct kvm_regs *regs);
int kvm_get_sregs(int vcpu_fd, struct kvm_sregs *sregs);
int kvm_set_sregs(int vcpu_fd, const struct kvm_sregs *sregs);
int kvm_set_cpuid2(int vcpu_fd, const struct kvm_cpuid2 *cpuid);
/* Returns how many of the MSRs were set (KVM stops at the first it refuses). */
int kvm_set_msrs(int vcpu_fd, const struct kvm_msrs *msrs);
int kvm_get_lapic(int vcpu_fd, struct kvm_lapic_state *lapic);
int kvm_set_lapic(int vcpu_fd, const struct kvm_lapic_state *lapic);
int kvm_get_mp_state(int vcpu_fd, struct kvm_mp_state *state);
int kvm_set_mp_state(int vcpu_fd, const struct kvm_mp_state *state);

/* What migration saves and restores. */
int kvm_get_msrs(int vcpu_fd, struct kvm_msrs *msrs);
int kvm_get_msr_index_list(int kvm_fd, struct kvm_msr_list *list);
int kvm_get_xsave(int vcpu_fd, struct kvm_xsave *state);
int kvm_set_xsave(int vcpu_fd, const struct kvm_xsave *state);
int kvm_get_xcrs(int vcpu_fd, struct kvm_xcrs *state);
int kvm_set_xcrs(int vcpu_fd, const struct kvm_xcrs *state);
int kvm_get_vcpu_events(int vcpu_fd, struct kvm_vcpu_events *state);
int kvm_set_vcpu_events(int vcpu_fd, const struct kvm_vcpu_events *state);
int kvm_get_debugregs(int vcpu_fd, struct kvm_debugregs *state);
int kvm_set_debugregs(int vcpu_fd, const struct kvm_debugregs *state);
int kvm_get_pit2(int vm_fd, struct kvm_pit_state2 *state);
int kvm_set_pit2(int vm_fd, const struct kvm_pit_state2 *state);
int kvm_get_clock(int vm_fd, struct kvm_clock_data *state);
int kvm_set_clock(int vm_fd, const struct kvm_clock_data *state);
int kvm_get_irqchip(int vm_fd, struct kvm_irqchip *chip);
int kvm_set_irqchip(int vm_fd, const struct kvm_irqchip *chip);

#endif
