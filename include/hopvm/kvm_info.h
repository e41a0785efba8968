/* What the host's KVM offers: the API version, the capabilities hopvm uses, and the kind of
 * KVM (kvm_host.h).  For `hopvm info`, for
 * --verbose, and for the checks VM creation makes. */
#ifndef HOPVM_KVM_INFO_H
#define HOPVM_KVM_INFO_H

#include <linux/kvm.h>
#include <stdbool.h>

#include "hopvm/kvm_host.h"

struct kvm_cap_desc {
	long cap;
	const char *name;
	bool required;
	const char *why;
};

#define KVM_INFO_MAX_CAPS 24

struct kvm_info {
	int api_version;
	unsigned nr_caps;
	const struct kvm_cap_desc *caps[KVM_INFO_MAX_CAPS];
	int values[KVM_INFO_MAX_CAPS];	/* KVM_CHECK_EXTENSION's answer */
	struct kvm_host host;		/* the kind of KVM, and so the paging */
};

/* The kind of KVM, from /sys or the tree $HOPVM_SYSFS_ROOT names (for tests), and CPUID. */
void kvm_info_read_host(struct kvm_host *host);

/* What to tell someone about to boot a stock kernel on this host, or NULL: on PVM its code
 * runs in KVM's instruction emulator (hopvm run --kernel, hopvm exec). */
const char *kvm_info_stock_kernel_warning(void);

/* Fills info from an open /dev/kvm; info->host is kvm_info_read_host()'s to fill. */
int kvm_info_read(int kvm_fd, struct kvm_info *info) __attribute__((warn_unused_result));

/* Checks the API version and every required capability; the message names what is missing. */
int kvm_info_check(const struct kvm_info *info) __attribute__((warn_unused_result));

/* The most vCPUs a VM may have here. */
int kvm_info_max_vcpus(const struct kvm_info *info);

/* KVM_CHECK_EXTENSION's answer for one of the capabilities kvm_info_read() asks about. */
int kvm_info_cap(const struct kvm_info *info, long cap);

/* The CPU features a guest can be given here (cpu_model_available()), in *cpuid (free() it). */
int kvm_info_cpu_available(int kvm_fd, const struct kvm_info *info, struct kvm_cpuid2 **cpuid)
	__attribute__((warn_unused_result));

#endif
