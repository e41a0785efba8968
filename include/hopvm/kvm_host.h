/* What kind of KVM serves /dev/kvm here, and so how guest memory is translated and how fast
 * guest kernel code runs: Intel VT-x or AMD-V with nested paging (EPT, NPT) or with shadow
 * paging, PVM (a KVM module for machines without VT-x or AMD-V: shadow paging, and guest code
 * at CPL 0 run by KVM's instruction emulator), none, or unknown.  Decided in one place, from
 * the KVM modules' sysfs parameters and from what CPUID tells hopvm about its own CPU, so
 * `hopvm info`, --verbose, the warnings and the test scripts all agree. */
#ifndef HOPVM_KVM_HOST_H
#define HOPVM_KVM_HOST_H

#include <stdbool.h>
#include <stddef.h>

enum kvm_host_kind {
	KVM_HOST_NONE,		/* no KVM module loaded */
	KVM_HOST_UNKNOWN,	/* kvm loaded, but no vendor module hopvm knows */
	KVM_HOST_VMX_EPT,
	KVM_HOST_VMX_SHADOW,
	KVM_HOST_SVM_NPT,
	KVM_HOST_SVM_SHADOW,
	KVM_HOST_PVM,
};

/* What CPUID says of the CPU hopvm itself runs on. */
struct host_cpu {
	bool under_hypervisor;	/* leaf 1 ECX bit 31 */
	char hypervisor[13];	/* leaf 0x40000000's signature, "" if none */
};

struct kvm_host {
	enum kvm_host_kind kind;
	struct host_cpu cpu;
	char evidence[128];	/* the sysfs path (and value) the kind was read from */
};

/* The CPU hopvm runs on, by the CPUID instruction. */
void host_cpu_read(struct host_cpu *cpu);

/* Decides the kind from the module parameters under sysfs_root ("/sys", or a made-up tree). */
void kvm_host_detect(const char *sysfs_root, const struct host_cpu *cpu, struct kvm_host *host);

/* One word for scripts: none, unknown, vmx-ept, vmx-shadow, svm-npt, svm-shadow, pvm. */
const char *kvm_host_kind_name(enum kvm_host_kind kind);

/* The sentence `hopvm info` and --verbose print: the kind, the paging, what that means for
 * guests, and whether hopvm runs under a hypervisor.  Returns buf. */
const char *kvm_host_describe(const struct kvm_host *host, char *buf, size_t size);

/* True where guest kernel code (CPL 0) is run by KVM's instruction emulator: a stock kernel
 * is very slow there or never boots. */
bool kvm_host_emulates_kernel_code(enum kvm_host_kind kind);

#endif
