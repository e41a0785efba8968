/* The FUSE server's attributes and file data: GETATTR, SETATTR, OPEN, CREATE, READ, WRITE and
 * what goes with an open file.  Data moves with preadv/pwritev straight between the file and
 * the guest's buffers. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fuse_internal.h"

/* Open flags a guest may pass on; O_CREAT and O_EXCL only through CREATE. */
#define GUEST_OPEN_FLAGS (O_ACCMODE | O_APPEND | O_TRUNC | O_SYNC | O_DSYNC | O_DIRECT | \
			  O_NOATIME | O_NONBLOCK)

static int stat_fd(int fd, struct stat *st)
{
	return fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static int reply_attr(struct fuse_req *r, int fd)
{
	struct fuse_attr_out o = { .attr_valid = r->s->timeout };
	struct stat st;
	int ret = stat_fd(fd, &st);

	if (ret < 0)
		return ret;
	fuse_fill_attr(&o.attr, &st);
	return fuse_reply(r, &o, sizeof(o));
}

int fuse_op_getattr(struct fuse_req *r)
{
	struct fs_node *n = fuse_node(r, r->h.nodeid);

	return n == NULL ? -ENOENT : reply_attr(r, n->fd);
}

/* Reopens a node held as O_PATH for I/O, through our own fd under /proc/self/fd: only regular
 * files (a symlink would be followed, a device would reach the host's). */
static int reopen(struct fuse_req *r, int path_fd, int flags)
{
	char name[16];
	struct stat st;
	int ret = stat_fd(path_fd, &st), fd;

	if (ret < 0)
		return ret;
	if (S_ISLNK(st.st_mode))
		return -ELOOP;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -EACCES;
	ret = fuse_proc_name(name, sizeof(name), path_fd);
	if (ret < 0)
		return ret;
	fd = openat(r->s->proc_fd, name, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int to_timespec(uint64_t sec, uint32_t nsec, bool set, bool now, struct timespec *ts)
{
	if (now) {
		*ts = (struct timespec){ .tv_nsec = UTIME_NOW };
		return 0;
	}
	if (!set) {
		*ts = (struct timespec){ .tv_nsec = UTIME_OMIT };
		return 0;
	}
	if (sec > INT64_MAX || nsec >= 1000000000)
		return -EINVAL;
	*ts = (struct timespec){ .tv_sec = (time_t)sec, .tv_nsec = nsec };
	return 0;
}

static int set_times(struct fuse_req *r, const struct fuse_setattr_in *in, int path_fd,
		     int file_fd, bool is_link)
{
	struct timespec ts[2];
	char name[16];
	int ret;

	ret = to_timespec(in->atime, in->atimensec, in->valid & FATTR_ATIME,
			  in->valid & FATTR_ATIME_NOW, &ts[0]);
	if (ret == 0)
		ret = to_timespec(in->mtime, in->mtimensec, in->valid & FATTR_MTIME,
				  in->valid & FATTR_MTIME_NOW, &ts[1]);
	if (ret < 0)
		return ret;
	if (file_fd >= 0)
		ret = futimens(file_fd, ts);
	else if (is_link)
		ret = utimensat(path_fd, "", ts, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
	else if ((ret = fuse_proc_name(name, sizeof(name), path_fd)) == 0)
		ret = utimensat(r->s->proc_fd, name, ts, 0);
	else
		return ret;
	return ret < 0 ? -errno : 0;
}

int fuse_op_setattr(struct fuse_req *r)
{
	struct fuse_setattr_in in;
	struct fs_node *n;
	struct stat st;
	char name[16];
	int ret = fuse_take(r, &in, sizeof(in)), path_fd, file_fd = -1;

	if (ret < 0)
		return ret;
	n = fuse_node(r, r->h.nodeid);
	if (n == NULL)
		return -ENOENT;
	path_fd = n->fd;
	if (in.valid & FATTR_FH) {
		struct fs_handle *h = fuse_handle(r, in.fh);

		if (h == NULL)
			return -EBADF;
		file_fd = h->fd;
	}
	ret = stat_fd(path_fd, &st);
	if (ret < 0)
		return ret;
	if (in.valid & FATTR_MODE) {
		if (file_fd >= 0)
			ret = fchmod(file_fd, in.mode & 07777);
		else if (S_ISLNK(st.st_mode))
			return -EOPNOTSUPP;	/* Linux has no mode on a symlink */
		else if ((ret = fuse_proc_name(name, sizeof(name), path_fd)) == 0)
			ret = fchmodat(r->s->proc_fd, name, in.mode & 07777, 0);
		else
			return ret;
		if (ret < 0)
			return -errno;
	}
	if (in.valid & (FATTR_UID | FATTR_GID)) {
		uid_t uid = in.valid & FATTR_UID ? in.uid : (uid_t)-1;
		gid_t gid = in.valid & FATTR_GID ? in.gid : (gid_t)-1;

		if (fchownat(path_fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
	}
	if (in.valid & FATTR_SIZE) {
		if (in.size > INT64_MAX)
			return -EFBIG;
		if (file_fd >= 0) {
			ret = ftruncate(file_fd, (off_t)in.size) < 0 ? -errno : 0;
		} else {
			int fd = reopen(r, path_fd, O_WRONLY);

			if (fd < 0)
				return fd == -EISDIR || fd == -ELOOP ? -EINVAL : fd;
			ret = ftruncate(fd, (off_t)in.size) < 0 ? -errno : 0;
			close(fd);
		}
		if (ret < 0)
			return ret;
	}
	if (in.valid & (FATTR_ATIME | FATTR_MTIME | FATTR_ATIME_NOW | FATTR_MTIME_NOW)) {
		ret = set_times(r, &in, path_fd, file_fd, S_ISLNK(st.st_mode));
		if (ret < 0)
			return ret;
	}
	return reply_attr(r, path_fd);
}

static int open_flags(struct fuse_req *r, uint32_t guest_flags, int *flags)
{
	*flags = (int)(guest_flags & GUEST_OPEN_FLAGS);
	if ((*flags & O_ACCMODE) == O_ACCMODE)
		return -EINVAL;
	if (r->s->read_only && ((*flags & O_ACCMODE) != O_RDONLY || (*flags & O_TRUNC)))
		return -EROFS;
	return 0;
}

static int reply_open(struct fuse_req *r, int fd, size_t at)
{
	struct fuse_open_out o = { 0 };
	int ret = fuse_handle_add(r->s, fd, false, r->h.nodeid, &o.fh);

	if (ret < 0)
		return ret;
	/* Nothing but the guest changes a read-only share's files (as virtiofsd's cache=always
	 * assumes), so its page cache stays valid across opens. */
	if (r->s->read_only)
		o.open_flags = FOPEN_KEEP_CACHE;
	if (at + sizeof(o) > r->reply_room) {
		fuse_handle_release(r->s, o.fh);
		return fuse_refuse(r, REFUSED_REPLY_ROOM, -EINVAL,
				   "%zu reply bytes do not fit in %zu", at + sizeof(o), r->reply_room);
	}
	fuse_out_put(r, sizeof(struct fuse_out_header) + at, &o, sizeof(o));
	return (int)(at + sizeof(o));
}

int fuse_op_open(struct fuse_req *r)
{
	struct fuse_open_in in;
	struct fs_node *n;
	int ret = fuse_take(r, &in, sizeof(in)), flags, fd;

	if (ret < 0)
		return ret;
	ret = open_flags(r, in.flags, &flags);
	if (ret < 0)
		return ret;
	n = fuse_node(r, r->h.nodeid);
	if (n == NULL)
		return -ENOENT;
	fd = reopen(r, n->fd, flags);
	if (fd < 0)
		return fd;
	return reply_open(r, fd, 0);
}

int fuse_op_create(struct fuse_req *r)
{
	struct fuse_create_in in;
	struct fuse_entry_out e;
	const char *name;
	struct fs_node *dir;
	char proc_name[16];
	int ret = fuse_take(r, &in, sizeof(in)), flags, fd, path_fd;

	if (ret == 0)
		ret = fuse_take_modifiable_name(r, &name);
	if (ret < 0)
		return ret;
	ret = open_flags(r, in.flags, &flags);
	if (ret < 0)
		return ret;
	flags |= (int)(in.flags & O_EXCL);
	dir = fuse_node(r, r->h.nodeid);
	if (dir == NULL)
		return -ENOENT;
	ret = fuse_creds_enter(r);
	if (ret < 0)
		return ret;
	fd = openat(dir->fd, name, flags | O_CREAT | O_NOFOLLOW | O_CLOEXEC, in.mode & 07777);
	ret = fd < 0 ? -errno : 0;
	fuse_creds_leave(r);
	if (ret < 0)
		return ret;
	/* The guest already applied its umask; undo the host process's. */
	if ((in.mode & r->s->host_umask) != 0)
		(void)fchmod(fd, in.mode & 07777);
	/* The node from the file just opened, not from the name again (it may have changed). */
	ret = fuse_proc_name(proc_name, sizeof(proc_name), fd);
	path_fd = ret < 0 ? -1 : openat(r->s->proc_fd, proc_name, O_PATH | O_CLOEXEC);
	if (path_fd < 0) {
		ret = ret < 0 ? ret : -errno;
		close(fd);
		return ret;
	}
	{
		struct stat st;
		uint64_t id;

		ret = stat_fd(path_fd, &st);
		if (ret < 0) {
			close(path_fd);
			close(fd);
			return ret;
		}
		ret = fuse_node_add(r->s, path_fd, &st, &id);
		if (ret < 0) {
			close(fd);
			return ret;
		}
		e = (struct fuse_entry_out){ .nodeid = id, .entry_valid = r->s->timeout,
					     .attr_valid = r->s->timeout };
		fuse_fill_attr(&e.attr, &st);
	}
	if (sizeof(e) > r->reply_room) {
		fuse_node_forget(r->s, e.nodeid, 1);
		close(fd);
		return fuse_reply(r, &e, sizeof(e));	/* refused: no room */
	}
	fuse_out_put(r, sizeof(struct fuse_out_header), &e, sizeof(e));
	ret = reply_open(r, fd, sizeof(e));
	if (ret < 0)
		fuse_node_forget(r->s, e.nodeid, 1);
	return ret;
}

static struct fs_handle *file_handle(struct fuse_req *r, uint64_t fh, int *err)
{
	struct fs_handle *h = fuse_handle(r, fh);

	*err = h == NULL ? -EBADF : h->is_dir ? -EISDIR : 0;
	return *err ? NULL : h;
}

int fuse_op_read(struct fuse_req *r)
{
	struct fuse_read_in in;
	struct iovec iov[FUSE_DATA_IOV_MAX];
	struct fs_handle *h;
	uint64_t end;
	size_t size;
	unsigned nr;
	ssize_t n;
	int ret = fuse_take(r, &in, sizeof(in));

	if (ret < 0)
		return ret;
	h = file_handle(r, in.fh, &ret);
	if (h == NULL)
		return ret;
	if (in.offset > INT64_MAX || __builtin_add_overflow(in.offset, in.size, &end) ||
	    end > INT64_MAX)
		return -EINVAL;
	/* More than the guest left room for is clamped: a short read. */
	size = in.size < r->reply_room ? in.size : r->reply_room;
	nr = fuse_iov_range(r->out, r->nr_out, sizeof(struct fuse_out_header), size, iov,
			    FUSE_DATA_IOV_MAX);
	if (nr == 0)
		return 0;
	do
		n = preadv(h->fd, iov, (int)nr, (off_t)in.offset);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : (int)n;
}

int fuse_op_write(struct fuse_req *r)
{
	struct fuse_write_in in;
	struct fuse_write_out o = { 0 };
	struct iovec iov[FUSE_DATA_IOV_MAX];
	struct fs_handle *h;
	uint64_t end;
	unsigned nr;
	ssize_t n;
	int ret = fuse_take(r, &in, sizeof(in));

	if (ret < 0)
		return ret;
	if (in.size > r->args_len - sizeof(in))
		return fuse_refuse(r, REFUSED_MALFORMED, -EINVAL,
				   "WRITE of %u bytes carries %zu", in.size,
				   r->args_len - sizeof(in));
	h = file_handle(r, in.fh, &ret);
	if (h == NULL)
		return ret;
	if (in.offset > INT64_MAX || __builtin_add_overflow(in.offset, in.size, &end) ||
	    end > INT64_MAX)
		return -EFBIG;
	nr = fuse_iov_range(r->in, r->nr_in, r->args_off + sizeof(in), in.size, iov,
			    FUSE_DATA_IOV_MAX);
	if (nr > 0) {
		do
			n = pwritev(h->fd, iov, (int)nr, (off_t)in.offset);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return -errno;
		o.size = (uint32_t)n;
	}
	return fuse_reply(r, &o, sizeof(o));
}

int fuse_op_release(struct fuse_req *r)
{
	struct fuse_release_in in;
	struct fs_handle *h;
	int ret = fuse_take(r, &in, sizeof(in));

	if (ret < 0)
		return ret;
	h = fuse_handle(r, in.fh);
	if (h == NULL)
		return -EBADF;
	if (h->is_dir != (r->h.opcode == FUSE_RELEASEDIR))
		return h->is_dir ? -EISDIR : -ENOTDIR;
	fuse_handle_release(r->s, in.fh);
	return 0;
}

/* FSYNC, FSYNCDIR, and FLUSH (no locks are offered, so a flush only checks the handle). */
int fuse_op_fsync(struct fuse_req *r)
{
	struct fuse_fsync_in in;
	struct fs_handle *h;
	int ret = fuse_take(r, &in, sizeof(in));

	if (ret < 0)
		return ret;
	h = fuse_handle(r, in.fh);
	if (h == NULL)
		return -EBADF;
	if (r->h.opcode == FUSE_FLUSH)
		return 0;
	if (h->is_dir != (r->h.opcode == FUSE_FSYNCDIR))
		return h->is_dir ? -EISDIR : -ENOTDIR;
	ret = in.fsync_flags & FUSE_FSYNC_FDATASYNC ? fdatasync(h->fd) : fsync(h->fd);
	return ret < 0 ? -errno : 0;
}

int fuse_op_lseek(struct fuse_req *r)
{
	struct fuse_lseek_in in;
	struct fuse_lseek_out o;
	struct fs_handle *h;
	off_t at;
	int ret = fuse_take(r, &in, sizeof(in));

	if (ret < 0)
		return ret;
	h = file_handle(r, in.fh, &ret);
	if (h == NULL)
		return ret;
	if (in.offset > INT64_MAX ||
	    (in.whence != SEEK_SET && in.whence != SEEK_END && in.whence != SEEK_DATA &&
	     in.whence != SEEK_HOLE))
		return -EINVAL;
	/* The handle's fd offset is not used for I/O (preadv/pwritev), so moving it is harmless. */
	at = lseek(h->fd, (off_t)in.offset, (int)in.whence);
	if (at < 0)
		return -errno;
	o.offset = (uint64_t)at;
	return fuse_reply(r, &o, sizeof(o));
}

int fuse_op_fallocate(struct fuse_req *r)
{
	struct fuse_fallocate_in in;
	struct fs_handle *h;
	uint64_t end;
	int ret = fuse_take(r, &in, sizeof(in));

	if (ret < 0)
		return ret;
	h = file_handle(r, in.fh, &ret);
	if (h == NULL)
		return ret;
	if (in.offset > INT64_MAX || in.length > INT64_MAX ||
	    __builtin_add_overflow(in.offset, in.length, &end) || end > INT64_MAX)
		return -EFBIG;
	if (fallocate(h->fd, (int)in.mode, (off_t)in.offset, (off_t)in.length) < 0)
		return -errno;
	return 0;
}

int fuse_op_statfs(struct fuse_req *r)
{
	struct fuse_statfs_out o = { 0 };
	struct fs_node *n = fuse_node(r, r->h.nodeid);
	struct statfs st;

	if (n == NULL)
		return -ENOENT;
	if (fstatfs(n->fd, &st) < 0)
		return -errno;
	o.st.blocks = st.f_blocks;
	o.st.bfree = st.f_bfree;
	o.st.bavail = st.f_bavail;
	o.st.files = st.f_files;
	o.st.ffree = st.f_ffree;
	o.st.bsize = (uint32_t)st.f_bsize;
	o.st.namelen = (uint32_t)st.f_namelen;
	o.st.frsize = (uint32_t)st.f_frsize;
	return fuse_reply(r, &o, sizeof(o));
}

int fuse_op_access(struct fuse_req *r)
{
	struct fuse_access_in in;
	struct fs_node *n;
	struct stat st;
	char name[16];
	int ret = fuse_take(r, &in, sizeof(in));

	if (ret < 0)
		return ret;
	n = fuse_node(r, r->h.nodeid);
	if (n == NULL)
		return -ENOENT;
	if ((in.mask & W_OK) && r->s->read_only)
		return -EROFS;
	ret = stat_fd(n->fd, &st);
	if (ret < 0)
		return ret;
	if (S_ISLNK(st.st_mode))	/* a symlink's permissions are never checked */
		return 0;
	ret = fuse_proc_name(name, sizeof(name), n->fd);
	if (ret < 0)
		return ret;
	return faccessat(r->s->proc_fd, name, (int)(in.mask & (R_OK | W_OK | X_OK)),
			 AT_EACCESS) < 0 ? -errno : 0;
}

int fuse_op_syncfs(struct fuse_req *r)
{
	struct fuse_syncfs_in in;
	int ret = fuse_take(r, &in, sizeof(in)), fd;

	if (ret < 0)
		return ret;
	/* syncfs() wants a real open file, not the root's O_PATH fd. */
	fd = openat(r->s->nodes[FUSE_ROOT_ID].fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = syncfs(fd) < 0 ? -errno : 0;
	close(fd);
	return ret;
}
