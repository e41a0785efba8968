#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hopvm/cpu_model.h"
#include "hopvm/error.h"
#include "hopvm/kvm.h"
#include "hopvm/kvm_info.h"

static const struct kvm_cap_desc kvm_caps[] = {
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY", true, "guest RAM from hopvm's memory" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR", true, "real mode on Intel" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID", true, "the CPU model" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT", true, "race-free pause and stop" },
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP", true, "PIC, IOAPIC and LAPICs in the kernel" },
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2", true, "the PIT in the kernel" },
	{ KVM_CAP_PIT_STATE2, "KVM_CAP_PIT_STATE2", true, "saving the PIT" },
	{ KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING", true, "MSI-X routes for PCI devices" },
	{ KVM_CAP_IRQFD, "KVM_CAP_IRQFD", true, "device interrupts without an ioctl" },
	{ KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD", true, "virtqueue notifications without an exit" },
	{ KVM_CAP_MAX_VCPUS, "KVM_CAP_MAX_VCPUS", false, "how many vCPUs --cpus allows" },
	{ KVM_CAP_NR_VCPUS, "KVM_CAP_NR_VCPUS", false, "recommended vCPU count" },
	{ KVM_CAP_ADJUST_CLOCK, "KVM_CAP_ADJUST_CLOCK", false, "kvmclock for migration" },
	{ KVM_CAP_SYNC_MMU, "KVM_CAP_SYNC_MMU", false, "guest RAM may be huge pages" },
	{ KVM_CAP_TSC_DEADLINE_TIMER, "KVM_CAP_TSC_DEADLINE_TIMER", false,
	  "the guest's LAPIC timer in TSC-deadline mode" },
};

_Static_assert(sizeof(kvm_caps) / sizeof(kvm_caps[0]) <= KVM_INFO_MAX_CAPS,
	       "struct kvm_info has no room for every capability");

void kvm_info_read_host(struct kvm_host *host)
{
	const char *sysfs = getenv("HOPVM_SYSFS_ROOT");	/* a made-up tree, for the tests */
	struct host_cpu cpu;

	host_cpu_read(&cpu);
	kvm_host_detect(sysfs != NULL && sysfs[0] != '\0' ? sysfs : "/sys", &cpu, host);
}

int kvm_info_read(int kvm_fd, struct kvm_info *info)
{
	memset(info, 0, sizeof(*info));
	info->api_version = kvm_get_api_version(kvm_fd);
	if (info->api_version < 0)
		return info->api_version;
	for (size_t i = 0; i < sizeof(kvm_caps) / sizeof(kvm_caps[0]); i++) {
		int value = kvm_check_extension(kvm_fd, kvm_caps[i].cap);

		if (value < 0)
			return value;
		info->caps[info->nr_caps] = &kvm_caps[i];
		info->values[info->nr_caps++] = value;
	}
	return 0;
}

int kvm_info_check(const struct kvm_info *info)
{
	if (info->api_version != KVM_EXPECTED_API_VERSION)
		return err_set(-ENOTSUP, "KVM API version %d, hopvm needs %d", info->api_version,
			       KVM_EXPECTED_API_VERSION);
	for (unsigned i = 0; i < info->nr_caps; i++)
		if (info->caps[i]->required && info->values[i] <= 0)
			return err_set(-ENOTSUP, "this kernel's KVM lacks %s (%s), which hopvm needs",
				       info->caps[i]->name, info->caps[i]->why);
	return 0;
}

int kvm_info_max_vcpus(const struct kvm_info *info)
{
	int max = 0, nr = 0;

	for (unsigned i = 0; i < info->nr_caps; i++) {
		if (info->caps[i]->cap == KVM_CAP_MAX_VCPUS)
			max = info->values[i];
		if (info->caps[i]->cap == KVM_CAP_NR_VCPUS)
			nr = info->values[i];
	}
	return max > 0 ? max : nr > 0 ? nr : 4;	/* the API's promise without either */
}

int kvm_info_cap(const struct kvm_info *info, long cap)
{
	for (unsigned i = 0; i < info->nr_caps; i++)
		if (info->caps[i]->cap == cap)
			return info->values[i];
	return 0;
}

int kvm_info_cpu_available(int kvm_fd, const struct kvm_info *info, struct kvm_cpuid2 **cpuid)
{
	int ret = kvm_get_supported_cpuid(kvm_fd, cpuid);

	if (ret < 0)
		return ret;
	cpu_model_available(*cpuid, kvm_info_cap(info, KVM_CAP_TSC_DEADLINE_TIMER) > 0);
	return 0;
}

const char *kvm_info_stock_kernel_warning(void)
{
	struct kvm_host host;

	kvm_info_read_host(&host);
	if (!kvm_host_emulates_kernel_code(host.kind))
		return NULL;
	return "this host's KVM is PVM, which runs a guest kernel's code in KVM's instruction "
	       "emulator unless the kernel is built for PVM. Debian's and other stock kernels "
	       "are not: they may take minutes, or never reach init. 'tools/kvm-sandbox "
	       "--force-sandbox -- hopvm ...' boots them in an emulated machine with AMD-V "
	       "instead.";
}
