/* libFuzzer harness for the virtio-fs FUSE server: a read-write share over a small tree in a
 * fresh mkdtemp under /tmp, with symlinks pointing out of it and an "outside" sibling holding a
 * secret.  Each input is a run: a fresh server (so node ids and handles start small and the
 * fuzzer can name them), an INIT unless the input opts out, then requests.
 *
 * Input: byte 0 picks INIT (bit 0); then records of
 *   u16 length, u8 in cut, u8 out cut, u8 out room choice, then length bytes of request
 * whose header's len is set to the record's length unless the room choice's bit 7 asks to keep
 * the fuzzer's.  After every run, nothing outside the share may have changed.
 *
 * Built with HOPVM_FUZZ_SEEDS, writes a few valid runs into the directory argv[1]. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/fuse.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hopvm/fuse_server.h"

#define SECRET "the secret outside the share\n"
#define MAX_OUT (FUSE_SERVER_MAX_WRITE + 4096)
#define MAX_FILE_SIZE (16 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[64], share[96], outside[96], secret[128];
static struct stat base_st, outside_st, secret_st;
static uint8_t *out_buf;

static void put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
		abort();
}

static void make_tree(void)
{
	char path[160];

	strcpy(base, "/tmp/hopvm-fuzz-fuse-XXXXXX");
	if (mkdtemp(base) == NULL)
		abort();
	snprintf(share, sizeof(share), "%s/share", base);
	snprintf(outside, sizeof(outside), "%s/outside", base);
	snprintf(secret, sizeof(secret), "%s/secret", outside);
	if (mkdir(share, 0755) < 0 || mkdir(outside, 0755) < 0)
		abort();
	put_file(secret, SECRET);
	snprintf(path, sizeof(path), "%s/hello", share);
	put_file(path, "hello, fuzzer\n");
	snprintf(path, sizeof(path), "%s/sub", share);
	if (mkdir(path, 0755) < 0)
		abort();
	snprintf(path, sizeof(path), "%s/sub/inner", share);
	put_file(path, "inner\n");
	snprintf(path, sizeof(path), "%s/abs", share);
	if (symlink("/etc/passwd", path) < 0)
		abort();
	snprintf(path, sizeof(path), "%s/rel", share);
	if (symlink("../../outside", path) < 0)
		abort();
	snprintf(path, sizeof(path), "%s/to-secret", share);
	if (symlink("../outside/secret", path) < 0)
		abort();
}

static bool same_stat(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_mode == b->st_mode && a->st_size == b->st_size &&
	       a->st_nlink == b->st_nlink && a->st_uid == b->st_uid && a->st_gid == b->st_gid &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static void check_outside(void)
{
	struct stat st;
	char text[64] = { 0 };
	int fd;

	if (stat(base, &st) < 0 || !same_stat(&st, &base_st) || stat(outside, &st) < 0 ||
	    !same_stat(&st, &outside_st) || stat(secret, &st) < 0 ||
	    !same_stat(&st, &secret_st)) {
		fprintf(stderr, "fuzz_fuse_server: something outside the share changed\n");
		abort();
	}
	fd = open(secret, O_RDONLY);
	if (fd < 0 || read(fd, text, sizeof(text) - 1) != (ssize_t)strlen(SECRET) ||
	    strcmp(text, SECRET) != 0) {
		fprintf(stderr, "fuzz_fuse_server: the secret changed\n");
		abort();
	}
	close(fd);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* libFuzzer ends with exit(): leave no tree behind in /tmp. */
static void remove_tree(void)
{
	nftw(base, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void once(void)
{
	struct rlimit fsize = { MAX_FILE_SIZE, MAX_FILE_SIZE };

	if (out_buf != NULL)
		return;
	make_tree();
	atexit(remove_tree);
	if (stat(base, &base_st) < 0 || stat(outside, &outside_st) < 0 ||
	    stat(secret, &secret_st) < 0)
		abort();
	/* The fuzzer writes and fallocates at offsets of its choosing: bound what lands on the
	 * host's disk (EFBIG, not a signal). */
	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &fsize) < 0)
		abort();
	out_buf = malloc(MAX_OUT);
	if (out_buf == NULL)
		abort();
}

static const size_t rooms[8] = { 16, 17, 40, 100, 160, 4096, 65536, MAX_OUT };

/* One request, its in and out buffers cut where the input says, each on the heap at its exact
 * size so ASan sees any access past one. */
static void serve(struct fuse_server *s, const uint8_t *req, size_t len, uint8_t in_cut,
		  uint8_t out_cut, uint8_t room_choice)
{
	size_t cut = in_cut < len ? in_cut : len, room = rooms[room_choice & 7];
	size_t ocut = out_cut < room ? out_cut : room;
	uint8_t *a = malloc(cut + 1), *b = malloc(len - cut + 1);
	struct iovec in[2] = { { a, cut }, { b, len - cut } };
	struct iovec out[2] = { { out_buf, ocut }, { out_buf + MAX_OUT - (room - ocut),
						      room - ocut } };
	int ret;

	if (a == NULL || b == NULL)
		abort();
	memcpy(a, req, cut);
	memcpy(b, req + cut, len - cut);
	if (len >= sizeof(struct fuse_in_header) && !(room_choice & 0x80)) {
		uint32_t l = (uint32_t)len;

		for (size_t i = 0; i < 4; i++) {
			uint8_t byte = (uint8_t)(l >> (8 * i));

			if (i < cut)
				a[i] = byte;
			else
				b[i - cut] = byte;
		}
	}
	ret = fuse_server_handle(s, in, 2, out, 2);
	if (ret > 0 && (size_t)ret > room)
		abort();
	free(a);
	free(b);
}

static void init(struct fuse_server *s)
{
	struct {
		struct fuse_in_header h;
		struct fuse_init_in in;
	} req = { .h = { .len = sizeof(req), .opcode = FUSE_INIT, .unique = 1 },
		  .in = { .major = 7, .minor = 38, .max_readahead = 1 << 17, .flags = ~0U } };

	serve(s, (const uint8_t *)&req, sizeof(req), 0, 0, 5);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuse_server *s;

	once();
	if (size < 1)
		return 0;
	if (fuse_server_open(&s, share, false) < 0)
		abort();
	if (data[0] & 1)
		init(s);
	for (size_t at = 1; at + 5 <= size;) {
		size_t len = (size_t)data[at] | (size_t)data[at + 1] << 8;
		uint8_t in_cut = data[at + 2], out_cut = data[at + 3], room = data[at + 4];

		at += 5;
		if (len > size - at)
			len = size - at;
		serve(s, data + at, len, in_cut, out_cut, room);
		at += len;
	}
	fuse_server_close(s);
	check_outside();
	return 0;
}

#ifdef HOPVM_FUZZ_SEEDS
static uint8_t seed[65536];
static size_t seed_len;
static uint64_t seed_unique;

static void add_bytes(const void *p, size_t n)
{
	if (seed_len + n > sizeof(seed))
		abort();
	memcpy(seed + seed_len, p, n);
	seed_len += n;
}

/* One request record: opcode, node, then the argument parts. */
static void add_req(uint32_t opcode, uint64_t node, const void *args, size_t args_len,
		    const char *name1, const char *name2, uint8_t in_cut)
{
	struct fuse_in_header h = { .opcode = opcode, .nodeid = node, .unique = ++seed_unique };
	size_t len = sizeof(h) + args_len + (name1 ? strlen(name1) + 1 : 0) +
		     (name2 ? strlen(name2) + 1 : 0);
	uint8_t rec[5] = { (uint8_t)len, (uint8_t)(len >> 8), in_cut, 7, 5 };

	h.len = (uint32_t)len;
	add_bytes(rec, sizeof(rec));
	add_bytes(&h, sizeof(h));
	if (args_len > 0)
		add_bytes(args, args_len);
	if (name1)
		add_bytes(name1, strlen(name1) + 1);
	if (name2)
		add_bytes(name2, strlen(name2) + 1);
}

static void write_seed(const char *dir, const char *name)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(seed, 1, seed_len, f) != seed_len || fclose(f) != 0)
		abort();
	seed_len = 0;
	seed_unique = 0;
}

static void start_seed(void)
{
	seed[0] = 1;	/* the harness sends INIT */
	seed_len = 1;
}

/* Node ids and handles of a fresh server: slots from 2 (1 is the root), generation 0. */
int main(int argc, char **argv)
{
	struct fuse_open_in open_in = { .flags = O_RDONLY };
	struct fuse_read_in read_in = { .fh = 1, .size = 4096 };
	struct fuse_create_in create_in = { .flags = O_RDWR | O_CREAT, .mode = 0644 };
	struct fuse_mkdir_in mkdir_in = { .mode = 0755 };
	struct fuse_rename2_in rename_in = { .newdir = 3, .flags = RENAME_NOREPLACE };
	struct fuse_link_in link_in = { .oldnodeid = 2 };
	struct fuse_setattr_in setattr_in = { .valid = FATTR_SIZE | FATTR_MODE, .size = 3,
					      .mode = 0600 };
	struct fuse_fallocate_in falloc_in = { .fh = 1, .offset = 4096, .length = 4096 };
	struct fuse_lseek_in lseek_in = { .fh = 1, .whence = SEEK_HOLE };
	struct fuse_forget_in forget_in = { .nlookup = 1 };
	struct {
		struct fuse_write_in in;
		char data[12];
	} write_in = { .in = { .fh = 1, .size = 12 }, .data = "fuzzed data\n" };

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	start_seed();
	add_req(FUSE_LOOKUP, 1, NULL, 0, "hello", NULL, 3);
	add_req(FUSE_OPEN, 2, &open_in, sizeof(open_in), NULL, NULL, 41);
	add_req(FUSE_READ, 2, &read_in, sizeof(read_in), NULL, NULL, 50);
	add_req(FUSE_GETATTR, 2, NULL, 0, NULL, NULL, 0);
	add_req(FUSE_LSEEK, 2, &lseek_in, sizeof(lseek_in), NULL, NULL, 0);
	add_req(FUSE_RELEASE, 2, &read_in, sizeof(struct fuse_release_in), NULL, NULL, 0);
	add_req(FUSE_FORGET, 2, &forget_in, sizeof(forget_in), NULL, NULL, 0);
	write_seed(argv[1], "lookup-open-read");

	start_seed();
	add_req(FUSE_OPENDIR, 1, &open_in, sizeof(open_in), NULL, NULL, 9);
	add_req(FUSE_READDIRPLUS, 1, &read_in, sizeof(read_in), NULL, NULL, 44);
	add_req(FUSE_READDIR, 1, &read_in, sizeof(read_in), NULL, NULL, 44);
	add_req(FUSE_RELEASEDIR, 1, &read_in, sizeof(struct fuse_release_in), NULL, NULL, 0);
	add_req(FUSE_LOOKUP, 1, NULL, 0, "rel", NULL, 3);
	add_req(FUSE_READLINK, 2, NULL, 0, NULL, NULL, 0);
	add_req(FUSE_OPEN, 2, &open_in, sizeof(open_in), NULL, NULL, 0);
	add_req(FUSE_LOOKUP, 1, NULL, 0, "..", NULL, 3);
	add_req(FUSE_STATFS, 1, NULL, 0, NULL, NULL, 0);
	write_seed(argv[1], "readdir-symlink");

	start_seed();
	add_req(FUSE_CREATE, 1, &create_in, sizeof(create_in), "fz", NULL, 60);
	add_req(FUSE_WRITE, 2, &write_in, sizeof(write_in), NULL, NULL, 70);
	add_req(FUSE_READ, 2, &read_in, sizeof(read_in), NULL, NULL, 0);
	add_req(FUSE_FALLOCATE, 2, &falloc_in, sizeof(falloc_in), NULL, NULL, 0);
	add_req(FUSE_SETATTR, 2, &setattr_in, sizeof(setattr_in), NULL, NULL, 0);
	add_req(FUSE_MKDIR, 1, &mkdir_in, sizeof(mkdir_in), "fzdir", NULL, 0);
	add_req(FUSE_LINK, 3, &link_in, sizeof(link_in), "fzlink", NULL, 0);
	add_req(FUSE_RENAME2, 1, &rename_in, sizeof(rename_in), "fz", "fzmoved", 0);
	add_req(FUSE_SYMLINK, 3, NULL, 0, "fzsym", "../..", 0);
	add_req(FUSE_UNLINK, 3, NULL, 0, "fzsym", NULL, 0);
	add_req(FUSE_UNLINK, 3, NULL, 0, "fzlink", NULL, 0);
	add_req(FUSE_UNLINK, 3, NULL, 0, "fzmoved", NULL, 0);
	add_req(FUSE_RMDIR, 1, NULL, 0, "fzdir", NULL, 0);
	write_seed(argv[1], "create-write-rename");
	return 0;
}
#endif
