/* The limit hopvm's exit path can reach: the same VM and guest as `hopvm run`, driven by the
 * barest KVM_RUN loop (no bus, no devices, no stop checks).  It knows just enough ports to
 * run guests/bench: COM1's data and line status, the exit port and the idle port 0x80.
 *
 *   bare_kvm IMAGE CMDLINE */
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "hopvm/boot.h"
#include "hopvm/error.h"
#include "hopvm/mptable.h"
#include "hopvm/vcpu.h"
#include "hopvm/vm.h"

int main(int argc, char **argv)
{
	struct vm_config cfg = { .ram_size = 64ULL << 20, .nr_vcpus = 1, .console_fd = 1,
				 .input_fd = -1 };
	struct boot_options opts = { .format = BOOT_FORMAT_AUTO };
	struct mptable_cpu_info cpu = { 0, 0 };
	struct boot_image image;
	struct boot_info info;
	struct vm vm;
	struct kvm_run *run;

	if (argc != 3) {
		fprintf(stderr, "usage: bare_kvm IMAGE CMDLINE\n");
		return 2;
	}
	opts.cmdline = argv[2];
	if (boot_image_read(argv[1], &image) < 0 || vm_init(&vm, &cfg) < 0 ||
	    boot_load_image(&vm.mem, &image, &opts, &info) < 0 || vm_create_kvm(&vm) < 0 ||
	    mptable_write(&vm.mem, 1, &cpu, 0) < 0 || vcpu_set_firmware_state(&vm.vcpus[0]) < 0 ||
	    vcpu_set_boot_state(&vm.vcpus[0], &info) < 0) {
		fprintf(stderr, "bare_kvm: %s\n", err_msg());
		return 1;
	}
	run = vm.vcpus[0].run;
	for (;;) {
		uint8_t *data;

		if (ioctl(vm.vcpus[0].fd, KVM_RUN, 0) < 0) {
			perror("bare_kvm: KVM_RUN");
			return 1;
		}
		if (run->exit_reason != KVM_EXIT_IO) {
			fprintf(stderr, "bare_kvm: exit reason %u\n", run->exit_reason);
			return 1;
		}
		data = (uint8_t *)run + run->io.data_offset;
		switch (run->io.port) {
		case 0x80:
			break;
		case 0x3f8:
			if (run->io.direction == KVM_EXIT_IO_OUT && write(1, data, 1) < 0)
				return 1;
			break;
		case 0x3fd:
			*data = 0x60;	/* transmitter empty */
			break;
		case 0xf4:
			return *data;
		default:
			break;
		}
	}
}
