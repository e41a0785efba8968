/* Thread names and seccomp filters, in one place.  Each kind of thread has a table of the
 * system calls its work needs, some with the arguments that matter (ioctl numbers, fcntl
 * commands, no PROT_EXEC for mmap and mprotect); thread_enter() compiles the table into a
 * classic BPF program and installs it for the calling thread alone.  Anything else raises
 * SIGSYS, whose handler names the thread and the call and ends hopvm.
 *
 * Filters are inherited by the threads a thread creates and stack with their own, the
 * stricter winning: the control thread starts migrations (whose thread starts the throttle),
 * so its table holds theirs, and the main thread enters its own only once every other thread
 * has started. */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hopvm/error.h"
#include "hopvm/threads.h"
#include "syscall_names.h"	/* generated from <asm/unistd.h> (Makefile) */

static const char *const kind_names[THREAD_KINDS] = {
	[THREAD_MAIN] = "hopvm",
	[THREAD_VCPU] = "vcpu",
	[THREAD_VIRTIO_IO] = "virtio-io",
	[THREAD_NET_ANNOUNCE] = "announce",
	[THREAD_CONSOLE_IN] = "console-in",
	[THREAD_CONTROL] = "control",
	[THREAD_MIGRATION] = "migration",
	[THREAD_THROTTLE] = "throttle",
	[THREAD_VIRTIO_FS] = "virtio-fs",
	[THREAD_EXEC_RELAY] = "exec-relay",
};

static bool seccomp_off;
static bool main_entered;	/* only the main thread reads and writes it */
static __thread char thread_name[16] = "hopvm";

void thread_seccomp_off(void)
{
	seccomp_off = true;
}

const char *thread_kind_name(enum thread_kind kind)
{
	return kind < THREAD_KINDS ? kind_names[kind] : "?";
}

const char *syscall_name(unsigned nr)
{
	return nr < sizeof(syscall_names) / sizeof(syscall_names[0]) && syscall_names[nr] != NULL
		       ? syscall_names[nr] : "unknown";
}


/* --- the tables ------------------------------------------------------------------------ */

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define ALLOW(name) { .nr = __NR_##name }
#define ALLOW_ONE_OF(name, n, list)                                                        \
	{ .nr = __NR_##name, .check = SECCOMP_ARG_ONE_OF, .arg = (n), .values = (list),    \
	  .nr_values = ARRAY_LEN(list) }
#define ALLOW_CLEAR(name, n, b)                                                            \
	{ .nr = __NR_##name, .check = SECCOMP_ARG_BITS_CLEAR, .arg = (n), .bits = (b) }
#define END { .nr = -1 }

static const uint32_t prctl_ops[] = { PR_SET_NAME, PR_SET_NO_NEW_PRIVS };
static const uint32_t seccomp_ops[] = { SECCOMP_SET_MODE_FILTER };
/* gcc says __SANITIZE_THREAD__, clang __has_feature(thread_sanitizer). */
#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_THREAD__) || __has_feature(thread_sanitizer)
#define HOPVM_TSAN 1
#else
#define HOPVM_TSAN 0
#endif

static const uint32_t fcntl_ops[] = { F_GETFL, F_SETFL, F_GETFD, F_SETFD, F_DUPFD_CLOEXEC };

/* What every thread does: memory (never executable), locks, time, kicks, its own end. */
static const struct seccomp_rule base_rules[] = {
	ALLOW(read), ALLOW(write), ALLOW(close), ALLOW(poll), ALLOW(ppoll), ALLOW(futex),
	ALLOW(sched_yield), ALLOW(nanosleep), ALLOW(clock_nanosleep), ALLOW(clock_gettime),
	ALLOW(getpid), ALLOW(gettid), ALLOW(tgkill), ALLOW(fstat), ALLOW(newfstatat),
	ALLOW(getrandom), ALLOW(brk), ALLOW(munmap), ALLOW(madvise),
	ALLOW_CLEAR(mmap, 2, PROT_EXEC), ALLOW_CLEAR(mprotect, 2, PROT_EXEC),
	ALLOW(rt_sigprocmask), ALLOW(rt_sigreturn), ALLOW(restart_syscall), ALLOW(sigaltstack),
	ALLOW_ONE_OF(fcntl, 1, fcntl_ops), ALLOW(exit), ALLOW(exit_group),
	END,
};

/* For the kinds that start threads: a new thread's first calls run under its creator's
 * filter, and so do its thread_enter()'s. */
static const struct seccomp_rule spawn_rules[] = {
	ALLOW(clone3), ALLOW(clone), ALLOW(set_robust_list), ALLOW(rseq), ALLOW(rt_sigaction),
	ALLOW_ONE_OF(prctl, 0, prctl_ops), ALLOW_ONE_OF(seccomp, 0, seccomp_ops), ALLOW(mremap),
#if HOPVM_TSAN
	/* ThreadSanitizer's runtime reads a new thread's stack bounds with
	 * pthread_getattr_np(), which asks for the CPU affinity; only make SAN=thread has it. */
	ALLOW(sched_getaffinity),
#endif
	END,
};

/* The data of a virtio disk or TAP: served by the device's thread, or by a vCPU thread
 * when a notification comes without an ioeventfd. */
static const struct seccomp_rule data_rules[] = {
	ALLOW(readv), ALLOW(writev), ALLOW(pread64), ALLOW(pwrite64), ALLOW(preadv),
	ALLOW(pwritev), ALLOW(fdatasync), ALLOW(fsync), ALLOW(fallocate), ALLOW(lseek),
	END,
};

/* A vCPU's: KVM_RUN, its state (saved and restored around pauses), and what devices do on
 * its exits: interrupt lines, MSI routes, ioeventfds moved with a BAR, a TAP's offloads,
 * disk reads and writes of a virtio request served at once; and, waking from ACPI S3, the
 * reset of the in-kernel PIC, IOAPIC and PIT (vm_sleep.c). */
static const uint32_t vcpu_ioctls[] = {
	KVM_RUN, KVM_GET_REGS, KVM_SET_REGS, KVM_GET_SREGS, KVM_SET_SREGS, KVM_GET_MSRS,
	KVM_SET_MSRS, KVM_GET_MP_STATE, KVM_SET_MP_STATE, KVM_GET_LAPIC, KVM_SET_LAPIC,
	KVM_GET_XSAVE, KVM_SET_XSAVE, KVM_GET_XCRS, KVM_SET_XCRS, KVM_GET_DEBUGREGS,
	KVM_SET_DEBUGREGS, KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS, KVM_IRQ_LINE,
	KVM_IOEVENTFD, KVM_IRQFD, KVM_SET_GSI_ROUTING, TUNSETOFFLOAD, KVM_GET_IRQCHIP,
	KVM_SET_IRQCHIP, KVM_GET_PIT2, KVM_SET_PIT2,
};
static const struct seccomp_rule vcpu_rules[] = {
	ALLOW_ONE_OF(ioctl, 1, vcpu_ioctls),
	END,
};

/* A virtio device's I/O thread: its eventfds, disk or TAP, and interrupts. */
static const uint32_t io_ioctls[] = { KVM_IRQ_LINE, KVM_SET_GSI_ROUTING, TUNSETOFFLOAD };
static const struct seccomp_rule io_rules[] = {
	ALLOW_ONE_OF(ioctl, 1, io_ioctls),
	END,
};

/* A live migration's sender: the guest's state (with its vCPUs paused), the dirty log, the
 * connection (TCP, an exec: command's socket hopvm ctl passed, fd:N), the throttle thread
 * it starts. */
static const uint32_t migration_ioctls[] = {
	KVM_GET_REGS, KVM_GET_SREGS, KVM_GET_MSRS, KVM_GET_MP_STATE, KVM_GET_LAPIC,
	KVM_GET_XSAVE, KVM_GET_XCRS, KVM_GET_DEBUGREGS, KVM_GET_VCPU_EVENTS, KVM_GET_CLOCK,
	KVM_GET_IRQCHIP, KVM_GET_PIT2, KVM_GET_MSR_INDEX_LIST, KVM_GET_DIRTY_LOG,
	KVM_SET_USER_MEMORY_REGION, KVM_IRQ_LINE, KVM_SET_GSI_ROUTING,
};
static const struct seccomp_rule migration_rules[] = {
	ALLOW_ONE_OF(ioctl, 1, migration_ioctls), ALLOW(socket), ALLOW(connect),
	ALLOW(setsockopt), ALLOW(getsockopt), ALLOW(getsockname),
	ALLOW(getpeername), ALLOW(sendto), ALLOW(recvfrom), ALLOW(sendmsg), ALLOW(recvmsg),
	ALLOW(shutdown), ALLOW(uname), ALLOW(openat), ALLOW(getuid), ALLOW(geteuid),
	ALLOW(fdatasync), ALLOW(fsync),	/* the disks flushed before the guest moves */
	END,
};

/* The control socket's: its clients, snapshots into new files, and what the migrations it
 * starts need (their threads inherit this filter). */
static const struct seccomp_rule control_rules[] = {
	ALLOW(accept), ALLOW(accept4), ALLOW(unlink), ALLOW(fsync), ALLOW(fdatasync),
	ALLOW(getuid), ALLOW(geteuid),
	END,
};

/* RARP frames on the TAP, paced by the clock. */
static const struct seccomp_rule announce_rules[] = {
	END,
};

/* stdin to COM1, whose interrupt line it raises. */
static const uint32_t console_ioctls[] = { KVM_IRQ_LINE };
static const struct seccomp_rule console_rules[] = {
	ALLOW_ONE_OF(ioctl, 1, console_ioctls),
	END,
};

/* A virtio-fs file server: names resolved one component at a time below the share with the
 * *at() calls, its own descriptors reopened through /proc/self/fd, files created as the
 * guest's user (setfsuid); nothing that could mount, chroot or run a program. */
static const struct seccomp_rule fs_rules[] = {
	ALLOW(openat), ALLOW(mkdirat), ALLOW(mknodat), ALLOW(unlinkat),
	ALLOW(renameat),	/* glibc's renameat2() without flags */
	ALLOW(renameat2), ALLOW(symlinkat), ALLOW(readlinkat), ALLOW(linkat), ALLOW(fchownat),
	ALLOW(fchmodat), ALLOW(fchmod), ALLOW(utimensat), ALLOW(ftruncate), ALLOW(getdents64),
	ALLOW(fstatfs), ALLOW(faccessat), ALLOW(faccessat2), ALLOW(setfsuid), ALLOW(setfsgid),
	ALLOW(syncfs),
	END,
};

/* The main thread waits for the VM's end and tears it down, and after a reboot with
 * --on-reboot restart builds it again, starting threads that inherit this filter: it may
 * do what set-up and every other thread do, but still never run a program. */
static const struct seccomp_rule main_rules[] = {
	ALLOW(ioctl), ALLOW(openat), ALLOW(open), ALLOW(unlink), ALLOW(socket), ALLOW(bind),
	ALLOW(listen), ALLOW(mlock), ALLOW(uname), ALLOW(sysinfo), ALLOW(chmod), ALLOW(chown),
	ALLOW(fchmod), ALLOW(fchown), ALLOW(umask), ALLOW(eventfd2), ALLOW(setpriority),
	ALLOW(wait4), ALLOW(getuid), ALLOW(geteuid), ALLOW(getgid), ALLOW(getegid),
	END,
};

const struct seccomp_table seccomp_tables[THREAD_KINDS] = {
	[THREAD_MAIN] = { { base_rules, spawn_rules, main_rules, data_rules, migration_rules,
			    control_rules } },
	[THREAD_VCPU] = { { base_rules, vcpu_rules, data_rules } },
	[THREAD_VIRTIO_IO] = { { base_rules, io_rules, data_rules } },
	[THREAD_NET_ANNOUNCE] = { { base_rules, announce_rules } },
	[THREAD_CONSOLE_IN] = { { base_rules, console_rules } },
	[THREAD_CONTROL] = { { base_rules, spawn_rules, control_rules, migration_rules } },
	[THREAD_MIGRATION] = { { base_rules, spawn_rules, migration_rules } },
	[THREAD_THROTTLE] = { { base_rules } },
	[THREAD_VIRTIO_FS] = { { base_rules, io_rules, data_rules, fs_rules } },
	/* hopvm exec's relay reads and writes descriptors it was given: the base is enough. */
	[THREAD_EXEC_RELAY] = { { base_rules } },
};

/* --- compiling a table --------------------------------------------------------------- */

#define DATA_NR offsetof(struct seccomp_data, nr)
#define DATA_ARCH offsetof(struct seccomp_data, arch)
/* The low 32 bits of argument n (x86-64 is little-endian). */
#define DATA_ARG_LO(n) (offsetof(struct seccomp_data, args) + 8 * (n))
#define X32_SYSCALL_BIT 0x40000000U

struct builder {
	struct sock_filter *prog;
	size_t len, max;
};

static void emit(struct builder *b, uint16_t code, uint8_t jt, uint8_t jf, uint32_t k)
{
	if (b->len < b->max)
		b->prog[b->len] = (struct sock_filter){ code, jt, jf, k };
	b->len++;
}

static void emit_ret(struct builder *b, uint32_t action)
{
	emit(b, BPF_RET | BPF_K, 0, 0, action);
}

/* One rule: "if nr matches, decide", else fall through to the next rule. */
static int emit_rule(struct builder *b, const struct seccomp_rule *r)
{
	/* The instructions after the JEQ that only a matching call runs. */
	size_t body = r->check == SECCOMP_ARG_ANY ? 1 :
		      r->check == SECCOMP_ARG_ONE_OF ? 3 + r->nr_values : 4;

	if (body > 255)
		return err_set(-E2BIG, "seccomp: the rule for %s has too many values",
			       syscall_name((unsigned)r->nr));
	emit(b, BPF_JMP | BPF_JEQ | BPF_K, 0, (uint8_t)body, (uint32_t)r->nr);
	switch (r->check) {
	case SECCOMP_ARG_ANY:
		emit_ret(b, SECCOMP_RET_ALLOW);
		break;
	case SECCOMP_ARG_ONE_OF:
		/* Each value jumps to the ALLOW after the list; none of them: refused. */
		emit(b, BPF_LD | BPF_W | BPF_ABS, 0, 0, (uint32_t)DATA_ARG_LO(r->arg));
		for (unsigned i = 0; i < r->nr_values; i++)
			emit(b, BPF_JMP | BPF_JEQ | BPF_K, (uint8_t)(r->nr_values - i), 0,
			     r->values[i]);
		emit_ret(b, SECCOMP_RET_TRAP);
		emit_ret(b, SECCOMP_RET_ALLOW);
		break;
	case SECCOMP_ARG_BITS_CLEAR:
		emit(b, BPF_LD | BPF_W | BPF_ABS, 0, 0, (uint32_t)DATA_ARG_LO(r->arg));
		emit(b, BPF_JMP | BPF_JSET | BPF_K, 0, 1, r->bits);
		emit_ret(b, SECCOMP_RET_TRAP);
		emit_ret(b, SECCOMP_RET_ALLOW);
		break;
	}
	/* Only calls of another number come here; an argument check loaded over nr. */
	if (r->check != SECCOMP_ARG_ANY)
		emit(b, BPF_LD | BPF_W | BPF_ABS, 0, 0, DATA_NR);
	return 0;
}

/* True if a rule for r's call comes before r in t (sets in order). */
static bool rule_before(const struct seccomp_table *t, unsigned set, const struct seccomp_rule *r)
{
	for (unsigned s = 0; s <= set; s++)
		for (const struct seccomp_rule *q = t->sets[s]; q->nr >= 0 && q != r; q++)
			if (q->nr == r->nr)
				return true;
	return false;
}

int seccomp_build(enum thread_kind kind, struct sock_filter *prog, size_t max)
{
	struct builder b = { prog, 0, max };
	const struct seccomp_table *t = &seccomp_tables[kind];

	emit(&b, BPF_LD | BPF_W | BPF_ABS, 0, 0, DATA_ARCH);
	emit(&b, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, AUDIT_ARCH_X86_64);
	emit_ret(&b, SECCOMP_RET_KILL_PROCESS);
	emit(&b, BPF_LD | BPF_W | BPF_ABS, 0, 0, DATA_NR);
	/* The x32 numbering of the same calls is not ours. */
	emit(&b, BPF_JMP | BPF_JGE | BPF_K, 0, 1, X32_SYSCALL_BIT);
	emit_ret(&b, SECCOMP_RET_TRAP);
	for (unsigned set = 0; set < SECCOMP_MAX_SETS && t->sets[set] != NULL; set++)
		for (const struct seccomp_rule *r = t->sets[set]; r->nr >= 0; r++) {
			int ret;

			/* The first rule for a call decides: a second would never be looked at. */
			if (rule_before(t, set, r))
				continue;
			ret = emit_rule(&b, r);
			if (ret < 0)
				return ret;
		}
	emit_ret(&b, SECCOMP_RET_TRAP);
	if (b.len > max || b.len > BPF_MAXINSNS)
		return err_set(-E2BIG, "seccomp: the %s filter needs %zu instructions",
			       kind_names[kind], b.len);
	return (int)b.len;
}

unsigned seccomp_describe(enum thread_kind kind, char *buf, size_t len)
{
	const struct seccomp_table *t = &seccomp_tables[kind];
	unsigned count = 0;
	size_t used = 0;

	if (len > 0)
		buf[0] = '\0';
	for (unsigned set = 0; set < SECCOMP_MAX_SETS && t->sets[set] != NULL; set++)
		for (const struct seccomp_rule *r = t->sets[set]; r->nr >= 0; r++) {
			char check[16] = "";
			int n;

			if (rule_before(t, set, r))
				continue;
			if (r->check == SECCOMP_ARG_ONE_OF)
				snprintf(check, sizeof(check), "[%u]", r->nr_values);
			else if (r->check == SECCOMP_ARG_BITS_CLEAR)
				snprintf(check, sizeof(check), r->bits == PROT_EXEC ? "[no-exec]"
						: "[~0x%x]", r->bits);
			n = snprintf(buf + used, len - used, "%s%s%s", count ? " " : "",
				     syscall_name((unsigned)r->nr), check);
			count++;
			if (n > 0)
				used = used + (size_t)n < len ? used + (size_t)n : (len ? len - 1 : 0);
		}
	return count;
}

/* --- refusing ----------------------------------------------------------------------- */

static void append(char *buf, size_t *len, size_t max, const char *s)
{
	while (*s != '\0' && *len + 1 < max)
		buf[(*len)++] = *s++;
}

/* Async-signal-safe: formatting by hand, one write, _exit. */
static void refused(int sig, siginfo_t *info, void *uctx)
{
	char msg[256], num[12];
	size_t len = 0, n = 0;
	unsigned nr = (unsigned)info->si_syscall;

	(void)sig;
	(void)uctx;
	do
		num[n++] = (char)('0' + nr % 10);
	while ((nr /= 10) != 0 && n < sizeof(num));
	append(msg, &len, sizeof(msg), "hopvm: seccomp: thread '");
	append(msg, &len, sizeof(msg), thread_name);
	append(msg, &len, sizeof(msg), "' made system call ");
	append(msg, &len, sizeof(msg), syscall_name((unsigned)info->si_syscall));
	append(msg, &len, sizeof(msg), " (");
	while (n > 0 && len + 1 < sizeof(msg))
		msg[len++] = num[--n];
	append(msg, &len, sizeof(msg), "), which its filter does not allow; stopping "
	       "(--no-seccomp runs without the filters)\n");
	(void)!write(STDERR_FILENO, msg, len);
	_exit(1);
}

static int install(enum thread_kind kind)
{
	struct sock_filter prog[BPF_MAXINSNS];	/* 32 KiB of the thread's stack, for now */
	struct sock_fprog fprog;
	struct sigaction sa;
	int len = seccomp_build(kind, prog, BPF_MAXINSNS);

	if (len < 0)
		return len;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = refused;
	sa.sa_flags = SA_SIGINFO;
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return err_set(-errno, "seccomp: cannot catch SIGSYS: %s", strerror(errno));
	/* Blocked, the kernel would kill hopvm without a word. */
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGSYS);
	pthread_sigmask(SIG_UNBLOCK, &sa.sa_mask, NULL);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return err_set(-errno, "seccomp: PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	fprog = (struct sock_fprog){ .len = (unsigned short)len, .filter = prog };
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) < 0)
		return err_set(-errno, "seccomp: the %s thread's filter: %s", kind_names[kind],
			       strerror(errno));
	return 0;
}

int thread_enter(enum thread_kind kind, unsigned index)
{
	/* HOPVM_SECCOMP_PROBE=KIND: with the filters on, that kind's threads then try to run a
	 * program, which no filter allows (the boot tests' proof that a refusal works). */
	const char *probe = getenv("HOPVM_SECCOMP_PROBE");
	int ret;

	if (kind == THREAD_VCPU || kind == THREAD_VIRTIO_IO || kind == THREAD_VIRTIO_FS)
		snprintf(thread_name, sizeof(thread_name), "%s %u", kind_names[kind], index);
	else
		snprintf(thread_name, sizeof(thread_name), "%s", kind_names[kind]);
	(void)prctl(PR_SET_NAME, thread_name, 0, 0, 0);
	/* The main thread enters again with each VM --on-reboot restart builds; its filter,
	 * already on, stays (filters stack, and the kernel bounds the stack). */
	if (kind == THREAD_MAIN && main_entered)
		return 0;
	ret = seccomp_off ? 0 : install(kind);
	if (kind == THREAD_MAIN)
		main_entered = ret == 0;
	if (!seccomp_off && ret == 0 && probe != NULL && strcmp(probe, kind_names[kind]) == 0) {
		char *const argv[] = { NULL };

		syscall(SYS_execve, "/bin/true", argv, argv);
	}
	return ret;
}
