/* --fw-cfg's value, parsed as QEMU parses -fw_cfg's: KEY=VALUE pairs split at commas, a
 * doubled comma standing for one inside a value. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hopvm/error.h"
#include "hopvm/fw_cfg.h"

/* The next pair of text at *p: its key (NULL for a bare word) and its value, unescaped into
 * a new string. */
static int next_pair(const char **p, size_t *key_len, const char **key, char **value)
{
	const char *s = *p, *eq = s;
	size_t n = 0;
	char *v;

	while (*eq != '\0' && *eq != '=' && *eq != ',')
		eq++;
	*key = *eq == '=' ? s : NULL;
	*key_len = (size_t)(eq - s);
	if (*key != NULL)	/* else the value starts where the word does */
		s = eq + 1;
	v = malloc(strlen(s) + 1);
	if (v == NULL)
		return err_set(-ENOMEM, "--fw-cfg: out of memory");
	for (; *s != '\0'; s++) {
		if (*s == ',' && s[1] != ',')
			break;
		v[n++] = *s;
		if (*s == ',')
			s++;
	}
	v[n] = '\0';
	*value = v;
	*p = *s == ',' ? s + 1 : s;
	return 0;
}

static int parse_pairs(const char *text, char **name, char **file, char **string)
{
	const char *p = text;
	bool first = true;

	while (*p != '\0') {
		const char *key;
		size_t key_len;
		char *value = NULL, **slot;
		int ret = next_pair(&p, &key_len, &key, &value);

		if (ret < 0)
			return ret;
		if (key == NULL && first)	/* QEMU's implied "name=" */
			slot = name;
		else if (key == NULL) {
			ret = err_set(-EINVAL, "--fw-cfg: '%s' is not KEY=VALUE (in '%s')", value,
				      text);
			free(value);
			return ret;
		} else if (key_len == 4 && strncmp(key, "name", 4) == 0)
			slot = name;
		else if (key_len == 4 && strncmp(key, "file", 4) == 0)
			slot = file;
		else if (key_len == 6 && strncmp(key, "string", 6) == 0)
			slot = string;
		else {
			free(value);
			return err_set(-EINVAL, "--fw-cfg: '%.*s' is not name, file or string (in "
				       "'%s')", (int)key_len, key, text);
		}
		if (*slot != NULL) {
			free(value);
			return err_set(-EINVAL, "--fw-cfg: %s given twice in '%s'",
				       slot == name ? "name" : slot == file ? "file" : "string",
				       text);
		}
		*slot = value;
		first = false;
	}
	return 0;
}

static int check_pairs(const char *text, const char *name, const char *file, const char *string)
{
	if (name == NULL || name[0] == '\0')
		return err_set(-EINVAL, "--fw-cfg: '%s' gives no name= (e.g. "
			       "name=opt/example/x,string=hello)", text);
	if (strlen(name) > FW_CFG_MAX_NAME)
		return err_set(-EINVAL, "--fw-cfg: the name '%s' is %zu bytes long; at most %d",
			       name, strlen(name), FW_CFG_MAX_NAME);
	if ((file == NULL) == (string == NULL))
		return err_set(-EINVAL, "--fw-cfg: '%s' needs exactly one of file= and string=",
			       text);
	if ((file != NULL && file[0] == '\0') || (string != NULL && string[0] == '\0'))
		return err_set(-EINVAL, "--fw-cfg: %s %s= is empty", name,
			       file != NULL ? "file" : "string");
	if (fw_cfg_is_builtin_file(name))
		return err_set(-EINVAL, "--fw-cfg: %s is a file hopvm's fw_cfg makes itself",
			       name);
	return 0;
}

int fw_cfg_user_file_parse(struct fw_cfg_user_file *files, unsigned *nr, const char *text)
{
	struct fw_cfg_user_file *f = &files[*nr];
	char *name = NULL, *file = NULL, *string = NULL;
	int ret;

	if (*nr == FW_CFG_MAX_USER_FILES)
		return err_set(-EINVAL, "--fw-cfg: no more than %d of them", FW_CFG_MAX_USER_FILES);
	ret = parse_pairs(text, &name, &file, &string);
	if (ret == 0)
		ret = check_pairs(text, name, file, string);
	for (unsigned i = 0; ret == 0 && i < *nr; i++)
		if (strcmp(files[i].name, name) == 0)
			ret = err_set(-EINVAL, "--fw-cfg: %s is given twice", name);
	if (ret < 0) {
		free(name);
		free(file);
		free(string);
		return ret;
	}
	memset(f, 0, sizeof(*f));
	memcpy(f->name, name, strlen(name) + 1);
	f->unusual_name = strncmp(name, "opt/", 4) != 0;
	f->path = file;
	if (string != NULL) {
		f->data = (uint8_t *)string;
		f->size = strlen(string);
	}
	free(name);
	(*nr)++;
	return 0;
}

int fw_cfg_user_file_load(struct fw_cfg_user_file *f)
{
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd, ret = 0;

	if (f->path == NULL || f->data != NULL)
		return 0;
	fd = open(f->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(-errno, "--fw-cfg %s: %s: %s", f->name, f->path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		ret = err_set(-EINVAL, "--fw-cfg %s: %s: not a regular file", f->name, f->path);
		goto out;
	}
	if ((uint64_t)st.st_size > FW_CFG_MAX_USER_FILE_SIZE) {
		ret = err_set(-EFBIG, "--fw-cfg %s: %s is %llu bytes; at most %u (16 MiB)",
			      f->name, f->path, (unsigned long long)st.st_size,
			      FW_CFG_MAX_USER_FILE_SIZE);
		goto out;
	}
	f->data = malloc((size_t)st.st_size + 1);
	if (f->data == NULL) {
		ret = err_set(-ENOMEM, "--fw-cfg %s: out of memory for %s", f->name, f->path);
		goto out;
	}
	/* Up to the size fstat saw: a file growing meanwhile cannot pass the limit. */
	while (got < (size_t)st.st_size &&
	       (n = read(fd, f->data + got, (size_t)st.st_size - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = err_set(-errno, "--fw-cfg %s: %s: %s", f->name, f->path,
				      strerror(errno));
			free(f->data);
			f->data = NULL;
			goto out;
		}
		got += (size_t)n;
	}
	f->size = got;
out:
	close(fd);
	return ret;
}

void fw_cfg_user_file_free(struct fw_cfg_user_file *f)
{
	free(f->path);
	free(f->data);
	f->path = NULL;
	f->data = NULL;
}
