/* The named CPU features, --cpu's parser, and building and comparing models (cpu_model.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hopvm/cpu_model.h"
#include "hopvm/error.h"
#include "hopvm/x86.h"

#define F(n, fn, idx, r, b) { n, fn, idx, CPU_##r, b }

/* Bits from the Intel SDM's CPUID chapter and AMD's APM volume 3; names as Linux prints them. */
const struct cpu_feature cpu_features[] = {
	F("fpu", 1, 0, EDX, 0), F("vme", 1, 0, EDX, 1), F("de", 1, 0, EDX, 2),
	F("pse", 1, 0, EDX, 3), F("tsc", 1, 0, EDX, 4), F("msr", 1, 0, EDX, 5),
	F("pae", 1, 0, EDX, 6), F("mce", 1, 0, EDX, 7), F("cx8", 1, 0, EDX, 8),
	F("apic", 1, 0, EDX, 9), F("sep", 1, 0, EDX, 11), F("mtrr", 1, 0, EDX, 12),
	F("pge", 1, 0, EDX, 13), F("mca", 1, 0, EDX, 14), F("cmov", 1, 0, EDX, 15),
	F("pat", 1, 0, EDX, 16), F("pse36", 1, 0, EDX, 17), F("clflush", 1, 0, EDX, 19),
	F("mmx", 1, 0, EDX, 23), F("fxsr", 1, 0, EDX, 24), F("sse", 1, 0, EDX, 25),
	F("sse2", 1, 0, EDX, 26), F("ss", 1, 0, EDX, 27), F("ht", 1, 0, EDX, 28),

	F("pni", 1, 0, ECX, 0), F("pclmulqdq", 1, 0, ECX, 1), F("monitor", 1, 0, ECX, 3),
	F("vmx", 1, 0, ECX, 5), F("ssse3", 1, 0, ECX, 9), F("fma", 1, 0, ECX, 12),
	F("cx16", 1, 0, ECX, 13), F("pdcm", 1, 0, ECX, 15), F("pcid", 1, 0, ECX, 17),
	F("sse4_1", 1, 0, ECX, 19), F("sse4_2", 1, 0, ECX, 20), F("x2apic", 1, 0, ECX, 21),
	F("movbe", 1, 0, ECX, 22), F("popcnt", 1, 0, ECX, 23),
	F("tsc_deadline_timer", 1, 0, ECX, 24), F("aes", 1, 0, ECX, 25),
	F("xsave", 1, 0, ECX, 26), F("avx", 1, 0, ECX, 28), F("f16c", 1, 0, ECX, 29),
	F("rdrand", 1, 0, ECX, 30), F("hypervisor", 1, 0, ECX, 31),

	F("arat", 6, 0, EAX, 2),

	F("fsgsbase", 7, 0, EBX, 0), F("tsc_adjust", 7, 0, EBX, 1), F("bmi1", 7, 0, EBX, 3),
	F("hle", 7, 0, EBX, 4), F("avx2", 7, 0, EBX, 5), F("smep", 7, 0, EBX, 7),
	F("bmi2", 7, 0, EBX, 8), F("erms", 7, 0, EBX, 9), F("invpcid", 7, 0, EBX, 10),
	F("rtm", 7, 0, EBX, 11), F("mpx", 7, 0, EBX, 14), F("avx512f", 7, 0, EBX, 16),
	F("avx512dq", 7, 0, EBX, 17), F("rdseed", 7, 0, EBX, 18), F("adx", 7, 0, EBX, 19),
	F("smap", 7, 0, EBX, 20), F("avx512ifma", 7, 0, EBX, 21),
	F("clflushopt", 7, 0, EBX, 23), F("clwb", 7, 0, EBX, 24), F("avx512cd", 7, 0, EBX, 28),
	F("sha_ni", 7, 0, EBX, 29), F("avx512bw", 7, 0, EBX, 30), F("avx512vl", 7, 0, EBX, 31),

	F("avx512vbmi", 7, 0, ECX, 1), F("umip", 7, 0, ECX, 2), F("pku", 7, 0, ECX, 3),
	F("waitpkg", 7, 0, ECX, 5), F("avx512_vbmi2", 7, 0, ECX, 6), F("gfni", 7, 0, ECX, 8),
	F("vaes", 7, 0, ECX, 9), F("vpclmulqdq", 7, 0, ECX, 10),
	F("avx512_vnni", 7, 0, ECX, 11), F("avx512_bitalg", 7, 0, ECX, 12),
	F("avx512_vpopcntdq", 7, 0, ECX, 14), F("la57", 7, 0, ECX, 16),
	F("rdpid", 7, 0, ECX, 22), F("movdiri", 7, 0, ECX, 27), F("movdir64b", 7, 0, ECX, 28),

	F("fsrm", 7, 0, EDX, 4), F("md_clear", 7, 0, EDX, 10), F("serialize", 7, 0, EDX, 14),
	F("amx_bf16", 7, 0, EDX, 22), F("avx512_fp16", 7, 0, EDX, 23),
	F("amx_tile", 7, 0, EDX, 24), F("amx_int8", 7, 0, EDX, 25),
	F("flush_l1d", 7, 0, EDX, 28), F("arch_capabilities", 7, 0, EDX, 29),

	F("avx_vnni", 7, 1, EAX, 4), F("avx512_bf16", 7, 1, EAX, 5),

	F("xsaveopt", 0xd, 1, EAX, 0), F("xsavec", 0xd, 1, EAX, 1),
	F("xgetbv1", 0xd, 1, EAX, 2), F("xsaves", 0xd, 1, EAX, 3),

	F("lahf_lm", 0x80000001, 0, ECX, 0), F("cmp_legacy", 0x80000001, 0, ECX, 1),
	F("svm", 0x80000001, 0, ECX, 2), F("extapic", 0x80000001, 0, ECX, 3),
	F("cr8_legacy", 0x80000001, 0, ECX, 4), F("abm", 0x80000001, 0, ECX, 5),
	F("sse4a", 0x80000001, 0, ECX, 6), F("misalignsse", 0x80000001, 0, ECX, 7),
	F("3dnowprefetch", 0x80000001, 0, ECX, 8), F("xop", 0x80000001, 0, ECX, 11),
	F("fma4", 0x80000001, 0, ECX, 16), F("tbm", 0x80000001, 0, ECX, 21),
	F("topoext", 0x80000001, 0, ECX, 22),

	F("syscall", 0x80000001, 0, EDX, 11), F("nx", 0x80000001, 0, EDX, 20),
	F("mmxext", 0x80000001, 0, EDX, 22), F("fxsr_opt", 0x80000001, 0, EDX, 25),
	F("pdpe1gb", 0x80000001, 0, EDX, 26), F("rdtscp", 0x80000001, 0, EDX, 27),
	F("lm", 0x80000001, 0, EDX, 29),

	F("clzero", 0x80000008, 0, EBX, 0), F("wbnoinvd", 0x80000008, 0, EBX, 9),
};
const unsigned cpu_nr_features = sizeof(cpu_features) / sizeof(cpu_features[0]);

/* QEMU's spellings where they are not Linux's with '-' or '.' for '_'. */
static const struct {
	const char *alias, *name;
} cpu_aliases[] = {
	{ "tsc_deadline", "tsc_deadline_timer" }, { "sse3", "pni" },
	{ "pclmuldq", "pclmulqdq" }, { "i64", "lm" }, { "xd", "nx" }, { "ffxsr", "fxsr_opt" },
	{ "cr8legacy", "cr8_legacy" }, { "avx512vnni", "avx512_vnni" },
	{ "avx512vbmi2", "avx512_vbmi2" }, { "avx512bitalg", "avx512_bitalg" },
};

/* The leaves' registers that hold feature bits: those a migration destination must be able to
 * give.  Beyond the table's, the XSAVE components (0xd.0 EAX) and KVM's paravirtual features
 * (0x40000001 EAX: kvmclock, PV EOI, ...), which a guest uses as soon as it sees them. */
static const struct {
	uint32_t function, index;
	uint8_t reg;
} feature_regs[] = {
	{ 1, 0, CPU_ECX }, { 1, 0, CPU_EDX }, { 6, 0, CPU_EAX }, { 7, 0, CPU_EBX },
	{ 7, 0, CPU_ECX }, { 7, 0, CPU_EDX }, { 7, 1, CPU_EAX }, { 0xd, 0, CPU_EAX },
	{ 0xd, 1, CPU_EAX }, { 0x40000001, 0, CPU_EAX }, { 0x80000001, 0, CPU_ECX },
	{ 0x80000001, 0, CPU_EDX }, { 0x80000008, 0, CPU_EBX },
};

static const char *const reg_names[] = { "EAX", "EBX", "ECX", "EDX" };

/* Equal as feature names: case aside, and '-' or '.' standing for '_'. */
static bool name_equal(const char *a, const char *b)
{
	for (;; a++, b++) {
		int ca = *a == '-' || *a == '.' ? '_' : tolower((unsigned char)*a);
		int cb = *b == '-' || *b == '.' ? '_' : tolower((unsigned char)*b);

		if (ca != cb)
			return false;
		if (ca == '\0')
			return true;
	}
}

const struct cpu_feature *cpu_feature_find(const char *name)
{
	for (size_t i = 0; i < sizeof(cpu_aliases) / sizeof(cpu_aliases[0]); i++)
		if (name_equal(name, cpu_aliases[i].alias))
			name = cpu_aliases[i].name;
	for (unsigned i = 0; i < cpu_nr_features; i++)
		if (name_equal(name, cpu_features[i].name))
			return &cpu_features[i];
	return NULL;
}

const char *cpu_model_base_name(enum cpu_model_base base)
{
	switch (base) {
	case CPU_BASE_HOST:
		return "host";
	case CPU_BASE_MAX:
		return "max";
	default:
		return "default";
	}
}

static int parse_base(const char *item, struct cpu_model_spec *spec)
{
	static const enum cpu_model_base bases[] = { CPU_BASE_DEFAULT, CPU_BASE_HOST,
						     CPU_BASE_MAX };

	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		if (strcmp(item, cpu_model_base_name(bases[i])) == 0) {
			spec->base = bases[i];
			return 0;
		}
	}
	/* QEMU's generic models, which test kernels' configurations name before their +feature
	 * edits: hopvm's default (what KVM can give), not narrowed to QEMU's list. */
	if (strcmp(item, "qemu64") == 0 || strcmp(item, "kvm64") == 0) {
		spec->base = CPU_BASE_DEFAULT;
		return 0;
	}
	return err_set(-EINVAL, "unknown CPU model '%s' (host, max, default; qemu64 and kvm64 "
		       "are default)", item);
}

/* +NAME, -NAME, NAME=on, NAME=off or NAME. */
static int parse_edit(char *item, struct cpu_model_spec *spec)
{
	char *name = item, *eq = strchr(item, '=');
	bool add = true;
	const struct cpu_feature *f;

	if (item[0] == '+' || item[0] == '-') {
		add = item[0] == '+';
		name++;
	} else if (eq != NULL) {
		*eq = '\0';
		if (strcmp(eq + 1, "on") != 0 && strcmp(eq + 1, "off") != 0)
			return err_set(-EINVAL, "'%s=%s': a feature is =on or =off", name, eq + 1);
		add = strcmp(eq + 1, "on") == 0;
	}
	if (name[0] == '\0')
		return err_set(-EINVAL, "'%s' names no CPU feature", item);
	f = cpu_feature_find(name);
	if (f == NULL)
		return err_set(-EINVAL, "unknown CPU feature '%s' (hopvm info lists the features "
			       "this host can give)", name);
	if (spec->nr_edits == CPU_MODEL_MAX_EDITS)
		return err_set(-EINVAL, "more than %d feature edits", CPU_MODEL_MAX_EDITS);
	spec->edits[spec->nr_edits++] = (struct cpu_model_edit){ f, add };
	return 0;
}

int cpu_model_parse(const char *text, struct cpu_model_spec *spec)
{
	char buf[1024], *item, *next;
	int ret = 0;

	memset(spec, 0, sizeof(*spec));
	if (strlen(text) >= sizeof(buf))
		return err_set(-EINVAL, "a CPU model of %zu characters is too long", strlen(text));
	strcpy(buf, text);
	for (item = buf; ret == 0 && item != NULL; item = next) {
		next = strchr(item, ',');
		if (next != NULL)
			*next++ = '\0';
		if (item[0] == '\0')
			ret = err_set(-EINVAL, "'%s' has an empty part", text);
		else if (item != buf && strcmp(item, "enforce") == 0)
			spec->enforce = true;
		else if (item != buf && strcmp(item, "check") == 0)
			spec->enforce = false;	/* QEMU's "warn and go on", the default */
		else if (item == buf && item[0] != '+' && item[0] != '-' &&
			 strchr(item, '=') == NULL)
			ret = parse_base(item, spec);
		else
			ret = parse_edit(item, spec);
	}
	return ret;
}

void cpu_model_available(struct kvm_cpuid2 *supported, bool tsc_deadline)
{
	x86_cpu_model_from_supported(supported);
	for (unsigned i = 0; tsc_deadline && i < supported->nent; i++)
		if (supported->entries[i].function == 1)
			supported->entries[i].ecx |= CPU_1_ECX_TSC_DEADLINE;
}

struct kvm_cpuid_entry2 *cpu_model_entry(const struct kvm_cpuid2 *cpuid, uint32_t function,
					 uint32_t index)
{
	for (unsigned i = 0; i < cpuid->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		if (e->function == function &&
		    (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == index))
			return (struct kvm_cpuid_entry2 *)(uintptr_t)e;
	}
	return NULL;
}

static uint32_t *entry_reg(struct kvm_cpuid_entry2 *e, unsigned reg)
{
	uint32_t *regs[] = { &e->eax, &e->ebx, &e->ecx, &e->edx };

	return regs[reg & 3];
}

/* A register's value, 0 where the leaf is absent. */
static uint32_t reg_value(const struct kvm_cpuid2 *cpuid, uint32_t function, uint32_t index,
			  unsigned reg)
{
	struct kvm_cpuid_entry2 *e = cpu_model_entry(cpuid, function, index);

	return e != NULL ? *entry_reg(e, reg) : 0;
}

bool cpu_model_has(const struct kvm_cpuid2 *cpuid, const struct cpu_feature *f)
{
	return reg_value(cpuid, f->function, f->index, f->reg) & (1U << f->bit);
}

struct kvm_cpuid2 *cpu_model_copy(const struct kvm_cpuid2 *cpuid)
{
	size_t size = sizeof(*cpuid) + cpuid->nent * sizeof(cpuid->entries[0]);
	struct kvm_cpuid2 *copy = malloc(size);

	if (copy != NULL)
		memcpy(copy, cpuid, size);
	return copy;
}

int cpu_model_apply(struct kvm_cpuid2 *model, const struct kvm_cpuid2 *available,
		    const struct cpu_model_spec *spec, char *dropped, size_t dropped_len)
{
	size_t used = 0;

	if (dropped_len > 0)
		dropped[0] = '\0';
	/* host, max and default are one model under KVM: what it can give. */
	for (unsigned i = 0; i < spec->nr_edits; i++) {
		const struct cpu_feature *f = spec->edits[i].feature;
		struct kvm_cpuid_entry2 *e = cpu_model_entry(model, f->function, f->index);

		if (spec->edits[i].add && (!cpu_model_has(available, f) || e == NULL)) {
			if (spec->enforce)
				return err_set(-ENOTSUP, "--cpu: this host's KVM cannot give the guest "
					       "'%s' (,enforce)", f->name);
			/* QEMU's default: the test kernel asking for it adapts to its absence. */
			if (used < dropped_len)
				used += (size_t)snprintf(dropped + used, dropped_len - used, "%s%s",
							 used ? ", " : "", f->name);
			continue;
		}
		if (e == NULL)
			continue;
		if (spec->edits[i].add)
			*entry_reg(e, f->reg) |= 1U << f->bit;
		else
			*entry_reg(e, f->reg) &= ~(1U << f->bit);
	}
	return 0;
}

static const char *feature_name(uint32_t function, uint32_t index, unsigned reg, unsigned bit)
{
	for (unsigned i = 0; i < cpu_nr_features; i++) {
		const struct cpu_feature *f = &cpu_features[i];

		if (f->function == function && f->index == index && f->reg == reg && f->bit == bit)
			return f->name;
	}
	return NULL;
}

/* Appends ", " and the text to out, as far as it fits. */
static void append(char *out, size_t size, const char *text)
{
	size_t len = strlen(out);

	if (len + 1 >= size)
		return;
	snprintf(out + len, size - len, "%s%s", len > 0 ? ", " : "", text);
}

unsigned cpu_model_missing(const struct kvm_cpuid2 *model, const struct kvm_cpuid2 *available,
			   char *names, size_t size)
{
	unsigned missing = 0;

	if (size > 0)
		names[0] = '\0';
	for (size_t r = 0; r < sizeof(feature_regs) / sizeof(feature_regs[0]); r++) {
		uint32_t fn = feature_regs[r].function, idx = feature_regs[r].index;
		unsigned reg = feature_regs[r].reg;
		uint32_t lacks = reg_value(model, fn, idx, reg) & ~reg_value(available, fn, idx, reg);

		for (unsigned bit = 0; bit < 32; bit++) {
			const char *name = feature_name(fn, idx, reg, bit);
			char unnamed[48];

			if (!(lacks & (1U << bit)))
				continue;
			if (name == NULL) {
				snprintf(unnamed, sizeof(unnamed), "CPUID 0x%x.%u %s bit %u", fn, idx,
					 reg_names[reg], bit);
				name = unnamed;
			}
			append(names, size, name);
			missing++;
		}
	}
	return missing;
}

unsigned cpu_model_list(const struct kvm_cpuid2 *cpuid, bool present, char *buf, size_t size)
{
	unsigned n = 0;
	size_t len = 0;

	if (size > 0)
		buf[0] = '\0';
	for (unsigned i = 0; i < cpu_nr_features; i++) {
		if (cpu_model_has(cpuid, &cpu_features[i]) != present)
			continue;
		if (len + strlen(cpu_features[i].name) + 2 > size)
			break;
		len += (size_t)snprintf(buf + len, size - len, "%s%s", n > 0 ? " " : "",
					cpu_features[i].name);
		n++;
	}
	return n;
}
