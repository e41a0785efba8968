#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "hopvm/error.h"
#include "hopvm/kvm.h"

static int kvm_ioctl_named(int fd, unsigned long cmd, const char *name, unsigned long arg)
{
	int ret;

	do {
		ret = ioctl(fd, cmd, arg);
	} while (ret < 0 && errno == EINTR);
	if (ret < 0)
		return err_set(-errno, "%s: %s", name, strerror(errno));
	return ret;
}

/* An ioctl whose argument is a pointer: the compiler checks the pointee's size against the
 * size encoded in the ioctl number, as the KVM selftests do. */
#define KVM_IOCTL_PTR(fd, cmd, ptr)                                                     \
	({                                                                               \
		_Static_assert(_IOC_SIZE(cmd) == sizeof(*(ptr)), #cmd " argument size"); \
		kvm_ioctl_named(fd, cmd, #cmd, (unsigned long)(ptr));                      \
	})

/* An ioctl whose argument is a plain value (or none). */
#define KVM_IOCTL_VAL(fd, cmd, val) kvm_ioctl_named(fd, cmd, #cmd, (unsigned long)(val))

int kvm_open(void)
{
	int fd = open(KVM_DEVICE_PATH, O_RDWR | O_CLOEXEC);

	if (fd >= 0)
		return fd;
	switch (errno) {
	case ENOENT:
	case ENXIO:
	case ENODEV:
		return err_set(-errno, "%s does not exist: this machine has no KVM (load kvm-intel "
			       "or kvm-amd, enable virtualization in the firmware, or run it "
			       "through tools/kvm-sandbox)", KVM_DEVICE_PATH);
	case EACCES:
	case EPERM:
		return err_set(-errno, "no permission to open %s: add your user to the 'kvm' "
			       "group (usermod -aG kvm USER, then log in again) or run as root",
			       KVM_DEVICE_PATH);
	default:
		return err_set(-errno, "cannot open %s: %s", KVM_DEVICE_PATH, strerror(errno));
	}
}

int kvm_get_api_version(int kvm_fd)
{
	return KVM_IOCTL_VAL(kvm_fd, KVM_GET_API_VERSION, 0);
}

int kvm_check_extension(int fd, long cap)
{
	return KVM_IOCTL_VAL(fd, KVM_CHECK_EXTENSION, cap);
}

int kvm_get_vcpu_mmap_size(int kvm_fd)
{
	return KVM_IOCTL_VAL(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
}

int kvm_create_vm(int kvm_fd)
{
	return KVM_IOCTL_VAL(kvm_fd, KVM_CREATE_VM, 0);
}

int kvm_get_supported_cpuid(int kvm_fd, struct kvm_cpuid2 **cpuid)
{
	for (unsigned nent = 64; nent <= 4096; nent *= 2) {
		struct kvm_cpuid2 *buf;
		int ret;

		buf = calloc(1, sizeof(*buf) + nent * sizeof(buf->entries[0]));
		if (buf == NULL)
			return err_set(-ENOMEM, "KVM_GET_SUPPORTED_CPUID: out of memory");
		buf->nent = nent;
		/* The argument is variable-length, so the size check above does not apply. */
		ret = KVM_IOCTL_VAL(kvm_fd, KVM_GET_SUPPORTED_CPUID, buf);
		if (ret >= 0) {
			*cpuid = buf;
			return 0;
		}
		free(buf);
		if (ret != -E2BIG)
			return ret;
	}
	return err_set(-E2BIG, "KVM_GET_SUPPORTED_CPUID: more than 4096 entries");
}

int kvm_set_user_memory_region(int vm_fd, const struct kvm_userspace_memory_region *region)
{
	return KVM_IOCTL_PTR(vm_fd, KVM_SET_USER_MEMORY_REGION, region);
}

int kvm_set_tss_addr(int vm_fd, uint64_t addr)
{
	return KVM_IOCTL_VAL(vm_fd, KVM_SET_TSS_ADDR, addr);
}

int kvm_set_identity_map_addr(int vm_fd, uint64_t addr)
{
	__u64 arg = addr;

	return KVM_IOCTL_PTR(vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &arg);
}

int kvm_create_vcpu(int vm_fd, unsigned id)
{
	return KVM_IOCTL_VAL(vm_fd, KVM_CREATE_VCPU, id);
}

int kvm_create_irqchip(int vm_fd)
{
	return KVM_IOCTL_VAL(vm_fd, KVM_CREATE_IRQCHIP, 0);
}

int kvm_create_pit2(int vm_fd, const struct kvm_pit_config *config)
{
	return KVM_IOCTL_PTR(vm_fd, KVM_CREATE_PIT2, config);
}

int kvm_set_gsi_routing(int vm_fd, const struct kvm_irq_routing *routing)
{
	/* The entries follow the header: the size in the ioctl number is the header's. */
	return KVM_IOCTL_VAL(vm_fd, KVM_SET_GSI_ROUTING, routing);
}

int kvm_irqfd(int vm_fd, const struct kvm_irqfd *irqfd)
{
	return KVM_IOCTL_PTR(vm_fd, KVM_IRQFD, irqfd);
}

int kvm_ioeventfd(int vm_fd, const struct kvm_ioeventfd *ioeventfd)
{
	return KVM_IOCTL_PTR(vm_fd, KVM_IOEVENTFD, ioeventfd);
}

int kvm_irq_line(int vm_fd, unsigned irq, int level)
{
	struct kvm_irq_level line = { .irq = irq, .level = (__u32)level };

	return KVM_IOCTL_PTR(vm_fd, KVM_IRQ_LINE, &line);
}

int kvm_get_dirty_log(int vm_fd, struct kvm_dirty_log *log)
{
	return KVM_IOCTL_PTR(vm_fd, KVM_GET_DIRTY_LOG, log);
}

int kvm_run(int vcpu_fd)
{
	int ret = ioctl(vcpu_fd, KVM_RUN, 0);

	if (ret < 0 && (errno == EINTR || errno == EAGAIN))
		return -errno;
	if (ret < 0)
		return err_set(-errno, "KVM_RUN: %s", strerror(errno));
	return ret;
}

int kvm_get_regs(int vcpu_fd, struct kvm_regs *regs)
{
	return KVM_IOCTL_PTR(vcpu_fd, KVM_GET_REGS, regs);
}

int kvm_set_regs(int vcpu_fd, const struct kvm_regs *regs)
{
	return KVM_IOCTL_PTR(vcpu_fd, KVM_SET_REGS, regs);
}

int kvm_get_sregs(int vcpu_fd, struct kvm_sregs *sregs)
{
	return KVM_IOCTL_PTR(vcpu_fd, KVM_GET_SREGS, sregs);
}

int kvm_set_sregs(int vcpu_fd, const struct kvm_sregs *sregs)
{
	return KVM_IOCTL_PTR(vcpu_fd, KVM_SET_SREGS, sregs);
}

int kvm_set_cpuid2(int vcpu_fd, const struct kvm_cpuid2 *cpuid)
{
	/* Variable-length argument: no size check. */
	return KVM_IOCTL_VAL(vcpu_fd, KVM_SET_CPUID2, cpuid);
}

int kvm_get_mp_state(int vcpu_fd, struct kvm_mp_state *state)
{
	return KVM_IOCTL_PTR(vcpu_fd, KVM_GET_MP_STATE, state);
}

int kvm_set_mp_state(int vcpu_fd, const struct kvm_mp_state *state)
{
	return KVM_IOCTL_PTR(vcpu_fd, KVM_SET_MP_STATE, state);
}

int kvm_get_lapic(int vcpu_fd, struct kvm_lapic_state *lapic)
{
	return KVM_IOCTL_PTR(vcpu_fd, KVM_GET_LAPIC, lapic);
}

int kvm_set_lapic(int vcpu_fd, const struct kvm_lapic_state *lapic)
{
	return KVM_IOCTL_PTR(vcpu_fd, KVM_SET_LAPIC, lapic);
}

int kvm_set_msrs(int vcpu_fd, const struct kvm_msrs *msrs)
{
	/* Variable-length argument: no size check. */
	return KVM_IOCTL_VAL(vcpu_fd, KVM_SET_MSRS, msrs);
}

int kvm_get_msrs(int vcpu_fd, struct kvm_msrs *msrs)
{
	return KVM_IOCTL_VAL(vcpu_fd, KVM_GET_MSRS, msrs);
}

int kvm_get_msr_index_list(int kvm_fd, struct kvm_msr_list *list)
{
	return KVM_IOCTL_VAL(kvm_fd, KVM_GET_MSR_INDEX_LIST, list);
}

/* The state migration moves: a pair of wrappers per piece, each naming its ioctl. */
#define KVM_STATE_PAIR(name, fd, type, GET, SET)                                  \
	_Static_assert(_IOC_SIZE(GET) == sizeof(type), #GET " argument size");      \
	_Static_assert(_IOC_SIZE(SET) == sizeof(type), #SET " argument size");      \
	int kvm_get_##name(int fd, type *state)                                     \
	{                                                                           \
		return kvm_ioctl_named(fd, GET, #GET, (unsigned long)state);        \
	}                                                                           \
	int kvm_set_##name(int fd, const type *state)                               \
	{                                                                           \
		return kvm_ioctl_named(fd, SET, #SET, (unsigned long)state);        \
	}

KVM_STATE_PAIR(xsave, vcpu_fd, struct kvm_xsave, KVM_GET_XSAVE, KVM_SET_XSAVE)
KVM_STATE_PAIR(xcrs, vcpu_fd, struct kvm_xcrs, KVM_GET_XCRS, KVM_SET_XCRS)
KVM_STATE_PAIR(vcpu_events, vcpu_fd, struct kvm_vcpu_events, KVM_GET_VCPU_EVENTS,
	       KVM_SET_VCPU_EVENTS)
KVM_STATE_PAIR(debugregs, vcpu_fd, struct kvm_debugregs, KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS)
KVM_STATE_PAIR(pit2, vm_fd, struct kvm_pit_state2, KVM_GET_PIT2, KVM_SET_PIT2)
KVM_STATE_PAIR(clock, vm_fd, struct kvm_clock_data, KVM_GET_CLOCK, KVM_SET_CLOCK)

int kvm_get_irqchip(int vm_fd, struct kvm_irqchip *chip)
{
	/* KVM_GET_IRQCHIP reads and writes its argument: the chip id goes in. */
	return KVM_IOCTL_PTR(vm_fd, KVM_GET_IRQCHIP, chip);
}

int kvm_set_irqchip(int vm_fd, const struct kvm_irqchip *chip)
{
	return KVM_IOCTL_PTR(vm_fd, KVM_SET_IRQCHIP, chip);
}
