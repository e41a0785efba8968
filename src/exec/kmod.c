/* Which module files the guest loads, and in what order, from depmod's modules.dep.
 *
 * A modules.dep line is "kernel/fs/fuse/virtiofs.ko: kernel/drivers/virtio/virtio.ko ...":
 * the module, then every module it needs, directly or not, with paths relative to the
 * modules directory.  The list holds the dependencies of dependencies but in no order one can
 * load from, so the load order comes from a depth-first walk: each module after what it
 * needs. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hopvm/cpio.h"
#include "hopvm/error.h"
#include "hopvm/exec_abi.h"
#include "hopvm/exec_config.h"
#include "hopvm/kmod.h"

enum visit { UNSEEN, VISITING, DONE };

struct dep_entry {
	char *path;		/* the line itself, cut at the ':' */
	char *deps;		/* the paths it needs, NUL-separated (empty ones skipped) ... */
	char *deps_end;		/* ... up to here */
	enum visit state;
};

struct dep_table {
	const char *dir;
	struct dep_entry *entries;
	size_t count;
};

static void table_free(struct dep_table *t)
{
	for (size_t i = 0; i < t->count; i++)
		free(t->entries[i].path);
	free(t->entries);
}

static int read_dep(const char *dir, struct dep_table *t)
{
	char path[PATH_MAX + 16], *line = NULL;
	size_t cap = 0, lineno = 0, room = 0;
	ssize_t n;
	FILE *f;
	int ret = 0;

	memset(t, 0, sizeof(*t));
	t->dir = dir;
	snprintf(path, sizeof(path), "%s/modules.dep", dir);
	f = fopen(path, "re");
	if (f == NULL)
		return err_set(-errno, "cannot open '%s': %s", path, strerror(errno));
	while ((n = getline(&line, &cap, f)) > 0) {
		struct dep_entry *e;
		char *colon;

		lineno++;
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		if (n == 0)
			continue;
		colon = strchr(line, ':');
		if (colon == NULL) {
			ret = err_set(-EINVAL, "%s:%zu: no ':' after the module's path", path,
				      lineno);
			break;
		}
		if (t->count == room) {
			room = room ? room * 2 : 1024;
			e = realloc(t->entries, room * sizeof(*e));
			if (e == NULL) {
				ret = err_set(-ENOMEM, "out of memory reading '%s'", path);
				break;
			}
			t->entries = e;
		}
		e = &t->entries[t->count++];
		*colon = '\0';
		for (char *p = colon + 1; *p != '\0'; p++)
			if (*p == ' ' || *p == '\t')
				*p = '\0';
		e->path = line;
		e->deps = colon + 1;
		e->deps_end = line + n;
		e->state = UNSEEN;
		/* The entry keeps the line; getline allocates the next. */
		line = NULL;
		cap = 0;
	}
	free(line);
	if (ret == 0 && ferror(f))
		ret = err_set(-EIO, "cannot read '%s'", path);
	fclose(f);
	if (ret < 0)
		table_free(t);
	return ret;
}

/* Whether the module at path is the one called name, '-' and '_' alike, as the kernel
 * compares them ("kernel/drivers/char/hw_random/virtio-rng.ko" is virtio_rng). */
static bool is_module(const char *path, const char *name)
{
	const char *base = strrchr(path, '/');
	size_t i;

	base = base != NULL ? base + 1 : path;
	for (i = 0; name[i] != '\0'; i++) {
		char a = base[i] == '-' ? '_' : base[i], b = name[i] == '-' ? '_' : name[i];

		if (a != b)
			return false;
	}
	return strncmp(base + i, ".ko", 3) == 0 && (base[i + 3] == '\0' || base[i + 3] == '.');
}

static bool is_builtin(const char *dir, const char *name)
{
	char path[PATH_MAX + 16], *line = NULL;
	size_t cap = 0;
	ssize_t n;
	bool found = false;
	FILE *f;

	/* Without the file, nothing is known to be built in: the caller says what is missing. */
	snprintf(path, sizeof(path), "%s/modules.builtin", dir);
	f = fopen(path, "re");
	if (f == NULL)
		return false;
	while (!found && (n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] == '\n')
			line[n - 1] = '\0';
		found = is_module(line, name);
	}
	free(line);
	fclose(f);
	return found;
}

static int list_add(struct kmod_list *list, const char *dir, const struct dep_entry *e)
{
	const char *base = strrchr(e->path, '/');
	struct kmod_file *files, *f;
	size_t len = strlen(e->path);

	base = base != NULL ? base + 1 : e->path;
	if (len < 3 || strcmp(e->path + len - 3, ".ko") != 0)
		return err_set(-ENOTSUP, "module %s in %s is compressed or not a .ko file; the "
			       "guest's init loads plain .ko files only (decompress them, or "
			       "build the kernel with CONFIG_MODULE_COMPRESS_NONE)", e->path, dir);
	files = realloc(list->files, (list->count + 1) * sizeof(*files));
	if (files == NULL)
		return err_set(-ENOMEM, "out of memory listing modules");
	list->files = files;
	f = &files[list->count];
	f->name = strdup(base);
	/* Old depmods wrote absolute paths. */
	if (e->path[0] == '/')
		f->path = strdup(e->path);
	else if (asprintf(&f->path, "%s/%s", dir, e->path) < 0)
		f->path = NULL;
	if (f->name == NULL || f->path == NULL) {
		free(f->name);
		free(f->path);
		return err_set(-ENOMEM, "out of memory listing modules");
	}
	list->count++;
	return 0;
}

/* Adds e after everything it needs.  modules.dep names the deps in the order modprobe loads
 * them backwards, so walking them backwards loads in modprobe's order. */
static int visit(struct dep_table *t, struct dep_entry *e, struct kmod_list *list)
{
	int ret;

	if (e->state == DONE)
		return 0;
	if (e->state == VISITING)
		return err_set(-ELOOP, "%s/modules.dep: %s needs itself through its dependencies",
			       t->dir, e->path);
	e->state = VISITING;
	for (char *p = e->deps_end; p > e->deps;) {
		struct dep_entry *d = NULL;

		/* Back to the start of the previous dependency. */
		while (p > e->deps && p[-1] == '\0')
			p--;
		if (p == e->deps)
			break;
		while (p > e->deps && p[-1] != '\0')
			p--;
		for (size_t i = 0; i < t->count && d == NULL; i++)
			if (strcmp(t->entries[i].path, p) == 0)
				d = &t->entries[i];
		if (d == NULL)
			return err_set(-ENOENT, "%s/modules.dep: %s needs %s, which has no line of "
				       "its own", t->dir, e->path, p);
		ret = visit(t, d, list);
		if (ret < 0)
			return ret;
	}
	e->state = DONE;
	return list_add(list, t->dir, e);
}

int kmod_resolve(const char *dir, const char *const *wanted, size_t nr_wanted,
		 struct kmod_list *list)
{
	struct dep_table t;
	int ret;

	memset(list, 0, sizeof(*list));
	ret = read_dep(dir, &t);
	if (ret < 0)
		return ret;
	for (size_t w = 0; w < nr_wanted && ret == 0; w++) {
		struct dep_entry *e = NULL;

		for (size_t i = 0; i < t.count && e == NULL; i++)
			if (is_module(t.entries[i].path, wanted[w]))
				e = &t.entries[i];
		if (e != NULL)
			ret = visit(&t, e, list);
		else if (!is_builtin(dir, wanted[w]))
			ret = err_set(-ENOENT, "kernel module %s is neither in %s/modules.dep nor "
				      "built in (%s/modules.builtin)", wanted[w], dir, dir);
	}
	table_free(&t);
	if (ret < 0)
		kmod_list_free(list);
	return ret;
}

void kmod_list_free(struct kmod_list *list)
{
	for (size_t i = 0; i < list->count; i++) {
		free(list->files[i].name);
		free(list->files[i].path);
	}
	free(list->files);
	memset(list, 0, sizeof(*list));
}

int kmod_add_to_initramfs(const struct kmod_list *list, struct cpio *archive,
			  struct exec_config *cfg)
{
	char name[PATH_MAX];
	int ret;

	for (size_t i = 0; i < list->count; i++) {
		const struct kmod_file *f = &list->files[i];

		if ((size_t)snprintf(name, sizeof(name), "%s/%s", EXEC_MODULES_DIR, f->name) >=
		    sizeof(name))
			return err_set(-ENAMETOOLONG, "module file name %s is too long", f->name);
		ret = cpio_add_host_file(archive, name, 0644, f->path);
		if (ret == 0)
			ret = exec_config_add(cfg, "module", f->name);
		if (ret < 0)
			return ret;
	}
	return 0;
}
