/* Kernel modules for hopvm exec: finding a kernel's modules directory and the load order, on a
 * made-up modules tree in a temporary directory, and on the cached Debian kernel's when there. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "hopvm/cpio.h"
#include "hopvm/error.h"
#include "hopvm/exec_config.h"
#include "hopvm/kmod.h"
#include "unit.h"

#define VERSION "0.0.1-hopvm-test"
#define REAL_DIR "/var/cache/hopvm/kernel/lib/modules/6.1.0-57-amd64"
#define REAL_IMAGE "/var/cache/hopvm/kernel/boot/vmlinuz-6.1.0-57-amd64"

static char root[] = "/tmp/hopvm-test-kmod-XXXXXX";
static char moddir[PATH_MAX];

static void write_file(const char *rel, const char *text)
{
	char path[PATH_MAX], cmd[PATH_MAX + 32];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname %s)\"", path);
	assert_int_equal(system(cmd), 0);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* top needs mid-dash and base, mid-dash needs base; top2 lists its deps in the other order. */
static int make_tree(void **state)
{
	(void)state;
	if (mkdtemp(root) == NULL)
		return -1;
	snprintf(moddir, sizeof(moddir), "%s/lib/modules/" VERSION, root);
	write_file("lib/modules/" VERSION "/modules.dep",
		   "kernel/a/top.ko: kernel/b/mid-dash.ko kernel/c/base.ko\n"
		   "kernel/a/top2.ko: kernel/c/base.ko kernel/b/mid-dash.ko\n"
		   "kernel/b/mid-dash.ko: kernel/c/base.ko\n"
		   "kernel/c/base.ko:\n"
		   "\n"
		   "kernel/d/solo.ko:\n"
		   "kernel/h/other.ko:  kernel/c/base.ko \n"
		   "kernel/e/packed.ko.xz: kernel/c/base.ko\n"
		   "kernel/f/loop1.ko: kernel/f/loop2.ko\n"
		   "kernel/f/loop2.ko: kernel/f/loop1.ko\n"
		   "kernel/g/orphan.ko: kernel/g/nowhere.ko\n");
	write_file("lib/modules/" VERSION "/modules.builtin",
		   "kernel/fs/ext4/ext4.ko\nkernel/drivers/block/virtio-blk.ko\n");
	write_file("lib/modules/" VERSION "/kernel/a/top.ko", "top");
	write_file("lib/modules/" VERSION "/kernel/b/mid-dash.ko", "mid");
	write_file("lib/modules/" VERSION "/kernel/c/base.ko", "base");
	write_file("boot/vmlinuz-" VERSION, "not really a kernel");
	return 0;
}

static int remove_tree(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	return system(cmd) == 0 ? 0 : -1;
}

/* Resolves the names and checks the files' names, in order, and their paths. */
static void expect_order(const char *const *wanted, size_t n, const char *const *want,
			 const char *const *want_rel, size_t want_n)
{
	struct kmod_list list;
	char path[PATH_MAX + 64];

	assert_int_equal(kmod_resolve(moddir, wanted, n, &list), 0);
	assert_int_equal(list.count, want_n);
	for (size_t i = 0; i < want_n; i++) {
		assert_string_equal(list.files[i].name, want[i]);
		snprintf(path, sizeof(path), "%s/%s", moddir, want_rel[i]);
		assert_string_equal(list.files[i].path, path);
	}
	kmod_list_free(&list);
}

static void test_dependencies_first(void **state)
{
	static const char *const top[] = { "top" }, *const top2[] = { "top2" };
	static const char *const want[] = { "base.ko", "mid-dash.ko", "top.ko" };
	static const char *const want2[] = { "base.ko", "mid-dash.ko", "top2.ko" };
	static const char *const rel[] = { "kernel/c/base.ko", "kernel/b/mid-dash.ko",
					   "kernel/a/top.ko" };
	static const char *const rel2[] = { "kernel/c/base.ko", "kernel/b/mid-dash.ko",
					    "kernel/a/top2.ko" };

	(void)state;
	expect_order(top, 1, want, rel, 3);
	/* Listed base first, mid-dash still comes after it: it needs base too. */
	expect_order(top2, 1, want2, rel2, 3);
}

/* Each file once; '-' and '_' alike; built-in modules need no file. */
static void test_names_and_builtins(void **state)
{
	static const char *const wanted[] = { "mid_dash", "other", "virtio_blk", "solo",
					      "ext4", "base", "top" };
	static const char *const want[] = { "base.ko", "mid-dash.ko", "other.ko", "solo.ko",
					    "top.ko" };
	static const char *const rel[] = { "kernel/c/base.ko", "kernel/b/mid-dash.ko",
					   "kernel/h/other.ko", "kernel/d/solo.ko",
					   "kernel/a/top.ko" };
	static const char *const builtin[] = { "virtio-blk", "ext4" };
	struct kmod_list list;

	(void)state;
	expect_order(wanted, 7, want, rel, 5);
	assert_int_equal(kmod_resolve(moddir, builtin, 2, &list), 0);
	assert_int_equal(list.count, 0);
	kmod_list_free(&list);
}

static void expect_refused(const char *name, int err, const char *what)
{
	struct kmod_list list;

	err_clear();
	assert_int_equal(kmod_resolve(moddir, &name, 1, &list), err);
	assert_err_mentions(what);
	assert_int_equal(list.count, 0);
	assert_null(list.files);
}

static void test_refusals(void **state)
{
	char text[PATH_MAX + 64];
	struct kmod_list list;
	const char *name = "solo";

	(void)state;
	snprintf(text, sizeof(text), "kernel module nosuch is neither in %s/modules.dep", moddir);
	expect_refused("nosuch", -ENOENT, text);
	expect_refused("top.ko", -ENOENT, "top.ko is neither");
	expect_refused("packed", -ENOTSUP, "kernel/e/packed.ko.xz");
	expect_refused("loop1", -ELOOP, "kernel/f/loop1.ko needs itself");
	expect_refused("orphan", -ENOENT, "needs kernel/g/nowhere.ko, which has no line");
	assert_int_equal(kmod_resolve(root, &name, 1, &list), -ENOENT);
	assert_err_mentions("/modules.dep': No such file");
	write_file("broken/modules.dep", "kernel/a.ko:\nkernel/b.ko\n");
	snprintf(text, sizeof(text), "%s/broken", root);
	assert_int_equal(kmod_resolve(text, &name, 1, &list), -EINVAL);
	assert_err_mentions("modules.dep:2: no ':'");
}

static void test_add_to_initramfs(void **state)
{
	static const char *const top[] = { "top" };
	static const char want[] = "module=base.ko\0module=mid-dash.ko\0module=top.ko";
	struct exec_config cfg;
	struct kmod_list list;
	struct cpio c;

	(void)state;
	cpio_init(&c);
	exec_config_init(&cfg);
	assert_int_equal(cpio_add_dir(&c, "/hopvm", 0755), 0);
	assert_int_equal(cpio_add_dir(&c, "/hopvm/modules", 0755), 0);
	assert_int_equal(kmod_resolve(moddir, top, 1, &list), 0);
	assert_int_equal(kmod_add_to_initramfs(&list, &c, &cfg), 0);
	assert_int_equal(cfg.size, sizeof(want));
	assert_memory_equal(cfg.data, want, sizeof(want));
	assert_non_null(memmem(c.data, c.size, "hopvm/modules/mid-dash.ko\0mid", 29));
	/* The same file twice is refused (the archive's check). */
	assert_int_equal(kmod_add_to_initramfs(&list, &c, &cfg), -EEXIST);
	kmod_list_free(&list);
	cpio_free(&c);

	/* A file gone since modules.dep was read is named. */
	cpio_init(&c);
	assert_int_equal(kmod_resolve(moddir, top, 1, &list), 0);
	free(list.files[1].path);
	list.files[1].path = strdup("/nonexistent/mid-dash.ko");
	assert_int_equal(cpio_add_dir(&c, "/hopvm", 0755), 0);
	assert_int_equal(cpio_add_dir(&c, "/hopvm/modules", 0755), 0);
	assert_int_equal(kmod_add_to_initramfs(&list, &c, &cfg), -ENOENT);
	assert_err_mentions("'/nonexistent/mid-dash.ko'");
	kmod_list_free(&list);
	cpio_free(&c);
	exec_config_free(&cfg);
}

static void expect_dir(const char *opt, const char *image, const char *want)
{
	char dir[PATH_MAX];

	err_clear();
	assert_int_equal(kmod_find_dir(VERSION, opt, image, dir, sizeof(dir)), 0);
	assert_string_equal(dir, want);
}

static void test_find_dir(void **state)
{
	char opt[PATH_MAX], image[PATH_MAX], link[PATH_MAX], dir[PATH_MAX];

	(void)state;
	/* --modules: INSTALL_MOD_PATH, a lib/modules, or the directory itself. */
	expect_dir(root, NULL, moddir);
	snprintf(opt, sizeof(opt), "%s/lib/modules", root);
	expect_dir(opt, NULL, moddir);
	expect_dir(moddir, NULL, moddir);
	snprintf(opt, sizeof(opt), "%s/current", root);
	assert_int_equal(symlink(moddir, opt), 0);
	expect_dir(opt, NULL, opt);
	snprintf(opt, sizeof(opt), "%s/boot", root);
	assert_int_equal(kmod_find_dir(VERSION, opt, NULL, dir, sizeof(dir)), -ENOENT);
	assert_err_mentions("--modules");
	assert_err_mentions("/boot/lib/modules/" VERSION ", ");
	assert_err_mentions("/boot/" VERSION ", not itself");
	/* A modules directory named for another release is another kernel's. */
	snprintf(opt, sizeof(opt), "%s/lib/modules/0.0.2", root);
	write_file("lib/modules/0.0.2/modules.dep", "");
	assert_int_equal(kmod_find_dir(VERSION, opt, NULL, dir, sizeof(dir)), -ENOENT);
	assert_err_mentions("/0.0.2/" VERSION ", not itself: it is not named for that release");

	/* Beside the image in an unpacked package, found through a symlink to it. */
	snprintf(image, sizeof(image), "%s/boot/vmlinuz-" VERSION, root);
	snprintf(link, sizeof(link), "%s/vmlinuz", root);
	assert_int_equal(symlink(image, link), 0);
	expect_dir(NULL, link, moddir);
	expect_dir(NULL, image, moddir);
	assert_int_equal(kmod_find_dir(VERSION, NULL, NULL, dir, sizeof(dir)), -ENOENT);
	assert_err_mentions("/lib/modules/" VERSION);
	assert_err_mentions("--modules");
	/* An image outside a boot directory has no package around it. */
	assert_int_equal(kmod_find_dir(VERSION, NULL, "/dev/null", dir, sizeof(dir)), -ENOENT);
	assert_int_equal(kmod_find_dir("../../etc", NULL, NULL, dir, sizeof(dir)), -EINVAL);
	assert_int_equal(kmod_find_dir(VERSION, root, NULL, dir, 8), -ENAMETOOLONG);
}

/* The Debian kernel the boot tests use: its virtio and overlay modules load in order. */
static void test_real_modules(void **state)
{
	static const char *const wanted[] = { "virtio_pci", "virtio_console", "virtiofs",
					      "overlay" };
	size_t fuse = SIZE_MAX, virtiofs = SIZE_MAX, virtio = SIZE_MAX, virtio_pci = SIZE_MAX;
	struct exec_config cfg;
	struct kmod_list list;
	struct cpio c;
	char dir[PATH_MAX];

	(void)state;
	if (access(REAL_DIR "/modules.dep", R_OK) != 0)
		skip();
	assert_int_equal(kmod_find_dir("6.1.0-57-amd64", NULL, REAL_IMAGE, dir, sizeof(dir)), 0);
	if (access("/lib/modules/6.1.0-57-amd64/modules.dep", R_OK) != 0)
		assert_string_equal(dir, REAL_DIR);
	assert_int_equal(kmod_resolve(REAL_DIR, wanted, 4, &list), 0);
	for (size_t i = 0; i < list.count; i++) {
		const char *n = list.files[i].name;

		for (size_t k = 0; k < i; k++)
			assert_string_not_equal(n, list.files[k].name);
		assert_int_equal(access(list.files[i].path, R_OK), 0);
		fuse = strcmp(n, "fuse.ko") == 0 ? i : fuse;
		virtiofs = strcmp(n, "virtiofs.ko") == 0 ? i : virtiofs;
		virtio = strcmp(n, "virtio.ko") == 0 ? i : virtio;
		virtio_pci = strcmp(n, "virtio_pci.ko") == 0 ? i : virtio_pci;
	}
	assert_true(fuse < virtiofs && virtiofs != SIZE_MAX);
	assert_true(virtio < virtio_pci && virtio_pci != SIZE_MAX);

	/* Into an initramfs: a record for each file, in the list's order. */
	cpio_init(&c);
	exec_config_init(&cfg);
	assert_int_equal(cpio_add_dir(&c, "/hopvm", 0755), 0);
	assert_int_equal(cpio_add_dir(&c, "/hopvm/modules", 0755), 0);
	assert_int_equal(kmod_add_to_initramfs(&list, &c, &cfg), 0);
	assert_int_equal(cpio_finish(&c), 0);
	for (size_t i = 0, off = 0; i < list.count; i++) {
		assert_memory_equal(cfg.data + off, "module=", 7);
		assert_string_equal(cfg.data + off + 7, list.files[i].name);
		off += strlen(cfg.data + off) + 1;
		assert_true(off <= cfg.size);
	}
	assert_non_null(memmem(c.data, c.size, "hopvm/modules/virtiofs.ko", 26));
	cpio_free(&c);
	exec_config_free(&cfg);
	kmod_list_free(&list);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dependencies_first),
		cmocka_unit_test(test_names_and_builtins),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_add_to_initramfs),
		cmocka_unit_test(test_find_dir),
		cmocka_unit_test(test_real_modules),
	};
	return cmocka_run_group_tests_name("kmod", tests, make_tree, remove_tree);
}
