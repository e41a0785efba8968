/* The records of /hopvm/exec (exec_abi.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hopvm/error.h"
#include "hopvm/exec_config.h"

void exec_config_init(struct exec_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
}

void exec_config_free(struct exec_config *cfg)
{
	free(cfg->data);
	exec_config_init(cfg);
}

int exec_config_add_mem(struct exec_config *cfg, const char *key, const char *value, size_t len)
{
	size_t key_len = strlen(key), need, cap;

	if (key_len == 0 || strspn(key, "abcdefghijklmnopqrstuvwxyz") != key_len)
		return err_set(-EINVAL, "exec config: key '%s' is not lower-case letters", key);
	if (memchr(value, '\0', len) != NULL)
		return err_set(-EINVAL, "exec config: the value of %s= holds a NUL byte, which "
			       "would end its record", key);
	if (len > SIZE_MAX / 4 || cfg->size > SIZE_MAX / 4)
		return err_set(-ENOMEM, "exec config: the value of %s= is too long", key);
	need = cfg->size + key_len + 1 + len + 1;
	if (need > cfg->cap) {
		char *data;

		for (cap = cfg->cap ? cfg->cap : 256; cap < need; cap *= 2)
			;
		data = realloc(cfg->data, cap);
		if (data == NULL)
			return err_set(-ENOMEM, "exec config: out of memory adding %s=", key);
		cfg->data = data;
		cfg->cap = cap;
	}
	memcpy(cfg->data + cfg->size, key, key_len);
	cfg->data[cfg->size + key_len] = '=';
	memcpy(cfg->data + cfg->size + key_len + 1, value, len);
	cfg->data[need - 1] = '\0';
	cfg->size = need;
	return 0;
}

int exec_config_add(struct exec_config *cfg, const char *key, const char *value)
{
	return exec_config_add_mem(cfg, key, value, strlen(value));
}
