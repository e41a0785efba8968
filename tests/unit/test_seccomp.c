/* The seccomp tables, compiled as thread_enter() compiles them and run here over made-up
 * system calls by a small classic-BPF interpreter: what each kind of thread may do. */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "hopvm/threads.h"
#include "unit.h"

static struct sock_filter prog[BPF_MAXINSNS];
static int prog_len;

/* The instructions seccomp_build emits: loads of seccomp_data words, JEQ, JGE and JSET
 * against constants, and returns.  Anything else fails the test. */
static uint32_t run(const struct seccomp_data *d)
{
	uint32_t a = 0;

	for (int pc = 0; pc < prog_len; pc++) {
		const struct sock_filter *f = &prog[pc];
		bool jump;

		switch (f->code) {
		case BPF_LD | BPF_W | BPF_ABS:
			assert_true(f->k % 4 == 0 && f->k + 4 <= sizeof(*d));
			memcpy(&a, (const uint8_t *)d + f->k, 4);
			continue;
		case BPF_RET | BPF_K:
			return f->k;
		case BPF_JMP | BPF_JEQ | BPF_K:
			jump = a == f->k;
			break;
		case BPF_JMP | BPF_JGE | BPF_K:
			jump = a >= f->k;
			break;
		case BPF_JMP | BPF_JSET | BPF_K:
			jump = (a & f->k) != 0;
			break;
		default:
			fail_msg("instruction %d: code 0x%x", pc, f->code);
			return 0;
		}
		pc += jump ? f->jt : f->jf;
	}
	fail_msg("the program ran off its end");
	return 0;
}

static uint32_t call(enum thread_kind kind, int nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
	struct seccomp_data d = { .nr = nr, .arch = AUDIT_ARCH_X86_64,
				  .args = { a0, a1, a2 } };

	prog_len = seccomp_build(kind, prog, BPF_MAXINSNS);
	assert_true(prog_len > 0);
	return run(&d);
}

#define ALLOWED(...) assert_int_equal(call(__VA_ARGS__), SECCOMP_RET_ALLOW)
#define REFUSED(...) assert_int_equal(call(__VA_ARGS__), SECCOMP_RET_TRAP)

static void test_every_table_compiles(void **state)
{
	(void)state;
	for (unsigned k = 0; k < THREAD_KINDS; k++) {
		prog_len = seccomp_build(k, prog, BPF_MAXINSNS);
		assert_true(prog_len > 10 && prog_len < BPF_MAXINSNS);
	}
	/* Too small a buffer is refused, not overrun. */
	assert_int_equal(seccomp_build(THREAD_MAIN, prog, 8), -E2BIG);
}

static void test_no_thread_runs_a_program(void **state)
{
	(void)state;
	for (unsigned k = 0; k < THREAD_KINDS; k++) {
		REFUSED(k, __NR_execve, 0, 0, 0);
		REFUSED(k, __NR_execveat, 0, 0, 0);
		REFUSED(k, __NR_ptrace, 0, 0, 0);
		REFUSED(k, __NR_mmap, 0, 4096, PROT_READ | PROT_EXEC);
		REFUSED(k, __NR_mprotect, 0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC);
		ALLOWED(k, __NR_mmap, 0, 4096, PROT_READ | PROT_WRITE);
		ALLOWED(k, __NR_mprotect, 0, 4096, PROT_NONE);
		ALLOWED(k, __NR_futex, 0, 0, 0);
		ALLOWED(k, __NR_exit_group, 0, 0, 0);
		REFUSED(k, __NR_prctl, PR_SET_DUMPABLE, 0, 0);
		ALLOWED(k, __NR_fcntl, 3, F_GETFL, 0);
		REFUSED(k, __NR_fcntl, 3, F_SETOWN, 0);
	}
}

/* Threads that start threads allow what a new thread does before its own filter is on. */
static void test_thread_starters(void **state)
{
	const enum thread_kind starters[] = { THREAD_MAIN, THREAD_CONTROL, THREAD_MIGRATION };

	(void)state;
	for (unsigned i = 0; i < sizeof(starters) / sizeof(starters[0]); i++) {
		ALLOWED(starters[i], __NR_clone3, 0, 0, 0);
		ALLOWED(starters[i], __NR_prctl, PR_SET_NAME, 0, 0);
		ALLOWED(starters[i], __NR_prctl, PR_SET_NO_NEW_PRIVS, 1, 0);
		ALLOWED(starters[i], __NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, 0);
		REFUSED(starters[i], __NR_seccomp, SECCOMP_SET_MODE_STRICT, 0, 0);
	}
	REFUSED(THREAD_VCPU, __NR_prctl, PR_SET_NAME, 0, 0);
	REFUSED(THREAD_THROTTLE, __NR_clone3, 0, 0, 0);
}

static void test_vcpu_threads(void **state)
{
	(void)state;
	ALLOWED(THREAD_VCPU, __NR_ioctl, 5, KVM_RUN, 0);
	ALLOWED(THREAD_VCPU, __NR_ioctl, 5, KVM_IRQ_LINE, 0);
	ALLOWED(THREAD_VCPU, __NR_ioctl, 5, TUNSETOFFLOAD, 0);
	/* The high half of the request is not the kernel's: the low one decides. */
	ALLOWED(THREAD_VCPU, __NR_ioctl, 5, (1ULL << 32) | KVM_RUN, 0);
	REFUSED(THREAD_VCPU, __NR_ioctl, 5, KVM_CREATE_VM, 0);
	REFUSED(THREAD_VCPU, __NR_ioctl, 5, KVM_SET_USER_MEMORY_REGION, 0);
	REFUSED(THREAD_VCPU, __NR_ioctl, 5, TUNSETIFF, 0);
	REFUSED(THREAD_VCPU, __NR_socket, 0, 0, 0);
	REFUSED(THREAD_VCPU, __NR_openat, 0, 0, 0);
	REFUSED(THREAD_VCPU, __NR_clone3, 0, 0, 0);
	ALLOWED(THREAD_VCPU, __NR_pwritev, 0, 0, 0);
}

static void test_other_threads(void **state)
{
	(void)state;
	ALLOWED(THREAD_MIGRATION, __NR_ioctl, 4, KVM_GET_DIRTY_LOG, 0);
	REFUSED(THREAD_MIGRATION, __NR_ioctl, 4, KVM_RUN, 0);
	ALLOWED(THREAD_MIGRATION, __NR_connect, 0, 0, 0);
	ALLOWED(THREAD_CONTROL, __NR_accept4, 0, 0, 0);
	ALLOWED(THREAD_CONTROL, __NR_connect, 0, 0, 0);	/* it starts migrations */
	REFUSED(THREAD_VIRTIO_IO, __NR_connect, 0, 0, 0);
	REFUSED(THREAD_VIRTIO_IO, __NR_ioctl, 4, KVM_RUN, 0);
	ALLOWED(THREAD_VIRTIO_IO, __NR_preadv, 0, 0, 0);
	REFUSED(THREAD_CONSOLE_IN, __NR_ioctl, 4, KVM_RUN, 0);
	REFUSED(THREAD_NET_ANNOUNCE, __NR_socket, 0, 0, 0);
	REFUSED(THREAD_THROTTLE, __NR_openat, 0, 0, 0);
	ALLOWED(THREAD_MAIN, __NR_ioctl, 4, KVM_CREATE_VM, 0);
}

static void test_foreign_calls(void **state)
{
	struct seccomp_data d = { .nr = __NR_read, .arch = AUDIT_ARCH_I386 };

	(void)state;
	prog_len = seccomp_build(THREAD_VCPU, prog, BPF_MAXINSNS);
	assert_int_equal(run(&d), SECCOMP_RET_KILL_PROCESS);
	d.arch = AUDIT_ARCH_X86_64;
	d.nr = 0x40000000 | __NR_read;	/* x32 */
	assert_int_equal(run(&d), SECCOMP_RET_TRAP);
	assert_string_equal(syscall_name(__NR_execve), "execve");
	assert_string_equal(syscall_name(100000), "unknown");
	assert_string_equal(thread_kind_name(THREAD_VCPU), "vcpu");
}

static unsigned words(const char *s)
{
	unsigned n = 0;

	for (bool in_word = false; *s != '\0'; s++) {
		n += !in_word && *s != ' ';
		in_word = *s != ' ';
	}
	return n;
}

/* hopvm info --seccomp: each kind's calls as its filter decides them, once each. */
static void test_description(void **state)
{
	char buf[4096], small[16];
	unsigned n;

	(void)state;
	for (unsigned k = 0; k < THREAD_KINDS; k++) {
		n = seccomp_describe(k, buf, sizeof(buf));
		assert_int_equal(words(buf), n);
		assert_null(strstr(buf, "execve"));
		assert_non_null(strstr(buf, "mmap[no-exec] mprotect[no-exec]"));
	}
	n = seccomp_describe(THREAD_VCPU, buf, sizeof(buf));
	assert_non_null(strstr(buf, " ioctl[28] "));
	assert_null(strstr(buf, "openat"));
	assert_int_equal(n, 39);
	/* The main thread's ioctl is unrestricted, and fsync (in three of its sets) is listed
	 * once. */
	seccomp_describe(THREAD_MAIN, buf, sizeof(buf));
	assert_non_null(strstr(buf, " ioctl "));
	assert_null(strstr(buf, "ioctl["));
	assert_null(strstr(strstr(buf, " fsync") + 1, " fsync"));
	/* Cut to the buffer, still a string. */
	assert_int_equal(seccomp_describe(THREAD_VCPU, small, sizeof(small)), 39);
	assert_int_equal(strlen(small), sizeof(small) - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_table_compiles),
		cmocka_unit_test(test_no_thread_runs_a_program),
		cmocka_unit_test(test_thread_starters),
		cmocka_unit_test(test_vcpu_threads),
		cmocka_unit_test(test_other_threads),
		cmocka_unit_test(test_foreign_calls),
		cmocka_unit_test(test_description),
	};
	return cmocka_run_group_tests_name("seccomp", tests, NULL, NULL);
}
