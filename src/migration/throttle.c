/* Auto-converge's throttle (throttle.h). */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "hopvm/error.h"
#include "hopvm/vcpu.h"
#include "hopvm/vm.h"
#include "hopvm/threads.h"
#include "throttle.h"

/* Kicks every vCPU once per slice plus its sleep, so each runs about a slice and then sleeps
 * throttle_pct of the time (vcpu.c does the sleeping). */
static void *throttle_thread(void *arg)
{
	struct migration *m = arg;
	struct vm *vm = m->vm;

	/* Unfiltered it would not run: no throttle, and the rounds go on without it. */
	if (thread_enter(THREAD_THROTTLE, 0) < 0)
		return NULL;
	while (__atomic_load_n(&m->throttle_running, __ATOMIC_ACQUIRE)) {
		unsigned pct = __atomic_load_n(&vm->throttle_pct, __ATOMIC_ACQUIRE);
		uint64_t period = VM_THROTTLE_SLICE_NS * 100 / (100 - (pct < 100 ? pct : 99));
		struct timespec ts = { .tv_sec = (time_t)(period / 1000000000ULL),
				       .tv_nsec = (long)(period % 1000000000ULL) };

		nanosleep(&ts, NULL);
		if (!__atomic_load_n(&m->throttle_running, __ATOMIC_ACQUIRE))
			break;
		for (unsigned i = 0; i < vm->nr_vcpus; i++)
			if (vm->vcpus[i].thread_started)
				vcpu_kick(&vm->vcpus[i]);
	}
	return NULL;
}

int migration_throttle_raise(struct migration *m)
{
	unsigned pct = __atomic_load_n(&m->vm->throttle_pct, __ATOMIC_ACQUIRE);

	pct = pct == 0 ? THROTTLE_FIRST : pct + THROTTLE_STEP;
	if (pct > THROTTLE_MAX)
		pct = THROTTLE_MAX;
	__atomic_store_n(&m->vm->throttle_pct, pct, __ATOMIC_RELEASE);
	pthread_mutex_lock(&m->lock);
	m->stats.throttle_pct = pct;
	pthread_mutex_unlock(&m->lock);
	if (!m->throttle_running) {
		int ret;

		__atomic_store_n(&m->throttle_running, true, __ATOMIC_RELEASE);
		ret = pthread_create(&m->throttle_thread, NULL, throttle_thread, m);
		if (ret != 0) {
			m->throttle_running = false;
			return err_set(-ret, "cannot start the throttle thread: %s", strerror(ret));
		}
	}
	return 0;
}

void migration_throttle_stop(struct migration *m)
{
	__atomic_store_n(&m->vm->throttle_pct, 0, __ATOMIC_RELEASE);
	if (m->throttle_running) {
		__atomic_store_n(&m->throttle_running, false, __ATOMIC_RELEASE);
		pthread_join(m->throttle_thread, NULL);
	}
}
