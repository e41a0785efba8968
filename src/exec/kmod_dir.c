/* Where a kernel's modules are (kmod.h says the order and why). */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hopvm/error.h"
#include "hopvm/kmod.h"

/* The places tried so far, for the message when none fits. */
struct tried {
	char text[400];
	size_t len;
};

static void note_tried(struct tried *t, const char *place)
{
	int n = snprintf(t->text + t->len, sizeof(t->text) - t->len, "%s%s",
			 t->len > 0 ? ", " : "", place);

	if (n > 0)
		t->len += (size_t)n < sizeof(t->text) - t->len ? (size_t)n
							     : sizeof(t->text) - 1 - t->len;
}

/* 1 if the directory a b c (the three joined) holds a modules.dep; its path is then in dir. */
static int try_place(struct tried *t, char *dir, size_t len, const char *a, const char *b,
		     const char *c)
{
	char cand[PATH_MAX], dep[PATH_MAX + 16];

	if ((size_t)snprintf(cand, sizeof(cand), "%s%s%s", a, b, c) >= sizeof(cand))
		return 0;
	note_tried(t, cand);
	snprintf(dep, sizeof(dep), "%s/modules.dep", cand);
	if (access(dep, R_OK) != 0)
		return 0;
	if (strlen(cand) >= len)
		return err_set(-ENAMETOOLONG, "the modules directory '%s' is longer than %zu "
			       "bytes", cand, len - 1);
	strcpy(dir, cand);
	return 1;
}

/* An image at P/boot/NAME, its symlinks resolved, has its package's modules in P/lib/modules. */
static int try_beside_image(struct tried *t, const char *image_path, const char *version,
			    char *dir, size_t len)
{
	char *real = realpath(image_path, NULL);
	char *slash;
	int ret = 0;

	if (real == NULL)
		return 0;
	slash = strrchr(real, '/');
	*slash = '\0';
	slash = strrchr(real, '/');
	/* P empty is the root, whose /lib/modules was tried already. */
	if (slash != NULL && strcmp(slash, "/boot") == 0 && slash != real) {
		*slash = '\0';
		ret = try_place(t, dir, len, real, "/lib/modules/", version);
	}
	free(real);
	return ret;
}

/* Whether path, its symlinks resolved, ends in a directory named version.  depmod writes
 * every modules.dep in lib/modules/VERSION, so a directory named otherwise holds another
 * kernel's modules, which would fail to load. */
static bool named_for(const char *path, const char *version)
{
	char *real = realpath(path, NULL);
	bool same = real != NULL && strcmp(strrchr(real, '/') + 1, version) == 0;

	free(real);
	return same;
}

int kmod_find_dir(const char *version, const char *modules_opt, const char *image_path,
		  char *dir, size_t len)
{
	struct tried t = { .len = 0 };
	int ret;

	/* The version comes from the image: it must not lead the path elsewhere. */
	if (version[0] == '\0' || strchr(version, '/') != NULL || strcmp(version, ".") == 0 ||
	    strcmp(version, "..") == 0)
		return err_set(-EINVAL, "'%s' is not a kernel release to find modules for",
			       version);
	t.text[0] = '\0';
	if (modules_opt != NULL) {
		ret = try_place(&t, dir, len, modules_opt, "/lib/modules/", version);
		if (ret == 0)
			ret = try_place(&t, dir, len, modules_opt, "/", version);
		if (ret == 0 && named_for(modules_opt, version))
			ret = try_place(&t, dir, len, modules_opt, "", "");
		else if (ret == 0)
			note_tried(&t, "not itself: it is not named for that release");
		if (ret == 0)
			return err_set(-ENOENT, "--modules %s: no modules.dep for kernel %s in %s",
				       modules_opt, version, t.text);
		return ret < 0 ? ret : 0;
	}
	ret = try_place(&t, dir, len, "/lib/modules/", version, "");
	if (ret == 0 && image_path != NULL)
		ret = try_beside_image(&t, image_path, version, dir, len);
	if (ret == 0)
		return err_set(-ENOENT, "no modules for kernel %s (no modules.dep in %s); give "
			       "their directory with --modules", version, t.text);
	return ret < 0 ? ret : 0;
}
