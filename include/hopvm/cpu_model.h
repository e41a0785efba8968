/* The guest's CPU model: which CPUID feature bits it sees, chosen with --cpu.
 *
 * KVM_GET_SUPPORTED_CPUID is what KVM could give a guest, but not quite: it leaves out the
 * hypervisor bit and TSC-deadline (KVM reports that by KVM_CAP_TSC_DEADLINE_TIMER, since it
 * needs the in-kernel LAPIC), and it carries the calling CPU's APIC ID.  cpu_model_available()
 * makes it the set a guest can be given here; the model is that set, edited by --cpu.
 *
 * --cpu takes MODEL[,EDIT]...: MODEL is host (everything KVM can give), max (the same under
 * KVM, as in QEMU) or default (what hopvm gives without --cpu: today the same as host); a
 * leading EDIT means the default.  EDIT is +NAME or -NAME, or QEMU's NAME=on and NAME=off
 * (a bare NAME adds it, as QEMU's old syntax does).  Edits apply left to right.  NAME is a
 * Linux /proc/cpuinfo flag; '-' and '.' count as '_', so QEMU's sse4.2 and sha-ni work, and a
 * few of QEMU's other spellings (tsc-deadline, sse3, pclmuldq) are known too.
 *
 * Pure code: no KVM calls, so the unit tests drive it over a made-up supported list. */
#ifndef HOPVM_CPU_MODEL_H
#define HOPVM_CPU_MODEL_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cpu_reg { CPU_EAX, CPU_EBX, CPU_ECX, CPU_EDX };

struct cpu_feature {
	const char *name;	/* as Linux's /proc/cpuinfo flags say it */
	uint32_t function, index;
	uint8_t reg;		/* enum cpu_reg */
	uint8_t bit;
};

extern const struct cpu_feature cpu_features[];
extern const unsigned cpu_nr_features;

/* By any of its spellings (above), or NULL. */
const struct cpu_feature *cpu_feature_find(const char *name);

enum cpu_model_base { CPU_BASE_DEFAULT, CPU_BASE_HOST, CPU_BASE_MAX };

#define CPU_MODEL_MAX_EDITS 64

struct cpu_model_edit {
	const struct cpu_feature *feature;
	bool add;
};

struct cpu_model_spec {
	enum cpu_model_base base;
	bool enforce;		/* ",enforce": a feature this host cannot give is an error */
	unsigned nr_edits;
	struct cpu_model_edit edits[CPU_MODEL_MAX_EDITS];
};

const char *cpu_model_base_name(enum cpu_model_base base);

/* Parses --cpu's value.  -EINVAL names the bad part: "unknown CPU feature 'foo' (hopvm info
 * lists the features this host can give)", "unknown CPU model 'foo' (host, max or default)". */
int cpu_model_parse(const char *text, struct cpu_model_spec *spec)
	__attribute__((warn_unused_result));

/* Makes KVM_GET_SUPPORTED_CPUID's list, in place, the set a guest can be given: the same on
 * every host CPU (x86_cpu_model_from_supported()), with TSC-deadline where KVM has it. */
#define CPU_1_ECX_TSC_DEADLINE (1U << 24)
void cpu_model_available(struct kvm_cpuid2 *supported, bool tsc_deadline);

/* The entry of leaf function (and sub-leaf index, where the leaf has them), or NULL. */
struct kvm_cpuid_entry2 *cpu_model_entry(const struct kvm_cpuid2 *cpuid, uint32_t function,
					 uint32_t index);
bool cpu_model_has(const struct kvm_cpuid2 *cpuid, const struct cpu_feature *f);

/* A malloc()ed copy (free() it), or NULL. */
struct kvm_cpuid2 *cpu_model_copy(const struct kvm_cpuid2 *cpuid);

/* Edits model (a copy of available) as spec says.  A + of a feature available lacks is left
 * out, as QEMU does, its name added to dropped ("pcid, invpcid"; "" if none) for a warning;
 * with spec->enforce it is refused instead, -ENOTSUP: "--cpu: this host's KVM cannot give the
 * guest 'avx512f' (,enforce)". */
int cpu_model_apply(struct kvm_cpuid2 *model, const struct kvm_cpuid2 *available,
		    const struct cpu_model_spec *spec, char *dropped, size_t dropped_len)
	__attribute__((warn_unused_result));

/* The feature bits (of the leaves that hold features, named or not) that model has and
 * available lacks, as "avx512f, CPUID 0x7.0 EBX bit 1", into names; returns how many. */
unsigned cpu_model_missing(const struct kvm_cpuid2 *model, const struct kvm_cpuid2 *available,
			   char *names, size_t size);

/* The table's features that cpuid has (or, with present false, lacks), as names separated by
 * single spaces, into buf; returns how many. */
unsigned cpu_model_list(const struct kvm_cpuid2 *cpuid, bool present, char *buf, size_t size);

#endif
