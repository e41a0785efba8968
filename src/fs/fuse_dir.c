/* The FUSE server's names and directories: lookup one component at a time, forgetting,
 * creating, removing, renaming and linking entries, and listing directories. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fuse_internal.h"

static int stat_fd(int fd, struct stat *st)
{
	return fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static void fill_entry(const struct fuse_server *s, struct fuse_entry_out *e, uint64_t id,
		       const struct stat *st)
{
	*e = (struct fuse_entry_out){ .nodeid = id, .entry_valid = s->timeout,
				      .attr_valid = s->timeout };
	fuse_fill_attr(&e->attr, st);
}

/* Takes an O_PATH fd into the node table (one more lookup) and describes it. */
static int entry_from_fd(struct fuse_server *s, int fd, struct fuse_entry_out *e)
{
	struct stat st;
	uint64_t id;
	int ret = stat_fd(fd, &st);

	if (ret < 0) {
		close(fd);
		return ret;
	}
	ret = fuse_node_add(s, fd, &st, &id);
	if (ret < 0)
		return ret;
	fill_entry(s, e, id, &st);
	return 0;
}

/* The entry name names in the directory dir_fd (node dir_id), one more lookup on it. */
int fuse_entry_for(struct fuse_req *r, int dir_fd, uint64_t dir_id, const char *name,
		   struct fuse_entry_out *e)
{
	struct fuse_server *s = r->s;
	int fd;

	if (strcmp(name, ".") == 0 || (strcmp(name, "..") == 0 && dir_id == FUSE_ROOT_ID))
		fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
	else
		fd = openat(dir_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return entry_from_fd(s, fd, e);
}

static struct fs_node *dir_node(struct fuse_req *r, uint64_t id)
{
	return fuse_node(r, id);
}

int fuse_op_lookup(struct fuse_req *r)
{
	struct fuse_entry_out e;
	const char *name;
	struct fs_node *dir;
	int ret = fuse_take_name(r, &name);

	if (ret < 0)
		return ret;
	dir = dir_node(r, r->h.nodeid);
	if (dir == NULL)
		return -ENOENT;
	ret = fuse_entry_for(r, dir->fd, r->h.nodeid, name, &e);
	if (ret < 0)
		return ret;
	ret = fuse_reply(r, &e, sizeof(e));
	if (ret < 0)
		fuse_node_forget(r->s, e.nodeid, 1);	/* the guest never saw it */
	return ret;
}

int fuse_op_forget(struct fuse_req *r)
{
	struct fuse_forget_in in;

	if (fuse_take(r, &in, sizeof(in)) < 0)
		return 0;
	fuse_node_forget(r->s, r->h.nodeid, in.nlookup);
	return 0;
}

int fuse_op_batch_forget(struct fuse_req *r)
{
	struct fuse_batch_forget_in in;
	struct fuse_forget_one one;
	size_t left;

	if (fuse_take(r, &in, sizeof(in)) < 0)
		return 0;
	left = r->args_len - sizeof(in);
	if (in.count > left / sizeof(one))
		fuse_refuse(r, REFUSED_MALFORMED, -EINVAL, "%u forgets in %zu bytes", in.count,
			    left);
	for (size_t i = 0; i < in.count && i < left / sizeof(one); i++) {
		fuse_in_copy(r, r->args_off + sizeof(in) + i * sizeof(one), &one, sizeof(one));
		fuse_node_forget(r->s, one.nodeid, one.nlookup);
	}
	return 0;
}

int fuse_op_readlink(struct fuse_req *r)
{
	char target[PATH_MAX];
	struct fs_node *n = fuse_node(r, r->h.nodeid);
	ssize_t len;

	if (n == NULL)
		return -ENOENT;
	/* On the O_PATH fd itself: the link's own text, never what it points to. */
	len = readlinkat(n->fd, "", target, sizeof(target));
	if (len < 0)
		return errno == ENOENT ? -EINVAL : -errno;
	return fuse_reply(r, target, (size_t)len);
}

/* The guest already applied its umask to mode; the host process's took more bits away. */
static void undo_host_umask(struct fuse_req *r, struct fuse_entry_out *e, uint32_t mode)
{
	struct fs_node *n = fuse_node(r, e->nodeid);
	char name[16];
	struct stat st;

	if (n == NULL || S_ISLNK(e->attr.mode) || (mode & r->s->host_umask) == 0 ||
	    fuse_proc_name(name, sizeof(name), n->fd) < 0 ||
	    fchmodat(r->s->proc_fd, name, mode & 07777, 0) < 0 ||
	    fstatat(n->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return;
	fuse_fill_attr(&e->attr, &st);
}

/* MKNOD, MKDIR and SYMLINK: make the entry as the requesting user, then look it up. */
int fuse_op_create_node(struct fuse_req *r)
{
	struct fuse_mknod_in mknod_in = { 0 };
	struct fuse_mkdir_in mkdir_in = { 0 };
	const char *name, *target = NULL;
	struct fuse_entry_out e;
	struct fs_node *dir;
	int ret, dir_fd;

	if (r->h.opcode == FUSE_MKNOD)
		ret = fuse_take(r, &mknod_in, sizeof(mknod_in));
	else if (r->h.opcode == FUSE_MKDIR)
		ret = fuse_take(r, &mkdir_in, sizeof(mkdir_in));
	else
		ret = 0;
	if (ret == 0)
		ret = fuse_take_modifiable_name(r, &name);
	if (ret == 0 && r->h.opcode == FUSE_SYMLINK)
		ret = fuse_take_text(r, &target, PATH_MAX);
	if (ret < 0)
		return ret;
	if (r->h.opcode == FUSE_MKNOD) {
		switch (mknod_in.mode & S_IFMT) {
		case S_IFREG: case S_IFIFO: case S_IFSOCK:
			break;
		case S_IFCHR: case S_IFBLK:
			return -EPERM;	/* a device node would reach the host's devices */
		default:
			return -EINVAL;
		}
	}
	dir = dir_node(r, r->h.nodeid);
	if (dir == NULL)
		return -ENOENT;
	dir_fd = dir->fd;
	ret = fuse_creds_enter(r);
	if (ret < 0)
		return ret;
	if (r->h.opcode == FUSE_MKNOD)
		ret = mknodat(dir_fd, name, mknod_in.mode & (S_IFMT | 07777), 0);
	else if (r->h.opcode == FUSE_MKDIR)
		ret = mkdirat(dir_fd, name, mkdir_in.mode & 07777);
	else
		ret = symlinkat(target, dir_fd, name);
	ret = ret < 0 ? -errno : 0;
	fuse_creds_leave(r);
	if (ret < 0)
		return ret;
	ret = fuse_entry_for(r, dir_fd, r->h.nodeid, name, &e);
	if (ret < 0)
		return ret;
	if (r->h.opcode != FUSE_SYMLINK)
		undo_host_umask(r, &e, r->h.opcode == FUSE_MKNOD ? mknod_in.mode : mkdir_in.mode);
	ret = fuse_reply(r, &e, sizeof(e));
	if (ret < 0)
		fuse_node_forget(r->s, e.nodeid, 1);
	return ret;
}

int fuse_op_unlink(struct fuse_req *r)
{
	const char *name;
	struct fs_node *dir;
	int ret = fuse_take_modifiable_name(r, &name);

	if (ret < 0)
		return ret;
	dir = dir_node(r, r->h.nodeid);
	if (dir == NULL)
		return -ENOENT;
	if (unlinkat(dir->fd, name, r->h.opcode == FUSE_RMDIR ? AT_REMOVEDIR : 0) < 0)
		return -errno;
	return 0;
}

int fuse_op_rename(struct fuse_req *r)
{
	struct fuse_rename2_in in = { 0 };
	const char *old_name, *new_name;
	struct fs_node *old_dir, *new_dir;
	int ret;

	ret = fuse_take(r, &in, r->h.opcode == FUSE_RENAME2 ? sizeof(in)
							      : sizeof(struct fuse_rename_in));
	if (ret == 0)
		ret = fuse_take_modifiable_name(r, &old_name);
	if (ret == 0)
		ret = fuse_take_modifiable_name(r, &new_name);
	if (ret < 0)
		return ret;
	/* RENAME_WHITEOUT makes a device node: not from a guest. */
	if ((in.flags & ~(uint32_t)(RENAME_NOREPLACE | RENAME_EXCHANGE)) != 0)
		return -EINVAL;
	old_dir = dir_node(r, r->h.nodeid);
	new_dir = dir_node(r, in.newdir);
	if (old_dir == NULL || new_dir == NULL)
		return -ENOENT;
	if (renameat2(old_dir->fd, old_name, new_dir->fd, new_name, in.flags) < 0)
		return -errno;
	return 0;
}

int fuse_op_link(struct fuse_req *r)
{
	struct fuse_link_in in;
	struct fuse_entry_out e;
	const char *name;
	struct fs_node *old, *dir;
	char proc_name[16];
	int ret = fuse_take(r, &in, sizeof(in));

	if (ret == 0)
		ret = fuse_take_modifiable_name(r, &name);
	if (ret < 0)
		return ret;
	old = fuse_node(r, in.oldnodeid);
	dir = dir_node(r, r->h.nodeid);
	if (old == NULL || dir == NULL)
		return -ENOENT;
	/* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the server's own fd under /proc names the
	 * same inode (a symlink node's fd names the link itself) without it. */
	ret = linkat(old->fd, "", dir->fd, name, AT_EMPTY_PATH);
	if (ret < 0 && (errno == ENOENT || errno == EPERM) &&
	    fuse_proc_name(proc_name, sizeof(proc_name), old->fd) == 0)
		ret = linkat(r->s->proc_fd, proc_name, dir->fd, name, AT_SYMLINK_FOLLOW);
	if (ret < 0)
		return -errno;
	ret = fuse_entry_for(r, dir->fd, r->h.nodeid, name, &e);
	if (ret < 0)
		return ret;
	ret = fuse_reply(r, &e, sizeof(e));
	if (ret < 0)
		fuse_node_forget(r->s, e.nodeid, 1);
	return ret;
}

int fuse_op_opendir(struct fuse_req *r)
{
	struct fuse_open_in in;
	struct fuse_open_out o = { 0 };
	struct fs_node *n;
	int ret = fuse_take(r, &in, sizeof(in)), fd;

	if (ret < 0)
		return ret;
	n = fuse_node(r, r->h.nodeid);
	if (n == NULL)
		return -ENOENT;
	/* "." of the O_PATH directory fd: no magic link needed, and O_NOFOLLOW-safe. */
	fd = openat(n->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = fuse_handle_add(r->s, fd, true, r->h.nodeid, &o.fh);
	if (ret < 0)
		return ret;
	if (r->s->read_only)
		o.open_flags = FOPEN_KEEP_CACHE | (r->s->minor >= 28 ? FOPEN_CACHE_DIR : 0);
	ret = fuse_reply(r, &o, sizeof(o));
	if (ret < 0)
		fuse_handle_release(r->s, o.fh);
	return ret;
}

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* One entry into the reply at *pos; returns false when it does not fit. */
static bool put_entry(struct fuse_req *r, const struct fs_handle *h, int dir_fd, bool plus,
		      const struct linux_dirent64 *d, size_t room, size_t *pos)
{
	size_t namelen = strlen(d->d_name);
	size_t head = plus ? sizeof(struct fuse_direntplus) : sizeof(struct fuse_dirent);
	size_t rec = FUSE_DIRENT_ALIGN(head + namelen);
	struct fuse_direntplus dp = { 0 };
	struct fuse_dirent *de = &dp.dirent;
	bool dots = strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0;
	static const uint8_t zeros[8];

	if (room - *pos < rec)
		return false;
	de->ino = d->d_ino;
	de->off = (uint64_t)d->d_off;
	de->namelen = (uint32_t)namelen;
	de->type = d->d_type;
	if (strcmp(d->d_name, "..") == 0 && h->node_id == FUSE_ROOT_ID)
		de->ino = r->s->nodes[FUSE_ROOT_ID].ino;	/* ".." of the root is the root */
	if (plus && !dots &&
	    fuse_entry_for(r, dir_fd, h->node_id, d->d_name, &dp.entry_out) == 0) {
		de->ino = dp.entry_out.attr.ino;
		de->type = (dp.entry_out.attr.mode & S_IFMT) >> 12;
	} else if (plus) {
		/* nodeid 0: a name without attributes, and no lookup the guest must forget. */
		dp.entry_out.attr.ino = de->ino;
		dp.entry_out.attr.mode = (uint32_t)de->type << 12;
	}
	if (plus)
		fuse_out_put(r, sizeof(struct fuse_out_header) + *pos, &dp, head);
	else
		fuse_out_put(r, sizeof(struct fuse_out_header) + *pos, de, head);
	fuse_out_put(r, sizeof(struct fuse_out_header) + *pos + head, d->d_name, namelen);
	fuse_out_put(r, sizeof(struct fuse_out_header) + *pos + head + namelen, zeros,
		     rec - head - namelen);
	*pos += rec;
	return true;
}

int fuse_op_readdir(struct fuse_req *r)
{
	struct fuse_read_in in;
	struct fs_handle *h;
	size_t room, pos = 0;
	bool plus = r->h.opcode == FUSE_READDIRPLUS, full = false;
	int ret = fuse_take(r, &in, sizeof(in));
	uint64_t handle_id;

	if (ret < 0)
		return ret;
	h = fuse_handle(r, in.fh);
	if (h == NULL)
		return -EBADF;
	if (!h->is_dir)
		return -ENOTDIR;
	if (in.offset > INT64_MAX)
		return -EINVAL;
	room = in.size < r->reply_room ? in.size : r->reply_room;
	handle_id = in.fh;
	if (lseek(h->fd, (off_t)in.offset, SEEK_SET) < 0)
		return -errno;
	while (!full) {
		long n = syscall(SYS_getdents64, h->fd, r->s->dirents, sizeof(r->s->dirents));

		if (n < 0)
			return pos > 0 ? (int)pos : -errno;
		if (n == 0)
			break;
		for (long at = 0; at < n;) {
			const struct linux_dirent64 *d = (const void *)(r->s->dirents + at);

			/* A lookup may grow the tables: find the handle again each time. */
			h = &r->s->handles[(uint32_t)handle_id];
			if (!put_entry(r, h, h->fd, plus, d, room, &pos)) {
				full = true;
				break;
			}
			at += d->d_reclen;
		}
	}
	if (pos == 0 && full && room > 0)
		return fuse_refuse(r, REFUSED_REPLY_ROOM, -EINVAL,
				   "a %zu-byte directory read holds no entry", room);
	return (int)pos;
}
