/* Pauses and resumes a busy SMP guest many times, as migration will.  While the VM is paused,
 * every vCPU must have acknowledged and guest memory must not change at all; afterwards the
 * guest (guests/spin) checks that it saw nothing but time pass.
 *
 *   pause_stress IMAGE CPUS PAUSES */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "hopvm/boot.h"
#include "hopvm/error.h"
#include "hopvm/vm.h"

static uint64_t ram_hash(const struct guest_mem *mem)
{
	uint64_t h = 1469598103934665603ULL;
	const uint64_t *p = (const uint64_t *)mem->regions[0].host;

	for (uint64_t i = 0; i < mem->regions[0].size / 8; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

int main(int argc, char **argv)
{
	/* Small RAM: hashing it twice a pause is most of a pause's cost under emulation. */
	struct vm_config cfg = { .ram_size = 8ULL << 20, .console_fd = STDOUT_FILENO,
				   .input_fd = -1 };
	struct boot_options opts = { .format = BOOT_FORMAT_AUTO };
	struct boot_image image;
	struct boot_info info;
	struct vm vm;
	int pauses, done = 0, frozen = 0, status;

	if (argc != 4) {
		fprintf(stderr, "usage: pause_stress IMAGE CPUS PAUSES\n");
		return 2;
	}
	cfg.nr_vcpus = (unsigned)atoi(argv[2]);
	pauses = atoi(argv[3]);
	if (boot_image_read(argv[1], &image) < 0 || vm_init(&vm, &cfg) < 0 ||
	    boot_load_image(&vm.mem, &image, &opts, &info) < 0 || vm_create_kvm(&vm) < 0 ||
	    vm_start(&vm, &info) < 0) {
		fprintf(stderr, "pause_stress: %s\n", err_msg());
		return 1;
	}
	srand(1);
	for (; done < pauses && !vm_stop_requested(&vm); done++) {
		uint64_t before;

		usleep((useconds_t)(rand() % 2000));
		vm_pause(&vm);
		if (vm_stop_requested(&vm))
			break;
		if (vm.nr_paused != vm.nr_running) {
			fprintf(stderr, "pause_stress: only %u of %u vCPUs paused\n", vm.nr_paused,
				vm.nr_running);
			return 1;
		}
		before = ram_hash(&vm.mem);
		usleep(500);
		if (ram_hash(&vm.mem) == before)
			frozen++;
		vm_resume(&vm);
	}
	status = vm_wait(&vm);
	if (vm.stop_message[0] != '\0')
		fprintf(stderr, "pause_stress: %s\n", vm.stop_message);
	printf("pause_stress: %d pauses while the guest ran, memory frozen in %d, guest status %d\n",
	       done, frozen, status);
	vm_destroy(&vm);
	boot_image_free(&image);
	/* Fewer than 20 pauses while the guest ran would not show much. */
	return status == 0 && frozen == done && done >= 20 ? 0 : 1;
}
