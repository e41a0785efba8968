/* The kind of KVM, decided over made-up sysfs trees. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hopvm/kvm_host.h"
#include "unit.h"

static char root[64];

/* Makes root/path (and its folders); with a value, as a file holding it. */
static void make(const char *path, const char *value)
{
	char full[256];

	snprintf(full, sizeof(full), "%s/%s", root, path);
	for (char *slash = full + strlen(root) + 1; (slash = strchr(slash, '/')) != NULL; slash++) {
		*slash = '\0';
		mkdir(full, 0755);
		*slash = '/';
	}
	if (value == NULL) {
		mkdir(full, 0755);
		return;
	}
	FILE *f = fopen(full, "w");
	assert_non_null(f);
	fputs(value, f);
	fclose(f);
}

static int tree_new(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/hopvm-sysfs-XXXXXX");
	assert_non_null(mkdtemp(root));
	return 0;
}

static int tree_remove(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static enum kvm_host_kind detect(struct kvm_host *host)
{
	static const struct host_cpu bare = { false, "" };

	kvm_host_detect(root, &bare, host);
	return host->kind;
}

static void test_no_kvm(void **state)
{
	struct kvm_host host;

	(void)state;
	make("module/virtio", NULL);
	assert_int_equal(detect(&host), KVM_HOST_NONE);
	assert_string_equal(kvm_host_kind_name(host.kind), "none");
}

static void test_kvm_without_vendor(void **state)
{
	struct kvm_host host;

	(void)state;
	make("module/kvm/parameters/halt_poll_ns", "200000\n");
	assert_int_equal(detect(&host), KVM_HOST_UNKNOWN);
	assert_non_null(strstr(host.evidence, "no kvm_intel, kvm_amd or kvm_pvm"));
}

static void test_intel(void **state)
{
	struct kvm_host host;
	char text[512];

	(void)state;
	make("module/kvm", NULL);
	make("module/kvm_intel/parameters/ept", "Y\n");
	assert_int_equal(detect(&host), KVM_HOST_VMX_EPT);
	assert_string_equal(kvm_host_kind_name(host.kind), "vmx-ept");
	kvm_host_describe(&host, text, sizeof(text));
	assert_non_null(strstr(text, "Intel VT-x with nested paging: EPT"));
	assert_non_null(strstr(text, "kvm_intel/parameters/ept = Y"));
	assert_non_null(strstr(text, "not under a hypervisor"));
	make("module/kvm_intel/parameters/ept", "N\n");
	assert_int_equal(detect(&host), KVM_HOST_VMX_SHADOW);
	kvm_host_describe(&host, text, sizeof(text));
	assert_non_null(strstr(text, "Intel VT-x with shadow paging"));
}

static void test_amd(void **state)
{
	struct kvm_host host;

	(void)state;
	make("module/kvm_amd/parameters/npt", "1\n");
	assert_int_equal(detect(&host), KVM_HOST_SVM_NPT);
	assert_string_equal(kvm_host_kind_name(host.kind), "svm-npt");
	make("module/kvm_amd/parameters/npt", "0\n");
	assert_int_equal(detect(&host), KVM_HOST_SVM_SHADOW);
	assert_string_equal(kvm_host_kind_name(host.kind), "svm-shadow");
	assert_false(kvm_host_emulates_kernel_code(host.kind));
}

/* As on the PVM hosts measured: kvm and kvm_pvm, no kvm_intel or kvm_amd, under KVM. */
static void test_pvm_under_a_hypervisor(void **state)
{
	static const struct host_cpu cloud = { true, "KVMKVMKVM" };
	struct kvm_host host;
	char text[512];

	(void)state;
	make("module/kvm/parameters/tdp_mmu", "Y\n");
	make("module/kvm_pvm/parameters/pvm_native", "Y\n");
	kvm_host_detect(root, &cloud, &host);
	assert_int_equal(host.kind, KVM_HOST_PVM);
	assert_string_equal(kvm_host_kind_name(host.kind), "pvm");
	assert_true(kvm_host_emulates_kernel_code(host.kind));
	kvm_host_describe(&host, text, sizeof(text));
	assert_non_null(strstr(text, "PVM (no VT-x or AMD-V) with shadow paging"));
	assert_non_null(strstr(text, "KVM's instruction emulator"));
	assert_non_null(strstr(text, "under a hypervisor (KVMKVMKVM)"));
}

/* kvm_pvm decides even if a stale vendor folder is there too. */
static void test_pvm_first(void **state)
{
	struct kvm_host host;

	(void)state;
	make("module/kvm_pvm", NULL);
	make("module/kvm_amd/parameters/npt", "1\n");
	assert_int_equal(detect(&host), KVM_HOST_PVM);
}

static void test_unreadable_parameter(void **state)
{
	struct kvm_host host;

	(void)state;
	make("module/kvm_intel", NULL);
	assert_int_equal(detect(&host), KVM_HOST_VMX_SHADOW);
	assert_non_null(strstr(host.evidence, "(unreadable)"));
}

static void test_host_cpu_reads_cpuid(void **state)
{
	struct host_cpu cpu;

	(void)state;
	host_cpu_read(&cpu);
	if (!cpu.under_hypervisor)
		assert_string_equal(cpu.hypervisor, "");
	assert_true(strlen(cpu.hypervisor) <= 12);
}

#define TREE_TEST(f) cmocka_unit_test_setup_teardown(f, tree_new, tree_remove)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TREE_TEST(test_no_kvm),
		TREE_TEST(test_kvm_without_vendor),
		TREE_TEST(test_intel),
		TREE_TEST(test_amd),
		TREE_TEST(test_pvm_under_a_hypervisor),
		TREE_TEST(test_pvm_first),
		TREE_TEST(test_unreadable_parameter),
		cmocka_unit_test(test_host_cpu_reads_cpuid),
	};
	return cmocka_run_group_tests_name("kvm_host", tests, NULL, NULL);
}
