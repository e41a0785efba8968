/* The newc cpio writer: archives read back by a reader of the test's own and, where it is
 * installed, extracted by GNU cpio. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hopvm/cpio.h"
#include "hopvm/error.h"
#include "unit.h"

struct entry {
	char name[256];
	unsigned ino, mode, uid, gid, nlink, mtime, size;
	const uint8_t *data;
};

static unsigned hex_field(const uint8_t *p, unsigned i)
{
	char text[9];

	memcpy(text, p + 6 + 8 * i, 8);
	text[8] = '\0';
	for (unsigned k = 0; k < 8; k++)
		if (!strchr("0123456789ABCDEF", text[k]))
			fail_msg("field %u '%s' is not 8 upper-case hex digits", i, text);
	return (unsigned)strtoul(text, NULL, 16);
}

/* Reads every entry up to and including the trailer, checking the layout on the way. */
static unsigned read_archive(const struct cpio *c, struct entry *out, unsigned max)
{
	size_t off = 0;
	unsigned n = 0;

	for (;;) {
		const uint8_t *p = c->data + off;
		struct entry *e = &out[n];
		unsigned namesize;

		assert_true(n < max);
		assert_int_equal(off % 4, 0);
		assert_true(off + 110 <= c->size);
		assert_memory_equal(p, "070701", 6);
		e->ino = hex_field(p, 0);
		e->mode = hex_field(p, 1);
		e->uid = hex_field(p, 2);
		e->gid = hex_field(p, 3);
		e->nlink = hex_field(p, 4);
		e->mtime = hex_field(p, 5);
		e->size = hex_field(p, 6);
		for (unsigned i = 7; i < 11; i++)
			assert_int_equal(hex_field(p, i), 0);	/* device numbers */
		namesize = hex_field(p, 11);
		assert_int_equal(hex_field(p, 12), 0);	/* check */
		assert_true(namesize >= 2 && namesize <= sizeof(e->name));
		assert_true(off + 110 + namesize <= c->size);
		assert_int_equal(p[110 + namesize - 1], 0);
		memcpy(e->name, p + 110, namesize);
		off += (110 + namesize + 3) & ~3U;
		for (size_t i = 110 + namesize; i < ((110 + namesize + 3) & ~3U); i++)
			assert_int_equal(p[i], 0);	/* padding */
		e->data = c->data + off;
		assert_true(off + e->size <= c->size);
		off += (e->size + 3) & ~3U;
		n++;
		if (strcmp(e->name, "TRAILER!!!") == 0)
			break;
	}
	assert_int_equal(off, c->size);
	return n;
}

static const char init_data[] = "#!/bin/sh\necho hi\n";

/* Files of 0 to 5 bytes, so every data padding is exercised. */
static void build(struct cpio *c)
{
	static const char *const sizes[] = { "hopvm/s0", "hopvm/s1", "hopvm/s2", "hopvm/s3",
					     "hopvm/s4", "hopvm/s5" };

	cpio_init(c);
	assert_int_equal(cpio_add_dir(c, "/hopvm", 0755), 0);
	assert_int_equal(cpio_add_dir(c, "/hopvm/modules", 0700), 0);
	assert_int_equal(cpio_add_file(c, "/init", 0755, init_data, strlen(init_data)), 0);
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(cpio_add_file(c, sizes[i], 0644, "abcde", i), 0);
	assert_int_equal(cpio_add_symlink(c, "hopvm/modules/link", "../s5"), 0);
	assert_int_equal(cpio_finish(c), 0);
}

static void test_entries(void **state)
{
	struct entry e[16];
	struct cpio c;
	unsigned n;

	(void)state;
	build(&c);
	n = read_archive(&c, e, 16);
	assert_int_equal(n, 11);
	assert_string_equal(e[0].name, "hopvm");
	assert_int_equal(e[0].mode, 040755);
	assert_int_equal(e[0].nlink, 2);
	assert_int_equal(e[1].mode, 040700);
	assert_string_equal(e[2].name, "init");
	assert_int_equal(e[2].mode, 0100755);
	assert_int_equal(e[2].nlink, 1);
	assert_int_equal(e[2].size, strlen(init_data));
	assert_memory_equal(e[2].data, init_data, strlen(init_data));
	for (unsigned i = 0; i < 6; i++) {
		assert_int_equal(e[3 + i].size, i);
		assert_memory_equal(e[3 + i].data, "abcde", i);
	}
	assert_string_equal(e[9].name, "hopvm/modules/link");
	assert_int_equal(e[9].mode, 0120777);
	assert_int_equal(e[9].size, 5);
	assert_memory_equal(e[9].data, "../s5", 5);
	assert_int_equal(e[10].nlink, 1);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(e[i].uid, 0);
		assert_int_equal(e[i].gid, 0);
		assert_int_equal(e[i].mtime, 0);
		for (unsigned k = 0; k < i && i < n - 1; k++)
			assert_int_not_equal(e[i].ino, e[k].ino);
	}
	cpio_free(&c);
}

/* One entry byte for byte, as the format describes it. */
static void test_exact_bytes(void **state)
{
	static const char want[] =
		"070701" "00000001" "000081A4" "00000000" "00000000" "00000001" "00000000"
		"00000003" "00000000" "00000000" "00000000" "00000000" "00000002" "00000000"
		"a\0" "xyz\0"
		"070701" "00000000" "00000000" "00000000" "00000000" "00000001" "00000000"
		"00000000" "00000000" "00000000" "00000000" "00000000" "0000000B" "00000000"
		"TRAILER!!!\0\0\0\0";
	struct cpio c;

	(void)state;
	cpio_init(&c);
	assert_int_equal(cpio_add_file(&c, "a", 0644, "xyz", 3), 0);
	assert_int_equal(cpio_finish(&c), 0);
	assert_int_equal(c.size, sizeof(want) - 1);
	assert_memory_equal(c.data, want, c.size);
	cpio_free(&c);
}

static void expect_refused(struct cpio *c, int ret, int err, const char *what)
{
	size_t before = c->size;

	assert_int_equal(ret, err);
	assert_err_mentions(what);
	assert_int_equal(c->size, before);
	err_clear();
}

static void test_refusals(void **state)
{
	char long_name[PATH_MAX + 1];
	struct cpio c;

	(void)state;
	cpio_init(&c);
	assert_int_equal(cpio_add_dir(&c, "d", 0755), 0);
	expect_refused(&c, cpio_add_dir(&c, "", 0755), -EINVAL, "other than the root");
	expect_refused(&c, cpio_add_dir(&c, "//", 0755), -EINVAL, "other than the root");
	expect_refused(&c, cpio_add_file(&c, "/d/../etc", 0644, "", 0), -EINVAL, "'..'");
	expect_refused(&c, cpio_add_file(&c, "..", 0644, "", 0), -EINVAL, "'..'");
	expect_refused(&c, cpio_add_file(&c, "./x", 0644, "", 0), -EINVAL, "'.'");
	expect_refused(&c, cpio_add_file(&c, "d//x", 0644, "", 0), -EINVAL, "empty");
	expect_refused(&c, cpio_add_dir(&c, "d/e/", 0755), -EINVAL, "ends in a slash");
	expect_refused(&c, cpio_add_file(&c, "TRAILER!!!", 0644, "", 0), -EINVAL, "end");
	memset(long_name, 'a', PATH_MAX);
	long_name[PATH_MAX] = '\0';
	expect_refused(&c, cpio_add_file(&c, long_name, 0644, "", 0), -EINVAL, "limit of");
	long_name[PATH_MAX - 1] = '\0';
	assert_int_equal(cpio_add_file(&c, long_name, 0644, "", 0), 0);
	expect_refused(&c, cpio_add_file(&c, "x/y", 0644, "", 0), -ENOENT,
		       "'x/y' comes before its directory 'x'");
	assert_int_equal(cpio_add_file(&c, "f", 0644, "", 0), 0);
	expect_refused(&c, cpio_add_file(&c, "f/y", 0644, "", 0), -ENOENT, "directory 'f'");
	expect_refused(&c, cpio_add_dir(&c, "/d", 0755), -EEXIST, "'d' is already");
	expect_refused(&c, cpio_add_file(&c, "g", 0100644, "", 0), -EINVAL, "permission bits");
	expect_refused(&c, cpio_add_symlink(&c, "l", ""), -EINVAL, "symlink 'l'");
	assert_int_equal(cpio_finish(&c), 0);
	expect_refused(&c, cpio_add_dir(&c, "e", 0755), -EINVAL, "after the archive's end");
	expect_refused(&c, cpio_finish(&c), -EINVAL, "already finished");
	cpio_free(&c);
}

static void test_host_file(void **state)
{
	char path[] = "/tmp/hopvm-test-cpio-XXXXXX";
	struct entry e[4];
	struct cpio c;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hello", 5), 5);
	close(fd);
	cpio_init(&c);
	assert_int_equal(cpio_add_host_file(&c, "h", 0600, path), 0);
	assert_int_equal(cpio_add_host_file(&c, "h2", 0600, "/tmp/hopvm-no-such-file"), -ENOENT);
	assert_err_mentions("'/tmp/hopvm-no-such-file'");
	assert_int_equal(cpio_add_host_file(&c, "h3", 0600, "/tmp"), -EINVAL);
	assert_err_mentions("'/tmp' is not a regular file");
	assert_int_equal(cpio_add_host_file(&c, "h", 0600, path), -EEXIST);
	unlink(path);
	assert_int_equal(cpio_finish(&c), 0);
	assert_int_equal(read_archive(&c, e, 4), 2);
	assert_int_equal(e[0].mode, 0100600);
	assert_int_equal(e[0].size, 5);
	assert_memory_equal(e[0].data, "hello", 5);
	cpio_free(&c);
}

static void expect_file(const char *dir, const char *name, unsigned mode, const void *data,
			size_t len)
{
	char path[PATH_MAX], buf[64];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode, mode);
	if (!S_ISREG(mode))
		return;
	assert_int_equal(st.st_size, len);
	assert_int_equal(st.st_mtime, 0);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), len);
	close(fd);
	assert_memory_equal(buf, data, len);
}

/* GNU cpio reads newc as the kernel does; what it extracts is what was put in. */
static void test_gnu_cpio_extracts(void **state)
{
	char dir[] = "/tmp/hopvm-test-cpio-XXXXXX", cmd[256], path[PATH_MAX], link[16];
	struct cpio c;
	FILE *f;

	(void)state;
	if (access("/usr/bin/cpio", X_OK) != 0)
		skip();
	assert_non_null(mkdtemp(dir));
	build(&c);
	snprintf(path, sizeof(path), "%s/a.cpio", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(c.data, 1, c.size, f), c.size);
	assert_int_equal(fclose(f), 0);
	snprintf(cmd, sizeof(cmd), "mkdir %s/x && cd %s/x && /usr/bin/cpio -idm --quiet < ../a.cpio",
		 dir, dir);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/x", dir);
	expect_file(path, "hopvm", S_IFDIR | 0755, NULL, 0);
	expect_file(path, "hopvm/modules", S_IFDIR | 0700, NULL, 0);
	expect_file(path, "init", S_IFREG | 0755, init_data, strlen(init_data));
	expect_file(path, "hopvm/s0", S_IFREG | 0644, "", 0);
	expect_file(path, "hopvm/s3", S_IFREG | 0644, "abc", 3);
	expect_file(path, "hopvm/s5", S_IFREG | 0644, "abcde", 5);
	expect_file(path, "hopvm/modules/link", S_IFLNK | 0777, NULL, 0);
	snprintf(path, sizeof(path), "%s/x/hopvm/modules/link", dir);
	assert_int_equal(readlink(path, link, sizeof(link)), 5);
	assert_memory_equal(link, "../s5", 5);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	cpio_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entries),
		cmocka_unit_test(test_exact_bytes),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_host_file),
		cmocka_unit_test(test_gnu_cpio_extracts),
	};
	return cmocka_run_group_tests_name("cpio", tests, NULL, NULL);
}
