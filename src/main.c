/* hopvm's command line: parses arguments and wires the pieces together.  Only this file
 * prints errors and decides the exit status. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hopvm/boot.h"
#include "hopvm/control.h"
#include "hopvm/error.h"
#include "hopvm/kvm.h"
#include "hopvm/kvm_info.h"
#include "hopvm/migration.h"
#include "hopvm/mptable.h"
#include "hopvm/size.h"
#include "hopvm/vm.h"
#include "hopvm/vm_state.h"

#define HOPVM_VERSION "0.1.0"
#define DEFAULT_MEM_SIZE (128ULL << 20)

static void usage(FILE *out)
{
	fprintf(out,
		"usage: hopvm run [options] IMAGE   run a guest kernel\n"
		"       hopvm run [options] --kernel BZIMAGE [--initrd FILE]   boot Linux\n"
		"       hopvm ctl SOCKET COMMAND [KEY=VALUE...]   ask a running VM through\n"
		"                                   --control: status, pause, resume, shutdown\n"
		"                                   (the ACPI power button), quit,\n"
		"                                   migrate target=tcp:HOST:PORT, migrate-status,\n"
		"                                   migrate-cancel (see the README)\n"
		"       hopvm info [--kind]         what this host's KVM offers hopvm (--kind: one\n"
		"                                   word: vmx-ept, vmx-shadow, svm-npt, svm-shadow,\n"
		"                                   pvm, unknown or none)\n"
		"       hopvm version               print the version\n"
		"       hopvm help                  print this help\n"
		"\n"
		"run options:\n"
		"  -c, --cpus N            virtual CPUs, 1 to %d (default 1); the first starts at\n"
		"                          the image's entry, the others wait for INIT-SIPI-SIPI\n"
		"  -m, --mem SIZE          guest RAM, with K, M, G or T (default 128M; a bare\n"
		"                          number is MiB)\n"
		"  -f, --format FORMAT     auto (default), elf64, multiboot, raw or linux\n"
		"  -k, --kernel BZIMAGE    a Linux kernel to boot (instead of IMAGE)\n"
		"  -i, --initrd FILE       an initial RAM disk for the Linux kernel\n"
		"      --cmdline TEXT      command line for a Linux or Multiboot kernel (Linux's\n"
		"                          default: \"" BZIMAGE_DEFAULT_CMDLINE "\")\n"
		"      --load-addr ADDR    where a raw image goes; it starts there in real mode\n"
		"      --on-reboot ACTION  when the guest resets the machine: exit (default, with\n"
		"                          status 0) or restart it from the image\n"
		"      --qemu-exit-status  a guest write of V to port 0xf4 exits with (V << 1) | 1,\n"
		"                          as QEMU's isa-debug-exit does (default: V)\n"
		"      --control PATH      serve the control socket at PATH (see hopvm ctl)\n"
		"      --incoming tcp:HOST:PORT  wait there for a guest migrated by another hopvm\n"
		"                          (same --mem and --cpus) and run it, instead of an image\n"
		"      --incoming file:PATH  run the guest a migration left in PATH\n"
		"      --max-downtime TIME  migrations from this VM pause the guest at most about\n"
		"                          this long (default %dms)\n"
		"      --max-bandwidth RATE  migrations send at most RATE bytes a second, with K,\n"
		"                          M or G (default: no limit)\n"
		"      --disk PATH[,ro]    a virtio-blk disk backed by the raw image PATH (read-only\n"
		"                          with ,ro); up to 6, seen by Linux as vda, vdb, ...\n"
		"      --no-rng            leave out the virtio-rng entropy device (attached by\n"
		"                          default)\n"
		"      --no-acpi           give the guest no ACPI tables or power management\n"
		"                          (the MP table still describes the machine)\n"
		"      --virtio-console[=PATH]  a virtio console (Linux's hvc0) writing where COM1\n"
		"                          does, or appending to the file PATH\n"
		"      --hugepages         back guest RAM with huge pages (hugetlbfs, else\n"
		"                          transparent huge pages) and say which it got\n"
		"  -v, --verbose           report KVM and memory set-up, and log unmapped device\n"
		"                          accesses (each port or page once)\n"
		"  -h, --help              print this help\n"
		"\n"
		"IMAGE formats: ELF64 (entered in 64-bit long mode), Multiboot v1 (32-bit protected\n"
		"mode, as GRUB and QEMU -kernel do), raw (16-bit real mode at --load-addr), Linux\n"
		"bzImage (by the x86 boot protocol, at its 64-bit entry).\n"
		"hopvm exits with the guest's status; see the README for hopvm's own statuses.\n",
		MPTABLE_MAX_CPUS, MIGRATION_DEFAULT_MAX_DOWNTIME_MS);
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "hopvm: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n(try 'hopvm help')\n");
	return HOPVM_EXIT_USAGE;
}

static int parse_cpus(const char *text, unsigned *cpus)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(text, &end, 10);
	if (!isdigit((unsigned char)text[0]) || *end != '\0' || errno != 0 || n < 1 ||
	    n > MPTABLE_MAX_CPUS)
		return err_set(-EINVAL, "'%s' is not a CPU count from 1 to %d", text,
			       MPTABLE_MAX_CPUS);
	*cpus = (unsigned)n;
	return 0;
}

static int parse_address(const char *text, uint64_t *addr)
{
	char *end;

	errno = 0;
	*addr = strtoull(text, &end, 0);
	if (!isdigit((unsigned char)text[0]) || *end != '\0' || errno != 0)
		return err_set(-EINVAL, "'%s' is not an address (e.g. 0x7c00)", text);
	return 0;
}

/* A whole number of milliseconds, with an optional "ms" or "s". */
static int parse_millis(const char *text, unsigned *ms)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(text, &end, 10);
	if (isdigit((unsigned char)text[0]) && errno == 0 && strcmp(end, "s") == 0 && n <= 3600)
		n *= 1000;
	else if (!isdigit((unsigned char)text[0]) || errno != 0 ||
		 (*end != '\0' && strcmp(end, "ms") != 0) || n > 3600000)
		return err_set(-EINVAL, "'%s' is not a time such as 50ms or 2s", text);
	*ms = (unsigned)n;
	return 0;
}

struct run_files {
	const char *image;
	const char *initrd;
	const char *incoming;	/* file:PATH: the guest comes from a migration stream */
	bool on_reboot_restart;
};

static int parse_run_args(int argc, char **argv, struct vm_config *cfg,
			  struct boot_options *boot, struct run_files *files)
{
	static const struct option options[] = {
		{ "cpus", required_argument, NULL, 'c' },
		{ "mem", required_argument, NULL, 'm' },
		{ "format", required_argument, NULL, 'f' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "on-reboot", required_argument, NULL, 'R' },
		{ "control", required_argument, NULL, 'S' },
		{ "incoming", required_argument, NULL, 'I' },
		{ "max-downtime", required_argument, NULL, 'D' },
		{ "max-bandwidth", required_argument, NULL, 'B' },
		{ "load-addr", required_argument, NULL, 'L' },
		{ "cmdline", required_argument, NULL, 'C' },
		{ "qemu-exit-status", no_argument, NULL, 'Q' },
		{ "hugepages", no_argument, NULL, 'H' },
		{ "disk", required_argument, NULL, 'd' },
		{ "no-rng", no_argument, NULL, 'N' },
		{ "no-acpi", no_argument, NULL, 'A' },
		{ "virtio-console", optional_argument, NULL, 'V' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+:c:f:k:i:m:vh", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			if (parse_cpus(optarg, &cfg->nr_vcpus) < 0)
				return usage_error("--cpus: %s", err_msg());
			break;
		case 'm':
			if (parse_size(optarg, &cfg->ram_size) < 0)
				return usage_error("--mem: %s", err_msg());
			break;
		case 'f':
			if (boot_parse_format(optarg, &boot->format) < 0)
				return usage_error("--format: %s", err_msg());
			break;
		case 'k':
			files->image = optarg;
			break;
		case 'i':
			files->initrd = optarg;
			break;
		case 'S':
			cfg->control_path = optarg;
			break;
		case 'I': {
			struct mig_target t;

			if (mig_target_parse(optarg, &t) < 0)
				return usage_error("--incoming: %s", err_msg());
			files->incoming = optarg;
			break;
		}
		case 'D':
			if (parse_millis(optarg, &cfg->migration.max_downtime_ms) < 0)
				return usage_error("--max-downtime: %s", err_msg());
			break;
		case 'B':
			if (parse_rate(optarg, &cfg->migration.max_bandwidth) < 0)
				return usage_error("--max-bandwidth: %s", err_msg());
			break;
		case 'R':
			if (strcmp(optarg, "exit") != 0 && strcmp(optarg, "restart") != 0)
				return usage_error("--on-reboot: '%s' is neither exit nor restart",
						   optarg);
			files->on_reboot_restart = strcmp(optarg, "restart") == 0;
			break;
		case 'L':
			if (parse_address(optarg, &boot->load_addr) < 0)
				return usage_error("--load-addr: %s", err_msg());
			boot->has_load_addr = true;
			break;
		case 'C':
			boot->cmdline = optarg;
			break;
		case 'H':
			cfg->hugepages = true;
			break;
		case 'd': {
			struct vm_disk_config *d = &cfg->disks[cfg->nr_disks];

			if (cfg->nr_disks == VM_MAX_DISKS)
				return usage_error("--disk: no more than %s disks", "6");
			if (virtio_blk_parse_option(optarg, d->path, sizeof(d->path),
						    &d->read_only) < 0)
				return usage_error("%s", err_msg());
			cfg->nr_disks++;
			break;
		}
		case 'N':
			cfg->rng = false;
			break;
		case 'A':
			cfg->acpi = false;
			break;
		case 'V':
			cfg->virtio_console = true;
			cfg->virtio_console_path = optarg;
			break;
		case 'Q':
			cfg->qemu_exit_status = true;
			break;
		case 'v':
			cfg->verbose = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case ':':
			return usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (files->incoming != NULL) {
		if (files->image != NULL || optind < argc)
			return usage_error("%s", "run: --incoming brings the guest; give no image");
		return 0;
	}
	if (files->image != NULL) {
		/* --kernel names a Linux kernel: say so if it is not one, not that ELF failed. */
		if (optind < argc)
			return usage_error("run: '%s' given besides --kernel", argv[optind]);
		if (boot->format == BOOT_FORMAT_AUTO)
			boot->format = BOOT_FORMAT_LINUX;
		return 0;
	}
	if (optind >= argc)
		return usage_error("%s", "run: no guest image given");
	if (optind + 1 < argc)
		return usage_error("run: unexpected argument '%s' after the image", argv[optind + 1]);
	files->image = argv[optind];
	return 0;
}

/* One life of the VM, from an empty machine (or one loaded from a migration stream) to its
 * stop; *rebooted says the guest reset the machine rather than ended. */
static int run_vm_once(const struct vm_config *cfg, const struct boot_options *boot,
		       const struct run_files *files, const struct boot_image *image,
		       bool *rebooted)
{
	struct boot_info info = { .format = BOOT_FORMAT_AUTO };
	struct vm vm;
	int status = HOPVM_EXIT_ERROR;

	*rebooted = false;
	if (vm_init(&vm, cfg) < 0) {
		fprintf(stderr, "hopvm: %s\n", err_msg());
		goto out;
	}
	if (files->incoming == NULL && boot_load_image(&vm.mem, image, boot, &info) < 0) {
		fprintf(stderr, "hopvm: %s: %s\n", files->image, err_msg());
		goto out;
	}
	if (vm_create_kvm(&vm) < 0) {
		fprintf(stderr, "hopvm: %s\n", err_msg());
		goto out;
	}
	if (files->incoming != NULL && migration_incoming(&vm, files->incoming) < 0) {
		fprintf(stderr, "hopvm: --incoming %s: %s; the guest was not started\n",
			files->incoming, err_msg());
		goto out;
	}
	if (cfg->verbose) {
		char host[512];

		fprintf(stderr, "hopvm: %s\n", kvm_host_describe(&vm.kvm_info.host, host,
								   sizeof(host)));
		fprintf(stderr, "hopvm: KVM API %d; %u vCPUs, %llu MiB; %s\n",
			vm.kvm_info.api_version, cfg->nr_vcpus,
			(unsigned long long)(cfg->ram_size >> 20),
			files->incoming ? "a migrated guest" : boot_format_name(info.format));
	}
	if (cfg->verbose || cfg->hugepages)
		fprintf(stderr, "hopvm: %s\n", guest_mem_backing_text(&vm.mem));
	status = vm_run(&vm, files->incoming ? NULL : &info);
	if (vm.stop_message[0] != '\0')
		fprintf(stderr, "hopvm: %s\n", vm.stop_message);
	/* A migrated guest has no image to boot again. */
	*rebooted = vm.rebooted && files->incoming == NULL;
out:
	vm_destroy(&vm);
	return status;
}

/* Once per run: a stock kernel on PVM is a long wait or a silent one, and the user should
 * know why before it starts. */
static void warn_if_kernel_emulated(void)
{
	struct kvm_host host;

	kvm_info_read_host(&host);
	if (!kvm_host_emulates_kernel_code(host.kind))
		return;
	fprintf(stderr, "hopvm: warning: this host's KVM is PVM, which runs a guest kernel's code "
		"in KVM's instruction emulator unless the kernel is built for PVM. Debian's and "
		"other stock kernels are not: they may take minutes, or never reach init. "
		"'tools/kvm-sandbox --force-sandbox -- hopvm run ...' boots them in an emulated "
		"machine with AMD-V instead.\n");
}

static int cmd_run(int argc, char **argv)
{
	struct vm_config cfg = {
		.ram_size = DEFAULT_MEM_SIZE,
		.nr_vcpus = 1,
		.console_fd = STDOUT_FILENO,
		.input_fd = STDIN_FILENO,
		.rng = true,
		.acpi = true,
	};
	struct boot_options boot = { .format = BOOT_FORMAT_AUTO };
	struct boot_image image = { NULL, 0 }, initrd = { NULL, 0 };
	struct run_files files = { NULL, NULL, NULL, false };
	bool rebooted;
	int status;

	migration_params_default(&cfg.migration);
	status = parse_run_args(argc, argv, &cfg, &boot, &files);
	if (status != 0)
		return status;

	/* A broken console pipe must not kill hopvm while a guest runs. */
	signal(SIGPIPE, SIG_IGN);

	if (files.image != NULL && boot_image_read(files.image, &image) < 0) {
		fprintf(stderr, "hopvm: %s\n", err_msg());
		return HOPVM_EXIT_ERROR;
	}
	if (files.initrd != NULL) {
		if (boot_image_read(files.initrd, &initrd) < 0) {
			fprintf(stderr, "hopvm: --initrd: %s\n", err_msg());
			status = HOPVM_EXIT_ERROR;
			goto out_image;
		}
		boot.initrd = &initrd;
	}
	if (image.data != NULL && (boot.format == BOOT_FORMAT_LINUX ||
	    (boot.format == BOOT_FORMAT_AUTO && bzimage_detect(image.data, image.size))))
		warn_if_kernel_emulated();
	do {
		status = run_vm_once(&cfg, &boot, &files, &image, &rebooted);
		if (rebooted && files.on_reboot_restart)
			fprintf(stderr, "hopvm: starting the guest again (--on-reboot restart)\n");
	} while (rebooted && files.on_reboot_restart);
out_image:
	boot_image_free(&initrd);
	boot_image_free(&image);
	return status;
}

static int cmd_ctl(int argc, char **argv)
{
	char reply[CONTROL_MAX_LINE];
	int ret;

	if (argc < 3)
		return usage_error("%s", "ctl: give the control socket and a command");
	ret = control_request(argv[1], argv[2], argv + 3, (size_t)(argc - 3), reply,
			      sizeof(reply));
	if (ret < 0 && ret != -EREMOTEIO) {
		fprintf(stderr, "hopvm: %s\n", err_msg());
		return HOPVM_EXIT_ERROR;
	}
	printf("%s\n", reply);
	return ret < 0 ? HOPVM_EXIT_ERROR : 0;
}

static int cmd_info(int argc, char **argv)
{
	bool kind_only = argc > 1 && strcmp(argv[1], "--kind") == 0;
	struct kvm_host host;
	struct kvm_info info;
	char text[512];
	int fd;

	if (argc > 1 && !kind_only)
		return usage_error("info: '%s' is not an option (only --kind)", argv[1]);
	if (argc > 2)
		return usage_error("info: '%s' given besides --kind", argv[2]);
	kvm_info_read_host(&host);
	if (kind_only) {
		printf("%s\n", kvm_host_kind_name(host.kind));
		return 0;
	}
	printf("%s\n", kvm_host_describe(&host, text, sizeof(text)));
	fd = kvm_open();
	if (fd < 0 || kvm_info_read(fd, &info) < 0) {
		fprintf(stderr, "hopvm: %s\n", err_msg());
		if (fd >= 0)
			close(fd);
		return HOPVM_EXIT_ERROR;
	}
	close(fd);
	printf("KVM API version %d%s\n", info.api_version,
	       info.api_version == KVM_EXPECTED_API_VERSION ? "" : " (hopvm needs 12)");
	printf("capabilities:\n");
	for (unsigned i = 0; i < info.nr_caps; i++)
		printf("  %-24s %-5d %s%s\n", info.caps[i]->name, info.values[i], info.caps[i]->why,
		       info.caps[i]->required ? " (required)" : "");
	printf("vCPUs per VM: up to %d; hopvm's limit: %d\n", kvm_info_max_vcpus(&info),
	       MPTABLE_MAX_CPUS);
	if (kvm_info_check(&info) < 0) {
		printf("hopvm cannot run here: %s\n", err_msg());
		return HOPVM_EXIT_ERROR;
	}
	if (kvm_host_emulates_kernel_code(host.kind))
		printf("hopvm can run guests here; stock Linux kernels run in KVM's emulator "
		       "(tools/kvm-sandbox --force-sandbox boots them in an emulated AMD-V machine)\n");
	else
		printf("hopvm can run guests here\n");
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (cmd == NULL) {
		usage(stderr);
		return HOPVM_EXIT_USAGE;
	}
	if (strcmp(cmd, "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (strcmp(cmd, "info") == 0)
		return cmd_info(argc - 1, argv + 1);
	if (strcmp(cmd, "ctl") == 0)
		return cmd_ctl(argc - 1, argv + 1);
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("hopvm %s\n", HOPVM_VERSION);
		return 0;
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	return usage_error("unknown command '%s'", cmd);
}
