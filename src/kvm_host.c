#include <cpuid.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "hopvm/kvm_host.h"
#include "hopvm/x86.h"

void host_cpu_read(struct host_cpu *cpu)
{
	unsigned eax, ebx, ecx, edx;

	memset(cpu, 0, sizeof(*cpu));
	__cpuid(1, eax, ebx, ecx, edx);
	cpu->under_hypervisor = ecx & X86_CPUID_1_ECX_HYPERVISOR;
	if (!cpu->under_hypervisor)
		return;
	/* Leaves from 0x40000000 are the hypervisor's; __get_cpuid would refuse them. */
	__cpuid(0x40000000, eax, ebx, ecx, edx);
	memcpy(cpu->hypervisor, &ebx, 4);
	memcpy(cpu->hypervisor + 4, &ecx, 4);
	memcpy(cpu->hypervisor + 8, &edx, 4);
	cpu->hypervisor[12] = '\0';
	for (char *c = cpu->hypervisor; *c != '\0'; c++)
		if (*c < ' ' || *c > '~')
			*c = '?';
}

static bool path_exists(const char *root, const char *path)
{
	char full[256];
	struct stat st;

	snprintf(full, sizeof(full), "%s/%s", root, path);
	return stat(full, &st) == 0;
}

/* A module parameter's first character ('Y', 'N', '1', '0'), or 0 if it cannot be read. */
static char read_param(const char *root, const char *path)
{
	char full[256], value[8] = "";
	FILE *f;

	snprintf(full, sizeof(full), "%s/%s", root, path);
	f = fopen(full, "r");
	if (f == NULL)
		return 0;
	if (fgets(value, sizeof(value), f) == NULL)
		value[0] = '\0';
	fclose(f);
	return value[0];
}

void kvm_host_detect(const char *sysfs_root, const struct host_cpu *cpu, struct kvm_host *host)
{
	/* kvm_pvm is looked at first: it loads only where no other vendor module serves KVM. */
	static const struct {
		const char *module, *param;
		enum kvm_host_kind on, off;
	} vendors[] = {
		{ "module/kvm_pvm", NULL, KVM_HOST_PVM, KVM_HOST_PVM },
		{ "module/kvm_intel", "module/kvm_intel/parameters/ept", KVM_HOST_VMX_EPT,
		  KVM_HOST_VMX_SHADOW },
		{ "module/kvm_amd", "module/kvm_amd/parameters/npt", KVM_HOST_SVM_NPT,
		  KVM_HOST_SVM_SHADOW },
	};

	memset(host, 0, sizeof(*host));
	host->cpu = *cpu;
	for (size_t i = 0; i < sizeof(vendors) / sizeof(vendors[0]); i++) {
		char value;

		if (!path_exists(sysfs_root, vendors[i].module))
			continue;
		if (vendors[i].param == NULL) {
			host->kind = vendors[i].on;
			snprintf(host->evidence, sizeof(host->evidence), "%s/%s", sysfs_root,
				 vendors[i].module);
			return;
		}
		value = read_param(sysfs_root, vendors[i].param);
		host->kind = value == 'Y' || value == '1' ? vendors[i].on : vendors[i].off;
		snprintf(host->evidence, sizeof(host->evidence), "%s/%s = %s", sysfs_root,
			 vendors[i].param, value == 0 ? "(unreadable)" : (char[2]){ value, 0 });
		return;
	}
	host->kind = path_exists(sysfs_root, "module/kvm") ? KVM_HOST_UNKNOWN : KVM_HOST_NONE;
	snprintf(host->evidence, sizeof(host->evidence), "%s/module has %s", sysfs_root,
		 host->kind == KVM_HOST_NONE ? "no kvm" : "kvm but no kvm_intel, kvm_amd or kvm_pvm");
}

const char *kvm_host_kind_name(enum kvm_host_kind kind)
{
	switch (kind) {
	case KVM_HOST_NONE:
		return "none";
	case KVM_HOST_VMX_EPT:
		return "vmx-ept";
	case KVM_HOST_VMX_SHADOW:
		return "vmx-shadow";
	case KVM_HOST_SVM_NPT:
		return "svm-npt";
	case KVM_HOST_SVM_SHADOW:
		return "svm-shadow";
	case KVM_HOST_PVM:
		return "pvm";
	case KVM_HOST_UNKNOWN:
		break;
	}
	return "unknown";
}

static const char *kvm_host_kind_text(enum kvm_host_kind kind)
{
	switch (kind) {
	case KVM_HOST_NONE:
		return "no KVM module is loaded";
	case KVM_HOST_VMX_EPT:
		return "Intel VT-x with nested paging: EPT translates guest-physical addresses";
	case KVM_HOST_VMX_SHADOW:
		return "Intel VT-x with shadow paging: EPT is off, KVM shadows the guest's page "
		       "tables";
	case KVM_HOST_SVM_NPT:
		return "AMD-V with nested paging: NPT translates guest-physical addresses";
	case KVM_HOST_SVM_SHADOW:
		return "AMD-V with shadow paging: NPT is off, KVM shadows the guest's page tables";
	case KVM_HOST_PVM:
		return "PVM (no VT-x or AMD-V) with shadow paging: guest user code runs on the CPU, "
		       "guest kernel code (CPL 0) in KVM's instruction emulator unless the kernel "
		       "is built for PVM";
	case KVM_HOST_UNKNOWN:
		break;
	}
	return "unknown: KVM is loaded, but not by a vendor module hopvm knows";
}

const char *kvm_host_describe(const struct kvm_host *host, char *buf, size_t size)
{
	char under[64] = "not under a hypervisor";

	if (host->cpu.under_hypervisor)
		snprintf(under, sizeof(under), "under a hypervisor (%s)",
			 host->cpu.hypervisor[0] != '\0' ? host->cpu.hypervisor : "no signature");
	snprintf(buf, size, "KVM host: %s (%s); hopvm runs %s", kvm_host_kind_text(host->kind),
		 host->evidence, under);
	return buf;
}

bool kvm_host_emulates_kernel_code(enum kvm_host_kind kind)
{
	return kind == KVM_HOST_PVM;
}
