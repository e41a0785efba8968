/* The newc cpio writer (the kernel's Documentation/driver-api/early-userspace/buffer-format.rst).
 *
 * Each entry is a 110-byte ASCII header ("070701" and thirteen 8-digit hex fields), the name
 * with its NUL padded to a multiple of 4 bytes (counting from the header's start), then the
 * data padded the same way.  Offsets stay 4-aligned because every piece is padded. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hopvm/cpio.h"
#include "hopvm/error.h"

#define NEWC_HEADER 110
#define NEWC_MAX_SIZE 0xffffffffULL
#define TRAILER "TRAILER!!!"
#define MODE_DIR 0040000U
#define MODE_FILE 0100000U
#define MODE_SYMLINK 0120000U

static size_t pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

void cpio_init(struct cpio *c)
{
	memset(c, 0, sizeof(*c));
	/* gen_init_cpio starts at 721; any start works as long as none repeats. */
	c->next_ino = 1;
}

void cpio_free(struct cpio *c)
{
	for (size_t i = 0; i < c->nr_names; i++)
		free(c->names[i]);
	free(c->names);
	free(c->dirs);
	free(c->data);
	cpio_init(c);
}

/* Strips the leading slashes and refuses what the kernel would refuse or misplace. */
static int check_name(const char *name, const char **stored)
{
	const char *p;

	while (*name == '/')
		name++;
	if (*name == '\0')
		return err_set(-EINVAL, "cpio: an entry needs a name other than the root");
	if (strlen(name) >= PATH_MAX)
		return err_set(-EINVAL, "cpio: the name '%.40s...' is %zu bytes, over the kernel's "
			       "limit of %d", name, strlen(name), PATH_MAX - 1);
	if (strcmp(name, TRAILER) == 0)
		return err_set(-EINVAL, "cpio: '%s' is the name of the archive's end", name);
	for (p = name; *p != '\0';) {
		size_t n = strcspn(p, "/");

		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return err_set(-EINVAL, "cpio: '%s' has an empty, '.' or '..' component",
				       name);
		p += n;
		if (*p == '/' && *++p == '\0')
			return err_set(-EINVAL, "cpio: '%s' ends in a slash", name);
	}
	*stored = name;
	return 0;
}

/* The kernel makes no missing directories and would open an existing name again. */
static int check_place(const struct cpio *c, const char *name)
{
	const char *slash = strrchr(name, '/');
	size_t dir_len = slash != NULL ? (size_t)(slash - name) : 0;
	bool parent_found = slash == NULL;

	for (size_t i = 0; i < c->nr_names; i++) {
		if (strcmp(c->names[i], name) == 0)
			return err_set(-EEXIST, "cpio: '%s' is already in the archive", name);
		if (slash != NULL && c->dirs[i] && strlen(c->names[i]) == dir_len &&
		    memcmp(c->names[i], name, dir_len) == 0)
			parent_found = true;
	}
	if (!parent_found)
		return err_set(-ENOENT, "cpio: '%s' comes before its directory '%.*s'", name,
			       (int)dir_len, name);
	return 0;
}

static int reserve(struct cpio *c, size_t more)
{
	size_t cap = c->cap ? c->cap : 4096;
	uint8_t *data = NULL;

	if (more > SIZE_MAX / 2 - c->size)
		return -ENOMEM;
	while (cap < c->size + more)
		cap *= 2;
	if (cap == c->cap)
		return 0;
	data = realloc(c->data, cap);
	if (data == NULL)
		return -ENOMEM;
	c->data = data;
	c->cap = cap;
	return 0;
}

/* Writes one entry, the room for it already reserved. */
static void put_entry(struct cpio *c, const char *name, uint32_t ino, unsigned mode,
		      unsigned nlink, const void *data, size_t len)
{
	size_t name_size = strlen(name) + 1;
	uint8_t *p = c->data + c->size;
	size_t head = pad4(NEWC_HEADER + name_size);
	char hdr[NEWC_HEADER + 1];

	/* ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize
	 * check: the device fields mean nothing for these types, and check is for 070702. */
	snprintf(hdr, sizeof(hdr), "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		 ino, mode, 0, 0, nlink, 0, (unsigned)len, 0, 0, 0, 0, (unsigned)name_size, 0);
	memcpy(p, hdr, NEWC_HEADER);
	memcpy(p + NEWC_HEADER, name, name_size);
	memset(p + NEWC_HEADER + name_size, 0, head - NEWC_HEADER - name_size);
	if (len > 0)
		memcpy(p + head, data, len);
	memset(p + head + len, 0, pad4(len) - len);
	c->size += head + pad4(len);
}

static int add_entry(struct cpio *c, const char *name, unsigned type, unsigned mode,
		     const void *data, size_t len)
{
	const char *stored = name;
	char **names;
	bool *dirs;
	char *copy;
	int ret;

	if (c->finished)
		return err_set(-EINVAL, "cpio: '%s' added after the archive's end", name);
	if (mode & ~07777U)
		return err_set(-EINVAL, "cpio: mode 0%o of '%s' has more than permission bits",
			       mode, name);
	if (len > NEWC_MAX_SIZE)
		return err_set(-EFBIG, "cpio: '%s' has %zu bytes, over newc's 4 GiB", name, len);
	ret = check_name(name, &stored);
	if (ret == 0)
		ret = check_place(c, stored);
	if (ret < 0)
		return ret;
	names = realloc(c->names, (c->nr_names + 1) * sizeof(*names));
	if (names != NULL)
		c->names = names;
	dirs = realloc(c->dirs, (c->nr_names + 1) * sizeof(*dirs));
	if (dirs != NULL)
		c->dirs = dirs;
	copy = strdup(stored);
	if (names == NULL || dirs == NULL || copy == NULL ||
	    reserve(c, pad4(NEWC_HEADER + strlen(stored) + 1) + pad4(len)) < 0) {
		free(copy);
		return err_set(-ENOMEM, "cpio: out of memory adding '%s'", stored);
	}
	c->names[c->nr_names] = copy;
	c->dirs[c->nr_names] = type == MODE_DIR;
	c->nr_names++;
	/* A directory's two links: its name and its own "."; nothing else links here. */
	put_entry(c, stored, c->next_ino++, type | mode, type == MODE_DIR ? 2 : 1, data, len);
	return 0;
}

int cpio_add_dir(struct cpio *c, const char *name, unsigned mode)
{
	return add_entry(c, name, MODE_DIR, mode, NULL, 0);
}

int cpio_add_file(struct cpio *c, const char *name, unsigned mode, const void *data, size_t len)
{
	return add_entry(c, name, MODE_FILE, mode, data, len);
}

int cpio_add_symlink(struct cpio *c, const char *name, const char *target)
{
	/* A link's data is its target, without a NUL. */
	if (*target == '\0' || strlen(target) >= PATH_MAX)
		return err_set(-EINVAL, "cpio: symlink '%s' needs a target of 1 to %d bytes", name,
			       PATH_MAX - 1);
	return add_entry(c, name, MODE_SYMLINK, 0777, target, strlen(target));
}

static int read_whole(int fd, const char *path, uint8_t **data, size_t *len)
{
	struct stat st;
	size_t done = 0;

	if (fstat(fd, &st) < 0)
		return err_set(-errno, "cannot stat '%s': %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return err_set(-EINVAL, "'%s' is not a regular file", path);
	if ((unsigned long long)st.st_size > NEWC_MAX_SIZE)
		return err_set(-EFBIG, "'%s' is over newc's 4 GiB", path);
	*data = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
	if (*data == NULL)
		return err_set(-ENOMEM, "out of memory reading '%s'", path);
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, *data + done, (size_t)st.st_size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n < 0 ? -errno : -EIO;

			free(*data);
			return err_set(err, "cannot read '%s': %s", path,
				       n < 0 ? strerror(-err) : "file shrank while reading");
		}
		done += (size_t)n;
	}
	*len = done;
	return 0;
}

int cpio_add_host_file(struct cpio *c, const char *name, unsigned mode, const char *host_path)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int fd, ret;

	fd = open(host_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(-errno, "cannot open '%s': %s", host_path, strerror(errno));
	ret = read_whole(fd, host_path, &data, &len);
	close(fd);
	if (ret < 0)
		return ret;
	ret = cpio_add_file(c, name, mode, data, len);
	free(data);
	return ret;
}

int cpio_finish(struct cpio *c)
{
	if (c->finished)
		return err_set(-EINVAL, "cpio: the archive is already finished");
	if (reserve(c, pad4(NEWC_HEADER + sizeof(TRAILER))) < 0)
		return err_set(-ENOMEM, "cpio: out of memory ending the archive");
	put_entry(c, TRAILER, 0, 0, 1, NULL, 0);
	c->finished = true;
	return 0;
}
