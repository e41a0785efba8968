/* --cpu's parser and the model it makes, over a made-up KVM_GET_SUPPORTED_CPUID: a host with
 * SSE4.2, AVX2 and x2APIC but no AVX-512, whose KVM may or may not have TSC-deadline. */
#include <errno.h>
#include <stdlib.h>

#include "hopvm/cpu_model.h"
#include "hopvm/error.h"
#include "unit.h"

#define SSE4_2 (1U << 20)
#define X2APIC (1U << 21)
#define AVX (1U << 28)
#define AVX2 (1U << 5)
#define HYPERVISOR (1U << 31)
#define NR_ENTRIES 5

static struct kvm_cpuid2 *made_up_supported(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + NR_ENTRIES * sizeof(c->entries[0]));
	const struct kvm_cpuid_entry2 entries[NR_ENTRIES] = {
		{ .function = 0, .eax = 0xd },
		/* fpu, tsc, apic, sse, sse2; pni, ssse3, sse4_1, sse4_2, x2apic, popcnt, avx;
		 * the calling CPU's APIC ID 3 in EBX */
		{ .function = 1, .ebx = 3U << 24, .edx = 0x06000211,
		  .ecx = 0x1 | 0x200 | 0x80000 | SSE4_2 | X2APIC | 0x800000 | AVX },
		/* fsgsbase, avx2, smep, erms, smap; umip */
		{ .function = 7, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
		  .ebx = 0x1 | AVX2 | 0x80 | 0x200 | 0x100000, .ecx = 0x4 },
		{ .function = 7, .index = 1, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX },
		/* lahf_lm; syscall, nx, pdpe1gb, rdtscp, lm */
		{ .function = 0x80000001, .ecx = 0x1,
		  .edx = (1U << 11) | (1U << 20) | (1U << 26) | (1U << 27) | (1U << 29) },
	};

	assert_non_null(c);
	c->nent = NR_ENTRIES;
	memcpy(c->entries, entries, sizeof(entries));
	return c;
}

/* The model spec makes on the made-up host, or NULL with err_msg() set. */
static struct kvm_cpuid2 *model_for(const char *text, bool tsc_deadline, struct kvm_cpuid2 **avail)
{
	struct cpu_model_spec spec;
	struct kvm_cpuid2 *model;
	char dropped[256];

	*avail = made_up_supported();
	cpu_model_available(*avail, tsc_deadline);
	assert_int_equal(cpu_model_parse(text, &spec), 0);
	model = cpu_model_copy(*avail);
	assert_non_null(model);
	if (cpu_model_apply(model, *avail, &spec, dropped, sizeof(dropped)) < 0) {
		free(model);
		return NULL;
	}
	return model;
}

static void test_names_and_spellings(void **state)
{
	(void)state;
	assert_string_equal(cpu_feature_find("sse4_2")->name, "sse4_2");
	assert_string_equal(cpu_feature_find("sse4.2")->name, "sse4_2");
	assert_string_equal(cpu_feature_find("SSE4-2")->name, "sse4_2");
	assert_string_equal(cpu_feature_find("tsc-deadline")->name, "tsc_deadline_timer");
	assert_string_equal(cpu_feature_find("tsc_deadline_timer")->name, "tsc_deadline_timer");
	assert_string_equal(cpu_feature_find("sse3")->name, "pni");
	assert_string_equal(cpu_feature_find("sha-ni")->name, "sha_ni");
	assert_null(cpu_feature_find("foo"));
	assert_null(cpu_feature_find(""));
	/* Every name once, and each bit named at most once. */
	for (unsigned i = 0; i < cpu_nr_features; i++) {
		const struct cpu_feature *a = &cpu_features[i];

		assert_ptr_equal(cpu_feature_find(a->name), a);
		assert_true(a->bit < 32 && a->reg <= CPU_EDX);
		for (unsigned j = 0; j < i; j++) {
			const struct cpu_feature *b = &cpu_features[j];

			assert_false(a->function == b->function && a->index == b->index &&
				     a->reg == b->reg && a->bit == b->bit);
		}
	}
}

static void test_parse(void **state)
{
	struct cpu_model_spec spec;

	(void)state;
	assert_int_equal(cpu_model_parse("host", &spec), 0);
	assert_int_equal(spec.base, CPU_BASE_HOST);
	assert_int_equal(spec.nr_edits, 0);
	assert_int_equal(cpu_model_parse("max,+x2apic,-pdpe1gb,avx=off,sse4.2=on,rdrand", &spec), 0);
	assert_int_equal(spec.base, CPU_BASE_MAX);
	assert_int_equal(spec.nr_edits, 5);
	assert_string_equal(spec.edits[0].feature->name, "x2apic");
	assert_true(spec.edits[0].add);
	assert_string_equal(spec.edits[1].feature->name, "pdpe1gb");
	assert_false(spec.edits[1].add);
	assert_false(spec.edits[2].add);
	assert_true(spec.edits[3].add);
	assert_true(spec.edits[4].add);	/* QEMU's old bare name adds */
	assert_int_equal(cpu_model_parse("-avx", &spec), 0);
	assert_int_equal(spec.base, CPU_BASE_DEFAULT);
	assert_int_equal(spec.nr_edits, 1);
	assert_int_equal(cpu_model_parse("default", &spec), 0);

	assert_int_equal(cpu_model_parse("host,+foo", &spec), -EINVAL);
	assert_err_mentions("unknown CPU feature 'foo' (hopvm info lists");
	assert_int_equal(cpu_model_parse("pentium", &spec), -EINVAL);
	assert_err_mentions("unknown CPU model 'pentium' (host, max, default; qemu64 and kvm64 "
			    "are default)");
	assert_int_equal(cpu_model_parse("host,,+avx", &spec), -EINVAL);
	assert_err_mentions("empty part");
	assert_int_equal(cpu_model_parse("", &spec), -EINVAL);
	assert_int_equal(cpu_model_parse("host,+", &spec), -EINVAL);
	assert_err_mentions("'+' names no CPU feature");
	assert_int_equal(cpu_model_parse("host,avx=maybe", &spec), -EINVAL);
	assert_err_mentions("'avx=maybe': a feature is =on or =off");
	assert_int_equal(cpu_model_parse("host,-avx,x2apic,-foo-bar", &spec), -EINVAL);
	assert_err_mentions("'foo-bar'");
}

static void test_too_many_edits(void **state)
{
	struct cpu_model_spec spec;
	char text[1024] = "host";

	(void)state;
	for (int i = 0; i <= CPU_MODEL_MAX_EDITS; i++)
		strcat(text, ",-avx");
	assert_int_equal(cpu_model_parse(text, &spec), -EINVAL);
	assert_err_mentions("more than 64 feature edits");
}

static void test_host_adds_tsc_deadline_and_hypervisor(void **state)
{
	struct kvm_cpuid2 *avail, *model = model_for("host", true, &avail);
	const struct kvm_cpuid_entry2 *leaf1 = cpu_model_entry(model, 1, 0);

	(void)state;
	assert_non_null(leaf1);
	assert_true(leaf1->ecx & CPU_1_ECX_TSC_DEADLINE);
	assert_true(leaf1->ecx & HYPERVISOR);
	assert_int_equal(leaf1->ebx >> 24, 0);	/* not the calling CPU's APIC ID */
	assert_memory_equal(model->entries, avail->entries, NR_ENTRIES * sizeof(avail->entries[0]));
	free(model);
	free(avail);

	/* Without the capability there is no TSC-deadline, and asking for it is refused. */
	model = model_for("host", false, &avail);
	assert_false(cpu_model_entry(model, 1, 0)->ecx & CPU_1_ECX_TSC_DEADLINE);
	free(model);
	free(avail);
	assert_null(model_for("host,+tsc-deadline,enforce", false, &avail));
	assert_err_mentions("this host's KVM cannot give the guest 'tsc_deadline_timer'");
	free(avail);
}

static void test_edits(void **state)
{
	struct kvm_cpuid2 *avail, *model = model_for("host,-sse4.2,-avx2,+x2apic,-hypervisor",
						     true, &avail);

	(void)state;
	assert_non_null(model);
	assert_false(cpu_model_entry(model, 1, 0)->ecx & SSE4_2);
	assert_false(cpu_model_entry(model, 1, 0)->ecx & HYPERVISOR);
	assert_true(cpu_model_entry(model, 1, 0)->ecx & X2APIC);
	assert_true(cpu_model_entry(model, 1, 0)->ecx & AVX);
	assert_false(cpu_model_entry(model, 7, 0)->ebx & AVX2);
	assert_true(cpu_model_entry(model, 7, 0)->ebx & 0x1);	/* fsgsbase kept */
	free(model);
	free(avail);

	/* Later edits win; removing what the host lacks is no error. */
	model = model_for("-avx,+avx,-avx512f,-la57", true, &avail);
	assert_non_null(model);
	assert_true(cpu_model_entry(model, 1, 0)->ecx & AVX);
	free(model);
	free(avail);

	assert_null(model_for("host,+avx512f,enforce", true, &avail));
	assert_err_mentions("this host's KVM cannot give the guest 'avx512f' (,enforce)");
	free(avail);
	/* A leaf the host does not have at all (0xd.1). */
	assert_null(model_for("host,enforce,+xsaveopt", true, &avail));
	assert_err_mentions("'xsaveopt'");
	free(avail);
}

/* Without enforce, as QEMU: what the host cannot give is left out and named for a warning;
 * the rest of the model is as asked.  "check" is QEMU's word for that default. */
static void test_lenient(void **state)
{
	struct cpu_model_spec spec;
	struct kvm_cpuid2 *avail = made_up_supported(), *model;
	char dropped[256];

	(void)state;
	cpu_model_available(avail, false);
	model = cpu_model_copy(avail);
	assert_int_equal(cpu_model_parse("host,+avx512f,-avx2,+xsaveopt,+x2apic,check", &spec), 0);
	assert_false(spec.enforce);
	assert_int_equal(cpu_model_apply(model, avail, &spec, dropped, sizeof(dropped)), 0);
	assert_string_equal(dropped, "avx512f, xsaveopt");
	assert_false(cpu_model_entry(model, 7, 0)->ebx & AVX2);
	assert_true(cpu_model_entry(model, 1, 0)->ecx & X2APIC);
	assert_false(cpu_model_entry(model, 7, 0)->ebx & (1U << 16));	/* no avx512f */
	memcpy(model, avail, sizeof(*avail) + avail->nent * sizeof(avail->entries[0]));
	assert_int_equal(cpu_model_parse("max,-avx", &spec), 0);
	assert_int_equal(cpu_model_apply(model, avail, &spec, dropped, sizeof(dropped)), 0);
	assert_string_equal(dropped, "");
	assert_int_equal(cpu_model_parse("enforce", &spec), -EINVAL);	/* no model name */
	assert_int_equal(cpu_model_parse("qemu64,+pcid,+invpcid", &spec), 0);
	assert_int_equal(spec.base, CPU_BASE_DEFAULT);
	assert_int_equal(cpu_model_parse("kvm64", &spec), 0);
	free(model);
	free(avail);
}

static void test_missing_names_every_bit(void **state)
{
	struct kvm_cpuid2 *avail, *model = model_for("host", true, &avail);
	struct kvm_cpuid2 *poorer = made_up_supported();
	char names[256];

	(void)state;
	cpu_model_available(poorer, false);
	assert_int_equal(cpu_model_missing(model, avail, names, sizeof(names)), 0);
	assert_string_equal(names, "");
	cpu_model_entry(poorer, 1, 0)->ecx &= ~SSE4_2;
	cpu_model_entry(poorer, 7, 0)->ebx &= ~AVX2;
	cpu_model_entry(model, 7, 0)->ebx |= 1U << 13;	/* a bit the table does not name */
	assert_int_equal(cpu_model_missing(model, poorer, names, sizeof(names)), 4);
	assert_string_equal(names, "sse4_2, tsc_deadline_timer, avx2, CPUID 0x7.0 EBX bit 13");
	/* The other way round nothing is missing: a poorer model moves anywhere. */
	assert_int_equal(cpu_model_missing(poorer, model, names, sizeof(names)), 0);
	free(poorer);
	free(model);
	free(avail);
}

static void test_list(void **state)
{
	struct kvm_cpuid2 *avail, *model = model_for("host,-sse4_2", false, &avail);
	char buf[2048];

	(void)state;
	assert_int_equal(cpu_model_list(model, true, buf, sizeof(buf)), 24);
	assert_non_null(strstr(buf, "fpu tsc apic sse sse2 pni ssse3 sse4_1 x2apic popcnt avx "
			    "hypervisor fsgsbase avx2 smep erms smap umip lahf_lm syscall nx "
			    "pdpe1gb rdtscp lm"));
	assert_non_null(strstr(buf, "x2apic"));
	cpu_model_list(model, false, buf, sizeof(buf));
	assert_non_null(strstr(buf, "sse4_2 "));
	assert_non_null(strstr(buf, "tsc_deadline_timer"));
	assert_non_null(strstr(buf, "avx512f"));
	assert_null(strstr(buf, " avx2"));
	/* A short buffer holds whole names only. */
	assert_int_equal(cpu_model_list(model, true, buf, 12), 2);
	assert_string_equal(buf, "fpu tsc");
	free(model);
	free(avail);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_and_spellings),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_too_many_edits),
		cmocka_unit_test(test_host_adds_tsc_deadline_and_hypervisor),
		cmocka_unit_test(test_edits),
		cmocka_unit_test(test_lenient),
		cmocka_unit_test(test_missing_names_every_bit),
		cmocka_unit_test(test_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
