/* A newc ("070701") cpio archive written in memory: the initramfs hopvm exec hands the kernel.
 *
 * The kernel unpacks uncompressed newc itself, so no compression and no external tool.  Every
 * entry is owned by root (uid 0, gid 0) with mtime 0, so the same inputs give the same bytes;
 * each gets its own inode number, so nothing is taken for a hard link.
 *
 * Names are paths in the guest's root: "/init" and "init" are the same entry, stored as
 * "init" (as the kernel's own gen_init_cpio writes them).  The kernel creates no missing
 * directories, so an entry's directory must be added before it (the writer refuses otherwise,
 * -ENOENT), and a name may appear once (-EEXIST).  Refused with -EINVAL: empty names, "."
 * or ".." or empty components, and names of PATH_MAX bytes or more (the kernel's limit).
 *
 * A failed add leaves the archive as it was.  All functions return 0 or a negative errno with
 * a message in err_msg() naming the entry. */
#ifndef HOPVM_CPIO_H
#define HOPVM_CPIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cpio {
	uint8_t *data;		/* the archive so far; complete after cpio_finish() */
	size_t size;
	size_t cap;
	uint32_t next_ino;
	bool finished;
	/* The names added, for the parent and duplicate checks; dirs[i] says which are dirs. */
	char **names;
	bool *dirs;
	size_t nr_names;
};

void cpio_init(struct cpio *c);
void cpio_free(struct cpio *c);

/* mode holds the permission bits only (07777 at most); the writer adds the file type. */
int cpio_add_dir(struct cpio *c, const char *name, unsigned mode)
	__attribute__((warn_unused_result));
/* A regular file of len bytes (under 4 GiB: newc's size field is 32 bits). */
int cpio_add_file(struct cpio *c, const char *name, unsigned mode, const void *data, size_t len)
	__attribute__((warn_unused_result));
/* A regular file with the contents of the host file host_path (the message names it). */
int cpio_add_host_file(struct cpio *c, const char *name, unsigned mode, const char *host_path)
	__attribute__((warn_unused_result));
/* A symbolic link (mode 0777) to target, which is stored as given. */
int cpio_add_symlink(struct cpio *c, const char *name, const char *target)
	__attribute__((warn_unused_result));
/* Appends the "TRAILER!!!" entry; nothing can be added after it. */
int cpio_finish(struct cpio *c) __attribute__((warn_unused_result));

#endif
