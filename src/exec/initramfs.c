#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hopvm/cpio.h"
#include "hopvm/error.h"
#include "hopvm/exec.h"
#include "hopvm/exec_abi.h"
#include "hopvm/exec_config.h"
#include "hopvm/kmod.h"

int exec_find_modules(struct exec_plan *plan, const char *kernel_path, const char *modules_opt)
{
	int ret = kmod_find_dir(plan->kernel_version, modules_opt, kernel_path,
				plan->modules_path, sizeof(plan->modules_path));

	plan->modules_dir = NULL;
	if (ret == -ENOENT && modules_opt == NULL)
		return 0;
	if (ret < 0)
		return ret;
	plan->modules_dir = plan->modules_path;
	return 0;
}

static int add_list(struct exec_config *cfg, const char *key, const char *const *values)
{
	for (; *values != NULL; values++) {
		int ret = exec_config_add(cfg, key, *values);

		if (ret < 0)
			return ret;
	}
	return 0;
}

/* The records, in exec_abi.h's order (module= records come with the modules). */
static int add_records(const struct exec_plan *plan, struct exec_config *cfg)
{
	char text[64 + 12 * 64];
	size_t used = 0;
	int ret;

	ret = exec_config_add(cfg, "root", EXEC_ROOT_TAG);
	if (ret == 0)
		ret = add_list(cfg, "tmpfs", plan->tmpfs);
	if (ret == 0)
		ret = add_list(cfg, "overlay", plan->overlays);
	for (unsigned i = 0; ret == 0 && i < plan->nr_rwdirs; i++) {
		char share[4200];

		snprintf(share, sizeof(share), EXEC_RWDIR_TAG "%u:%s", i, plan->rwdirs[i]);
		ret = exec_config_add(cfg, "share", share);
	}
	snprintf(text, sizeof(text), "%u", plan->uid);
	if (ret == 0)
		ret = exec_config_add(cfg, "uid", text);
	snprintf(text, sizeof(text), "%u", plan->gid);
	if (ret == 0)
		ret = exec_config_add(cfg, "gid", text);
	text[0] = '\0';
	for (unsigned i = 0; i < plan->nr_groups && i < 64; i++)
		used += (size_t)snprintf(text + used, sizeof(text) - used, "%s%u", i ? "," : "",
					 plan->groups[i]);
	if (ret == 0)
		ret = exec_config_add(cfg, "groups", text);
	if (ret == 0)
		ret = exec_config_add(cfg, "cwd", plan->cwd);
	if (ret == 0)
		ret = add_list(cfg, "env", (const char *const *)plan->env);
	if (ret == 0)
		ret = add_list(cfg, "arg", (const char *const *)plan->argv);
	return ret;
}

int exec_initramfs_build(const struct exec_plan *plan, struct boot_image *out)
{
	struct exec_config cfg;
	struct kmod_list mods = { NULL, 0 };
	struct cpio archive;
	size_t nr_wanted = 0;
	int ret;

	cpio_init(&archive);
	exec_config_init(&cfg);
	while (plan->modules[nr_wanted] != NULL)
		nr_wanted++;
	ret = cpio_add_file(&archive, "/init", 0755, exec_init_image,
			    (size_t)(exec_init_image_end - exec_init_image));
	if (ret == 0)
		ret = cpio_add_dir(&archive, "/hopvm", 0755);
	if (ret == 0)
		ret = cpio_add_dir(&archive, EXEC_MODULES_DIR, 0755);
	if (ret == 0 && plan->modules_dir != NULL) {
		ret = kmod_resolve(plan->modules_dir, plan->modules, nr_wanted, &mods);
		if (ret == 0)
			ret = kmod_add_to_initramfs(&mods, &archive, &cfg);
	}
	if (ret == 0)
		ret = add_records(plan, &cfg);
	if (ret == 0)
		ret = cpio_add_file(&archive, EXEC_CONFIG_PATH, 0644, cfg.data, cfg.size);
	if (ret == 0)
		ret = cpio_finish(&archive);
	if (ret == 0) {
		/* The archive's bytes become the initrd's; the writer forgets them. */
		out->data = archive.data;
		out->size = archive.size;
		archive.data = NULL;
		archive.size = 0;
	}
	kmod_list_free(&mods);
	exec_config_free(&cfg);
	cpio_free(&archive);
	return ret;
}
