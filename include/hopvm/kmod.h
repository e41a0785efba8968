/* The kernel modules hopvm exec puts in its initramfs: where a kernel's modules are, and which
 * files the guest loads, in what order, for the modules it needs.
 *
 * Only depmod's text files are read (modules.dep, modules.builtin); no libkmod.  Module names
 * are compared as the kernel does, with '-' and '_' the same ("virtio-rng" is "virtio_rng").
 * Functions return 0 or a negative errno with a message in err_msg(). */
#ifndef HOPVM_KMOD_H
#define HOPVM_KMOD_H

#include <stddef.h>

struct cpio;
struct exec_config;

/* Finds the modules directory of kernel release version (bzimage_kernel_version()), the first
 * of these that holds a modules.dep, and writes its path to dir:
 *   - modules_opt (--modules DIR), when not NULL: DIR/lib/modules/VERSION (what
 *     `make modules_install INSTALL_MOD_PATH=DIR` writes), else DIR/VERSION (DIR is a
 *     lib/modules), else DIR itself if it is named VERSION (DIR is lib/modules/VERSION,
 *     maybe through a symlink; another name means another kernel's modules).  Nothing
 *     else is looked at then: a --modules that does not fit is a mistake to report, not to
 *     replace with the host's modules.
 *   - /lib/modules/VERSION, the host's;
 *   - beside the kernel image in an unpacked package: image_path (may be NULL), its symlinks
 *     resolved, at P/boot/NAME gives P/lib/modules/VERSION.
 * None: -ENOENT with a message listing the places tried.  A kernel with everything the guest
 * needs built in runs without modules, so the caller decides whether that is fatal.
 * -ENAMETOOLONG if the path does not fit in len bytes. */
int kmod_find_dir(const char *version, const char *modules_opt, const char *image_path,
		  char *dir, size_t len) __attribute__((warn_unused_result));

struct kmod_file {
	char *name;	/* the file's name, "fuse.ko": it goes in /hopvm/modules under it */
	char *path;	/* the file on the host */
};

struct kmod_list {
	struct kmod_file *files;	/* in load order: each after the modules it needs */
	size_t count;
};

/* The module files to load for the nr_wanted modules named in wanted ("virtiofs", "overlay":
 * names, not file names), from the modules directory dir: each wanted module after its
 * dependencies and theirs, each file once.  Modules built into the kernel (modules.builtin)
 * need no file.  -ENOENT naming the module and dir for one that is neither in modules.dep nor
 * built in, or a dependency modules.dep does not list; -ENOTSUP for a compressed module
 * (.ko.xz, .ko.zst, .ko.gz: the guest's init loads plain .ko files only); -ELOOP for a
 * dependency cycle.  Softdeps are not followed.  On success free the list with
 * kmod_list_free(). */
int kmod_resolve(const char *dir, const char *const *wanted, size_t nr_wanted,
		 struct kmod_list *list) __attribute__((warn_unused_result));
void kmod_list_free(struct kmod_list *list);

/* Adds each file to the archive as EXEC_MODULES_DIR/NAME (mode 0644), and a "module=NAME"
 * record for it to cfg, in the list's order.  The caller has added the directories
 * EXEC_MODULES_DIR and its parent to the archive first. */
int kmod_add_to_initramfs(const struct kmod_list *list, struct cpio *archive,
			  struct exec_config *cfg) __attribute__((warn_unused_result));

#endif
