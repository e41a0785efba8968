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
#include "hopvm/exec.h"
#include "hopvm/fw_cfg.h"
#include "hopvm/kvm.h"
#include "hopvm/kvm_info.h"
#include "hopvm/migration.h"
#include "hopvm/mptable.h"
#include "hopvm/size.h"
#include "hopvm/vm.h"
#include "hopvm/vm_state.h"
#include "hopvm/threads.h"

#define HOPVM_VERSION "0.1.0"
#define DEFAULT_MEM_SIZE (128ULL << 20)

static void usage(FILE *out)
{
	fprintf(out,
		"usage: hopvm run [options] IMAGE   run a guest kernel\n"
		"       hopvm run [options] --kernel BZIMAGE [--initrd FILE]   boot Linux\n"
		"       hopvm exec [options] -- COMMAND [ARG...]   run COMMAND in a fresh Linux\n"
		"                                   kernel on this machine's own files (see\n"
		"                                   hopvm exec --help)\n"
		"       hopvm ctl SOCKET COMMAND [KEY=VALUE...]   ask a running VM through\n"
		"                                   --control: status, pause, resume, shutdown\n"
		"                                   (the ACPI power button), quit,\n"
		"                                   migrate target=tcp:HOST:PORT, migrate-status,\n"
		"                                   migrate-cancel, wakeup (from ACPI S3; see\n"
		"                                   the README)\n"
		"       hopvm info [--kind|--seccomp]  what this host's KVM offers hopvm, the\n"
		"                                   CPU features --cpu can give (--kind: one\n"
		"                                   word: vmx-ept, vmx-shadow, svm-npt, svm-shadow,\n"
		"                                   pvm, unknown or none; --seccomp: the system\n"
		"                                   calls each kind of hopvm thread may make)\n"
		"       hopvm version               print the version\n"
		"       hopvm help                  print this help\n"
		"\n"
		"run options:\n"
		"  -c, --cpus N            virtual CPUs, 1 to %d (default 1); the first starts at\n"
		"                          the image's entry, the others wait for INIT-SIPI-SIPI\n"
		"  -m, --mem SIZE          guest RAM, with K, M, G or T (default 128M; a bare\n"
		"                          number is MiB)\n"
		"      --cpu MODEL[,+FEATURE][,-FEATURE]...  the guest's CPU: host or max\n"
		"                          (everything this KVM can give, TSC-deadline included)\n"
		"                          or default (the same, today), with features added or\n"
		"                          removed by their /proc/cpuinfo names (also FEATURE=on\n"
		"                          or =off); hopvm info lists them\n"
		"  -f, --format FORMAT     auto (default), elf64, multiboot, raw or linux\n"
		"  -k, --kernel BZIMAGE    a Linux kernel to boot (instead of IMAGE)\n"
		"  -i, --initrd FILE       an initial RAM disk for the Linux kernel\n"
		"      --cmdline TEXT      command line for a Linux or Multiboot kernel (Linux's\n"
		"                          default: \"" BZIMAGE_DEFAULT_CMDLINE "\"; a Multiboot\n"
		"                          kernel gets the image's name first, as from QEMU)\n"
		"      --module FILE[,ARGS]  a Multiboot module, with command line \"FILE ARGS\";\n"
		"                          up to 16, in order\n"
		"      --load-addr ADDR    where a raw image goes; it starts there in real mode\n"
		"      --on-reboot ACTION  when the guest resets the machine: exit (default, with\n"
		"                          status 0) or restart it from the image\n"
		"      --qemu-exit-status  a guest write of V to port 0xf4 exits with (V << 1) | 1,\n"
		"                          as QEMU's isa-debug-exit does (default: V)\n"
		"      --control PATH      serve the control socket at PATH (see hopvm ctl), for\n"
		"                          hopvm's own user only\n"
		"      --control-group GROUP  let GROUP (a name or number) use the socket too\n"
		"      --incoming tcp:HOST:PORT  wait there for a guest migrated by another hopvm\n"
		"                          (same --mem and --cpus) and run it, instead of an image\n"
		"      --incoming exec:COMMAND  the same through COMMAND's stdout and stdin (/bin/sh\n"
		"                          -c), e.g. for ssh; --incoming fd:N through open socket N\n"
		"      --incoming file:PATH  run the guest a migration left in PATH\n"
		"      --max-downtime TIME  migrations from this VM pause the guest at most about\n"
		"                          this long (default %dms)\n"
		"      --max-bandwidth RATE  migrations send at most RATE bytes a second, with K,\n"
		"                          M or G (default: no limit)\n"
		"      --disk PATH[,ro]    a virtio-blk disk backed by the raw image PATH (read-only\n"
		"                          with ,ro); up to 6, seen by Linux as vda, vdb, ...\n"
		"      --net tap=NAME[,mac=MAC]  a virtio-net NIC on the TAP device NAME (opened,\n"
		"                          or created until hopvm exits; hopvm configures nothing\n"
		"                          else on the host); MAC default 52:54:00:12:34:56 for\n"
		"                          the first, then :57, ...; up to 4, after the disks\n"
		"      --share PATH,tag=TAG[,rw]  the host directory PATH for the guest's virtio-fs\n"
		"                          (mount -t virtiofs TAG DIR), read-only unless rw;\n"
		"                          served by hopvm itself; up to 4\n"
		"      --no-rng            leave out the virtio-rng entropy device (attached by\n"
		"                          default)\n"
		"      --no-acpi           give the guest no ACPI tables or power management\n"
		"                          (the MP table still describes the machine)\n"
		"      --fw-cfg name=NAME,file=PATH  a file for the guest in QEMU's fw_cfg device\n"
		"      --fw-cfg name=NAME,string=TEXT  (NAME up to 55 bytes, under opt/; up to\n"
		"                          16 of them, 16 MiB each)\n"
		"      --test-devices      QEMU's pc-testdev (ports 0xe0-0xeb and 0x2000-0x2017,\n"
		"                          MMIO at 0xff000000) and pci-testdev, as test kernels\n"
		"                          written for QEMU (kvm-unit-tests) expect them\n"
		"      --virtio-console[=PATH]  a virtio console (Linux's hvc0) writing where COM1\n"
		"                          does, or appending to the file PATH\n"
		"      --hugepages         back guest RAM with hugetlbfs pages (else transparent\n"
		"                          huge pages, as without it) and say which it got\n"
		"      --no-seccomp        run without the system call filters (to debug)\n"
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
	const char *cpu;	/* --cpu's text */
	struct fw_cfg_user_file fw_cfg[FW_CFG_MAX_USER_FILES];	/* --fw-cfg, in order */
	unsigned nr_fw_cfg;
	const char *modules[BOOT_MAX_MODULES];	/* --module FILE[,ARGS], as given */
	unsigned nr_modules;
};

static int parse_run_args(int argc, char **argv, struct vm_config *cfg,
			  struct boot_options *boot, struct run_files *files)
{
	static const struct option options[] = {
		{ "cpus", required_argument, NULL, 'c' },
		{ "mem", required_argument, NULL, 'm' },
		{ "cpu", required_argument, NULL, 'U' },
		{ "format", required_argument, NULL, 'f' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "module", required_argument, NULL, 'O' },
		{ "on-reboot", required_argument, NULL, 'R' },
		{ "control", required_argument, NULL, 'S' },
		{ "control-group", required_argument, NULL, 'g' },
		{ "incoming", required_argument, NULL, 'I' },
		{ "max-downtime", required_argument, NULL, 'D' },
		{ "max-bandwidth", required_argument, NULL, 'B' },
		{ "load-addr", required_argument, NULL, 'L' },
		{ "cmdline", required_argument, NULL, 'C' },
		{ "qemu-exit-status", no_argument, NULL, 'Q' },
		{ "hugepages", no_argument, NULL, 'H' },
		{ "disk", required_argument, NULL, 'd' },
		{ "net", required_argument, NULL, 'E' },
		{ "share", required_argument, NULL, 'F' },
		{ "no-rng", no_argument, NULL, 'N' },
		{ "no-acpi", no_argument, NULL, 'A' },
		{ "fw-cfg", required_argument, NULL, 'G' },
		{ "test-devices", no_argument, NULL, 'T' },
		{ "virtio-console", optional_argument, NULL, 'V' },
		{ "no-seccomp", no_argument, NULL, 'X' },
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
		case 'U':
			if (cpu_model_parse(optarg, &cfg->cpu) < 0)
				return usage_error("--cpu: %s", err_msg());
			files->cpu = optarg;
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
		case 'O':
			if (files->nr_modules == BOOT_MAX_MODULES)
				return usage_error("--module: no more than %s modules", "16");
			if (optarg[0] == '\0' || optarg[0] == ',')
				return usage_error("%s", "--module: give a file, then ,ARGS if any");
			files->modules[files->nr_modules++] = optarg;
			break;
		case 'S':
			cfg->control_path = optarg;
			break;
		case 'g':
			if (control_group_lookup(optarg, "/etc/group", &cfg->control_gid) < 0)
				return usage_error("%s", err_msg());
			cfg->control_group = true;
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
		case 'E':
			if (cfg->nr_nets == VM_MAX_NETS)
				return usage_error("--net: no more than %s network devices", "4");
			if (virtio_net_parse_option(optarg, cfg->nr_nets, &cfg->nets[cfg->nr_nets]) < 0)
				return usage_error("%s", err_msg());
			cfg->nr_nets++;
			break;
		case 'F':
			if (cfg->nr_shares == VM_MAX_SHARES)
				return usage_error("--share: no more than %s shared directories", "4");
			if (virtio_fs_parse_option(optarg, &cfg->shares[cfg->nr_shares]) < 0)
				return usage_error("%s", err_msg());
			cfg->nr_shares++;
			break;
		case 'N':
			cfg->rng = false;
			break;
		case 'A':
			cfg->acpi = false;
			break;
		case 'T':
			cfg->test_devices = true;
			break;
		case 'G':
			if (fw_cfg_user_file_parse(files->fw_cfg, &files->nr_fw_cfg, optarg) < 0)
				return usage_error("%s", err_msg());
			break;
		case 'V':
			cfg->virtio_console = true;
			cfg->virtio_console_path = optarg;
			break;
		case 'Q':
			cfg->qemu_exit_status = true;
			break;
		case 'X':
			thread_seccomp_off();
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
	if (cfg->control_group && cfg->control_path == NULL)
		return usage_error("%s", "run: --control-group says who may use --control's socket; "
				   "give --control too");
	if (files->incoming != NULL) {
		if (files->image != NULL || optind < argc)
			return usage_error("%s", "run: --incoming brings the guest; give no image");
		if (files->cpu != NULL)
			return usage_error("%s", "run: --incoming brings the guest's CPU model too; "
					   "give no --cpu");
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

/* Reads each --module FILE[,ARGS]; its command line is "FILE ARGS", as QEMU's and GRUB's. */
static int read_modules(const struct run_files *files, struct boot_module *mods, char **texts)
{
	for (unsigned i = 0; i < files->nr_modules; i++) {
		char *text = texts[i] = strdup(files->modules[i]), *comma;

		if (text == NULL)
			return err_set(-ENOMEM, "out of memory for --module");
		comma = strchr(text, ',');
		if (comma != NULL)
			*comma = '\0';
		mods[i].cmdline = text;
		if (boot_image_read(text, &mods[i].image) < 0)
			return -EIO;
		if (comma != NULL)
			*comma = ' ';
	}
	return 0;
}

static void free_modules(struct boot_module *mods, char **texts, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		boot_image_free(&mods[i].image);
		free(texts[i]);
	}
}

/* --fw-cfg's files are read before anything else: the command line named them, so a
 * problem with one is a usage error. */
static int load_fw_cfg_files(struct run_files *files, struct vm_config *cfg)
{
	for (unsigned i = 0; i < files->nr_fw_cfg; i++) {
		struct fw_cfg_user_file *f = &files->fw_cfg[i];

		if (fw_cfg_user_file_load(f) < 0) {
			fprintf(stderr, "hopvm: %s\n", err_msg());
			return HOPVM_EXIT_USAGE;
		}
		if (f->unusual_name)
			fprintf(stderr, "hopvm: warning: --fw-cfg %s: a name not under \"opt/\" may "
				"clash with one QEMU or hopvm gives (QEMU warns too)\n", f->name);
	}
	cfg->fw_cfg_files = files->fw_cfg;
	cfg->nr_fw_cfg_files = files->nr_fw_cfg;
	return 0;
}

/* One life of the VM, from an empty machine (or one loaded from a migration stream) to its
 * stop; *rebooted says the guest reset the machine rather than ended. */
static bool cpu_warned;

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
	/* Once, not again with each --on-reboot restart. */
	if (vm.cpu_dropped[0] != '\0' && !cpu_warned) {
		fprintf(stderr, "hopvm: warning: --cpu: this host's KVM cannot give the guest %s: "
			"left out (add ,enforce to refuse instead)\n", vm.cpu_dropped);
		cpu_warned = true;
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
	struct run_files files = { 0 };
	struct boot_module modules[BOOT_MAX_MODULES] = { 0 };
	char *module_texts[BOOT_MAX_MODULES] = { 0 };
	bool rebooted;
	int status;

	migration_params_default(&cfg.migration);
	status = parse_run_args(argc, argv, &cfg, &boot, &files);
	if (status == 0)
		status = load_fw_cfg_files(&files, &cfg);
	if (status != 0)
		goto out_image;	/* --fw-cfg's values are already allocated */

	/* A broken console pipe must not kill hopvm while a guest runs. */
	signal(SIGPIPE, SIG_IGN);

	if (files.image != NULL && boot_image_read(files.image, &image) < 0) {
		fprintf(stderr, "hopvm: %s\n", err_msg());
		status = HOPVM_EXIT_ERROR;
		goto out_image;
	}
	if (files.initrd != NULL) {
		if (boot_image_read(files.initrd, &initrd) < 0) {
			fprintf(stderr, "hopvm: --initrd: %s\n", err_msg());
			status = HOPVM_EXIT_ERROR;
			goto out_image;
		}
		boot.initrd = &initrd;
	}
	if (read_modules(&files, modules, module_texts) < 0) {
		fprintf(stderr, "hopvm: --module: %s\n", err_msg());
		status = HOPVM_EXIT_ERROR;
		goto out_image;
	}
	boot.image_name = files.image;
	boot.modules = modules;
	boot.nr_modules = files.nr_modules;
	if (image.data != NULL && (boot.format == BOOT_FORMAT_LINUX ||
	    (boot.format == BOOT_FORMAT_AUTO && bzimage_detect(image.data, image.size))))
		if (kvm_info_stock_kernel_warning() != NULL)
			fprintf(stderr, "hopvm: warning: %s\n", kvm_info_stock_kernel_warning());
	do {
		status = run_vm_once(&cfg, &boot, &files, &image, &rebooted);
		if (rebooted && files.on_reboot_restart)
			fprintf(stderr, "hopvm: starting the guest again (--on-reboot restart)\n");
	} while (rebooted && files.on_reboot_restart);
out_image:
	free_modules(modules, module_texts, files.nr_modules);
	boot_image_free(&initrd);
	boot_image_free(&image);
	for (unsigned i = 0; i < files.nr_fw_cfg; i++)
		fw_cfg_user_file_free(&files.fw_cfg[i]);
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
	/* What became of a failed migration's exec: command, which ran here. */
	if (ret < 0 && err_msg()[0] != '\0')
		fprintf(stderr, "hopvm: %s\n", err_msg());
	return ret < 0 ? HOPVM_EXIT_ERROR : 0;
}

/* Names separated by spaces, as indented lines of at most 90 columns. */
static void print_wrapped(const char *title, const char *names)
{
	unsigned col = 0;

	printf("%s\n", title);
	while (*names != '\0') {
		size_t len = strcspn(names, " ");

		if (col > 0 && col + 1 + len > 90) {
			printf("\n");
			col = 0;
		}
		col += (unsigned)printf("%s%.*s", col == 0 ? "  " : " ", (int)len, names);
		names += len + (names[len] == ' ');
	}
	printf("%s\n", col == 0 ? "  (none)" : "");
}

/* What --cpu can give a guest here, by the names it takes. */
static int print_cpu_features(int kvm_fd, const struct kvm_info *info)
{
	struct kvm_cpuid2 *cpu;
	char names[4096];
	int ret = kvm_info_cpu_available(kvm_fd, info, &cpu);

	if (ret < 0)
		return ret;
	cpu_model_list(cpu, true, names, sizeof(names));
	print_wrapped("CPU features a guest can be given (--cpu host, by /proc/cpuinfo name):",
		      names);
	cpu_model_list(cpu, false, names, sizeof(names));
	print_wrapped("CPU features this host's KVM cannot give:", names);
	if (kvm_info_cap(info, KVM_CAP_TSC_DEADLINE_TIMER) > 0)
		printf("TSC-deadline timer: offered to guests (KVM_CAP_TSC_DEADLINE_TIMER)\n");
	else
		printf("TSC-deadline timer: not offered (this KVM lacks "
		       "KVM_CAP_TSC_DEADLINE_TIMER)\n");
	free(cpu);
	return 0;
}

/* Each kind of thread's filter, as its threads get it. */
static int print_seccomp_tables(void)
{
	char names[4096], title[96];

	printf("System calls each kind of hopvm thread may make (NAME[N]: only N values of the "
	       "argument\nthat matters, such as ioctl requests; [no-exec]: never PROT_EXEC); "
	       "any other ends hopvm.\n");
	for (unsigned k = 0; k < THREAD_KINDS; k++) {
		unsigned n = seccomp_describe(k, names, sizeof(names));

		if (k == THREAD_MAIN)
			snprintf(title, sizeof(title), "the main thread: %u", n);
		else
			snprintf(title, sizeof(title), "%s threads: %u", thread_kind_name(k), n);
		print_wrapped(title, names);
	}
	return 0;
}

static int cmd_info(int argc, char **argv)
{
	bool kind_only = argc > 1 && strcmp(argv[1], "--kind") == 0;
	bool seccomp_only = argc > 1 && strcmp(argv[1], "--seccomp") == 0;
	struct kvm_host host;
	struct kvm_info info;
	char text[512];
	int fd, ret;

	if (argc > 1 && !kind_only && !seccomp_only)
		return usage_error("info: '%s' is not an option (only --kind or --seccomp)",
				   argv[1]);
	if (argc > 2)
		return usage_error(kind_only ? "info: '%s' given besides --kind"
					     : "info: '%s' given besides --seccomp", argv[2]);
	if (seccomp_only)
		return print_seccomp_tables();
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
	printf("KVM API version %d%s\n", info.api_version,
	       info.api_version == KVM_EXPECTED_API_VERSION ? "" : " (hopvm needs 12)");
	printf("capabilities:\n");
	for (unsigned i = 0; i < info.nr_caps; i++)
		printf("  %-26s %-5d %s%s\n", info.caps[i]->name, info.values[i], info.caps[i]->why,
		       info.caps[i]->required ? " (required)" : "");
	printf("vCPUs per VM: up to %d; hopvm's limit: %d\n", kvm_info_max_vcpus(&info),
	       MPTABLE_MAX_CPUS);
	ret = print_cpu_features(fd, &info);
	close(fd);
	if (ret < 0) {
		fprintf(stderr, "hopvm: %s\n", err_msg());
		return HOPVM_EXIT_ERROR;
	}
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
	if (strcmp(cmd, "exec") == 0)
		return cmd_exec(argc - 1, argv + 1);
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
