/* The virtio-fs file server driven with made-up FUSE requests against a temporary share: a
 * few files, a subdirectory, symlinks pointing out of it, and an "outside" sibling directory
 * with a secret that must stay untouched whatever the guest asks. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hopvm/error.h"
#include "hopvm/fuse_server.h"
#include "hopvm/threads.h"
#include "unit.h"

#define HDR sizeof(struct fuse_in_header)
#define OHDR sizeof(struct fuse_out_header)
#define HELLO "hello, virtio-fs: the quick brown fox jumps over the lazy dog\n"
#define SECRET "the secret outside the share\n"

static char base[64], share[96], outside[96];
static struct fuse_server *srv;
static uint8_t rq[16384];
static size_t rq_len;
static uint8_t reply[1 << 20];
static struct fuse_out_header rh;
static uint64_t uniq;

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void path_of(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", share, name);
}

/* The share's (or outside's) names, sorted, as one string: "a b c ". */
static void list_dir(const char *dir, char *buf, size_t size)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);

	assert_true(n >= 0);
	buf[0] = '\0';
	for (int i = 0; i < n; i++) {
		strncat(buf, names[i]->d_name, size - strlen(buf) - 2);
		strcat(buf, " ");
		free(names[i]);
	}
	free(names);
}

static void check_outside(void)
{
	char list[512], text[128] = { 0 }, path[160];
	struct stat st;
	int fd;

	list_dir(outside, list, sizeof(list));
	assert_string_equal(list, ". .. secret ");
	snprintf(path, sizeof(path), "%s/secret", outside);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, text, sizeof(text) - 1), strlen(SECRET));
	close(fd);
	assert_string_equal(text, SECRET);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_nlink, 1);
}

/* Who runs the tests, read before any test may run under the virtio-fs filter (which has no
 * getuid: the server never asks). */
static uid_t my_uid, my_euid;
static gid_t my_gid;

static int make_tree(bool read_only)
{
	char path[160];

	my_uid = getuid();
	my_euid = geteuid();
	my_gid = getgid();
	strcpy(base, "/tmp/hopvm-fuse-XXXXXX");
	assert_non_null(mkdtemp(base));
	snprintf(share, sizeof(share), "%s/share", base);
	snprintf(outside, sizeof(outside), "%s/outside", base);
	assert_int_equal(mkdir(share, 0755), 0);
	assert_int_equal(mkdir(outside, 0755), 0);
	write_file(outside, "secret", SECRET);
	snprintf(path, sizeof(path), "%s/secret", outside);
	assert_int_equal(chmod(path, 0600), 0);
	write_file(share, "hello.txt", HELLO);
	write_file(share, "empty", "");
	path_of(path, sizeof(path), "sub");
	assert_int_equal(mkdir(path, 0755), 0);
	write_file(path, "inner", "inner file\n");
	path_of(path, sizeof(path), "abs");
	assert_int_equal(symlink("/etc/passwd", path), 0);
	path_of(path, sizeof(path), "rel");
	assert_int_equal(symlink("../../outside", path), 0);
	path_of(path, sizeof(path), "to-secret");
	assert_int_equal(symlink("../outside/secret", path), 0);
	assert_int_equal(fuse_server_open(&srv, share, read_only), 0);
	uniq = 0;
	return 0;
}

static void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[PATH_MAX];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
			remove_tree(path);
		else
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static int setup_rw(void **state)
{
	(void)state;
	return make_tree(false);
}

static int setup_ro(void **state)
{
	(void)state;
	return make_tree(true);
}

static int teardown(void **state)
{
	(void)state;
	check_outside();
	fuse_server_close(srv);
	srv = NULL;
	remove_tree(base);
	return 0;
}

static void start(uint32_t opcode, uint64_t nodeid)
{
	struct fuse_in_header h = { .opcode = opcode, .nodeid = nodeid, .unique = ++uniq,
				    .uid = (uint32_t)my_uid, .gid = (uint32_t)my_gid };

	memcpy(rq, &h, sizeof(h));
	rq_len = sizeof(h);
}

static void add(const void *p, size_t n)
{
	assert_true(rq_len + n <= sizeof(rq));
	memcpy(rq + rq_len, p, n);
	rq_len += n;
}

static void add_str(const char *s)
{
	add(s, strlen(s) + 1);
}

/* Sends the request with the in buffers cut at in_cut (and again further on) and room bytes
 * of out buffers cut at out_cut; each buffer on the heap at its exact size, so ASan sees any
 * access past one.  Returns the reply's error, or its data length when 0. */
static int send_split(size_t room, size_t in_cut, size_t out_cut)
{
	size_t cuts[4] = { 0, in_cut < rq_len ? in_cut : rq_len, 0, rq_len };
	size_t ocuts[3] = { 0, out_cut < room ? out_cut : room, room };
	struct iovec in[3], out[2];
	uint8_t *bufs[5];
	int ret;

	cuts[2] = cuts[1] + (rq_len - cuts[1]) / 3;
	((struct fuse_in_header *)rq)->len = (uint32_t)rq_len;
	for (int i = 0; i < 3; i++) {
		bufs[i] = malloc(cuts[i + 1] - cuts[i] + 1);
		memcpy(bufs[i], rq + cuts[i], cuts[i + 1] - cuts[i]);
		in[i] = (struct iovec){ bufs[i], cuts[i + 1] - cuts[i] };
	}
	for (int i = 0; i < 2; i++) {
		bufs[3 + i] = malloc(ocuts[i + 1] - ocuts[i] + 1);
		memset(bufs[3 + i], 0xa5, ocuts[i + 1] - ocuts[i]);
		out[i] = (struct iovec){ bufs[3 + i], ocuts[i + 1] - ocuts[i] };
	}
	ret = fuse_server_handle(srv, in, 3, out, 2);
	if (ret > 0) {
		assert_true((size_t)ret <= room);
		memcpy(reply, bufs[3], out[0].iov_len);
		memcpy(reply + out[0].iov_len, bufs[4], out[1].iov_len);
		memcpy(&rh, reply, sizeof(rh));
		assert_int_equal(rh.len, ret);
		assert_int_equal(rh.unique, uniq);
		ret = rh.error != 0 ? rh.error : ret - (int)OHDR;
		if (rh.error != 0)
			assert_int_equal(rh.len, OHDR);
	} else if (ret == 0) {
		ret = INT_MIN;	/* no reply */
	}
	for (int i = 0; i < 5; i++)
		free(bufs[i]);
	return ret;
}

static int send_req(void)
{
	return send_split(8192, 7, 5);
}

#define NO_REPLY INT_MIN

static void init_minor(uint32_t minor, uint32_t flags, struct fuse_init_out *o)
{
	struct fuse_init_in in = { .major = 7, .minor = minor, .max_readahead = 65536,
				   .flags = flags };

	start(FUSE_INIT, 0);
	add(&in, sizeof(in));
	assert_int_equal(send_req(), sizeof(*o));
	memcpy(o, reply + OHDR, sizeof(*o));
}

static void init(void)
{
	struct fuse_init_out o;

	init_minor(38, 0xffffffff, &o);
}

static int lookup(uint64_t dir, const char *name, struct fuse_entry_out *e)
{
	int ret;

	start(FUSE_LOOKUP, dir);
	add_str(name);
	ret = send_req();
	if (ret >= 0) {
		assert_int_equal(ret, sizeof(*e));
		memcpy(e, reply + OHDR, sizeof(*e));
	}
	return ret;
}

static uint64_t node_of(const char *name)
{
	struct fuse_entry_out e;

	assert_int_equal(lookup(FUSE_ROOT_ID, name, &e), sizeof(e));
	return e.nodeid;
}

static int open_node(uint64_t node, uint32_t flags, uint64_t *fh, uint32_t *open_flags)
{
	struct fuse_open_in in = { .flags = flags };
	struct fuse_open_out o;
	int ret;

	start(FUSE_OPEN, node);
	add(&in, sizeof(in));
	ret = send_req();
	if (ret >= 0) {
		assert_int_equal(ret, sizeof(o));
		memcpy(&o, reply + OHDR, sizeof(o));
		*fh = o.fh;
		if (open_flags != NULL)
			*open_flags = o.open_flags;
	}
	return ret;
}

static int read_fh(uint64_t fh, uint64_t off, uint32_t size)
{
	struct fuse_read_in in = { .fh = fh, .offset = off, .size = size };

	start(FUSE_READ, 1);
	add(&in, sizeof(in));
	return send_req();
}

static int release(uint64_t fh, uint32_t opcode)
{
	struct fuse_release_in in = { .fh = fh };

	start(opcode, 1);
	add(&in, sizeof(in));
	return send_req();
}

static int getattr(uint64_t node, struct fuse_attr *a)
{
	struct fuse_getattr_in in = { 0 };
	struct fuse_attr_out o;
	int ret;

	start(FUSE_GETATTR, node);
	add(&in, sizeof(in));
	ret = send_req();
	if (ret >= 0) {
		assert_int_equal(ret, sizeof(o));
		memcpy(&o, reply + OHDR, sizeof(o));
		*a = o.attr;
	}
	return ret;
}

static void forget(uint64_t node, uint64_t n)
{
	struct fuse_forget_in in = { .nlookup = n };

	start(FUSE_FORGET, node);
	add(&in, sizeof(in));
	assert_int_equal(send_req(), NO_REPLY);
}

static void test_open_refuses(void **state)
{
	struct fuse_server *s;
	char path[160];

	(void)state;
	snprintf(path, sizeof(path), "%s/missing", base);
	err_clear();
	assert_int_equal(fuse_server_open(&s, path, false), -ENOENT);
	assert_err_mentions("missing");
	path_of(path, sizeof(path), "hello.txt");
	assert_int_equal(fuse_server_open(&s, path, false), -ENOTDIR);
	assert_err_mentions("hello.txt");
	assert_null(s);
}

static void test_init(void **state)
{
	struct fuse_init_out o;
	struct fuse_attr a;
	char msg[256];

	(void)state;
	/* Nothing before INIT. */
	assert_int_equal(getattr(FUSE_ROOT_ID, &a), -EIO);
	assert_true(fuse_server_new_refusal(srv, msg, sizeof(msg)));
	assert_non_null(strstr(msg, "before INIT"));
	assert_non_null(strstr(msg, "a guest's GETATTR refused (Input/output error): "));
	assert_false(fuse_server_new_refusal(srv, msg, sizeof(msg)));

	init_minor(31, FUSE_ASYNC_READ | FUSE_DO_READDIRPLUS | FUSE_MAX_PAGES |
			       FUSE_WRITEBACK_CACHE | FUSE_POSIX_LOCKS, &o);
	assert_int_equal(o.major, 7);
	assert_int_equal(o.minor, 31);
	assert_int_equal(o.max_readahead, 65536);
	assert_int_equal(o.flags, FUSE_ASYNC_READ | FUSE_DO_READDIRPLUS | FUSE_MAX_PAGES);
	assert_int_equal(o.max_write, 512 << 10);
	assert_int_equal(o.max_pages, 128);
	assert_int_equal(o.time_gran, 1);
	/* A second INIT is refused; after DESTROY a newer guest gets 7.38 at most. */
	start(FUSE_INIT, 0);
	add(&(struct fuse_init_in){ .major = 7, .minor = 38 }, sizeof(struct fuse_init_in));
	assert_int_equal(send_req(), -EIO);
	start(FUSE_DESTROY, 0);
	assert_int_equal(send_req(), 0);
	init_minor(40, 0xffffffff, &o);
	assert_int_equal(o.minor, 38);
	assert_int_equal(o.flags, FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_DO_READDIRPLUS |
					  FUSE_READDIRPLUS_AUTO | FUSE_PARALLEL_DIROPS |
					  FUSE_ATOMIC_O_TRUNC | FUSE_EXPORT_SUPPORT |
					  FUSE_MAX_PAGES);
	assert_int_equal(getattr(FUSE_ROOT_ID, &a), sizeof(struct fuse_attr_out));
	/* Too old a protocol. */
	start(FUSE_DESTROY, 0);
	assert_int_equal(send_req(), 0);
	start(FUSE_INIT, 0);
	add(&(struct fuse_init_in){ .major = 7, .minor = 8 }, 16);
	assert_int_equal(send_req(), -EPROTO);
}

static void assert_attr_is(const struct fuse_attr *a, const char *name)
{
	char path[160];
	struct stat st;

	path_of(path, sizeof(path), name);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(a->ino, st.st_ino);
	assert_int_equal(a->size, st.st_size);
	assert_int_equal(a->mode, st.st_mode);
	assert_int_equal(a->nlink, st.st_nlink);
	assert_int_equal(a->uid, st.st_uid);
	assert_int_equal(a->gid, st.st_gid);
	assert_int_equal(a->mtime, st.st_mtim.tv_sec);
	assert_int_equal(a->mtimensec, st.st_mtim.tv_nsec);
	assert_int_equal(a->blocks, st.st_blocks);
}

static void test_lookup(void **state)
{
	struct fuse_entry_out e, again, sub, up;
	struct stat st;

	(void)state;
	init();
	assert_int_equal(lookup(FUSE_ROOT_ID, "hello.txt", &e), sizeof(e));
	assert_attr_is(&e.attr, "hello.txt");
	assert_int_equal(e.entry_valid, 1);	/* read-write share */
	assert_int_equal(e.attr_valid, 1);
	assert_int_not_equal(e.nodeid, FUSE_ROOT_ID);
	assert_int_equal(lookup(FUSE_ROOT_ID, "hello.txt", &again), sizeof(e));
	assert_int_equal(again.nodeid, e.nodeid);
	/* ".." of the root is the root; "." is the directory itself. */
	assert_int_equal(stat(share, &st), 0);
	assert_int_equal(lookup(FUSE_ROOT_ID, "..", &up), sizeof(up));
	assert_int_equal(up.nodeid, FUSE_ROOT_ID);
	assert_int_equal(up.attr.ino, st.st_ino);
	assert_int_equal(lookup(FUSE_ROOT_ID, ".", &up), sizeof(up));
	assert_int_equal(up.nodeid, FUSE_ROOT_ID);
	assert_int_equal(lookup(FUSE_ROOT_ID, "sub", &sub), sizeof(sub));
	assert_true(S_ISDIR(sub.attr.mode));
	assert_int_equal(lookup(sub.nodeid, "..", &up), sizeof(up));
	assert_int_equal(up.nodeid, FUSE_ROOT_ID);
	assert_int_equal(lookup(sub.nodeid, "inner", &up), sizeof(up));
	assert_int_equal(lookup(sub.nodeid, "..", &up), sizeof(up));
	assert_int_equal(lookup(up.nodeid, "..", &up), sizeof(up));
	assert_int_equal(up.nodeid, FUSE_ROOT_ID);
	/* "..." is an ordinary name. */
	assert_int_equal(lookup(FUSE_ROOT_ID, "...", &up), -ENOENT);
	assert_int_equal(lookup(FUSE_ROOT_ID, "missing", &up), -ENOENT);
	/* A file is no directory to look in. */
	assert_int_equal(lookup(e.nodeid, "x", &up), -ENOTDIR);
}

static void test_read_split(void **state)
{
	uint64_t node, fh;
	uint32_t flags;
	size_t len = strlen(HELLO);

	(void)state;
	init();
	node = node_of("hello.txt");
	assert_int_equal(open_node(node, O_RDONLY, &fh, &flags), sizeof(struct fuse_open_out));
	assert_int_equal(flags & FOPEN_KEEP_CACHE, 0);	/* read-write share */
	/* Every way of cutting the in and out buffers gives the same bytes. */
	for (size_t in_cut = 0; in_cut <= HDR + sizeof(struct fuse_read_in); in_cut += 5) {
		for (size_t out_cut = 0; out_cut < 40; out_cut += 3) {
			struct fuse_read_in in = { .fh = fh, .offset = 3, .size = 4096 };

			start(FUSE_READ, node);
			add(&in, sizeof(in));
			assert_int_equal(send_split(8192, in_cut, out_cut), len - 3);
			assert_memory_equal(reply + OHDR, &HELLO[3], len - 3);
		}
	}
	/* Asking more than the out buffers hold is clamped. */
	start(FUSE_READ, node);
	add(&(struct fuse_read_in){ .fh = fh, .size = 4096 }, sizeof(struct fuse_read_in));
	assert_int_equal(send_split(OHDR + 10, 13, 11), 10);
	assert_memory_equal(reply + OHDR, HELLO, 10);
	/* Past the end: nothing.  Offsets that overflow: refused. */
	assert_int_equal(read_fh(fh, 1000, 100), 0);
	assert_int_equal(read_fh(fh, UINT64_MAX - 10, 100), -EINVAL);
	assert_int_equal(read_fh(fh, INT64_MAX - 10, 100), -EINVAL);
	assert_int_equal(release(fh, FUSE_RELEASE), 0);
	assert_int_equal(read_fh(fh, 0, 100), -EBADF);
	assert_int_equal(release(fh, FUSE_RELEASE), -EBADF);
}

/* Every name a READDIR(PLUS) lists from offset 0, in entries of at most size bytes per call. */
static void read_dir_names(uint64_t node, const char *prefix, bool plus, uint32_t size,
			   char *names, size_t room)
{
	struct fuse_open_in oin = { 0 };
	struct fuse_open_out o;
	uint64_t off = 0;
	char *list[64];
	int count = 0, ret;

	start(FUSE_OPENDIR, node);
	add(&oin, sizeof(oin));
	assert_int_equal(send_req(), sizeof(o));
	memcpy(&o, reply + OHDR, sizeof(o));
	do {
		struct fuse_read_in in = { .fh = o.fh, .offset = off, .size = size };
		size_t pos = 0;

		start(plus ? FUSE_READDIRPLUS : FUSE_READDIR, node);
		add(&in, sizeof(in));
		ret = send_req();
		assert_true(ret >= 0);
		assert_true((size_t)ret <= size);
		while (pos < (size_t)ret) {
			const struct fuse_dirent *d;
			struct fuse_entry_out e;

			if (plus) {
				memcpy(&e, reply + OHDR + pos, sizeof(e));
				d = (const void *)(reply + OHDR + pos + sizeof(e));
			} else {
				d = (const void *)(reply + OHDR + pos);
			}
			assert_true(d->namelen > 0 && d->namelen <= NAME_MAX);
			assert_true(count < 64);
			list[count++] = strndup(d->name, d->namelen);
			if (plus && e.nodeid != 0) {
				char rel[300];

				snprintf(rel, sizeof(rel), "%s%s", prefix, list[count - 1]);
				assert_int_equal(e.attr.ino, d->ino);
				assert_int_equal(e.attr.mode >> 12, d->type);
				assert_attr_is(&e.attr, rel);
				forget(e.nodeid, 1);
			} else if (plus) {
				/* Only "." and ".." come without a lookup to forget. */
				assert_true(strcmp(list[count - 1], ".") == 0 ||
					    strcmp(list[count - 1], "..") == 0);
			}
			off = d->off;
			pos += plus ? FUSE_DIRENTPLUS_SIZE((const struct fuse_direntplus *)(
						reply + OHDR + pos))
				    : FUSE_DIRENT_SIZE(d);
		}
	} while (ret > 0);
	assert_int_equal(release(o.fh, FUSE_RELEASEDIR), 0);
	/* Sorted, as list_dir gives them. */
	for (int i = 0; i < count; i++)
		for (int j = i + 1; j < count; j++)
			if (strcmp(list[j], list[i]) < 0) {
				char *t = list[i];

				list[i] = list[j];
				list[j] = t;
			}
	names[0] = '\0';
	for (int i = 0; i < count; i++) {
		strncat(names, list[i], room - strlen(names) - 2);
		strcat(names, " ");
		free(list[i]);
	}
}

static void test_readdir(void **state)
{
	char want[512], got[512];
	uint64_t sub;

	(void)state;
	init();
	list_dir(share, want, sizeof(want));
	read_dir_names(FUSE_ROOT_ID, "", true, 4096, got, sizeof(got));
	assert_string_equal(got, want);
	/* A few entries per call: the offsets carry on where the last call stopped. */
	read_dir_names(FUSE_ROOT_ID, "", true, 300, got, sizeof(got));
	assert_string_equal(got, want);
	read_dir_names(FUSE_ROOT_ID, "", false, 4096, got, sizeof(got));
	assert_string_equal(got, want);
	read_dir_names(FUSE_ROOT_ID, "", false, 40, got, sizeof(got));
	assert_string_equal(got, want);
	sub = node_of("sub");
	read_dir_names(sub, "sub/", true, 4096, got, sizeof(got));
	assert_string_equal(got, ". .. inner ");
}

static void test_readdir_handles(void **state)
{
	struct fuse_open_out o;
	uint64_t file_fh;
	struct fuse_read_in in = { .size = 4096 };

	(void)state;
	init();
	/* A directory read with a file's handle, an invented one, and too little room. */
	assert_int_equal(open_node(node_of("hello.txt"), O_RDONLY, &file_fh, NULL),
			 sizeof(struct fuse_open_out));
	in.fh = file_fh;
	start(FUSE_READDIR, 1);
	add(&in, sizeof(in));
	assert_int_equal(send_req(), -ENOTDIR);
	in.fh = 77;
	start(FUSE_READDIRPLUS, 1);
	add(&in, sizeof(in));
	assert_int_equal(send_req(), -EBADF);
	start(FUSE_OPENDIR, 1);
	add(&(struct fuse_open_in){ 0 }, sizeof(struct fuse_open_in));
	assert_int_equal(send_req(), sizeof(o));
	memcpy(&o, reply + OHDR, sizeof(o));
	in.fh = o.fh;
	start(FUSE_READDIRPLUS, 1);
	add(&in, sizeof(in));
	assert_int_equal(send_split(OHDR + 100, 3, 50), -EINVAL);
	assert_int_equal(release(o.fh, FUSE_RELEASE), -EISDIR);
	assert_int_equal(release(file_fh, FUSE_RELEASEDIR), -ENOTDIR);
	assert_int_equal(release(o.fh, FUSE_RELEASEDIR), 0);
	/* OPENDIR of a file or a symlink. */
	start(FUSE_OPENDIR, node_of("hello.txt"));
	add(&(struct fuse_open_in){ 0 }, sizeof(struct fuse_open_in));
	assert_int_equal(send_req(), -ENOTDIR);
	start(FUSE_OPENDIR, node_of("rel"));
	add(&(struct fuse_open_in){ 0 }, sizeof(struct fuse_open_in));
	assert_int_equal(send_req(), -ENOTDIR);
}

static void test_symlinks(void **state)
{
	struct fuse_entry_out e;
	struct fuse_attr a;
	uint64_t fh;

	(void)state;
	init();
	assert_int_equal(lookup(FUSE_ROOT_ID, "abs", &e), sizeof(e));
	assert_true(S_ISLNK(e.attr.mode));
	assert_int_equal(e.attr.size, strlen("/etc/passwd"));
	assert_attr_is(&e.attr, "abs");
	start(FUSE_READLINK, e.nodeid);
	assert_int_equal(send_req(), strlen("/etc/passwd"));
	assert_memory_equal(reply + OHDR, "/etc/passwd", strlen("/etc/passwd"));
	assert_int_equal(open_node(e.nodeid, O_RDONLY, &fh, NULL), -ELOOP);
	assert_int_equal(getattr(e.nodeid, &a), sizeof(struct fuse_attr_out));
	assert_true(S_ISLNK(a.mode));
	/* Not a directory to look through. */
	assert_int_equal(lookup(e.nodeid, "passwd", &e), -ENOTDIR);

	assert_int_equal(lookup(FUSE_ROOT_ID, "rel", &e), sizeof(e));
	start(FUSE_READLINK, e.nodeid);
	assert_int_equal(send_req(), strlen("../../outside"));
	assert_memory_equal(reply + OHDR, "../../outside", strlen("../../outside"));
	assert_int_equal(lookup(e.nodeid, "secret", &e), -ENOTDIR);
	assert_int_equal(lookup(e.nodeid, "..", &e), -ENOTDIR);

	assert_int_equal(lookup(FUSE_ROOT_ID, "to-secret", &e), sizeof(e));
	assert_int_equal(open_node(e.nodeid, O_RDONLY, &fh, NULL), -ELOOP);
	/* Truncating, chmod-ing or timing it never reaches the secret through the link. */
	start(FUSE_SETATTR, e.nodeid);
	add(&(struct fuse_setattr_in){ .valid = FATTR_SIZE, .size = 0 },
	    sizeof(struct fuse_setattr_in));
	assert_int_equal(send_req(), -EINVAL);
	start(FUSE_SETATTR, e.nodeid);
	add(&(struct fuse_setattr_in){ .valid = FATTR_MODE, .mode = 0777 },
	    sizeof(struct fuse_setattr_in));
	assert_int_equal(send_req(), -EOPNOTSUPP);
	start(FUSE_SETATTR, e.nodeid);
	add(&(struct fuse_setattr_in){ .valid = FATTR_MTIME, .mtime = 12345 },
	    sizeof(struct fuse_setattr_in));
	send_req();	/* the link's own time, where the host allows it */
	start(FUSE_ACCESS, e.nodeid);
	add(&(struct fuse_access_in){ .mask = R_OK }, sizeof(struct fuse_access_in));
	assert_int_equal(send_req(), 0);
	/* READLINK of something that is no link. */
	start(FUSE_READLINK, node_of("hello.txt"));
	assert_int_equal(send_req(), -EINVAL);
}

static void test_bad_names(void **state)
{
	char longname[NAME_MAX + 2];
	struct fuse_entry_out e;
	char msg[256];

	(void)state;
	init();
	assert_int_equal(lookup(FUSE_ROOT_ID, "sub/inner", &e), -EINVAL);
	assert_true(fuse_server_new_refusal(srv, msg, sizeof(msg)));
	assert_non_null(strstr(msg, "'/'"));
	assert_int_equal(lookup(FUSE_ROOT_ID, "", &e), -EINVAL);
	assert_int_equal(lookup(FUSE_ROOT_ID, "../outside", &e), -EINVAL);
	assert_int_equal(lookup(FUSE_ROOT_ID, "/etc", &e), -EINVAL);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(lookup(FUSE_ROOT_ID, longname, &e), -EINVAL);
	longname[NAME_MAX] = '\0';	/* NAME_MAX itself is fine */
	assert_int_equal(lookup(FUSE_ROOT_ID, longname, &e), -ENOENT);
	/* Not terminated within the request. */
	start(FUSE_LOOKUP, FUSE_ROOT_ID);
	add("hello.txt", 9);
	assert_int_equal(send_req(), -EINVAL);
	start(FUSE_LOOKUP, FUSE_ROOT_ID);
	assert_int_equal(send_req(), -EINVAL);
	/* Extensions longer than the request. */
	start(FUSE_LOOKUP, FUSE_ROOT_ID);
	add_str("hello.txt");
	((struct fuse_in_header *)rq)->total_extlen = 100;
	assert_int_equal(send_req(), -EINVAL);
}

static void test_invented_ids(void **state)
{
	struct fuse_attr a;
	struct fuse_entry_out e;
	uint64_t node, fh;

	(void)state;
	init();
	assert_int_equal(getattr(0, &a), -ENOENT);
	assert_int_equal(getattr(2, &a), -ENOENT);
	assert_int_equal(getattr(123456789, &a), -ENOENT);
	assert_int_equal(getattr(UINT64_MAX, &a), -ENOENT);
	assert_int_equal(getattr(1ULL << 32 | 1, &a), -ENOENT);	/* root slot, wrong generation */
	assert_int_equal(lookup(0, "hello.txt", &e), -ENOENT);
	assert_int_equal(lookup(99, "hello.txt", &e), -ENOENT);
	node = node_of("hello.txt");
	assert_int_equal(getattr(node ^ (1ULL << 32), &a), -ENOENT);
	assert_int_equal(read_fh(0, 0, 10), -EBADF);
	assert_int_equal(read_fh(1, 0, 10), -EBADF);
	assert_int_equal(read_fh(UINT64_MAX, 0, 10), -EBADF);
	assert_int_equal(open_node(node, O_RDONLY, &fh, NULL), sizeof(struct fuse_open_out));
	assert_int_equal(read_fh(fh ^ (1ULL << 32), 0, 10), -EBADF);
	assert_int_equal(read_fh(fh + 1, 0, 10), -EBADF);
	assert_int_equal(read_fh(fh, 0, 10), 10);
	/* A released handle's slot reused: the old fh stays dead. */
	assert_int_equal(release(fh, FUSE_RELEASE), 0);
	{
		uint64_t fh2;

		assert_int_equal(open_node(node, O_RDONLY, &fh2, NULL),
				 sizeof(struct fuse_open_out));
		assert_int_not_equal(fh2, fh);
		assert_int_equal(read_fh(fh, 0, 10), -EBADF);
		assert_int_equal(read_fh(fh2, 0, 10), 10);
	}
	/* Forgetting unknown nodes is harmless; so are an unknown opcode and INTERRUPT. */
	forget(0, 1);
	forget(987654321, 1);
	start(9999, FUSE_ROOT_ID);
	assert_int_equal(send_req(), -ENOSYS);
	start(FUSE_INTERRUPT, 0);
	add(&(struct fuse_interrupt_in){ 1 }, sizeof(struct fuse_interrupt_in));
	assert_int_equal(send_req(), NO_REPLY);
	start(FUSE_GETXATTR, node);
	add(&(struct fuse_getxattr_in){ .size = 64 }, sizeof(struct fuse_getxattr_in));
	add_str("user.x");
	assert_int_equal(send_req(), -ENOSYS);
	start(FUSE_LISTXATTR, node);
	add(&(struct fuse_getxattr_in){ .size = 64 }, sizeof(struct fuse_getxattr_in));
	assert_int_equal(send_req(), -ENOSYS);
}

static void test_forget(void **state)
{
	struct fuse_attr a;
	struct fuse_entry_out e;
	uint64_t node, sub;
	struct {
		struct fuse_batch_forget_in in;
		struct fuse_forget_one one[2];
	} batch;

	(void)state;
	init();
	node = node_of("hello.txt");
	assert_int_equal(node_of("hello.txt"), node);	/* two lookups */
	forget(node, 1);
	assert_int_equal(getattr(node, &a), sizeof(struct fuse_attr_out));
	forget(node, 1);
	assert_int_equal(getattr(node, &a), -ENOENT);
	assert_int_equal(lookup(node, "x", &e), -ENOENT);
	/* Looked up again it is a new node id. */
	assert_int_not_equal(node_of("hello.txt"), node);
	node = node_of("empty");
	sub = node_of("sub");
	batch.in = (struct fuse_batch_forget_in){ .count = 2 };
	batch.one[0] = (struct fuse_forget_one){ node, 1 };
	batch.one[1] = (struct fuse_forget_one){ sub, 100 };
	start(FUSE_BATCH_FORGET, 0);
	add(&batch, sizeof(batch));
	assert_int_equal(send_req(), NO_REPLY);
	assert_int_equal(getattr(node, &a), -ENOENT);
	assert_int_equal(getattr(sub, &a), -ENOENT);
	/* A count beyond the list: what is there is forgotten, nothing read past it. */
	node = node_of("empty");
	batch.in.count = 1000;
	batch.one[0] = (struct fuse_forget_one){ node, 1 };
	start(FUSE_BATCH_FORGET, 0);
	add(&batch, sizeof(batch.in) + sizeof(batch.one[0]));
	assert_int_equal(send_req(), NO_REPLY);
	assert_int_equal(getattr(node, &a), -ENOENT);
	/* The root survives being forgotten. */
	forget(FUSE_ROOT_ID, 1000);
	assert_int_equal(getattr(FUSE_ROOT_ID, &a), sizeof(struct fuse_attr_out));
	assert_int_not_equal(node_of("hello.txt"), 0);
}

/* Linux's virtiofs sends FORGET on its high-priority queue with no reply buffers at all (it
 * takes no reply): the server must still forget, or every node the guest drops keeps a host fd
 * until the budget runs out. */
static void test_forget_without_reply_buffers(void **state)
{
	struct fuse_attr a;
	struct iovec in;
	uint64_t node, sub;
	struct {
		struct fuse_batch_forget_in in;
		struct fuse_forget_one one[2];
	} batch;
	char msg[256];

	(void)state;
	init();
	node = node_of("hello.txt");
	start(FUSE_FORGET, node);
	add(&(struct fuse_forget_in){ .nlookup = 1 }, sizeof(struct fuse_forget_in));
	((struct fuse_in_header *)rq)->len = (uint32_t)rq_len;
	in = (struct iovec){ rq, rq_len };
	err_clear();
	assert_int_equal(fuse_server_handle(srv, &in, 1, NULL, 0), 0);
	assert_false(fuse_server_new_refusal(srv, msg, sizeof(msg)));
	assert_int_equal(getattr(node, &a), -ENOENT);
	node = node_of("empty");
	sub = node_of("sub");
	batch.in = (struct fuse_batch_forget_in){ .count = 2 };
	batch.one[0] = (struct fuse_forget_one){ node, 1 };
	batch.one[1] = (struct fuse_forget_one){ sub, 1 };
	start(FUSE_BATCH_FORGET, 0);
	add(&batch, sizeof(batch));
	((struct fuse_in_header *)rq)->len = (uint32_t)rq_len;
	in = (struct iovec){ rq, rq_len };
	assert_int_equal(fuse_server_handle(srv, &in, 1, NULL, 0), 0);
	assert_int_equal(getattr(node, &a), -ENOENT);
	assert_int_equal(getattr(sub, &a), -ENOENT);
	/* Malformed (extensions longer than the request), still no reply written anywhere. */
	start(FUSE_FORGET, FUSE_ROOT_ID);
	add(&(struct fuse_forget_in){ .nlookup = 1 }, sizeof(struct fuse_forget_in));
	((struct fuse_in_header *)rq)->len = (uint32_t)rq_len;
	((struct fuse_in_header *)rq)->total_extlen = 10;
	in = (struct iovec){ rq, rq_len };
	assert_int_equal(fuse_server_handle(srv, &in, 1, NULL, 0), 0);
	assert_int_equal(getattr(FUSE_ROOT_ID, &a), sizeof(struct fuse_attr_out));
	/* A request that takes a reply still needs room for its header. */
	start(FUSE_GETATTR, FUSE_ROOT_ID);
	add(&(struct fuse_getattr_in){ 0 }, sizeof(struct fuse_getattr_in));
	((struct fuse_in_header *)rq)->len = (uint32_t)rq_len;
	in = (struct iovec){ rq, rq_len };
	assert_int_equal(fuse_server_handle(srv, &in, 1, NULL, 0), -EINVAL);
	assert_err_mentions("cannot hold a reply header");
}

static int make_entry(uint32_t opcode, uint64_t dir, const void *in, size_t in_len,
		      const char *name, const char *target, struct fuse_entry_out *e)
{
	int ret;

	start(opcode, dir);
	if (in_len > 0)
		add(in, in_len);
	add_str(name);
	if (target != NULL)
		add_str(target);
	ret = send_req();
	if (ret >= 0) {
		assert_int_equal(ret, sizeof(*e));
		memcpy(e, reply + OHDR, sizeof(*e));
	}
	return ret;
}

static int link_to(uint64_t old, uint64_t dir, const char *name, struct fuse_entry_out *e)
{
	struct fuse_link_in in = { .oldnodeid = old };

	return make_entry(FUSE_LINK, dir, &in, sizeof(in), name, NULL, e);
}

static int rename2(uint64_t dir, const char *old, uint64_t newdir, const char *new_name,
		   uint32_t flags)
{
	struct fuse_rename2_in in = { .newdir = newdir, .flags = flags };

	start(FUSE_RENAME2, dir);
	add(&in, sizeof(in));
	add_str(old);
	add_str(new_name);
	return send_req();
}

static void test_link_and_rename_stay_inside(void **state)
{
	struct fuse_entry_out e;
	uint64_t hello, sub, rel;
	char want[512], got[512];
	struct stat st;

	(void)state;
	init();
	hello = node_of("hello.txt");
	sub = node_of("sub");
	rel = node_of("rel");
	assert_int_equal(link_to(hello, sub, "hard", &e), sizeof(e));
	assert_int_equal(e.nodeid, hello);	/* the same inode, the same node */
	assert_int_equal(e.attr.nlink, 2);
	/* A link to a symlink is the link, not its target. */
	assert_int_equal(link_to(rel, sub, "rel2", &e), sizeof(e));
	assert_true(S_ISLNK(e.attr.mode));
	assert_int_equal(link_to(123456, sub, "x", &e), -ENOENT);
	assert_int_equal(link_to(hello, 123456, "x", &e), -ENOENT);
	assert_int_equal(link_to(hello, FUSE_ROOT_ID, "..", &e), -EINVAL);
	assert_int_equal(link_to(hello, FUSE_ROOT_ID, "../stolen", &e), -EINVAL);
	assert_int_equal(link_to(sub, FUSE_ROOT_ID, "dirlink", &e), -EPERM);

	list_dir(share, want, sizeof(want));
	assert_int_equal(rename2(FUSE_ROOT_ID, "hello.txt", FUSE_ROOT_ID, "..", 0), -EINVAL);
	assert_int_equal(rename2(FUSE_ROOT_ID, "hello.txt", FUSE_ROOT_ID, "../moved", 0),
			 -EINVAL);
	assert_int_equal(rename2(FUSE_ROOT_ID, "..", FUSE_ROOT_ID, "x", 0), -EINVAL);
	assert_int_equal(rename2(FUSE_ROOT_ID, ".", sub, "x", 0), -EINVAL);
	assert_int_equal(rename2(FUSE_ROOT_ID, "hello.txt", 999, "x", 0), -ENOENT);
	assert_int_equal(rename2(FUSE_ROOT_ID, "hello.txt", FUSE_ROOT_ID, "x",
				 RENAME_WHITEOUT), -EINVAL);
	/* The subdirectory's ".." is the root, so a rename there stays in the share. */
	assert_int_equal(lookup(sub, "..", &e), sizeof(e));
	assert_int_equal(e.nodeid, FUSE_ROOT_ID);
	list_dir(share, got, sizeof(got));
	assert_string_equal(got, want);
	/* A real move through the symlink's name moves the link, never its target. */
	assert_int_equal(rename2(FUSE_ROOT_ID, "rel", sub, "rel3", 0), 0);
	path_of(want, sizeof(want), "sub/rel3");
	assert_int_equal(lstat(want, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
}

static void expect_erofs(void)
{
	assert_int_equal(send_req(), -EROFS);
}

static void test_read_only(void **state)
{
	char before[512], after[512], path[160];
	struct fuse_entry_out e;
	struct fuse_attr a;
	uint64_t hello, sub, fh;
	uint32_t flags;
	struct stat st_before, st_after;

	(void)state;
	init();
	list_dir(share, before, sizeof(before));
	path_of(path, sizeof(path), "hello.txt");
	assert_int_equal(stat(path, &st_before), 0);
	assert_int_equal(lookup(FUSE_ROOT_ID, "hello.txt", &e), sizeof(e));
	assert_int_equal(e.entry_valid, 86400);
	assert_int_equal(e.attr_valid, 86400);
	hello = e.nodeid;
	sub = node_of("sub");

	start(FUSE_CREATE, FUSE_ROOT_ID);
	add(&(struct fuse_create_in){ .flags = O_WRONLY | O_CREAT, .mode = 0644 },
	    sizeof(struct fuse_create_in));
	add_str("new");
	expect_erofs();
	start(FUSE_MKNOD, FUSE_ROOT_ID);
	add(&(struct fuse_mknod_in){ .mode = S_IFREG | 0644 }, sizeof(struct fuse_mknod_in));
	add_str("new");
	expect_erofs();
	start(FUSE_MKDIR, FUSE_ROOT_ID);
	add(&(struct fuse_mkdir_in){ .mode = 0755 }, sizeof(struct fuse_mkdir_in));
	add_str("newdir");
	expect_erofs();
	start(FUSE_UNLINK, FUSE_ROOT_ID);
	add_str("hello.txt");
	expect_erofs();
	start(FUSE_RMDIR, FUSE_ROOT_ID);
	add_str("sub");
	expect_erofs();
	start(FUSE_RENAME, FUSE_ROOT_ID);
	add(&(struct fuse_rename_in){ .newdir = sub }, sizeof(struct fuse_rename_in));
	add_str("hello.txt");
	add_str("moved");
	expect_erofs();
	assert_int_equal(rename2(FUSE_ROOT_ID, "hello.txt", sub, "moved", RENAME_NOREPLACE),
			 -EROFS);
	start(FUSE_SYMLINK, FUSE_ROOT_ID);
	add_str("ln");
	add_str("hello.txt");
	expect_erofs();
	assert_int_equal(link_to(hello, sub, "hard", &e), -EROFS);
	start(FUSE_SETATTR, hello);
	add(&(struct fuse_setattr_in){ .valid = FATTR_SIZE | FATTR_MODE, .mode = 0777 },
	    sizeof(struct fuse_setattr_in));
	expect_erofs();
	start(FUSE_SETATTR, hello);
	add(&(struct fuse_setattr_in){ .valid = FATTR_MTIME_NOW }, sizeof(struct fuse_setattr_in));
	expect_erofs();
	assert_int_equal(open_node(hello, O_WRONLY, &fh, NULL), -EROFS);
	assert_int_equal(open_node(hello, O_RDWR, &fh, NULL), -EROFS);
	assert_int_equal(open_node(hello, O_RDONLY | O_TRUNC, &fh, NULL), -EROFS);
	assert_int_equal(open_node(hello, O_RDONLY, &fh, &flags), sizeof(struct fuse_open_out));
	assert_int_equal(flags & FOPEN_KEEP_CACHE, FOPEN_KEEP_CACHE);
	start(FUSE_WRITE, 1);
	add(&(struct fuse_write_in){ .fh = fh, .size = 3 }, sizeof(struct fuse_write_in));
	add("abc", 3);
	expect_erofs();
	start(FUSE_FALLOCATE, 1);
	add(&(struct fuse_fallocate_in){ .fh = fh, .length = 1 << 20 },
	    sizeof(struct fuse_fallocate_in));
	expect_erofs();
	start(FUSE_ACCESS, hello);
	add(&(struct fuse_access_in){ .mask = W_OK }, sizeof(struct fuse_access_in));
	expect_erofs();
	/* Reading still works. */
	assert_int_equal(read_fh(fh, 0, 5), 5);
	assert_memory_equal(reply + OHDR, HELLO, 5);
	assert_int_equal(getattr(hello, &a), sizeof(struct fuse_attr_out));

	list_dir(share, after, sizeof(after));
	assert_string_equal(after, before);
	assert_int_equal(stat(path, &st_after), 0);
	assert_int_equal(st_after.st_size, st_before.st_size);
	assert_int_equal(st_after.st_mode, st_before.st_mode);
	assert_int_equal(st_after.st_mtim.tv_sec, st_before.st_mtim.tv_sec);
	assert_int_equal(st_after.st_mtim.tv_nsec, st_before.st_mtim.tv_nsec);
}

static int write_fh(uint64_t fh, uint64_t off, const void *data, uint32_t size)
{
	struct fuse_write_in in = { .fh = fh, .offset = off, .size = size };
	struct fuse_write_out o;
	int ret;

	start(FUSE_WRITE, 1);
	add(&in, sizeof(in));
	add(data, size);
	ret = send_req();
	if (ret < 0)
		return ret;
	assert_int_equal(ret, sizeof(o));
	memcpy(&o, reply + OHDR, sizeof(o));
	return (int)o.size;
}

static void test_create_write_read(void **state)
{
	struct fuse_entry_out e;
	struct fuse_open_out o;
	static char big[200000];
	char path[160];
	struct stat st;
	uint64_t fh;

	(void)state;
	init();
	start(FUSE_CREATE, FUSE_ROOT_ID);
	add(&(struct fuse_create_in){ .flags = O_RDWR | O_CREAT | O_EXCL, .mode = S_IFREG | 0640 },
	    sizeof(struct fuse_create_in));
	add_str("new.txt");
	assert_int_equal(send_req(), sizeof(e) + sizeof(o));
	memcpy(&e, reply + OHDR, sizeof(e));
	memcpy(&o, reply + OHDR + sizeof(e), sizeof(o));
	assert_true(S_ISREG(e.attr.mode));
	assert_int_equal(e.attr.mode & 07777, 0640);
	assert_attr_is(&e.attr, "new.txt");
	assert_int_equal(node_of("new.txt"), e.nodeid);
	/* O_EXCL: a second create of the same name fails. */
	start(FUSE_CREATE, FUSE_ROOT_ID);
	add(&(struct fuse_create_in){ .flags = O_RDWR | O_CREAT | O_EXCL, .mode = 0640 },
	    sizeof(struct fuse_create_in));
	add_str("new.txt");
	assert_int_equal(send_req(), -EEXIST);

	fh = o.fh;
	assert_int_equal(write_fh(fh, 0, "0123456789", 10), 10);
	assert_int_equal(write_fh(fh, 5, "abc", 3), 3);
	assert_int_equal(read_fh(fh, 0, 100), 10);
	assert_memory_equal(reply + OHDR, "01234abc89", 10);
	/* Big data, split across the request's buffers. */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7 + 3);
	{
		struct fuse_write_in in = { .fh = fh, .offset = 100, .size = sizeof(big) };
		static uint8_t bigrq[sizeof(big) + 128];
		struct iovec iv[3], ov = { reply, sizeof(reply) };
		struct fuse_in_header h = { .opcode = FUSE_WRITE, .unique = 77, .nodeid = 1,
					    .len = HDR + sizeof(in) + sizeof(big) };

		memcpy(bigrq, &h, sizeof(h));
		memcpy(bigrq + HDR, &in, sizeof(in));
		memcpy(bigrq + HDR + sizeof(in), big, sizeof(big));
		iv[0] = (struct iovec){ bigrq, 33 };
		iv[1] = (struct iovec){ bigrq + 33, 50001 };
		iv[2] = (struct iovec){ bigrq + 50034, h.len - 50034 };
		assert_int_equal(fuse_server_handle(srv, iv, 3, &ov, 1),
				 OHDR + sizeof(struct fuse_write_out));
		assert_int_equal(((struct fuse_write_out *)(reply + OHDR))->size, sizeof(big));
	}
	assert_int_equal(read_fh(fh, 100, 150000), 8192 - OHDR);	/* clamped to the out room */
	assert_memory_equal(reply + OHDR, big, 8192 - OHDR);
	path_of(path, sizeof(path), "new.txt");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 100 + sizeof(big));
	/* WRITE claiming more data than it carries, or past the largest offset. */
	start(FUSE_WRITE, 1);
	add(&(struct fuse_write_in){ .fh = fh, .size = 100 }, sizeof(struct fuse_write_in));
	add("abc", 3);
	assert_int_equal(send_req(), -EINVAL);
	assert_int_equal(write_fh(fh, UINT64_MAX - 1, "ab", 2), -EFBIG);
	assert_int_equal(write_fh(fh, INT64_MAX, "ab", 2), -EFBIG);
	assert_int_equal(write_fh(12345, 0, "ab", 2), -EBADF);
	/* FSYNC, FLUSH, LSEEK, FALLOCATE on the handle. */
	start(FUSE_FSYNC, 1);
	add(&(struct fuse_fsync_in){ .fh = fh, .fsync_flags = FUSE_FSYNC_FDATASYNC },
	    sizeof(struct fuse_fsync_in));
	assert_int_equal(send_req(), 0);
	start(FUSE_FLUSH, 1);
	add(&(struct fuse_flush_in){ .fh = fh }, sizeof(struct fuse_flush_in));
	assert_int_equal(send_req(), 0);
	start(FUSE_FSYNCDIR, 1);
	add(&(struct fuse_fsync_in){ .fh = fh }, sizeof(struct fuse_fsync_in));
	assert_int_equal(send_req(), -ENOTDIR);
	start(FUSE_FALLOCATE, 1);
	add(&(struct fuse_fallocate_in){ .fh = fh, .offset = 1 << 20, .length = 1 << 16 },
	    sizeof(struct fuse_fallocate_in));
	assert_int_equal(send_req(), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, (1 << 20) + (1 << 16));
	start(FUSE_FALLOCATE, 1);
	add(&(struct fuse_fallocate_in){ .fh = fh, .offset = INT64_MAX, .length = 2 },
	    sizeof(struct fuse_fallocate_in));
	assert_int_equal(send_req(), -EFBIG);
	start(FUSE_LSEEK, 1);
	add(&(struct fuse_lseek_in){ .fh = fh, .offset = 0, .whence = SEEK_DATA },
	    sizeof(struct fuse_lseek_in));
	assert_int_equal(send_req(), sizeof(struct fuse_lseek_out));
	assert_int_equal(((struct fuse_lseek_out *)(reply + OHDR))->offset, 0);
	start(FUSE_LSEEK, 1);
	add(&(struct fuse_lseek_in){ .fh = fh, .offset = 0, .whence = SEEK_HOLE },
	    sizeof(struct fuse_lseek_in));
	assert_int_equal(send_req(), sizeof(struct fuse_lseek_out));
	assert_true(((struct fuse_lseek_out *)(reply + OHDR))->offset >= 100 + sizeof(big));
	start(FUSE_LSEEK, 1);
	add(&(struct fuse_lseek_in){ .fh = fh, .whence = 77 }, sizeof(struct fuse_lseek_in));
	assert_int_equal(send_req(), -EINVAL);
	assert_int_equal(release(fh, FUSE_RELEASE), 0);
	/* OPEN with O_TRUNC empties it (FUSE_ATOMIC_O_TRUNC). */
	assert_int_equal(open_node(e.nodeid, O_WRONLY | O_TRUNC, &fh, NULL),
			 sizeof(struct fuse_open_out));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(release(fh, FUSE_RELEASE), 0);
	assert_int_equal(open_node(e.nodeid, O_ACCMODE, &fh, NULL), -EINVAL);
	/* CREATE through a name that is a symlink to the outside: never followed. */
	start(FUSE_CREATE, FUSE_ROOT_ID);
	add(&(struct fuse_create_in){ .flags = O_WRONLY | O_CREAT | O_TRUNC, .mode = 0644 },
	    sizeof(struct fuse_create_in));
	add_str("to-secret");
	assert_int_equal(send_req(), -ELOOP);
}

static void test_dir_changes(void **state)
{
	struct fuse_entry_out e, d, l;
	struct fuse_attr a;
	char path[160], text[64];
	struct stat st;
	uint64_t sub;

	(void)state;
	init();
	sub = node_of("sub");
	assert_int_equal(make_entry(FUSE_MKDIR, FUSE_ROOT_ID, &(struct fuse_mkdir_in){ 0750, 0 },
				    sizeof(struct fuse_mkdir_in), "newdir", NULL, &d),
			 sizeof(d));
	assert_true(S_ISDIR(d.attr.mode));
	assert_attr_is(&d.attr, "newdir");
	assert_int_equal(make_entry(FUSE_MKDIR, FUSE_ROOT_ID, &(struct fuse_mkdir_in){ 0750, 0 },
				    sizeof(struct fuse_mkdir_in), "newdir", NULL, &d),
			 -EEXIST);
	assert_int_equal(make_entry(FUSE_MKDIR, FUSE_ROOT_ID, &(struct fuse_mkdir_in){ 0750, 0 },
				    sizeof(struct fuse_mkdir_in), "..", NULL, &d),
			 -EINVAL);
	assert_int_equal(make_entry(FUSE_SYMLINK, d.nodeid, NULL, 0, "ln", "../../outside/secret",
				    &l),
			 sizeof(l));
	assert_true(S_ISLNK(l.attr.mode));
	path_of(path, sizeof(path), "newdir/ln");
	assert_int_equal(readlinkat(AT_FDCWD, path, text, sizeof(text)), strlen("../../outside/secret"));
	/* MKNOD: files, fifos and sockets; no devices. */
	assert_int_equal(make_entry(FUSE_MKNOD, d.nodeid,
				    &(struct fuse_mknod_in){ .mode = S_IFIFO | 0600 },
				    sizeof(struct fuse_mknod_in), "fifo", NULL, &e),
			 sizeof(e));
	assert_true(S_ISFIFO(e.attr.mode));
	{
		uint64_t fh;

		assert_int_equal(open_node(e.nodeid, O_RDONLY, &fh, NULL), -EACCES);
	}
	assert_int_equal(make_entry(FUSE_MKNOD, d.nodeid,
				    &(struct fuse_mknod_in){ .mode = S_IFSOCK | 0600 },
				    sizeof(struct fuse_mknod_in), "sock", NULL, &e),
			 sizeof(e));
	assert_true(S_ISSOCK(e.attr.mode));
	assert_int_equal(make_entry(FUSE_MKNOD, d.nodeid,
				    &(struct fuse_mknod_in){ .mode = S_IFREG | 0600 },
				    sizeof(struct fuse_mknod_in), "file", NULL, &e),
			 sizeof(e));
	assert_true(S_ISREG(e.attr.mode));
	assert_int_equal(make_entry(FUSE_MKNOD, d.nodeid,
				    &(struct fuse_mknod_in){ .mode = S_IFCHR | 0600, .rdev = 0x103 },
				    sizeof(struct fuse_mknod_in), "null", NULL, &e),
			 -EPERM);
	assert_int_equal(make_entry(FUSE_MKNOD, d.nodeid,
				    &(struct fuse_mknod_in){ .mode = S_IFBLK | 0600, .rdev = 0x800 },
				    sizeof(struct fuse_mknod_in), "sda", NULL, &e),
			 -EPERM);
	assert_int_equal(make_entry(FUSE_MKNOD, d.nodeid,
				    &(struct fuse_mknod_in){ .mode = S_IFDIR | 0600 },
				    sizeof(struct fuse_mknod_in), "dir", NULL, &e),
			 -EINVAL);
	/* RENAME, RENAME2 NOREPLACE and EXCHANGE. */
	start(FUSE_RENAME, d.nodeid);
	add(&(struct fuse_rename_in){ .newdir = sub }, sizeof(struct fuse_rename_in));
	add_str("file");
	add_str("moved");
	assert_int_equal(send_req(), 0);
	path_of(path, sizeof(path), "sub/moved");
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(rename2(sub, "moved", sub, "inner", RENAME_NOREPLACE), -EEXIST);
	assert_int_equal(rename2(sub, "moved", sub, "inner", RENAME_EXCHANGE), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_size, strlen("inner file\n"));
	assert_int_equal(rename2(sub, "moved", sub, "fresh", RENAME_NOREPLACE), 0);
	/* UNLINK and RMDIR. */
	start(FUSE_RMDIR, FUSE_ROOT_ID);
	add_str("newdir");
	assert_int_equal(send_req(), -ENOTEMPTY);
	for (const char *const *n = (const char *const[]){ "ln", "fifo", "sock", NULL }; *n; n++) {
		start(FUSE_UNLINK, d.nodeid);
		add_str(*n);
		assert_int_equal(send_req(), 0);
	}
	start(FUSE_UNLINK, FUSE_ROOT_ID);
	add_str("newdir");
	assert_int_equal(send_req(), -EISDIR);
	start(FUSE_RMDIR, FUSE_ROOT_ID);
	add_str("newdir");
	assert_int_equal(send_req(), 0);
	path_of(path, sizeof(path), "newdir");
	assert_int_equal(lstat(path, &st), -1);
	/* The removed directory's node still answers GETATTR until forgotten. */
	assert_int_equal(getattr(d.nodeid, &a), sizeof(struct fuse_attr_out));
	start(FUSE_UNLINK, FUSE_ROOT_ID);
	add_str("..");
	assert_int_equal(send_req(), -EINVAL);
	start(FUSE_RMDIR, sub);
	add_str("..");
	assert_int_equal(send_req(), -EINVAL);
}

static int setattr(uint64_t node, const struct fuse_setattr_in *in, struct fuse_attr *a)
{
	int ret;

	start(FUSE_SETATTR, node);
	add(in, sizeof(*in));
	ret = send_req();
	if (ret >= 0) {
		assert_int_equal(ret, sizeof(struct fuse_attr_out));
		memcpy(a, reply + OHDR + offsetof(struct fuse_attr_out, attr), sizeof(*a));
	}
	return ret;
}

static void test_setattr(void **state)
{
	struct fuse_attr a;
	char path[160];
	struct stat st;
	uint64_t hello, fh;

	(void)state;
	init();
	hello = node_of("hello.txt");
	path_of(path, sizeof(path), "hello.txt");
	assert_true(setattr(hello, &(struct fuse_setattr_in){ .valid = FATTR_SIZE, .size = 5 },
			    &a) > 0);
	assert_int_equal(a.size, 5);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 5);
	assert_true(setattr(hello, &(struct fuse_setattr_in){ .valid = FATTR_MODE, .mode = 0604 },
			    &a) > 0);
	assert_int_equal(a.mode & 07777, 0604);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0604);
	assert_true(setattr(hello, &(struct fuse_setattr_in){
				    .valid = FATTR_ATIME | FATTR_MTIME, .atime = 1000000,
				    .atimensec = 5, .mtime = 2000000, .mtimensec = 7 },
			    &a) > 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_atim.tv_sec, 1000000);
	assert_int_equal(st.st_mtim.tv_sec, 2000000);
	assert_int_equal(st.st_mtim.tv_nsec, 7);
	assert_attr_is(&a, "hello.txt");
	assert_true(setattr(hello, &(struct fuse_setattr_in){ .valid = FATTR_MTIME_NOW }, &a) > 0);
	assert_true(a.mtime > 2000000);
	assert_int_equal(setattr(hello, &(struct fuse_setattr_in){ .valid = FATTR_MTIME,
								     .mtimensec = 2000000000 },
				 &a),
			 -EINVAL);
	assert_true(setattr(hello, &(struct fuse_setattr_in){ .valid = FATTR_UID | FATTR_GID,
							      .uid = my_uid, .gid = my_gid },
			    &a) > 0);
	/* Through an open handle; sizes past the largest offset refused. */
	assert_int_equal(open_node(hello, O_RDWR, &fh, NULL), sizeof(struct fuse_open_out));
	assert_true(setattr(hello, &(struct fuse_setattr_in){ .valid = FATTR_SIZE | FATTR_FH,
							      .fh = fh, .size = 3 },
			    &a) > 0);
	assert_int_equal(a.size, 3);
	assert_int_equal(setattr(hello, &(struct fuse_setattr_in){ .valid = FATTR_SIZE | FATTR_FH,
								     .fh = fh + 1, .size = 3 },
				 &a),
			 -EBADF);
	assert_int_equal(setattr(hello, &(struct fuse_setattr_in){ .valid = FATTR_SIZE,
								     .size = UINT64_MAX },
				 &a),
			 -EFBIG);
	assert_int_equal(setattr(node_of("sub"), &(struct fuse_setattr_in){ .valid = FATTR_SIZE },
				 &a),
			 -EINVAL);
	/* STATFS, ACCESS, SYNCFS. */
	start(FUSE_STATFS, FUSE_ROOT_ID);
	assert_int_equal(send_req(), sizeof(struct fuse_statfs_out));
	assert_int_equal(((struct fuse_statfs_out *)(reply + OHDR))->st.namelen, NAME_MAX);
	start(FUSE_ACCESS, hello);
	add(&(struct fuse_access_in){ .mask = R_OK }, sizeof(struct fuse_access_in));
	assert_int_equal(send_req(), 0);
	start(FUSE_ACCESS, hello);
	add(&(struct fuse_access_in){ .mask = X_OK }, sizeof(struct fuse_access_in));
	assert_int_equal(send_req(), -EACCES);
	start(FUSE_SYNCFS, FUSE_ROOT_ID);
	add(&(struct fuse_syncfs_in){ 0 }, sizeof(struct fuse_syncfs_in));
	assert_int_equal(send_req(), 0);
}

/* Every prefix of a valid request, sent as a whole request: EINVAL, never a crash. */
static void every_prefix(size_t min_valid)
{
	static uint8_t whole[sizeof(rq)];
	size_t whole_len = rq_len;

	memcpy(whole, rq, rq_len);
	for (size_t len = 0; len < whole_len; len++) {
		int ret;

		memcpy(rq, whole, whole_len);
		rq_len = len;
		if (len < HDR) {
			struct iovec in = { rq, len }, out = { reply, sizeof(reply) };

			err_clear();
			assert_true(fuse_server_handle(srv, &in, 1, &out, 1) < 0);
			assert_err_mentions("shorter than its header");
			continue;
		}
		ret = send_req();
		if (len < min_valid)
			assert_int_equal(ret, -EINVAL);
	}
}

static void test_truncated_requests(void **state)
{
	uint64_t fh, sub;
	struct iovec in, out;

	(void)state;
	init();
	sub = node_of("sub");
	assert_int_equal(open_node(node_of("hello.txt"), O_RDWR, &fh, NULL),
			 sizeof(struct fuse_open_out));
	start(FUSE_LOOKUP, FUSE_ROOT_ID);
	add_str("hello.txt");
	every_prefix(rq_len);
	start(FUSE_WRITE, 1);
	add(&(struct fuse_write_in){ .fh = fh, .size = 5 }, sizeof(struct fuse_write_in));
	add("hello", 5);
	every_prefix(rq_len);
	start(FUSE_RENAME2, sub);
	add(&(struct fuse_rename2_in){ .newdir = sub }, sizeof(struct fuse_rename2_in));
	add_str("nothere");
	add_str("there");
	every_prefix(rq_len);
	start(FUSE_SYMLINK, sub);
	add_str("ln");
	add_str("target");
	every_prefix(rq_len);
	start(FUSE_SETATTR, sub);
	add(&(struct fuse_setattr_in){ .valid = 0 }, sizeof(struct fuse_setattr_in));
	every_prefix(rq_len);
	start(FUSE_READ, 1);
	add(&(struct fuse_read_in){ .fh = fh, .size = 10 }, sizeof(struct fuse_read_in));
	every_prefix(rq_len);
	start(FUSE_CREATE, sub);
	add(&(struct fuse_create_in){ .flags = O_RDWR, .mode = 0600 },
	    sizeof(struct fuse_create_in));
	add_str("c");
	every_prefix(rq_len);
	start(FUSE_LINK, sub);
	add(&(struct fuse_link_in){ .oldnodeid = sub }, sizeof(struct fuse_link_in));
	add_str("l");
	every_prefix(rq_len);
	start(FUSE_MKNOD, sub);
	add(&(struct fuse_mknod_in){ .mode = S_IFREG | 0600 }, sizeof(struct fuse_mknod_in));
	add_str("m");
	every_prefix(rq_len);

	/* A header len other than the bytes given: no reply at all. */
	start(FUSE_GETATTR, FUSE_ROOT_ID);
	((struct fuse_in_header *)rq)->len = 41;
	in = (struct iovec){ rq, HDR };
	out = (struct iovec){ reply, sizeof(reply) };
	err_clear();
	assert_int_equal(fuse_server_handle(srv, &in, 1, &out, 1), -EINVAL);
	assert_err_mentions("header says 41");
	/* Out buffers shorter than a reply header. */
	((struct fuse_in_header *)rq)->len = HDR;
	out.iov_len = OHDR - 1;
	assert_int_equal(fuse_server_handle(srv, &in, 1, &out, 1), -EINVAL);
	assert_int_equal(fuse_server_handle(srv, &in, 1, NULL, 0), -EINVAL);
	assert_int_equal(fuse_server_handle(srv, NULL, 0, &out, 1), -EINVAL);
	/* Arguments larger than any request needs. */
	start(FUSE_SYMLINK, sub);
	{
		static char huge[9000];

		memset(huge, 'a', sizeof(huge) - 1);
		add_str("ln");
		add_str(huge + 4000);	/* 4999 bytes: longer than PATH_MAX */
		assert_int_equal(send_req(), -EINVAL);
		start(FUSE_LOOKUP, sub);
		add(huge, sizeof(huge) - 100 - HDR);
		assert_int_equal(send_req(), -EINVAL);
	}
}

static void test_small_out(void **state)
{
	struct fuse_entry_out e;
	struct fuse_attr a;
	char msg[256];

	(void)state;
	init();
	/* Room for the header only: the answer is an error, and no node is left behind. */
	start(FUSE_LOOKUP, FUSE_ROOT_ID);
	add_str("hello.txt");
	assert_int_equal(send_split(OHDR, 3, 4), -EINVAL);
	assert_true(fuse_server_new_refusal(srv, msg, sizeof(msg)));
	assert_non_null(strstr(msg, "do not fit"));
	assert_int_equal(lookup(FUSE_ROOT_ID, "hello.txt", &e), sizeof(e));
	forget(e.nodeid, 1);
	assert_int_equal(getattr(e.nodeid, &a), -ENOENT);
	start(FUSE_GETATTR, FUSE_ROOT_ID);
	assert_int_equal(send_split(OHDR + 20, 3, 4), -EINVAL);
	start(FUSE_READLINK, node_of("abs"));
	assert_int_equal(send_split(OHDR + 3, 3, 1), -EINVAL);
	/* CREATE with room for the entry but not the open: nothing left open. */
	start(FUSE_CREATE, FUSE_ROOT_ID);
	add(&(struct fuse_create_in){ .flags = O_RDWR, .mode = 0600 },
	    sizeof(struct fuse_create_in));
	add_str("c");
	assert_int_equal(send_split(OHDR + sizeof(e) + 4, 3, 50), -EINVAL);
}

static void test_many_nodes(void **state)
{
	enum { N = 5000 };
	static uint64_t ids[N];
	struct fuse_entry_out e;
	char name[32], path[160];
	uint64_t dir;

	(void)state;
	init();
	path_of(path, sizeof(path), "many");
	assert_int_equal(mkdir(path, 0755), 0);
	dir = node_of("many");
	for (int i = 0; i < N; i++) {
		char file[200];
		int fd;

		snprintf(file, sizeof(file), "%s/f%d", path, i);
		fd = open(file, O_CREAT | O_WRONLY, 0644);
		assert_true(fd >= 0);
		close(fd);
	}
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		assert_int_equal(lookup(dir, name, &e), sizeof(e));
		ids[i] = e.nodeid;
	}
	for (int i = 0; i < N; i += 7) {
		snprintf(name, sizeof(name), "f%d", i);
		assert_int_equal(lookup(dir, name, &e), sizeof(e));
		assert_int_equal(e.nodeid, ids[i]);
		forget(e.nodeid, 2);
	}
	for (int i = 0; i < N; i++) {
		struct fuse_attr a;

		assert_int_equal(getattr(ids[i], &a), i % 7 == 0 ? -ENOENT :
				 (int)sizeof(struct fuse_attr_out));
	}
}

/* The modes the guest asks for are the modes made, whatever the host process's umask. */
static void test_modes_ignore_host_umask(void **state)
{
	struct fuse_entry_out e;
	mode_t old = umask(027);

	(void)state;
	fuse_server_close(srv);
	assert_int_equal(fuse_server_open(&srv, share, false), 0);
	init();
	assert_int_equal(make_entry(FUSE_MKDIR, FUSE_ROOT_ID, &(struct fuse_mkdir_in){ 0777, 0 },
				    sizeof(struct fuse_mkdir_in), "d", NULL, &e),
			 sizeof(e));
	assert_int_equal(e.attr.mode & 07777, 0777);
	assert_attr_is(&e.attr, "d");
	assert_int_equal(make_entry(FUSE_MKNOD, FUSE_ROOT_ID,
				    &(struct fuse_mknod_in){ .mode = S_IFREG | 0666 },
				    sizeof(struct fuse_mknod_in), "f", NULL, &e),
			 sizeof(e));
	assert_int_equal(e.attr.mode & 07777, 0666);
	assert_attr_is(&e.attr, "f");
	start(FUSE_CREATE, FUSE_ROOT_ID);
	add(&(struct fuse_create_in){ .flags = O_RDWR, .mode = S_IFREG | 0664 },
	    sizeof(struct fuse_create_in));
	add_str("c");
	assert_int_equal(send_req(), sizeof(e) + sizeof(struct fuse_open_out));
	memcpy(&e, reply + OHDR, sizeof(e));
	assert_int_equal(e.attr.mode & 07777, 0664);
	assert_attr_is(&e.attr, "c");
	umask(old);
}

/* Whether this process may raise its hard limits (CAP_SYS_RESOURCE); with drop, it gives the
 * capability up, for a child that tests the unprivileged path. */
static bool cap_sys_resource(bool drop)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	bool had;

	if (syscall(SYS_capget, &h, d) < 0)
		return false;
	had = d[0].effective & (1U << CAP_SYS_RESOURCE);
	if (drop && had) {
		d[0].effective &= ~(1U << CAP_SYS_RESOURCE);
		d[0].permitted &= ~(1U << CAP_SYS_RESOURCE);
		if (syscall(SYS_capset, &h, d) < 0)
			_exit(20);
	}
	return had;
}

/* A guest holding handles open never takes the fds the rest of hopvm needs.  In a child, as
 * a lowered hard limit cannot be raised again, and without CAP_SYS_RESOURCE, with which the
 * server raises the hard limit too (test_fd_budget_raises_hard_limit). */
static void test_fd_budget(void **state)
{
	struct rlimit low = { 200, 200 };
	uint64_t node, fh;
	unsigned opened = 0;
	int ret, spare, status;
	pid_t child;

	(void)state;
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		fuse_server_close(srv);
		cap_sys_resource(true);
		if (setrlimit(RLIMIT_NOFILE, &low) < 0 || fuse_server_open(&srv, share, false) < 0)
			_exit(10);
		init();
		node = node_of("hello.txt");
		while ((ret = open_node(node, O_RDONLY, &fh, NULL)) > 0)
			opened++;
		if (ret != -EMFILE)
			_exit(11);
		if (opened < 10 || opened >= 200)
			_exit(12);
		/* The process still has fds to spare. */
		spare = open("/dev/null", O_RDONLY);
		_exit(spare >= 0 ? 0 : 13);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Every inode the guest keeps costs an fd (a read-only share's entries live for a day, so a
 * find over /usr keeps ~150,000): allowed to (CAP_SYS_RESOURCE), the server raises the hard
 * limit as virtiofsd does, to 1,000,000 or fs.nr_open if lower, whatever it was (4096 under a
 * busybox init). */
static void test_fd_budget_raises_hard_limit(void **state)
{
	struct rlimit low = { 200, 4096 }, now;
	unsigned long nr_open = 1048576;
	FILE *f;
	int status;
	pid_t child;

	(void)state;
	if (!cap_sys_resource(false))
		skip();
	f = fopen("/proc/sys/fs/nr_open", "re");
	if (f != NULL) {
		if (fscanf(f, "%lu", &nr_open) != 1)
			nr_open = 1048576;
		fclose(f);
	}
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		fuse_server_close(srv);
		if (setrlimit(RLIMIT_NOFILE, &low) < 0 || fuse_server_open(&srv, share, true) < 0)
			_exit(10);
		if (getrlimit(RLIMIT_NOFILE, &now) < 0)
			_exit(11);
		if (now.rlim_max < (nr_open < 1000000 ? nr_open : 1000000))
			_exit(12);
		_exit(now.rlim_cur == now.rlim_max ? 0 : 13);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_create_as_requester(void **state)
{
	struct fuse_entry_out e;

	(void)state;
	if (my_euid != 0)
		skip();
	init();
	assert_int_equal(fchmodat(AT_FDCWD, share, 0777, 0), 0);
	start(FUSE_MKDIR, FUSE_ROOT_ID);
	((struct fuse_in_header *)rq)->uid = 1234;
	((struct fuse_in_header *)rq)->gid = 5678;
	add(&(struct fuse_mkdir_in){ .mode = 0755 }, sizeof(struct fuse_mkdir_in));
	add_str("theirs");
	assert_int_equal(send_req(), sizeof(e));
	memcpy(&e, reply + OHDR, sizeof(e));
	assert_int_equal(e.attr.uid, 1234);
	assert_int_equal(e.attr.gid, 5678);
	/* Their permissions apply: not theirs to create in. */
	start(FUSE_MKDIR, node_of("sub"));
	((struct fuse_in_header *)rq)->uid = 1234;
	((struct fuse_in_header *)rq)->gid = 5678;
	add(&(struct fuse_mkdir_in){ .mode = 0755 }, sizeof(struct fuse_mkdir_in));
	add_str("nope");
	assert_int_equal(send_req(), -EACCES);
	/* The server is root again afterwards. */
	assert_int_equal(make_entry(FUSE_MKDIR, node_of("sub"), &(struct fuse_mkdir_in){ 0755, 0 },
				    sizeof(struct fuse_mkdir_in), "mine", NULL, &e),
			 sizeof(e));
	assert_int_equal(e.attr.uid, 0);
}

/* Every call the server makes must be one the virtio-fs thread's seccomp filter allows
 * (src/threads.c): the tests that reach the most of it run again in a child under that
 * filter, where a refused call ends the child with a message naming the call.  Each gets a
 * fresh tree, made before the filter (making it is the test's, not the server's). */
static void run_filtered(void (*fn)(void **), int (*setup_fn)(void **), void **state)
{
	pid_t pid;
	int status;

	assert_int_equal(setup_fn(state), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* A server of this process: its /proc/self/fd is the parent's after a fork. */
		fuse_server_close(srv);
		if (fuse_server_open(&srv, share, setup_fn == setup_ro) < 0 ||
		    thread_enter(THREAD_VIRTIO_FS, 0) < 0)
			_exit(3);
		fn(state);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	teardown(state);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("under the virtio-fs filter the test ended with status 0x%x", status);
}

static void test_under_the_seccomp_filter(void **state)
{
	run_filtered(test_create_write_read, setup_rw, state);
	run_filtered(test_dir_changes, setup_rw, state);
	run_filtered(test_setattr, setup_rw, state);
	run_filtered(test_link_and_rename_stay_inside, setup_rw, state);
	run_filtered(test_symlinks, setup_rw, state);
	run_filtered(test_readdir_handles, setup_rw, state);
	run_filtered(test_read_only, setup_ro, state);
	run_filtered(test_create_as_requester, setup_rw, state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_refuses, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_init, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_lookup, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_read_split, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_readdir, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_readdir, setup_ro, teardown),
		cmocka_unit_test_setup_teardown(test_readdir_handles, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_symlinks, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_bad_names, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_invented_ids, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_forget, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_forget_without_reply_buffers, setup_rw,
						teardown),
		cmocka_unit_test_setup_teardown(test_link_and_rename_stay_inside, setup_rw,
						teardown),
		cmocka_unit_test_setup_teardown(test_read_only, setup_ro, teardown),
		cmocka_unit_test_setup_teardown(test_create_write_read, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_dir_changes, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_setattr, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_requests, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_small_out, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_many_nodes, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_modes_ignore_host_umask, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_fd_budget, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_fd_budget_raises_hard_limit, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_create_as_requester, setup_rw, teardown),
		cmocka_unit_test(test_under_the_seccomp_filter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
