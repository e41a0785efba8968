/* hopvm exec's init, PID 1 of the guest: it mounts the host's root (virtio-fs) as the new
 * root, runs the one command the records in /hopvm/exec name, and relays the command's input,
 * output and exit status as frames over hvc0 (include/hopvm/exec_abi.h; the command and the
 * relay are in relay.c).  Every path ends in a power-off: PID 1 exiting would panic the kernel.
 *
 * Built with -DEXEC_INIT_TEST it can also run on a host, for tests/unit/test_exec_init.c:
 * with HOPVM_INIT_TEST_CHANNEL=FD and HOPVM_INIT_TEST_CONFIG=PATH in its environment it skips
 * the guest's setup (mounts, modules, hvc0, chroot), reads its records from PATH, relays over
 * FD (a socketpair end) and exits where it would power off. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "exec_init.h"

#define NEWROOT "/newroot"
#define OVERLAYS "/overlays"
/* virtio_console creates hvc0 from a workqueue after the module loads. */
#define CHANNEL_WAIT_MS 5000

#ifdef EXEC_INIT_TEST
bool test_mode;
#endif
int channel = -1;
static bool channel_broken;	/* a write to it failed: the host is gone, output goes nowhere */

/* --- frames and the end of every path ---------------------------------------------------- */

/* test_exit_status: what the test build exits with instead (0 after STATUS, 1 after ERROR). */
static _Noreturn void power_off(int test_exit_status)
{
	if (test_mode)
		_exit(test_exit_status);
	reboot(RB_POWER_OFF);
	/* reboot() returns only on failure; exiting would panic the kernel instead. */
	for (;;)
		pause();
}

/* 0, or -errno: hvc0 takes what its buffers hold, so a write may be partial. */
static int write_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void send_frame(enum exec_frame_type type, const void *payload, size_t len)
{
	static uint8_t frame[EXEC_FRAME_HEADER + EXEC_FRAME_MAX];
	int ret;

	if (channel < 0 || channel_broken)
		return;
	if (len > EXEC_FRAME_MAX)
		len = EXEC_FRAME_MAX;	/* only messages could be longer; they get cut */
	memset(frame, 0, EXEC_FRAME_HEADER);
	frame[0] = (uint8_t)type;
	for (int i = 0; i < 4; i++)
		frame[4 + i] = (uint8_t)(len >> (8 * i));
	if (len > 0)	/* READY has no payload, maybe not even a pointer */
		memcpy(frame + EXEC_FRAME_HEADER, payload, len);
	ret = write_all(channel, frame, EXEC_FRAME_HEADER + len);
	if (ret < 0) {
		fprintf(stderr, "hopvm init: writing to the channel: %s; output is dropped\n",
			strerror(-ret));
		channel_broken = true;
	}
}

static int open_channel(void);

void fail(int err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (len < 0)
		len = 0;
	if (err != 0 && (size_t)len < sizeof(msg))
		len += snprintf(msg + len, sizeof(msg) - (size_t)len, ": %s", strerror(err));
	if ((size_t)len >= sizeof(msg))
		len = sizeof(msg) - 1;
	fprintf(stderr, "hopvm init: %s\n", msg);
	/* A failure before hvc0 was opened (a record, a module) still reaches the host if
	 * virtio_console is there. */
	if (channel < 0 && !test_mode)
		channel = open_channel();
	send_frame(EXEC_FRAME_ERROR, msg, (size_t)len);
	power_off(1);
}

/* --- the records ------------------------------------------------------------------------- */

const char *record_value(const char *record, const char *key)
{
	size_t key_len = strlen(key);

	if (strncmp(record, key, key_len) == 0 && record[key_len] == '=')
		return record + key_len + 1;
	return NULL;
}

#define for_each_record(cfg, r) \
	for (const char *r = (cfg)->records; r < (cfg)->records + (cfg)->size; r += strlen(r) + 1)

static unsigned long parse_id(const char *record, const char *text)
{
	char *end;
	unsigned long value;

	errno = 0;
	value = strtoul(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || value >= UINT32_MAX)
		fail(0, "%s: not an id", record);
	return value;
}

static void *alloc_or_fail(size_t count, size_t size)
{
	void *p = calloc(count, size);

	if (p == NULL)
		fail(ENOMEM, "reading " EXEC_CONFIG_PATH);
	return p;
}

static void parse_groups(struct exec_config *cfg, const char *record, const char *list)
{
	size_t count = *list != '\0';

	for (const char *c = list; *c != '\0'; c++)
		count += *c == ',';
	cfg->groups = alloc_or_fail(count + 1, sizeof(gid_t));
	for (const char *item = list; *item != '\0'; cfg->group_count++) {
		char text[16];
		size_t len = strcspn(item, ",");

		if (len == 0 || len >= sizeof(text))
			fail(0, "%s: not a list of ids", record);
		memcpy(text, item, len);
		text[len] = '\0';
		cfg->groups[cfg->group_count] = (gid_t)parse_id(record, text);
		item += len + (item[len] == ',');
	}
	cfg->has_groups = true;
}

static void read_config(const char *path, struct exec_config *cfg)
{
	static const char *const keys[] = { "module", "root", "tmpfs", "overlay", "share", "uid",
					    "gid", "groups", "cwd", "env", "arg" };
	size_t capacity = 4096, argc = 0, envc = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		fail(errno, "open %s", path);
	memset(cfg, 0, sizeof(*cfg));
	cfg->records = alloc_or_fail(capacity, 1);
	for (;;) {
		ssize_t n;

		if (cfg->size == capacity) {
			capacity *= 2;
			cfg->records = realloc(cfg->records, capacity);
			if (cfg->records == NULL)
				fail(ENOMEM, "reading %s", path);
		}
		n = read(fd, cfg->records + cfg->size, capacity - cfg->size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail(errno, "read %s", path);
		if (n == 0)
			break;
		cfg->size += (size_t)n;
	}
	close(fd);
	if (cfg->size > 0 && cfg->records[cfg->size - 1] != '\0')
		fail(0, "%s: the last record has no terminating NUL", path);

	for_each_record(cfg, r) {
		bool known = false;

		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			known |= record_value(r, keys[i]) != NULL;
		if (!known)
			fail(0, "%s: unknown record \"%s\"", path, r);
		argc += record_value(r, "arg") != NULL;
		envc += record_value(r, "env") != NULL;
	}
	if (argc == 0)
		fail(0, "%s: no command (no arg= record)", path);
	cfg->argv = alloc_or_fail(argc + 1, sizeof(char *));
	cfg->envp = alloc_or_fail(envc + 1, sizeof(char *));
	argc = envc = 0;
	for_each_record(cfg, r) {
		const char *v;

		/* The records are the file's own bytes, which nothing else writes. */
		if ((v = record_value(r, "arg")))
			cfg->argv[argc++] = (char *)(uintptr_t)v;
		else if ((v = record_value(r, "env")))
			cfg->envp[envc++] = (char *)(uintptr_t)v;
		else if ((v = record_value(r, "root")))
			cfg->root_tag = v;
		else if ((v = record_value(r, "cwd")))
			cfg->cwd = v;
		else if ((v = record_value(r, "uid"))) {
			cfg->uid = (uid_t)parse_id(r, v);
			cfg->has_uid = true;
		} else if ((v = record_value(r, "gid"))) {
			cfg->gid = (gid_t)parse_id(r, v);
			cfg->has_gid = true;
		} else if ((v = record_value(r, "groups")))
			parse_groups(cfg, r, v);
	}
}

/* --- the guest's setup ------------------------------------------------------------------- */

static void make_dir(const char *path)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		fail(errno, "mkdir %s", path);
}

/* what names the mount in the message: "mount virtiofs root on /newroot: No such device". */
static void mount_or_fail(const char *what, const char *source, const char *target,
			  const char *type, unsigned long flags, const char *options)
{
	if (mount(source, target, type, flags, options) < 0)
		fail(errno, "mount %s on %s", what, target);
}

static void mount_early(void)
{
	make_dir("/dev");
	make_dir("/proc");
	make_dir("/sys");
	/* EBUSY: the kernel mounted devtmpfs itself (CONFIG_DEVTMPFS_MOUNT). */
	if (mount("devtmpfs", "/dev", "devtmpfs", 0, NULL) < 0 && errno != EBUSY)
		fail(errno, "mount devtmpfs on /dev");
	mount_or_fail("proc", "proc", "/proc", "proc", 0, NULL);
	mount_or_fail("sysfs", "sysfs", "/sys", "sysfs", 0, NULL);
	/* Without /dev/console in the initramfs the kernel started us with no fds 0-2; a
	 * pipe must not take their numbers, or the command's dup2s would close it. */
	for (int fd = 0; fd < 3; fd++) {
		int opened;

		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		opened = open("/dev/console", O_RDWR | O_NOCTTY);
		if (opened < 0)
			opened = open("/dev/null", O_RDWR);
		if (opened >= 0 && opened != fd) {
			dup2(opened, fd);
			close(opened);
		}
	}
}

static void load_modules(const struct exec_config *cfg)
{
	for_each_record(cfg, r) {
		const char *name = record_value(r, "module");
		char path[PATH_MAX];
		int fd;

		if (name == NULL)
			continue;
		if (strchr(name, '/') != NULL ||
		    (size_t)snprintf(path, sizeof(path), EXEC_MODULES_DIR "/%s", name) >= sizeof(path))
			fail(0, "%s: not a module's file name", r);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			fail(errno, "open %s", path);
		/* EEXIST: built into the kernel or loaded already. */
		if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
			fail(errno, "load module %s", name);
		close(fd);
	}
}

/* hvc0 in raw mode, or -errno.  Raw: the host's bytes are frames, not a line to echo. */
static int open_channel(void)
{
	struct timespec pause_ts = { 0, 20 * 1000 * 1000 };
	struct termios tio;
	int fd, err;

	for (int waited_ms = 0;; waited_ms += 20) {
		fd = open(EXEC_CHANNEL_DEV, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (fd >= 0 || (errno != ENOENT && errno != ENODEV && errno != ENXIO) ||
		    waited_ms >= CHANNEL_WAIT_MS)
			break;
		nanosleep(&pause_ts, NULL);
	}
	if (fd < 0)
		return -errno;
	if (tcgetattr(fd, &tio) < 0)
		goto fail;
	cfmakeraw(&tio);
	tio.c_cc[VMIN] = 1;
	tio.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSANOW, &tio) < 0)
		goto fail;
	return fd;
fail:
	err = errno;
	close(fd);
	return -err;
}

/* NEWROOT followed by path, which must be absolute. */
static void newroot_path(char *out, size_t size, const char *record, const char *path)
{
	if (path[0] != '/' || (size_t)snprintf(out, size, NEWROOT "%s", path) >= size)
		fail(0, "%s: not an absolute path", record);
}

static void mount_overlay(const char *record, const char *path, unsigned int index)
{
	char target[PATH_MAX], dir[64], options[2 * PATH_MAX];
	struct stat st;

	newroot_path(target, sizeof(target), record, path);
	/* The share decides what exists; a missing PATH has nothing to make writable. */
	if (stat(target, &st) < 0) {
		fprintf(stderr, "hopvm init: overlay %s skipped: %s\n", path, strerror(errno));
		return;
	}
	/* The option string separates with ',' and ':' (lowerdir lists). */
	if (strpbrk(path, ",:\\") != NULL)
		fail(0, "%s: a path with ',', ':' or '\\' cannot be an overlay's lower directory",
		     record);
	snprintf(dir, sizeof(dir), OVERLAYS "/%u", index);
	make_dir(dir);
	mount_or_fail("tmpfs for an overlay", "tmpfs", dir, "tmpfs", 0, "mode=0755");
	snprintf(options, sizeof(options), "%s/upper", dir);
	make_dir(options);
	snprintf(options, sizeof(options), "%s/work", dir);
	make_dir(options);
	snprintf(options, sizeof(options), "lowerdir=%s,upperdir=%s/upper,workdir=%s/work", target,
		 dir, dir);
	mount_or_fail("overlay", "overlay", target, "overlay", 0, options);
}

/* An empty tmpfs as the directory it covers was: /tmp stays 1777, /run 0755 and root's. */
static void mount_tmpfs(const char *target)
{
	char options[64];
	struct stat st;

	if (stat(target, &st) < 0)
		fail(errno, "mount tmpfs on %s", target);
	snprintf(options, sizeof(options), "mode=%o,uid=%u,gid=%u", (unsigned int)st.st_mode & 07777,
		 (unsigned int)st.st_uid, (unsigned int)st.st_gid);
	mount_or_fail("tmpfs", "tmpfs", target, "tmpfs", 0, options);
}

static void mount_share(const char *record, const char *value)
{
	char tag[256], target[PATH_MAX];
	const char *colon = strchr(value, ':');

	if (colon == NULL || colon == value || (size_t)(colon - value) >= sizeof(tag))
		fail(0, "%s: not TAG:PATH", record);
	memcpy(tag, value, (size_t)(colon - value));
	tag[colon - value] = '\0';
	newroot_path(target, sizeof(target), record, colon + 1);
	if (mount(tag, target, "virtiofs", 0, NULL) < 0)
		fail(errno, "mount virtiofs %s on %s", tag, target);
}

/* The new root, in the records' order (a tmpfs on /run before a share under it), then the
 * kernel's file systems inside it; the init ends up in it. */
static void mount_root(const struct exec_config *cfg)
{
	unsigned int overlays = 0;

	if (cfg->root_tag == NULL)
		fail(0, EXEC_CONFIG_PATH ": no root= record");
	make_dir(NEWROOT);
	mount_or_fail("virtiofs root", cfg->root_tag, NEWROOT, "virtiofs", MS_RDONLY, NULL);
	make_dir(OVERLAYS);
	for_each_record(cfg, r) {
		char target[PATH_MAX];
		const char *v;

		if ((v = record_value(r, "tmpfs"))) {
			newroot_path(target, sizeof(target), r, v);
			mount_tmpfs(target);
		} else if ((v = record_value(r, "overlay"))) {
			mount_overlay(r, v, overlays++);
		} else if ((v = record_value(r, "share"))) {
			mount_share(r, v);
		}
	}
	mount_or_fail("proc", "proc", NEWROOT "/proc", "proc", 0, NULL);
	mount_or_fail("sysfs", "sysfs", NEWROOT "/sys", "sysfs", 0, NULL);
	mount_or_fail("devtmpfs", "devtmpfs", NEWROOT "/dev", "devtmpfs", 0, NULL);
	make_dir(NEWROOT "/dev/pts");
	mount_or_fail("devpts", "devpts", NEWROOT "/dev/pts", "devpts", 0,
		      "newinstance,ptmxmode=0666,mode=0620");
	/* devtmpfs's ptmx opens the first devpts instance; the command's ptys belong in its own,
	 * whose ptmx the bind puts where programs look. */
	if (access(NEWROOT "/dev/ptmx", F_OK) < 0) {
		int fd = open(NEWROOT "/dev/ptmx", O_WRONLY | O_CREAT | O_CLOEXEC, 0666);

		if (fd < 0)
			fail(errno, "create " NEWROOT "/dev/ptmx");
		close(fd);
	}
	mount_or_fail("/dev/pts/ptmx", NEWROOT "/dev/pts/ptmx", NEWROOT "/dev/ptmx", NULL, MS_BIND,
		      NULL);
	make_dir(NEWROOT "/dev/shm");
	mount_or_fail("tmpfs", "tmpfs", NEWROOT "/dev/shm", "tmpfs", 0, "mode=1777");
	if (chroot(NEWROOT) < 0)
		fail(errno, "chroot " NEWROOT);
	if (chdir("/") < 0)
		fail(errno, "chdir / in " NEWROOT);
}

/* A missing working directory is the command's problem, not the init's: it runs in /, told so
 * on its error stream. */
static void enter_cwd(const struct exec_config *cfg)
{
	char warning[PATH_MAX + 128];

	if (cfg->cwd == NULL || chdir(cfg->cwd) == 0)
		return;
	snprintf(warning, sizeof(warning), "hopvm exec: warning: cannot enter %s (%s); "
		 "running in /\n", cfg->cwd, strerror(errno));
	if (chdir("/") < 0)
		fail(errno, "chdir /");
	send_frame(EXEC_FRAME_STDERR, warning, strlen(warning));
}

int main(void)
{
	const char *config_path = EXEC_CONFIG_PATH;
	struct exec_config cfg;
	uint8_t status_le[4];
	int status;

#ifdef EXEC_INIT_TEST
	const char *test_channel = getenv("HOPVM_INIT_TEST_CHANNEL");

	if (test_channel != NULL) {
		test_mode = true;
		channel = atoi(test_channel);
		/* As hvc0 is opened: the command must not hold the host's end open. */
		if (fcntl(channel, F_SETFD, FD_CLOEXEC) < 0)
			fail(errno, "HOPVM_INIT_TEST_CHANNEL=%s", test_channel);
		config_path = getenv("HOPVM_INIT_TEST_CONFIG");
		if (config_path == NULL)
			fail(0, "HOPVM_INIT_TEST_CONFIG is not set");
	}
#endif
	/* Neither a command that closes its input nor a host that hangs up may end the init. */
	signal(SIGPIPE, SIG_IGN);
	if (!test_mode)
		mount_early();
	read_config(config_path, &cfg);
	if (!test_mode) {
		load_modules(&cfg);
		channel = open_channel();
		if (channel < 0)
			fail(-channel, "open " EXEC_CHANNEL_DEV " in raw mode");
	}
	send_frame(EXEC_FRAME_READY, NULL, 0);
	if (!test_mode)
		mount_root(&cfg);
	enter_cwd(&cfg);

	status = run_command(&cfg);
	/* The host may stop the VM as soon as it has the status: what the command wrote to the
	 * shares must be on the host's disk by then. */
	sync();
	for (int i = 0; i < 4; i++)
		status_le[i] = (uint8_t)((uint32_t)status >> (8 * i));
	send_frame(EXEC_FRAME_STATUS, status_le, sizeof(status_le));
	power_off(0);
}
