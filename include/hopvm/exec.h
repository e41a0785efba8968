/* hopvm exec: runs one command in a freshly booted Linux kernel whose root is this machine's
 * own, shared read-only over virtio-fs (as virtme-ng does on QEMU), and exits with the
 * command's status.  src/exec/exec.c is the subcommand; initramfs.c writes what the guest's
 * init (guests/exec-init) needs; relay.c carries the command's streams. */
#ifndef HOPVM_EXEC_H
#define HOPVM_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hopvm/boot.h"

/* hopvm exec's own failures (no kernel, a guest that never ran the command, a panic), apart
 * from every status the command can give, as docker run's 125. */
#define EXEC_EXIT_FAILED 125

#define EXEC_MAX_RWDIRS 3

/* The virtio-fs tags the guest mounts. */
#define EXEC_ROOT_TAG "hopvm-root"
#define EXEC_RWDIR_TAG "hopvm-rw"	/* + its index */

/* What the guest's init is told (exec_abi.h's records), gathered by the subcommand. */
struct exec_plan {
	char kernel_version[65];
	const char *modules_dir;	/* where the kernel's modules are, or NULL: none found */
	char modules_path[4096];	/* (modules_dir's storage) */
	const char *const *modules;	/* the modules to load (names), NULL-terminated */
	const char *const *overlays;	/* writable over tmpfs; NULL-terminated */
	const char *const *tmpfs;	/* empty tmpfs; NULL-terminated */
	const char *rwdirs[EXEC_MAX_RWDIRS];	/* absolute, shared writable at the same path */
	unsigned nr_rwdirs;
	unsigned uid, gid;
	const unsigned *groups;
	unsigned nr_groups;
	const char *cwd;
	char *const *env;	/* NAME=VALUE, NULL-terminated */
	char *const *argv;	/* NULL-terminated */
};

/* Finds the kernel's modules directory (kmod_find_dir()) into plan->modules_dir.  Without
 * --modules (modules_opt NULL), none at all is no error: a kernel with everything built in
 * needs none, and the guest's init says what it missed. */
int exec_find_modules(struct exec_plan *plan, const char *kernel_path, const char *modules_opt)
	__attribute__((warn_unused_result));

/* The initramfs: the init program, the modules (with their dependencies, in load order) and
 * the records, as an uncompressed newc archive in out (boot_image_free() frees it). */
int exec_initramfs_build(const struct exec_plan *plan, struct boot_image *out)
	__attribute__((warn_unused_result));

/* The init program embedded in hopvm (Makefile: guests/exec-init, built static). */
extern const uint8_t exec_init_image[], exec_init_image_end[];

int cmd_exec(int argc, char **argv);

#endif
