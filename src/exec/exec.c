/* hopvm exec [options] -- COMMAND [ARG...]: the subcommand.  It finds the kernel and its
 * modules, writes the initramfs, and runs a VM whose root is this machine's "/" over
 * virtio-fs, with the command's streams on hvc0; hopvm exits with the command's status, or
 * EXEC_EXIT_FAILED with one line saying why the command never ended in the guest. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "hopvm/error.h"
#include "hopvm/exec.h"
#include "hopvm/exec_relay.h"
#include "hopvm/kvm_info.h"
#include "hopvm/mptable.h"
#include "hopvm/size.h"
#include "hopvm/threads.h"
#include "hopvm/vm.h"

#define DEFAULT_MEM (1ULL << 30)
#define DEFAULT_MAX_CPUS 2
#define KERNEL_LOG_TAIL 2048	/* what a failure shows of the kernel's messages */

extern char **environ;

struct exec_options {
	const char *kernel;
	const char *modules;
	const char *kernel_log;
	const char *cmdline;
	const char *rwdirs[EXEC_MAX_RWDIRS];
	unsigned nr_rwdirs;
	bool as_root, verbose;
	struct vm_config cfg;
	char **argv;
};

static void exec_usage(FILE *out)
{
	fprintf(out,
		"usage: hopvm exec [options] -- COMMAND [ARG...]\n"
		"Boots a Linux kernel whose root is this machine's \"/\", read-only over virtio-fs\n"
		"(with /etc, /var, /tmp and your home writable, their changes gone at the end, and\n"
		"an empty /run), runs COMMAND there in the current directory with hopvm's stdin,\n"
		"stdout and stderr, and exits with its status (%d if it never ended there).\n"
		"\n"
		"  -k, --kernel BZIMAGE    the kernel (default: the running one, /boot/vmlinuz-$(uname -r))\n"
		"      --modules DIR       its modules: DIR/lib/modules/VERSION, as `make modules_install\n"
		"                          INSTALL_MOD_PATH=DIR` leaves them (default: /lib/modules/VERSION,\n"
		"                          or lib/modules/VERSION beside the kernel's boot/)\n"
		"      --rwdir PATH        share PATH writable, at the same path (up to %d)\n"
		"      --root              run COMMAND as root (default: as you)\n"
		"  -c, --cpus N            vCPUs (default: 2, or fewer host CPUs)\n"
		"  -m, --mem SIZE          guest RAM (default 1G)\n"
		"      --net tap=NAME[,mac=MAC]  a virtio-net NIC, as hopvm run's (default: none)\n"
		"      --cmdline TEXT      more for the kernel's command line\n"
		"      --kernel-log FILE   the kernel's messages into FILE (default: nowhere)\n"
		"  -v, --verbose           the kernel's messages on stderr\n"
		"      --no-seccomp        run without the system call filters\n",
		EXEC_EXIT_FAILED, EXEC_MAX_RWDIRS);
}

static int exec_usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "hopvm exec: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n(try 'hopvm exec --help')\n");
	return EXEC_EXIT_FAILED;
}

static int parse_exec_args(int argc, char **argv, struct exec_options *o)
{
	static const struct option options[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "modules", required_argument, NULL, 'M' },
		{ "rwdir", required_argument, NULL, 'W' },
		{ "root", no_argument, NULL, 'r' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "mem", required_argument, NULL, 'm' },
		{ "net", required_argument, NULL, 'E' },
		{ "cmdline", required_argument, NULL, 'C' },
		{ "kernel-log", required_argument, NULL, 'L' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "no-seccomp", no_argument, NULL, 'X' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long host_cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int opt;

	o->cfg.nr_vcpus = host_cpus > 0 && host_cpus < DEFAULT_MAX_CPUS ? (unsigned)host_cpus
									  : DEFAULT_MAX_CPUS;
	o->cfg.ram_size = DEFAULT_MEM;
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+:k:c:m:vh", options, NULL)) != -1) {
		switch (opt) {
		case 'k':
			o->kernel = optarg;
			break;
		case 'M':
			o->modules = optarg;
			break;
		case 'W':
			if (o->nr_rwdirs == EXEC_MAX_RWDIRS)
				return exec_usage_error("--rwdir: no more than %s", "3");
			o->rwdirs[o->nr_rwdirs++] = optarg;
			break;
		case 'r':
			o->as_root = true;
			break;
		case 'c': {
			char *end;
			unsigned long n = strtoul(optarg, &end, 10);

			if (*optarg < '0' || *optarg > '9' || *end != '\0' || n < 1 ||
			    n > MPTABLE_MAX_CPUS)
				return exec_usage_error("--cpus: '%s' is not a CPU count", optarg);
			o->cfg.nr_vcpus = (unsigned)n;
			break;
		}
		case 'm':
			if (parse_size(optarg, &o->cfg.ram_size) < 0)
				return exec_usage_error("--mem: %s", err_msg());
			break;
		case 'E':
			if (o->cfg.nr_nets == VM_MAX_NETS)
				return exec_usage_error("--net: no more than %s", "4");
			if (virtio_net_parse_option(optarg, o->cfg.nr_nets,
						    &o->cfg.nets[o->cfg.nr_nets]) < 0)
				return exec_usage_error("%s", err_msg());
			o->cfg.nr_nets++;
			break;
		case 'C':
			o->cmdline = optarg;
			break;
		case 'L':
			o->kernel_log = optarg;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'X':
			thread_seccomp_off();
			break;
		case 'h':
			exec_usage(stdout);
			exit(0);
		case ':':
			return exec_usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			return exec_usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return exec_usage_error("%s", "no command given: hopvm exec [options] -- COMMAND");
	o->argv = argv + optind;
	return 0;
}

/* The running kernel's image, as virtme-ng takes it. */
static int default_kernel(char *path, size_t len)
{
	struct utsname u;

	if (uname(&u) < 0)
		return err_set(-errno, "uname: %s", strerror(errno));
	snprintf(path, len, "/boot/vmlinuz-%s", u.release);
	if (access(path, R_OK) < 0)
		return err_set(-ENOENT, "no --kernel given, and the running kernel's image %s "
			       "cannot be read (%s): give --kernel BZIMAGE", path, strerror(errno));
	return 0;
}

/* Where the kernel's messages go: a file, stderr, or a memory file whose end a failure shows. */
static int kernel_log_fd(const struct exec_options *o)
{
	int fd;

	if (o->verbose)
		return dup(STDERR_FILENO);
	if (o->kernel_log != NULL) {
		fd = open(o->kernel_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			return err_set(-errno, "--kernel-log: cannot open %s: %s", o->kernel_log,
				       strerror(errno));
		return fd;
	}
	fd = memfd_create("hopvm-kernel-log", MFD_CLOEXEC);
	return fd < 0 ? err_set(-errno, "memfd_create: %s", strerror(errno)) : fd;
}

static void print_kernel_log_tail(int fd)
{
	char buf[KERNEL_LOG_TAIL + 1];
	off_t end = lseek(fd, 0, SEEK_END);
	ssize_t n;

	if (end <= 0)
		return;
	n = pread(fd, buf, KERNEL_LOG_TAIL, end > KERNEL_LOG_TAIL ? end - KERNEL_LOG_TAIL : 0);
	if (n <= 0)
		return;
	buf[n] = '\0';
	fprintf(stderr, "hopvm exec: the kernel's last messages:\n%s%s", buf,
		buf[n - 1] == '\n' ? "" : "\n");
}

/* The writable paths: a home that is "/" or missing is left alone. */
static const char *const tmpfs_dirs[] = { "/run", NULL };

static int build_plan(const struct exec_options *o, struct exec_plan *plan,
		      const char **overlays, unsigned *groups, char *cwd, size_t cwd_len)
{
	const char *home = getenv("HOME");
	struct stat st;
	unsigned n = 0;
	int nr_groups;
	gid_t gids[64];

	overlays[n++] = "/etc";
	overlays[n++] = "/var";
	overlays[n++] = "/tmp";
	if (home != NULL && home[0] == '/' && home[1] != '\0' && stat(home, &st) == 0 &&
	    S_ISDIR(st.st_mode))
		overlays[n++] = home;
	overlays[n] = NULL;
	plan->overlays = overlays;
	plan->tmpfs = tmpfs_dirs;
	if (getcwd(cwd, cwd_len) == NULL)
		return err_set(-errno, "getcwd: %s", strerror(errno));
	plan->cwd = cwd;
	plan->uid = o->as_root ? 0 : getuid();
	plan->gid = o->as_root ? 0 : getgid();
	nr_groups = o->as_root ? 0 : getgroups(64, gids);
	if (nr_groups < 0)
		return err_set(-errno, "getgroups: %s", strerror(errno));
	for (int i = 0; i < nr_groups; i++)
		groups[i] = gids[i];
	plan->groups = groups;
	plan->nr_groups = (unsigned)nr_groups;
	plan->env = environ;
	plan->argv = o->argv;
	return 0;
}

/* The machine: the share of "/", the channel on hvc0, the --rwdir shares. */
static int build_vm_config(struct exec_options *o, struct exec_plan *plan, int chan_fd,
			   int log_fd, char rwdir_paths[][PATH_MAX])
{
	struct vm_config *cfg = &o->cfg;
	struct virtio_fs_option *root = &cfg->shares[cfg->nr_shares++];

	cfg->console_fd = log_fd;
	cfg->input_fd = -1;
	cfg->rng = true;
	cfg->acpi = true;
	cfg->virtio_console = true;
	cfg->virtio_console_channel = true;
	cfg->virtio_console_fd = chan_fd;
	migration_params_default(&cfg->migration);
	strcpy(root->path, "/");
	strcpy(root->tag, EXEC_ROOT_TAG);
	root->read_only = true;
	for (unsigned i = 0; i < o->nr_rwdirs; i++) {
		struct virtio_fs_option *s = &cfg->shares[cfg->nr_shares++];
		struct stat st;

		if (realpath(o->rwdirs[i], rwdir_paths[i]) == NULL)
			return err_set(-errno, "--rwdir %s: %s", o->rwdirs[i], strerror(errno));
		if (stat(rwdir_paths[i], &st) < 0 || !S_ISDIR(st.st_mode))
			return err_set(-ENOTDIR, "--rwdir %s: not a directory", o->rwdirs[i]);
		strcpy(s->path, rwdir_paths[i]);
		snprintf(s->tag, sizeof(s->tag), EXEC_RWDIR_TAG "%u", i);
		s->read_only = false;
		plan->rwdirs[i] = rwdir_paths[i];
	}
	plan->nr_rwdirs = o->nr_rwdirs;
	return 0;
}

/* The modules every exec needs, and those --net asks for. */
static void wanted_modules(const struct exec_options *o, const char **mods)
{
	unsigned n = 0;

	mods[n++] = "virtio_pci";
	mods[n++] = "virtio_console";
	mods[n++] = "virtiofs";
	mods[n++] = "overlay";
	if (o->cfg.nr_nets > 0)
		mods[n++] = "virtio_net";
	mods[n] = NULL;
}

static int report_failure(const struct exec_relay *relay, const struct vm *vm, int vm_status,
			  const struct exec_plan *plan, int log_fd, bool verbose)
{
	switch (relay->outcome) {
	case EXEC_RELAY_STATUS:
		return relay->status;
	case EXEC_RELAY_ERROR:
		fprintf(stderr, "hopvm exec: the guest could not run the command: %s\n",
			relay->message);
		if (plan->modules_dir == NULL)
			fprintf(stderr, "hopvm exec: no modules were found for kernel %s: it needs "
				"virtio-pci, virtio-console, virtiofs and overlayfs built in, or "
				"--modules DIR\n", plan->kernel_version);
		break;
	case EXEC_RELAY_BROKEN:
		fprintf(stderr, "hopvm exec: %s\n", relay->message);
		break;
	case EXEC_RELAY_RUNNING:
		if (vm->rebooted)
			fprintf(stderr, "hopvm exec: the guest's kernel restarted before the command "
				"ended (a kernel panic?)\n");
		else if (vm->stop_message[0] != '\0')
			fprintf(stderr, "hopvm exec: the guest stopped before the command ended: "
				"%s\n", vm->stop_message);
		else
			fprintf(stderr, "hopvm exec: the guest stopped before the command ended "
				"(status %d)\n", vm_status);
		if (!verbose)
			print_kernel_log_tail(log_fd);
		break;
	}
	return EXEC_EXIT_FAILED;
}

static int run(struct exec_options *o, struct exec_plan *plan, const struct boot_image *kernel,
	       const struct boot_image *initrd, int chan[2], int log_fd)
{
	char cmdline[4096];
	struct boot_options boot = { .format = BOOT_FORMAT_LINUX, .cmdline = cmdline,
				     .initrd = initrd };
	struct boot_info info = { .format = BOOT_FORMAT_AUTO };
	struct exec_relay relay;
	struct vm vm;
	int status = EXEC_EXIT_FAILED, vm_status;

	snprintf(cmdline, sizeof(cmdline), "console=ttyS0 panic=-1 rdinit=/init%s%s%s",
		 o->verbose ? "" : " quiet", o->cmdline ? " " : "", o->cmdline ? o->cmdline : "");
	if (exec_relay_init(&relay, chan[0], STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO,
			    &vm) < 0) {
		fprintf(stderr, "hopvm exec: %s\n", err_msg());
		return EXEC_EXIT_FAILED;
	}
	if (vm_init(&vm, &o->cfg) < 0 || boot_load_image(&vm.mem, kernel, &boot, &info) < 0 ||
	    vm_create_kvm(&vm) < 0 || exec_relay_start(&relay) < 0) {
		fprintf(stderr, "hopvm exec: %s\n", err_msg());
		goto out;
	}
	vm_status = vm_run(&vm, &info);
	exec_relay_finish(&relay);
	/* The device's end may still be writing what nobody reads now: it gets EPIPE. */
	close(chan[0]);
	chan[0] = -1;
	status = report_failure(&relay, &vm, vm_status, plan, log_fd, o->verbose);
out:
	exec_relay_free(&relay);
	vm_destroy(&vm);
	return status;
}

int cmd_exec(int argc, char **argv)
{
	static struct exec_options o;
	struct exec_plan plan = { 0 };
	struct boot_image kernel = { NULL, 0 }, initrd = { NULL, 0 };
	static char kernel_path[PATH_MAX], cwd[PATH_MAX], rwdir_paths[EXEC_MAX_RWDIRS][PATH_MAX];
	const char *overlays[8], *modules[8];
	unsigned groups[64];
	int chan[2] = { -1, -1 }, log_fd = -1, status = EXEC_EXIT_FAILED;

	status = parse_exec_args(argc, argv, &o);
	if (status != 0)
		return status;
	status = EXEC_EXIT_FAILED;
	signal(SIGPIPE, SIG_IGN);
	if (o.kernel == NULL && default_kernel(kernel_path, sizeof(kernel_path)) < 0) {
		fprintf(stderr, "hopvm exec: %s\n", err_msg());
		return EXEC_EXIT_FAILED;
	}
	if (o.kernel == NULL)
		o.kernel = kernel_path;
	if (boot_image_read(o.kernel, &kernel) < 0 ||
	    bzimage_kernel_version(kernel.data, kernel.size, plan.kernel_version,
				   sizeof(plan.kernel_version)) < 0) {
		fprintf(stderr, "hopvm exec: %s: %s\n", o.kernel, err_msg());
		goto out;
	}
	wanted_modules(&o, modules);
	plan.modules = modules;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, chan) < 0) {
		fprintf(stderr, "hopvm exec: socketpair: %s\n", strerror(errno));
		goto out;
	}
	if (build_plan(&o, &plan, overlays, groups, cwd, sizeof(cwd)) < 0 ||
	    (log_fd = kernel_log_fd(&o)) < 0 ||
	    build_vm_config(&o, &plan, chan[1], log_fd, rwdir_paths) < 0 ||
	    exec_find_modules(&plan, o.kernel, o.modules) < 0 ||
	    exec_initramfs_build(&plan, &initrd) < 0) {
		fprintf(stderr, "hopvm exec: %s\n", err_msg());
		goto out;
	}
	if (kvm_info_stock_kernel_warning() != NULL)
		fprintf(stderr, "hopvm exec: warning: %s\n", kvm_info_stock_kernel_warning());
	status = run(&o, &plan, &kernel, &initrd, chan, log_fd);
out:
	boot_image_free(&initrd);
	boot_image_free(&kernel);
	for (int i = 0; i < 2; i++)
		if (chan[i] >= 0)
			close(chan[i]);
	if (log_fd >= 0)
		close(log_fd);
	return status;
}
