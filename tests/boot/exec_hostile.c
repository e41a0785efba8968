/* A hostile program for `hopvm exec --root --rwdir JAIL`: run as root in the guest, it tries to
 * reach the host's files beside JAIL through JAIL's virtio-fs share, and says for each attempt
 * whether hopvm's file server stopped it.  Static, never sanitized (it runs in the guest).
 *
 *   exec_hostile JAIL OUTSIDE JAIL_INO OUTSIDE_INO SECRET_INO PARENT_INO
 *
 * JAIL and OUTSIDE are sibling host directories (PARENT holds both; OUTSIDE holds "secret");
 * the host planted in JAIL: file, sub/deep, abs -> OUTSIDE/secret, rel -> ../outside/secret,
 * dotdot -> ..; the numbers are the host's inode numbers, which the guest sees through FUSE.
 *
 * It first unmounts the share where hopvm exec put it and mounts the tag again itself under
 * /tmp, so that everything below that mount point M is answered by hopvm's server alone and
 * the guest's own directories are elsewhere.  One line per attempt on stdout:
 *   escape: NAME: blocked (WHY)    escape: NAME: ESCAPED (WHAT)
 *   works: NAME (WHAT)             FAILED: NAME: WHAT   (something the share must allow)
 * then every entry under M ("walk: ..."), and a summary line.  Exit 0 if nothing escaped and
 * everything that must work did, 1 if something escaped, 2 otherwise.
 *
 * What it leaves in JAIL (the host checks exactly this): made/renamed ("made inside\n"),
 * made/evil -> ../../outside/secret, file-link (a hard link to file). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define JAIL_TAG "hopvm-rw0"	/* the first --rwdir's tag (include/hopvm/exec.h) */
#define ROOT_TAG "hopvm-root"	/* the read-only share of the host's "/" */

static int nr_escaped, nr_failed, nr_blocked;
static char mnt[64];		/* M: where this program mounted the jail's share (/tmp/...) */
static dev_t share_dev;		/* st_dev of everything the share's server answers for M */
static unsigned long long forbidden[3];	/* OUTSIDE, its secret, and the jail's parent */
static const char *const forbidden_what[3] = { "OUTSIDE", "OUTSIDE/secret", "the jail's parent" };

static void say(const char *kind, const char *name, const char *fmt, va_list ap)
{
	printf("%s: %s: ", kind, name);
	vprintf(fmt, ap);
	putchar('\n');
	fflush(stdout);	/* the lines in order with anything hopvm says about the guest */
}

static void __attribute__((format(printf, 2, 3))) blocked(const char *name, const char *fmt, ...)
{
	va_list ap;

	nr_blocked++;
	va_start(ap, fmt);
	printf("escape: %s: blocked (", name);
	vprintf(fmt, ap);
	printf(")\n");
	fflush(stdout);
	va_end(ap);
}

static void __attribute__((format(printf, 2, 3))) escaped(const char *name, const char *fmt, ...)
{
	va_list ap;

	nr_escaped++;
	va_start(ap, fmt);
	printf("escape: %s: ESCAPED (", name);
	vprintf(fmt, ap);
	printf(")\n");
	fflush(stdout);
	va_end(ap);
}

static void __attribute__((format(printf, 2, 3))) works(const char *name, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("works: %s (", name);
	vprintf(fmt, ap);
	printf(")\n");
	fflush(stdout);
	va_end(ap);
}

static void __attribute__((format(printf, 2, 3))) failed(const char *name, const char *fmt, ...)
{
	va_list ap;

	nr_failed++;
	va_start(ap, fmt);
	say("FAILED", name, fmt, ap);
	va_end(ap);
}

/* M/REL, or M itself for "". */
static const char *in_mnt(const char *rel)
{
	static char buf[4][PATH_MAX];
	static unsigned next;
	char *p = buf[next++ % 4];

	snprintf(p, PATH_MAX, "%s%s%s", mnt, *rel ? "/" : "", rel);
	return p;
}

/* Which host inode outside the jail (dev, ino) is, if it is one on the share; NULL if none. */
static const char *forbidden_inode(dev_t dev, unsigned long long ino)
{
	if (dev != share_dev)
		return NULL;
	for (int i = 0; i < 3; i++)
		if (ino == forbidden[i])
			return forbidden_what[i];
	return NULL;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* ".." above the share is the guest kernel's business: it must name the guest's own directory
 * (want), never something the share's server answered. */
static void try_parent(const char *name, const char *path, const char *want_path)
{
	struct stat st, want;
	const char *what;

	if (stat(path, &st) < 0) {
		blocked(name, "stat %s: %s", path, strerror(errno));
		return;
	}
	if ((what = forbidden_inode(st.st_dev, st.st_ino)) != NULL)
		escaped(name, "%s is %s, inode %llu", path, what, (unsigned long long)st.st_ino);
	else if (stat(want_path, &want) == 0 && same_file(&st, &want) && st.st_dev != share_dev)
		blocked(name, "%s is the guest's own %s", path, want_path);
	else
		escaped(name, "%s is inode %llu on device %u:%u, not the guest's %s", path,
			(unsigned long long)st.st_ino, major(st.st_dev), minor(st.st_dev), want_path);
}

static void try_readlink(const char *rel, const char *want)
{
	char text[PATH_MAX], name[64];
	ssize_t n = readlink(in_mnt(rel), text, sizeof(text) - 1);

	snprintf(name, sizeof(name), "readlink %s", rel);
	if (n < 0) {
		failed(name, "%s", strerror(errno));
		return;
	}
	text[n] = '\0';
	if (strcmp(text, want) != 0)
		failed(name, "\"%s\", not \"%s\"", text, want);
	else
		works(name, "-> %s", text);
}

/* O_NOFOLLOW on a planted symlink: the link itself, which cannot be opened for reading. */
static void try_nofollow(const char *rel)
{
	char name[64];
	int fd = open(in_mnt(rel), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	snprintf(name, sizeof(name), "nofollow-%s", rel);
	if (fd >= 0) {
		struct stat st;

		fstat(fd, &st);
		escaped(name, "opened inode %llu", (unsigned long long)st.st_ino);
		close(fd);
	} else if (errno == ELOOP) {
		blocked(name, "%s", strerror(errno));
	} else {
		failed(name, "%s, not ELOOP", strerror(errno));
	}
}

/* Following a planted symlink (flags as given, O_CREAT too): the guest resolves its text in its
 * own tree, so whatever opens must not be on the share; the host checks that OUTSIDE is
 * unchanged after anything written here. */
static void try_follow(const char *name, const char *rel, int flags)
{
	static const char line[] = "hostile\n";
	int fd = open(in_mnt(rel), flags | O_CLOEXEC, 0644);
	const char *what;
	struct stat st;

	if (fd < 0) {
		blocked(name, "%s", strerror(errno));
		return;
	}
	if (fstat(fd, &st) < 0) {
		failed(name, "fstat: %s", strerror(errno));
	} else if (st.st_dev == share_dev) {
		what = forbidden_inode(st.st_dev, st.st_ino);
		escaped(name, "opened inode %llu on the share%s%s", (unsigned long long)st.st_ino,
			what ? ": " : "", what ? what : "");
	} else {
		if ((flags & O_ACCMODE) != O_RDONLY && write(fd, line, sizeof(line) - 1) < 0)
			failed(name, "write: %s", strerror(errno));
		blocked(name, "the guest resolved it in its own tree, device %u:%u, not the share's",
			major(st.st_dev), minor(st.st_dev));
	}
	close(fd);
}

/* A link or rename that would cross the share's root: the guest refuses it (EXDEV). */
static void try_cross(const char *name, bool is_rename, const char *from, const char *to)
{
	int ret = is_rename ? rename(from, to) : link(from, to);

	if (ret == 0)
		escaped(name, "%s %s -> %s succeeded", is_rename ? "rename" : "link", from, to);
	else
		blocked(name, "%s", strerror(errno));
}

static void try_create_refused(const char *name, const char *path, bool dir)
{
	int fd = dir ? mkdir(path, 0755) : open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0) {
		blocked(name, "%s", strerror(errno));
		return;
	}
	if (!dir)
		close(fd);
	escaped(name, "created %s", path);
}

/* Node ids the guest kernel never got from the server: open_by_handle_at() with a forged FUSE
 * file handle (nodeid high, nodeid low, generation) makes the guest send LOOKUP "." on that
 * node id.  The server must answer only for ids it gave out, and only with nodes in the jail. */
static void try_invented_ids(void)
{
	static const uint64_t wild[] = { 0, 2ULL << 32 | 1, 1ULL << 32 | 2, 0xffffffffULL,
					 0xffffffffffffffffULL, 0x8000000000000001ULL, 1ULL << 32 };
	struct {
		struct file_handle h;
		uint32_t raw[8];
	} fh;
	unsigned tried = 0, resolved = 0, refused = 0;
	int mount_id, mfd, fd;

	fh.h.handle_bytes = sizeof(fh.raw);
	if (name_to_handle_at(AT_FDCWD, in_mnt("file"), &fh.h, &mount_id, 0) < 0) {
		failed("invented-node-ids", "name_to_handle_at: %s", strerror(errno));
		return;
	}
	if (fh.h.handle_bytes < 12) {
		failed("invented-node-ids", "a %u-byte handle, not FUSE's", fh.h.handle_bytes);
		return;
	}
	mfd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mfd < 0) {
		failed("invented-node-ids", "open %s: %s", mnt, strerror(errno));
		return;
	}
	/* The guest forgets what it holds, so even the ids the server gave out are asked again. */
	sync();
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "2", 1) < 0)
			printf("note: drop_caches: %s\n", strerror(errno));
		close(fd);
	}
	for (unsigned i = 0; i < 256 + sizeof(wild) / sizeof(wild[0]); i++) {
		uint64_t id = i < 256 ? (uint64_t)(i & 127) | (uint64_t)(i >> 7) << 32 : wild[i - 256];
		struct stat st;

		fh.raw[0] = (uint32_t)(id >> 32);
		fh.raw[1] = (uint32_t)id;
		fh.raw[2] = 0;	/* the server's generation is always 0 */
		fh.h.handle_bytes = 12;
		tried++;
		fd = open_by_handle_at(mfd, &fh.h, O_PATH | O_CLOEXEC);
		if (fd < 0) {
			refused++;
			continue;
		}
		if (fstat(fd, &st) == 0 && (st.st_dev != share_dev ||
					    forbidden_inode(st.st_dev, st.st_ino) != NULL))
			escaped("invented-node-ids", "node id %#llx opened inode %llu",
				(unsigned long long)id, (unsigned long long)st.st_ino);
		resolved++;
		close(fd);
	}
	close(mfd);
	blocked("invented-node-ids", "%u forged ids: %u name an entry of the jail, %u refused",
		tried, resolved, refused);
}

/* What a root guest may do inside the jail: all of it lands in the host's JAIL. */
static void do_inside(void)
{
	static const char content[] = "made inside\n";
	char text[PATH_MAX];
	ssize_t n;
	int fd;

	if (mkdir(in_mnt("made"), 0755) < 0) {
		failed("mkdir", "%s: %s", in_mnt("made"), strerror(errno));
		return;
	}
	works("mkdir", "made");
	fd = open(in_mnt("made/file"), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, content, sizeof(content) - 1) != (ssize_t)sizeof(content) - 1) {
		failed("create", "made/file: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	close(fd);
	works("create", "made/file");
	if (rename(in_mnt("made/file"), in_mnt("made/renamed")) < 0)
		failed("rename", "made/file -> made/renamed: %s", strerror(errno));
	else
		works("rename", "made/file -> made/renamed");
	/* A symlink pointing out is only text on the host: the server never follows it. */
	if (symlink("../../outside/secret", in_mnt("made/evil")) < 0)
		failed("symlink", "made/evil: %s", strerror(errno));
	else if ((n = readlink(in_mnt("made/evil"), text, sizeof(text) - 1)) < 0)
		failed("symlink", "readlink made/evil: %s", strerror(errno));
	else if (text[n] = '\0', strcmp(text, "../../outside/secret") != 0)
		failed("symlink", "made/evil reads \"%s\"", text);
	else
		works("symlink", "made/evil -> %s", text);
	if (link(in_mnt("file"), in_mnt("file-link")) < 0)
		failed("link", "file -> file-link: %s", strerror(errno));
	else
		works("link", "file-link");
	fd = open(in_mnt("sub/gone"), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		failed("unlink", "create sub/gone: %s", strerror(errno));
	else if (close(fd), unlink(in_mnt("sub/gone")) < 0)
		failed("unlink", "sub/gone: %s", strerror(errno));
	else
		works("unlink", "sub/gone");
	if (mkdir(in_mnt("made/gone"), 0755) < 0 || rmdir(in_mnt("made/gone")) < 0)
		failed("rmdir", "made/gone: %s", strerror(errno));
	else
		works("rmdir", "made/gone");
}

/* The read-only share of "/" stays read-only for root, even mounted again without MS_RDONLY. */
static void try_root_share(const char *outside)
{
	char path[PATH_MAX], m2[] = "/tmp/hostile-root-XXXXXX", cwd[PATH_MAX];

	try_create_refused("write-usr", "/usr/hopvm-hostile-probe", false);
	try_create_refused("mkdir-usr", "/usr/hopvm-hostile-dir", true);
	try_create_refused("write-root", "/hopvm-hostile-probe", false);
	/* The cwd may lie under an overlay (a home directory): then the write stays in the
	 * guest, which the host checks. */
	if (getcwd(cwd, sizeof(cwd)) != NULL) {
		int fd = open("hopvm-hostile-cwd-probe", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

		if (fd < 0) {
			blocked("write-cwd", "%s", strerror(errno));
		} else {
			close(fd);
			blocked("write-cwd", "%s is an overlay: the write stays in the guest", cwd);
		}
	}
	if (mkdtemp(m2) == NULL) {
		failed("root-share-rw", "mkdtemp: %s", strerror(errno));
		return;
	}
	if (mount(ROOT_TAG, m2, "virtiofs", 0, NULL) < 0) {
		blocked("root-share-rw", "mount %s read-write: %s", ROOT_TAG, strerror(errno));
		return;
	}
	snprintf(path, sizeof(path), "%s%s/planted", m2, outside);
	try_create_refused("root-share-rw", path, false);
	snprintf(path, sizeof(path), "%s%s/secret", m2, outside);
	{
		int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);

		if (fd < 0) {
			blocked("root-share-rw-truncate", "%s", strerror(errno));
		} else {
			close(fd);
			escaped("root-share-rw-truncate", "opened %s for writing", path);
		}
	}
	umount2(m2, MNT_DETACH);
	rmdir(m2);
}

static int walk_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	const char *rel = path + strlen(mnt);
	const char *what = forbidden_inode(st->st_dev, st->st_ino);

	(void)ftw;
	printf("walk: %s ino %llu\n", *rel ? rel : "/", (unsigned long long)st->st_ino);
	if (type == FTW_NS || type == FTW_DNR) {
		failed("walk", "%s: cannot be read", path);
	} else if (st->st_dev != share_dev) {
		escaped("walk", "%s is off the share", path);
	} else if (what != NULL) {
		escaped("walk", "%s is %s", path, what);
	}
	/* Directory entries carry inode numbers of their own, ".." included. */
	if (type == FTW_D) {
		DIR *d = opendir(path);
		struct dirent *e;

		if (d == NULL) {
			failed("readdir", "%s: %s", path, strerror(errno));
			return 0;
		}
		while ((e = readdir(d)) != NULL) {
			what = forbidden_inode(share_dev, e->d_ino);
			if (what != NULL)
				escaped("readdir", "%s/%s lists inode %llu: %s", path, e->d_name,
					(unsigned long long)e->d_ino, what);
			else if (*rel == '\0' && strcmp(e->d_name, "..") == 0)
				blocked("readdir-root-dotdot", ".. of the share's root lists inode "
					"%llu, not the jail's parent", (unsigned long long)e->d_ino);
		}
		closedir(d);
	}
	return 0;
}

static unsigned long long number(const char *text)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0' || end == text) {
		fprintf(stderr, "exec_hostile: '%s' is not an inode number\n", text);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	char outside_secret[PATH_MAX], guest_file[] = "/tmp/hostile-guest-XXXXXX";
	unsigned long long jail_ino;
	struct stat st, sub;
	int fd;

	if (argc != 7) {
		fprintf(stderr, "usage: exec_hostile JAIL OUTSIDE JAIL_INO OUTSIDE_INO SECRET_INO "
			"PARENT_INO\n");
		return 2;
	}
	jail_ino = number(argv[3]);
	for (int i = 0; i < 3; i++)
		forbidden[i] = number(argv[4 + i]);
	snprintf(outside_secret, sizeof(outside_secret), "%s/secret", argv[2]);

	/* The share on a mount point of our own: below it only the server answers. */
	if (umount2(argv[1], MNT_DETACH) < 0) {
		fprintf(stderr, "exec_hostile: umount %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	snprintf(mnt, sizeof(mnt), "/tmp/hostile-XXXXXX");
	if (mkdtemp(mnt) == NULL || mount(JAIL_TAG, mnt, "virtiofs", 0, NULL) < 0) {
		fprintf(stderr, "exec_hostile: mount %s on %s: %s\n", JAIL_TAG, mnt, strerror(errno));
		return 2;
	}
	if (stat(mnt, &st) < 0) {
		fprintf(stderr, "exec_hostile: stat %s: %s\n", mnt, strerror(errno));
		return 2;
	}
	share_dev = st.st_dev;
	printf("mounted %s on %s as root (uid %u)\n", JAIL_TAG, mnt, (unsigned)geteuid());
	if (st.st_ino == jail_ino)
		works("root-is-jail", "the share's root is the jail's inode %llu", jail_ino);
	else
		escaped("root-is-jail", "the share's root is inode %llu, the jail is %llu",
			(unsigned long long)st.st_ino, jail_ino);

	/* "..": above the mount point, and inside the share. */
	try_parent("dotdot", in_mnt(".."), "/tmp");
	try_parent("dotdot-dotdot", in_mnt("../.."), "/");
	try_parent("dotdot-symlink", in_mnt("dotdot"), "/tmp");
	try_parent("sub-dotdot-dotdot", in_mnt("sub/../.."), "/tmp");
	if (stat(in_mnt("sub/.."), &sub) < 0)
		failed("sub-dotdot", "%s", strerror(errno));
	else if (same_file(&sub, &st))
		blocked("sub-dotdot", "sub/.. is the share's root");
	else
		escaped("sub-dotdot", "sub/.. is inode %llu", (unsigned long long)sub.st_ino);

	/* The planted symlinks: their text, never followed by the server. */
	try_readlink("abs", outside_secret);
	try_readlink("rel", "../outside/secret");
	try_readlink("dotdot", "..");
	try_nofollow("abs");
	try_nofollow("rel");
	try_follow("follow-abs", "abs", O_RDONLY);
	try_follow("follow-rel", "rel", O_RDONLY);
	try_follow("create-through-rel", "rel", O_WRONLY | O_CREAT);
	try_follow("create-through-abs", "abs", O_WRONLY | O_CREAT | O_TRUNC);
	try_follow("create-through-dotdot", "dotdot/hostile-created", O_WRONLY | O_CREAT);

	/* Hard links and renames across the share's root, both ways. */
	fd = mkstemp(guest_file);
	if (fd < 0) {
		failed("guest-file", "mkstemp: %s", strerror(errno));
	} else {
		close(fd);
		try_cross("link-out", false, in_mnt("file"), "/tmp/hostile-link-out");
		try_cross("link-in", false, guest_file, in_mnt("link-in"));
		try_cross("link-in-outside-secret", false, outside_secret, in_mnt("secret-link"));
		try_cross("rename-out", true, in_mnt("sub"), in_mnt("../hostile-renamed"));
		try_cross("rename-out-via-symlink", true, in_mnt("file"), in_mnt("dotdot/hostile-x"));
		try_cross("rename-in", true, guest_file, in_mnt("renamed-in"));
		unlink(guest_file);
	}
	/* A device node on the host would reach the host's devices. */
	if (mknod(in_mnt("null"), S_IFCHR | 0666, makedev(1, 3)) == 0)
		escaped("mknod-device", "made a character device in the jail");
	else
		blocked("mknod-device", "%s", strerror(errno));
	try_invented_ids();

	do_inside();
	try_root_share(argv[2]);

	printf("walking %s\n", mnt);
	if (nftw(mnt, walk_entry, 16, FTW_PHYS | FTW_MOUNT) < 0)
		failed("walk", "nftw: %s", strerror(errno));
	if (umount2(mnt, 0) < 0)
		failed("umount", "%s: %s", mnt, strerror(errno));
	printf("hostile: %d attempts blocked, %d escaped, %d failures\n", nr_blocked, nr_escaped,
	       nr_failed);
	return nr_escaped ? 1 : nr_failed ? 2 : 0;
}
