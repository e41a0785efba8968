/* Some CPUID feature flags by their Linux names, for guests that show a test their CPU model. */
#ifndef GUEST_CPU_FLAGS_H
#define GUEST_CPU_FLAGS_H

/* Prints "PREFIX: flags: a b c \n": each flag the CPU reports, a space either side, so a test
 * can match " sse4_2 ". */
void cpu_flags_print(const char *prefix);

#endif
