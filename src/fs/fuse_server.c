/* The FUSE server: opening the share, taking a request apart (header, arguments, names) over
 * buffers split anywhere, dispatching it, and writing the reply. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fuse_internal.h"
#include "hopvm/error.h"

/* Linux's virtiofs never sends less than 7.31; the replies' layouts need at least 7.12. */
#define MIN_MINOR 12
#define RO_TIMEOUT 86400
#define RW_TIMEOUT 1

#define OFFERED_FLAGS (FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_DO_READDIRPLUS | \
		       FUSE_READDIRPLUS_AUTO | FUSE_PARALLEL_DIROPS | FUSE_ATOMIC_O_TRUNC | \
		       FUSE_EXPORT_SUPPORT | FUSE_MAX_PAGES)

/* What the server asks for, as virtiofsd does: a guest keeps every inode it looked up (a
 * read-only share's entries live for a day), and a find over /usr is ~150,000. */
#define WANTED_NOFILE 1000000

/* fs.nr_open: no hard limit can be raised above it. */
static rlim_t nr_open(void)
{
	unsigned long n = 1048576;
	FILE *f = fopen("/proc/sys/fs/nr_open", "re");

	if (f != NULL) {
		if (fscanf(f, "%lu", &n) != 1)
			n = 1048576;
		fclose(f);
	}
	return n;
}

/* Every node the guest holds costs an fd: raise the limit as far as allowed (the hard limit
 * too, with CAP_SYS_RESOURCE: under a busybox init it is the kernel's 4096), and keep some
 * for the rest of hopvm (sockets, images, eventfds) whatever the guest does. */
static uint32_t fd_budget(void)
{
	rlim_t want = nr_open() < WANTED_NOFILE ? nr_open() : WANTED_NOFILE;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 64;
	if (rl.rlim_max < want) {
		struct rlimit raised = { want, want };

		/* EPERM without the capability: the hard limit stays as it is. */
		if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
			rl = raised;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0 && getrlimit(RLIMIT_NOFILE, &rl) < 0)
			return 64;
	}
	if (rl.rlim_cur > UINT32_MAX)
		rl.rlim_cur = UINT32_MAX;
	return rl.rlim_cur > 1024 ? (uint32_t)rl.rlim_cur - 512 : (uint32_t)rl.rlim_cur / 2;
}

/* The process umask, read without changing it (umask() would, for every thread). */
static mode_t host_umask(void)
{
	char line[128];
	unsigned mask = 022;
	FILE *f = fopen("/proc/self/status", "re");

	if (f == NULL)
		return 022;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "Umask: %o", &mask) == 1)
			break;
	fclose(f);
	return (mode_t)mask & 0777;
}

int fuse_server_open(struct fuse_server **out, const char *root_path, bool read_only)
{
	struct fuse_server *s;
	struct stat st;
	int root_fd, ret;

	*out = NULL;
	/* The operator's path, so following a symlink to the share is fine here. */
	root_fd = open(root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		return err_set(-errno, "virtio-fs share %s: %s", root_path, strerror(errno));
	if (fstat(root_fd, &st) < 0) {
		ret = err_set(-errno, "virtio-fs share %s: %s", root_path, strerror(errno));
		close(root_fd);
		return ret;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		close(root_fd);
		return err_set(-ENOMEM, "virtio-fs share %s: out of memory", root_path);
	}
	s->proc_fd = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (s->proc_fd < 0) {
		ret = err_set(-errno, "virtio-fs: /proc/self/fd: %s", strerror(errno));
		close(root_fd);
		free(s);
		return ret;
	}
	ret = fuse_tables_init(s, root_fd, &st);
	if (ret < 0) {
		err_set(ret, "virtio-fs share %s: %s", root_path, strerror(-ret));
		close(root_fd);
		close(s->proc_fd);
		free(s->nodes);
		free(s->buckets);
		free(s);
		return ret;
	}
	pthread_mutex_init(&s->lock, NULL);
	s->read_only = read_only;
	s->as_root = geteuid() == 0;
	s->timeout = read_only ? RO_TIMEOUT : RW_TIMEOUT;
	s->fd_budget = fd_budget();
	s->host_umask = host_umask();
	*out = s;
	return 0;
}

void fuse_server_close(struct fuse_server *s)
{
	if (s == NULL)
		return;
	fuse_tables_free(s);
	close(s->proc_fd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

bool fuse_server_new_refusal(struct fuse_server *s, char *buf, size_t size)
{
	bool news;

	pthread_mutex_lock(&s->lock);
	news = s->refusal_pending;
	if (news && size > 0)
		snprintf(buf, size, "%s", s->refusal);
	s->refusal_pending = false;
	pthread_mutex_unlock(&s->lock);
	return news;
}

/* For messages: the opcodes hopvm serves by name, the rest by number. */
static const char *fuse_opcode_name(uint32_t opcode)
{
	static const char *const names[] = {
		[FUSE_LOOKUP] = "LOOKUP", [FUSE_FORGET] = "FORGET", [FUSE_GETATTR] = "GETATTR",
		[FUSE_SETATTR] = "SETATTR", [FUSE_READLINK] = "READLINK",
		[FUSE_SYMLINK] = "SYMLINK", [FUSE_MKNOD] = "MKNOD", [FUSE_MKDIR] = "MKDIR",
		[FUSE_UNLINK] = "UNLINK", [FUSE_RMDIR] = "RMDIR", [FUSE_RENAME] = "RENAME",
		[FUSE_LINK] = "LINK", [FUSE_OPEN] = "OPEN", [FUSE_READ] = "READ",
		[FUSE_WRITE] = "WRITE", [FUSE_STATFS] = "STATFS", [FUSE_RELEASE] = "RELEASE",
		[FUSE_FSYNC] = "FSYNC", [FUSE_FLUSH] = "FLUSH", [FUSE_INIT] = "INIT",
		[FUSE_OPENDIR] = "OPENDIR", [FUSE_READDIR] = "READDIR",
		[FUSE_RELEASEDIR] = "RELEASEDIR", [FUSE_FSYNCDIR] = "FSYNCDIR",
		[FUSE_ACCESS] = "ACCESS", [FUSE_CREATE] = "CREATE", [FUSE_INTERRUPT] = "INTERRUPT",
		[FUSE_DESTROY] = "DESTROY", [FUSE_BATCH_FORGET] = "BATCH_FORGET",
		[FUSE_FALLOCATE] = "FALLOCATE", [FUSE_READDIRPLUS] = "READDIRPLUS",
		[FUSE_RENAME2] = "RENAME2", [FUSE_LSEEK] = "LSEEK", [FUSE_SYNCFS] = "SYNCFS",
	};
	static __thread char number[24];

	if (opcode < sizeof(names) / sizeof(names[0]) && names[opcode] != NULL)
		return names[opcode];
	snprintf(number, sizeof(number), "opcode %u", opcode);
	return number;
}

int fuse_refuse(struct fuse_req *r, enum fuse_refusal_kind kind, int neg_errno, const char *fmt,
		...)
{
	struct fuse_server *s = r->s;
	va_list ap;
	int n;

	if (s->refusals_seen & (1U << kind))
		return neg_errno;
	s->refusals_seen |= 1U << kind;
	s->refusal_pending = true;
	n = snprintf(s->refusal, sizeof(s->refusal), "a guest's %s refused (%s): ",
		     fuse_opcode_name(r->h.opcode), strerror(-neg_errno));
	if (n < 0 || (size_t)n >= sizeof(s->refusal))
		return neg_errno;
	va_start(ap, fmt);
	vsnprintf(s->refusal + n, sizeof(s->refusal) - (size_t)n, fmt, ap);
	va_end(ap);
	return neg_errno;
}

/* Copies len bytes at byte offset off of the request, wherever the buffers split it; the
 * caller has checked that off + len is within the request. */
void fuse_in_copy(const struct fuse_req *r, size_t off, void *dst, size_t len)
{
	uint8_t *d = dst;

	for (unsigned i = 0; i < r->nr_in && len > 0; i++) {
		size_t n;

		if (off >= r->in[i].iov_len) {
			off -= r->in[i].iov_len;
			continue;
		}
		n = r->in[i].iov_len - off;
		if (n > len)
			n = len;
		memcpy(d, (const uint8_t *)r->in[i].iov_base + off, n);
		d += n;
		len -= n;
		off = 0;
	}
}

/* Writes at byte offset off of the reply (the header included); the caller keeps off + len
 * within the out buffers. */
void fuse_out_put(const struct fuse_req *r, size_t off, const void *src, size_t len)
{
	const uint8_t *p = src;

	for (unsigned i = 0; i < r->nr_out && len > 0; i++) {
		size_t n;

		if (off >= r->out[i].iov_len) {
			off -= r->out[i].iov_len;
			continue;
		}
		n = r->out[i].iov_len - off;
		if (n > len)
			n = len;
		memcpy((uint8_t *)r->out[i].iov_base + off, p, n);
		p += n;
		len -= n;
		off = 0;
	}
}

/* iovecs covering bytes [off, off + len) of v, at most max of them; returns how many.  They
 * may cover less than len when max runs out. */
unsigned fuse_iov_range(const struct iovec *v, unsigned nr, size_t off, size_t len,
			struct iovec *dst, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < nr && len > 0 && n < max; i++) {
		size_t take;

		if (off >= v[i].iov_len) {
			off -= v[i].iov_len;
			continue;
		}
		take = v[i].iov_len - off;
		if (take > len)
			take = len;
		if (take > 0)
			dst[n++] = (struct iovec){ (uint8_t *)v[i].iov_base + off, take };
		len -= take;
		off = 0;
	}
	return n;
}

/* A fixed-size answer: refused when the guest left no room for it. */
int fuse_reply(struct fuse_req *r, const void *data, size_t len)
{
	if (len > r->reply_room)
		return fuse_refuse(r, REFUSED_REPLY_ROOM, -EINVAL,
				   "%zu reply bytes do not fit in %zu", len, r->reply_room);
	fuse_out_put(r, sizeof(struct fuse_out_header), data, len);
	return (int)len;
}

int fuse_take(struct fuse_req *r, void *dst, size_t len)
{
	if (r->args_copied - r->args_pos < len)
		return fuse_refuse(r, REFUSED_MALFORMED, -EINVAL,
				   "%zu argument bytes where %zu are needed",
				   r->args_copied - r->args_pos, len);
	memcpy(dst, r->s->args + r->args_pos, len);
	r->args_pos += len;
	return 0;
}

/* A NUL-terminated string within the arguments, at most max bytes with the NUL. */
int fuse_take_text(struct fuse_req *r, const char **text, size_t max)
{
	const char *start = (const char *)r->s->args + r->args_pos;
	size_t left = r->args_copied - r->args_pos;
	const char *nul = memchr(start, '\0', left < max ? left : max);

	if (nul == NULL)
		return fuse_refuse(r, left < max ? REFUSED_MALFORMED : REFUSED_NAME, -EINVAL,
				   "a string not terminated within %zu bytes",
				   left < max ? left : max);
	if (nul == start)
		return fuse_refuse(r, REFUSED_NAME, -EINVAL, "an empty name");
	*text = start;
	r->args_pos += (size_t)(nul - start) + 1;
	return 0;
}

/* One path component: "." and ".." pass (LOOKUP gives them meaning). */
int fuse_take_name(struct fuse_req *r, const char **name)
{
	int ret = fuse_take_text(r, name, NAME_MAX + 1);

	if (ret < 0)
		return ret;
	if (strchr(*name, '/') != NULL)
		return fuse_refuse(r, REFUSED_NAME, -EINVAL, "name \"%.40s\" has a '/'", *name);
	return 0;
}

/* A name to create, remove or rename: "." and ".." name no entry of the directory itself (and
 * ".." of the root would be outside it). */
int fuse_take_modifiable_name(struct fuse_req *r, const char **name)
{
	int ret = fuse_take_name(r, name);

	if (ret < 0)
		return ret;
	if (strcmp(*name, ".") == 0 || strcmp(*name, "..") == 0)
		return fuse_refuse(r, REFUSED_NAME, -EINVAL, "\"%s\" as a name to change", *name);
	return 0;
}

void fuse_fill_attr(struct fuse_attr *a, const struct stat *st)
{
	*a = (struct fuse_attr){
		.ino = st->st_ino,
		.size = (uint64_t)st->st_size,
		.blocks = (uint64_t)st->st_blocks,
		.atime = (uint64_t)st->st_atim.tv_sec,
		.mtime = (uint64_t)st->st_mtim.tv_sec,
		.ctime = (uint64_t)st->st_ctim.tv_sec,
		.atimensec = (uint32_t)st->st_atim.tv_nsec,
		.mtimensec = (uint32_t)st->st_mtim.tv_nsec,
		.ctimensec = (uint32_t)st->st_ctim.tv_nsec,
		.mode = st->st_mode,
		.nlink = (uint32_t)st->st_nlink,
		.uid = st->st_uid,
		.gid = st->st_gid,
		.rdev = (uint32_t)st->st_rdev,
		.blksize = (uint32_t)st->st_blksize,
	};
}

/* The name of our own fd under /proc/self/fd: the one magic link the server follows, to an
 * inode it already resolved inside the share. */
int fuse_proc_name(char *buf, size_t size, int fd)
{
	int n = snprintf(buf, size, "%d", fd);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int fuse_creds_enter(struct fuse_req *r)
{
	if (!r->s->as_root)
		return 0;
	/* The group first, while still privileged to change it. */
	syscall(SYS_setfsgid, r->h.gid);
	syscall(SYS_setfsuid, r->h.uid);
	if ((uint32_t)syscall(SYS_setfsuid, -1) != r->h.uid ||
	    (uint32_t)syscall(SYS_setfsgid, -1) != r->h.gid) {
		fuse_creds_leave(r);
		return -EPERM;
	}
	return 0;
}

void fuse_creds_leave(struct fuse_req *r)
{
	if (!r->s->as_root)
		return;
	syscall(SYS_setfsuid, 0);
	syscall(SYS_setfsgid, 0);
}

static int op_init(struct fuse_req *r)
{
	struct fuse_server *s = r->s;
	struct fuse_init_in in = { 0 };
	struct fuse_init_out o = { 0 };
	int ret;

	/* Before 7.36 the guest sends only the first four fields. */
	ret = fuse_take(r, &in, FUSE_COMPAT_22_INIT_OUT_SIZE - 8);
	if (ret < 0)
		return ret;
	if (s->initialized)
		return fuse_refuse(r, REFUSED_MALFORMED, -EIO, "a second INIT");
	o.major = FUSE_KERNEL_VERSION;
	o.minor = FUSE_KERNEL_MINOR_VERSION;
	if (in.major > FUSE_KERNEL_VERSION)	/* the guest retries with major 7 */
		return fuse_reply(r, &o, FUSE_COMPAT_INIT_OUT_SIZE);
	if (in.major < FUSE_KERNEL_VERSION || in.minor < MIN_MINOR)
		return fuse_refuse(r, REFUSED_MALFORMED, -EPROTO, "protocol %u.%u is too old",
				   in.major, in.minor);
	if (in.minor < o.minor)
		o.minor = in.minor;
	o.max_readahead = in.max_readahead;
	o.flags = in.flags & OFFERED_FLAGS;
	o.max_write = FUSE_SERVER_MAX_WRITE;
	o.time_gran = 1;
	o.max_pages = FUSE_SERVER_MAX_PAGES;
	ret = fuse_reply(r, &o, o.minor < 23 ? FUSE_COMPAT_22_INIT_OUT_SIZE : sizeof(o));
	if (ret >= 0) {
		s->minor = o.minor;
		s->initialized = true;
	}
	return ret;
}

static int op_destroy(struct fuse_req *r)
{
	fuse_tables_reset(r->s);
	r->s->initialized = false;
	return 0;
}

static bool is_change(uint32_t opcode)
{
	switch (opcode) {
	case FUSE_SETATTR: case FUSE_SYMLINK: case FUSE_MKNOD: case FUSE_MKDIR:
	case FUSE_UNLINK: case FUSE_RMDIR: case FUSE_RENAME: case FUSE_RENAME2:
	case FUSE_LINK: case FUSE_WRITE: case FUSE_CREATE: case FUSE_FALLOCATE:
		return true;
	default:
		return false;
	}
}

static bool takes_no_reply(uint32_t opcode)
{
	return opcode == FUSE_FORGET || opcode == FUSE_BATCH_FORGET || opcode == FUSE_INTERRUPT;
}

/* The reply's data length, or a negative errno for the header. */
static int dispatch(struct fuse_req *r, bool no_reply)
{
	uint32_t op = r->h.opcode;

	if (op == FUSE_INIT)
		return op_init(r);
	if (!r->s->initialized)
		return no_reply ? 0 : fuse_refuse(r, REFUSED_NOT_INIT, -EIO, "before INIT");
	if (r->s->read_only && is_change(op))
		return -EROFS;
	switch (op) {
	case FUSE_DESTROY: return op_destroy(r);
	case FUSE_LOOKUP: return fuse_op_lookup(r);
	case FUSE_FORGET: return fuse_op_forget(r);
	case FUSE_BATCH_FORGET: return fuse_op_batch_forget(r);
	case FUSE_INTERRUPT: return 0;	/* every request is answered before the next one */
	case FUSE_GETATTR: return fuse_op_getattr(r);
	case FUSE_SETATTR: return fuse_op_setattr(r);
	case FUSE_READLINK: return fuse_op_readlink(r);
	case FUSE_SYMLINK: case FUSE_MKNOD: case FUSE_MKDIR: return fuse_op_create_node(r);
	case FUSE_UNLINK: case FUSE_RMDIR: return fuse_op_unlink(r);
	case FUSE_RENAME: case FUSE_RENAME2: return fuse_op_rename(r);
	case FUSE_LINK: return fuse_op_link(r);
	case FUSE_OPEN: return fuse_op_open(r);
	case FUSE_CREATE: return fuse_op_create(r);
	case FUSE_READ: return fuse_op_read(r);
	case FUSE_WRITE: return fuse_op_write(r);
	case FUSE_RELEASE: case FUSE_RELEASEDIR: return fuse_op_release(r);
	case FUSE_FSYNC: case FUSE_FSYNCDIR: case FUSE_FLUSH: return fuse_op_fsync(r);
	case FUSE_OPENDIR: return fuse_op_opendir(r);
	case FUSE_READDIR: case FUSE_READDIRPLUS: return fuse_op_readdir(r);
	case FUSE_STATFS: return fuse_op_statfs(r);
	case FUSE_ACCESS: return fuse_op_access(r);
	case FUSE_LSEEK: return fuse_op_lseek(r);
	case FUSE_FALLOCATE: return fuse_op_fallocate(r);
	case FUSE_SYNCFS: return fuse_op_syncfs(r);
	/* No extended attributes: an honest "not supported" the Linux client remembers. */
	case FUSE_GETXATTR: case FUSE_LISTXATTR: case FUSE_SETXATTR: case FUSE_REMOVEXATTR:
		return -ENOSYS;
	case FUSE_GETLK: case FUSE_SETLK: case FUSE_SETLKW: case FUSE_BMAP: case FUSE_IOCTL:
	case FUSE_POLL: case FUSE_NOTIFY_REPLY: case FUSE_COPY_FILE_RANGE:
	case FUSE_SETUPMAPPING: case FUSE_REMOVEMAPPING: case FUSE_TMPFILE:
		return -ENOSYS;
	default:
		return fuse_refuse(r, REFUSED_OPCODE, -ENOSYS, "unknown opcode");
	}
}

static int total_len(const struct iovec *v, unsigned nr, size_t *total)
{
	*total = 0;
	for (unsigned i = 0; i < nr; i++)
		if (__builtin_add_overflow(*total, v[i].iov_len, total))
			return -EINVAL;
	return 0;
}

/* Where the arguments lie, and a copy of them (or of their start, for WRITE's data and
 * BATCH_FORGET's list, which are read in place). */
static int take_args(struct fuse_req *r)
{
	size_t ext = (size_t)r->h.total_extlen * 8;

	r->args_off = sizeof(r->h);
	if (r->h.len - sizeof(r->h) < ext)
		return fuse_refuse(r, REFUSED_MALFORMED, -EINVAL,
				   "%zu extension bytes in a %u-byte request", ext, r->h.len);
	r->args_len = r->h.len - sizeof(r->h) - ext;
	r->args_copied = r->args_len < FUSE_ARGS_MAX ? r->args_len : FUSE_ARGS_MAX;
	if (r->args_len > FUSE_ARGS_MAX && r->h.opcode != FUSE_WRITE &&
	    r->h.opcode != FUSE_BATCH_FORGET && r->h.opcode != FUSE_SETXATTR)
		return fuse_refuse(r, REFUSED_MALFORMED, -EINVAL, "%zu argument bytes",
				   r->args_len);
	fuse_in_copy(r, r->args_off, r->s->args, r->args_copied);
	return 0;
}

int fuse_server_handle(struct fuse_server *s, const struct iovec *in, unsigned nr_in,
		       const struct iovec *out, unsigned nr_out)
{
	struct fuse_req r = { .s = s, .in = in, .nr_in = nr_in, .out = out, .nr_out = nr_out };
	struct fuse_out_header oh = { 0 };
	size_t in_len, out_len;
	bool no_reply;
	int ret;

	if (total_len(in, nr_in, &in_len) < 0 || total_len(out, nr_out, &out_len) < 0)
		return err_set(-EINVAL, "buffer lengths overflow");
	if (in_len < sizeof(r.h))
		return err_set(-EINVAL, "a %zu-byte request is shorter than its header",
			       in_len);
	fuse_in_copy(&r, 0, &r.h, sizeof(r.h));
	if (r.h.len != in_len)
		return err_set(-EINVAL, "request header says %u bytes, %zu given",
			       r.h.len, in_len);
	/* FORGET and its kin take no reply, and Linux's virtiofs sends FORGET with no reply
	 * buffers at all (on its high-priority queue): they are served without any, and never
	 * answered, even when malformed. */
	no_reply = takes_no_reply(r.h.opcode);
	if (out_len < sizeof(oh) && !no_reply)
		return err_set(-EINVAL, "%zu reply bytes cannot hold a reply header",
			       out_len);
	/* The reply's length must fit the int returned. */
	if (out_len > (size_t)INT_MAX)
		out_len = INT_MAX;
	r.reply_room = out_len < sizeof(oh) ? 0 : out_len - sizeof(oh);

	pthread_mutex_lock(&s->lock);
	ret = take_args(&r);
	if (ret == 0)
		ret = dispatch(&r, no_reply);
	pthread_mutex_unlock(&s->lock);
	if (no_reply)
		return 0;
	oh.unique = r.h.unique;
	oh.error = ret < 0 ? ret : 0;
	oh.len = (uint32_t)(sizeof(oh) + (ret < 0 ? 0 : (size_t)ret));
	fuse_out_put(&r, 0, &oh, sizeof(oh));
	return (int)oh.len;
}
